package freshdesk

import (
	"bytes"
	"regexp"

	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
)

var (
	placeholderRe = regexp.MustCompile(`\{\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*\}\}`)
	lastKeyRe     = regexp.MustCompile(`"([^"\\]{1,64})"\s*:`)
)

// InvalidJSONHint explains the usual Freshdesk mistake behind a body that is
// not JSON. Advanced mode pastes placeholder values into the template as
// they are, neither quoted nor escaped, so an unquoted {{ticket.id}} that is
// blank gives `"id": ,`, unquoted text gives `"subject": Printer on fire`,
// and a value containing a double quote or a line break ends its string
// early. offset is encoding/json's error offset, or -1 to compute it.
func (Adapter) InvalidJSONHint(body []byte, offset int64) string {
	hint, offset := jsondoc.HintStart(body, offset,
		"the body is empty: in the webhook action choose Simple content, or write an advanced JSON template",
		"the body is not JSON at all (form data or XML?): in the webhook action set Encoding to JSON")
	if hint != "" || offset < 0 {
		return hint
	}
	if offset > int64(len(body)) {
		offset = int64(len(body))
	}
	// encoding/json's offset counts the bad byte itself.
	at := int(offset) - 1
	if at < 0 {
		at = 0
	}
	// An unreplaced placeholder breaks the JSON only where it stands
	// unquoted; one left inside quotes is valid JSON, and blaming it would
	// hide the value that really broke the body.
	for _, loc := range placeholderRe.FindAllIndex(body, -1) {
		if at >= loc[0] && at < loc[1] {
			return "the body still contains the placeholder " + string(truncate(body[loc[0]:loc[1]], 40)) + ", which Freshdesk did not replace: check its spelling in the webhook's advanced content"
		}
	}
	before := bytes.TrimRight(body[:at], " \t\r\n")
	key := ""
	if ms := lastKeyRe.FindAllSubmatch(tail(before, 300), -1); len(ms) > 0 {
		key = ` of "` + string(ms[len(ms)-1][1]) + `"`
	}
	var bad byte
	if at < len(body) {
		bad = body[at]
	}
	prev := byte(0)
	if len(before) > 0 {
		prev = before[len(before)-1]
	}
	const fix = `put double quotes around every placeholder in the advanced content, e.g. "subject": "{{ticket.subject}}", or switch the webhook to simple content`
	switch {
	case prev == ':' && (bad == ',' || bad == '}' || bad == ']' || int(offset) >= len(body)):
		return "the value" + key + " is empty: an unquoted placeholder had no value; " + fix
	case int(offset) >= len(body):
		return "the body ends early (a closing quote or brace is missing); " + fix
	case prev == ':' && bad != '"':
		return "the value" + key + " is unquoted text: Freshdesk inserts placeholder values as they are; " + fix
	default:
		return "the value" + key + " probably contains a double quote or a line break that Freshdesk inserted without escaping; leave that placeholder out of the advanced content or switch the webhook to simple content, which escapes values"
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
