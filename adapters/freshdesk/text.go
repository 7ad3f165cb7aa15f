package freshdesk

import (
	"strings"

	"golang.org/x/net/html"
)

// blockTags end a line in the plain-text variant.
var blockTags = map[string]bool{
	"br": true, "p": true, "div": true, "li": true, "tr": true, "h1": true, "h2": true,
	"h3": true, "h4": true, "h5": true, "h6": true, "blockquote": true, "pre": true,
	"ul": true, "ol": true, "table": true, "hr": true,
}

// htmlToText returns the text of an HTML fragment (Freshdesk descriptions
// and comments): tags removed, entities decoded, one line per block, no
// script or style content, runs of blank space collapsed. It uses the
// x/net/html tokenizer rather than regular expressions so that comments,
// attributes containing ">" and unclosed tags cannot leak markup.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return tidyLines(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if tag == "script" || tag == "style" {
				if z.Token().Type == html.StartTagToken {
					skip++
				}
				continue
			}
			if tag == "br" {
				b.WriteByte('\n')
			} else if blockTags[tag] {
				newline(&b)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if (tag == "script" || tag == "style") && skip > 0 {
				skip--
				continue
			}
			if blockTags[tag] && tag != "br" {
				newline(&b)
			}
		}
	}
}

// newline ends the current line unless it is empty, so that
// "</div><div>" gives one line break while "<br>" always gives one.
func newline(b *strings.Builder) {
	s := strings.TrimRight(b.String(), " \t\r")
	if s == "" || strings.HasSuffix(s, "\n") {
		return
	}
	b.WriteByte('\n')
}

// tidyLines collapses spaces inside lines, drops blank lines at the ends and
// keeps at most one blank line between paragraphs.
func tidyLines(s string) string {
	s = strings.ReplaceAll(s, "\u00a0", " ")
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := false
	for _, l := range lines {
		l = strings.Join(strings.Fields(l), " ")
		if l == "" {
			blank = len(out) > 0
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
