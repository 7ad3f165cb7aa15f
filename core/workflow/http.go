package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

const (
	// recordedBodyBytes is how much of a response body a run records.
	recordedBodyBytes = 4 << 10
	// maxResponseBytes bounds what is read for outputs.
	maxResponseBytes = 1 << 20
	// errorExcerptBytes is how much of a failed response's body its error
	// quotes (the whole first 4 KB stays with the attempt).
	errorExcerptBytes = 200
)

func (r *Runner) runHTTP(ctx context.Context, w *Workflow, t *Task, d *Data, root map[string]any) (*Result, error) {
	rawURL, err := render(t, "url", t.url, root)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, permanent(t.ID, fmt.Errorf("url: %q is not an absolute http(s) URL", rawURL))
	}
	if seg, ok := dotSegment(u.EscapedPath()); ok {
		return nil, permanent(t.ID, fmt.Errorf("url: the path %s has the segment %q, which would send the request to another path; a value must not be . or ..", t.errorURL(u), seg))
	}
	req := r.HTTP.R().SetDoNotParseResponse(true)
	for name, ht := range t.headers {
		v, err := render(t, "headers."+name, ht, root)
		if err != nil {
			return nil, err
		}
		req.SetHeader(name, stripControls(v))
	}
	if t.body != nil {
		b, err := t.body.render(root)
		if err != nil {
			return nil, permanent(t.ID, fmt.Errorf("body: %w", err))
		}
		req.SetHeader("Content-Type", "application/json").SetBody(b)
	}
	req.SetHeader("Idempotency-Key", IdempotencyKey(d.Event.ID, w.ID, t.ID))

	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	resp, err := req.SetContext(ctx).Execute(t.Method, u.String())
	if err != nil {
		// Connection refused, reset, DNS, timeout: the receiver may be back
		// on the next attempt. *url.Error repeats the URL with its query,
		// which may hold a token: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no response within %s: %w", t.Timeout, err)
		}
		if errors.Is(err, io.EOF) {
			// The request may have been sent whole and acted on.
			err = fmt.Errorf("the receiver closed the connection without an answer: %w", err)
		}
		err = fmt.Errorf("%s %s: %w", t.Method, t.errorURL(u), err)
		if errors.Is(err, errTooManyRedirects) {
			return nil, permanent(t.ID, err)
		}
		return nil, retryable(t.ID, err)
	}
	raw := resp.RawBody()
	defer raw.Close()
	body, readErr := io.ReadAll(io.LimitReader(raw, maxResponseBytes+1))
	rec := &Response{Status: resp.StatusCode(), Headers: resp.Header().Clone()}
	// Credentials a receiver hands out are not history.
	delete(rec.Headers, "Set-Cookie")
	rec.Body, rec.Truncated = firstBytes(body, recordedBodyBytes)
	if !successful(t, rec.Status) {
		msg := fmt.Sprintf("%s %s answered %d", t.Method, t.errorURL(u), rec.Status)
		if loc := resp.Header().Get("Location"); rec.Status >= 300 && rec.Status < 400 && loc != "" {
			if lu, err := u.Parse(loc); err == nil {
				msg += fmt.Sprintf(" redirecting to %s (redirects are followed only within %s://%s)", t.errorURL(lu), u.Scheme, u.Host)
			}
		}
		if ex := excerpt(body, errorExcerptBytes); ex != "" {
			msg += ": " + ex
		}
		te := &TaskError{Task: t.ID, Response: rec,
			Permanent: !w.Retry.Retryable(rec.Status),
			Err:       errors.New(msg)}
		return &Result{Response: rec}, te
	}
	res := &Result{Response: rec, Outputs: map[string]any{"status": rec.Status}}
	if len(t.outputs) == 0 {
		return res, nil
	}
	if readErr != nil {
		what := "its body was cut short"
		if errors.Is(readErr, context.DeadlineExceeded) {
			what = fmt.Sprintf("its body did not arrive within %s", t.Timeout)
		}
		return res, retryable(t.ID, fmt.Errorf("%s %s answered %d, but %s: %w", t.Method, t.errorURL(u), rec.Status, what, readErr))
	}
	if len(body) > maxResponseBytes {
		return res, permanent(t.ID, fmt.Errorf("response body over %d bytes; outputs need all of it", maxResponseBytes))
	}
	if !json.Valid(body) {
		return res, permanent(t.ID, errors.New("response body is not JSON, so outputs cannot be read from it"))
	}
	for _, name := range sortedKeys(t.outputs) {
		nodes, err := t.outputs[name].Select(body)
		if err != nil { // the same response would outgrow it again
			return res, permanent(t.ID, fmt.Errorf("output %s: %s does more work than this response allows: %w", name, t.outputs[name], err))
		}
		v, err := nodesValue(nodes)
		if err != nil {
			return res, permanent(t.ID, fmt.Errorf("output %s: %w", name, err))
		}
		if len(nodes) == 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("output %s: %s selected nothing in the response, so it is null", name, t.outputs[name]))
		}
		res.Outputs[name] = v
	}
	return res, nil
}

// successful reports whether status counts as success: any 2xx unless the
// task lists its own.
func successful(t *Task, status int) bool {
	if len(t.Success) == 0 {
		return status >= 200 && status < 300
	}
	return slices.Contains(t.Success, status)
}

// nodesValue turns JSONPath results into one value: nothing → null, one
// node → its value, several → an array (as fields are extracted).
func nodesValue(nodes [][]byte) (any, error) {
	switch len(nodes) {
	case 0:
		return nil, nil
	case 1:
		return decodeJSON(nodes[0])
	}
	out := make([]any, 0, len(nodes))
	for _, n := range nodes {
		v, err := decodeJSON(n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// firstBytes returns the first n bytes of b as text, without splitting a
// UTF-8 sequence, and whether anything was cut.
func firstBytes(b []byte, n int) (string, bool) {
	if len(b) <= n {
		return string(b), false
	}
	// Step back over continuation bytes so the cut is at a rune start.
	for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(b[n]); i++ {
		n--
	}
	cut := b[:n]
	return string(cut), true
}

// excerpt returns the first n bytes of a response body as one line:
// control characters and runs of white space become one space, and "…"
// marks a cut.
func excerpt(b []byte, n int) string {
	s, cut := firstBytes(b, n)
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))), " ")
	if cut && s != "" {
		s += "…"
	}
	return s
}

// errorURL is u as an error message shows it: redacted, and with what an
// env variable put into the path replaced by ${NAME}. A webhook URL kept
// in the environment (Slack, Teams) carries its secret in the path; its
// scheme and host are no secret and stay.
func (t *Task) errorURL(u *url.URL) string {
	s := redactURL(u)
	origin := u.Scheme + "://" + u.Host
	if t.url == nil || !strings.HasPrefix(s, origin) {
		return s
	}
	rest := s[len(origin):]
	for _, name := range t.url.envs {
		v, _ := LookupEnv(name)
		if b, err := url.Parse(v); err == nil && b.Host != "" {
			v = b.EscapedPath() // a base URL: only its path may be secret
		}
		if len(strings.Trim(v, "/")) < 2 {
			continue
		}
		mask := "${" + name + "}"
		if strings.HasPrefix(v, "/") {
			mask = "/" + mask
		}
		rest = strings.ReplaceAll(rest, v, mask)
		rest = strings.ReplaceAll(rest, url.PathEscape(v), mask)
	}
	return origin + rest
}

// dotSegment returns the first segment of the escaped path p that a
// receiver or a proxy resolves as "." or "..", also percent-encoded as the
// WHATWG URL parser does. Values are path-escaped, so they cannot add a
// "/", but one value (or two side by side, or one after a literal ".") can
// make a whole segment "..", which climbs out of the path the config wrote.
func dotSegment(p string) (string, bool) {
	for seg := range strings.SplitSeq(p, "/") {
		switch strings.ReplaceAll(strings.ToLower(seg), "%2e", ".") {
		case ".", "..":
			return seg, true
		}
	}
	return "", false
}

// redactURL drops the query (it may carry tokens) for error messages.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.User = nil
	return c.String()
}
