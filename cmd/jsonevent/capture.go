package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/jsonevent/jsonevent/core/jsonpath"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jsonevent/jsonevent/core/capture"
)

func init() {
	commands["capture"] = command{
		summary: "watch the requests a trigger receives, with field suggestions, then adopt fields",
		run:     runCapture,
	}
}

// captureFlags are the options of `jsonevent capture`.
type captureFlags struct {
	trigger string
	count   int
	timeout time.Duration
	adopt   []string
	base    string
	token   string
	poll    time.Duration
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runCapture(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var f captureFlags
	var adopt stringList
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&f.count, "count", 1, "how many requests to capture (1 to 20)")
	fs.DurationVar(&f.timeout, "timeout", 15*time.Minute, "how long the session stays open and the command waits")
	fs.Var(&adopt, "adopt", "adopt a field once done: name=JSONPath, or the name of a suggestion (repeatable)")
	fs.StringVar(&f.base, "url", envOr("JSONEVENT_URL", "http://127.0.0.1:8080"), "base URL of the jsonevent server (env JSONEVENT_URL)")
	// The env default is applied after parsing, so that the usage text
	// never prints the token.
	fs.StringVar(&f.token, "token", "", "API token of the trigger's account (env JSONEVENT_TOKEN)")
	fs.DurationVar(&f.poll, "poll", time.Second, "how often to ask the server for new captures (more than 0s, at most 1m)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jsonevent capture TRIGGER [--count N] [--timeout D] [--adopt name=path ...] [--url BASE] [--token T]")
		fmt.Fprintln(stderr, "\nOpens a capture session on TRIGGER, prints each request the trigger receives (secrets")
		fmt.Fprintln(stderr, "redacted) with the status it was answered and its suggested fields, then adopts --adopt fields.")
		fs.PrintDefaults()
	}
	// TRIGGER may come before or after the flags.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		f.trigger, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	if f.trigger == "" && fs.NArg() > 0 {
		f.trigger = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "capture: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	f.adopt = adopt
	if f.trigger == "" {
		fs.Usage()
		return 2
	}
	if !flagSet(fs, "token") {
		f.token = os.Getenv("JSONEVENT_TOKEN")
	}
	// A bad --adopt is reported now, not after the session has waited.
	for _, a := range f.adopt {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			continue // a suggestion's name, known once captured
		}
		if strings.TrimSpace(name) == "" {
			fmt.Fprintf(stderr, "capture: --adopt %s: the field name is empty; write --adopt name=$.json.path\n", a)
			return 2
		}
		if _, err := jsonpath.Compile(strings.TrimSpace(path)); err != nil {
			fmt.Fprintf(stderr, "capture: --adopt %s: %v\n", a, err)
			return 2
		}
	}
	if f.token == "" {
		fmt.Fprintln(stderr, "capture: no token: pass --token or set JSONEVENT_TOKEN (make one with `jsonevent token new`)")
		return 2
	}
	if f.count < 1 || f.count > capture.MaxCount || f.timeout < time.Second || f.timeout > capture.MaxTTL {
		fmt.Fprintf(stderr, "capture: --count must be 1 to %d and --timeout 1s to %s\n", capture.MaxCount, capture.MaxTTL)
		return 2
	}
	if f.poll <= 0 || f.poll > time.Minute { // time.NewTicker panics on 0
		fmt.Fprintf(stderr, "capture: --poll must be more than 0s and at most 1m, not %s\n", f.poll)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := &apiClient{base: strings.TrimSuffix(f.base, "/"), token: f.token, http: &http.Client{Timeout: 30 * time.Second}}
	if err := captureSession(ctx, c, f, termSafe{stdout}); err != nil {
		fmt.Fprintf(stderr, "capture: %v\n", err)
		return 1
	}
	return 0
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// captureSession opens the session, prints captures as they arrive until
// it ends, then adopts the requested fields.
func captureSession(ctx context.Context, c *apiClient, f captureFlags, out io.Writer) error {
	capURL := "/v1/triggers/" + url.PathEscape(f.trigger) + "/capture"
	var sv capture.SessionView
	err := c.do(ctx, http.MethodPost, capURL, map[string]int{"count": f.count, "ttl_seconds": int(f.timeout / time.Second)}, &sv)
	if err != nil {
		return fmt.Errorf("open capture session: %w", err)
	}
	fmt.Fprintf(out, "Capturing %d request(s) to %s until %s (session %s). Waiting…\n",
		sv.Count, f.trigger, sv.ExpiresAt.Local().Format("15:04:05"), sv.ID)

	seen := map[string]bool{}
	var captured []capture.CaptureView
	ticker := time.NewTicker(f.poll)
	defer ticker.Stop()
	deadline := time.NewTimer(f.timeout + 2*f.poll)
	defer deadline.Stop()
wait:
	for {
		var st capture.State
		if err := c.do(ctx, http.MethodGet, capURL, nil, &st); err != nil {
			return fmt.Errorf("read captures: %w", err)
		}
		for i := len(st.Captures) - 1; i >= 0; i-- { // oldest first
			cv := st.Captures[i]
			if cv.SessionID != sv.ID || seen[cv.ID] {
				continue
			}
			seen[cv.ID] = true
			captured = append(captured, cv)
			printCapture(out, len(captured), cv)
		}
		if st.Session == nil || st.Session.ID != sv.ID || st.Session.State != "open" {
			state := "replaced"
			if st.Session != nil && st.Session.ID == sv.ID {
				state = st.Session.State
			}
			fmt.Fprintf(out, "Session %s: %d request(s) captured.\n", state, len(captured))
			break wait
		}
		select {
		case <-ctx.Done():
			closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.do(closeCtx, http.MethodDelete, capURL, nil, nil)
			cancel()
			fmt.Fprintf(out, "Interrupted: session closed, %d request(s) captured.\n", len(captured))
			return nil
		case <-deadline.C:
			fmt.Fprintf(out, "Timed out after %s: %d request(s) captured.\n", f.timeout, len(captured))
			break wait
		case <-ticker.C:
		}
	}
	if len(f.adopt) == 0 {
		if len(captured) > 0 {
			// Not "run capture again with --adopt": that opens a new
			// session and adopts only after the next request arrives.
			fmt.Fprintf(out, "Adopt fields now with POST /v1/triggers/%s/fields {\"fields\":{\"NAME\":\"PATH\"}} or the admin page;\n"+
				"--adopt NAME (a suggestion) or --adopt NAME=PATH on a capture adopts when its session ends, so it waits for the next request.\n",
				url.PathEscape(f.trigger))
		}
		if len(captured) == 0 {
			return errors.New("no request arrived; point the sender at the trigger's URL and try again")
		}
		return nil
	}
	fields, err := adoptArgs(f.adopt, captured)
	if err != nil {
		return err
	}
	var fv capture.FieldsView
	if err := c.do(ctx, http.MethodPost, "/v1/triggers/"+url.PathEscape(f.trigger)+"/fields", map[string]any{"fields": fields}, &fv); err != nil {
		return fmt.Errorf("adopt fields: %w", err)
	}
	fmt.Fprintf(out, "Fields of %s (%d of %d hand-written):\n", f.trigger, fv.Manual, fv.ManualLimit)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	for _, fl := range fv.Fields {
		mark := ""
		if _, ok := fields[fl.Name]; ok {
			mark = "  (adopted now)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s%s\n", fl.Name, fl.Origin, fl.Path, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, fl := range fv.Fields {
		for _, h := range fl.Hints {
			fmt.Fprintf(out, "Note on %s: %s\n", fl.Name, h)
		}
	}
	return nil
}

// adoptArgs turns --adopt values into name → path: "name=path" as given,
// a bare name is the suggestion of that name in the captures.
func adoptArgs(args []string, captured []capture.CaptureView) (map[string]string, error) {
	fields := map[string]string{}
	for _, a := range args {
		if name, path, ok := strings.Cut(a, "="); ok {
			fields[strings.TrimSpace(name)] = strings.TrimSpace(path)
			continue
		}
		found := false
		for i := len(captured) - 1; i >= 0 && !found; i-- {
			for _, s := range captured[i].Suggestions {
				if s.Name == a {
					fields[a], found = s.Path, true
					break
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("--adopt %s: no captured suggestion has that name; write --adopt %s='$.json.path'", a, a)
		}
	}
	return fields, nil
}

// printCapture writes one captured request the way `stripe listen` does:
// a status line, then the headers, the body and the suggestions.
func printCapture(w io.Writer, n int, cv capture.CaptureView) {
	if _, ok := w.(termSafe); !ok {
		w = termSafe{w}
	}
	q := queryString(cv.Query)
	if q != "" {
		q = " ?" + q
	}
	fmt.Fprintf(w, "\n#%d %s  %s%s → %d", n, cv.ReceivedAt.Local().Format("15:04:05"), cv.Method, q, cv.Status)
	if cv.Error != "" {
		fmt.Fprintf(w, " %s: %s", cv.Error, cv.Reason)
	}
	if cv.EventID != "" {
		fmt.Fprintf(w, " (event %s)", cv.EventID)
	}
	fmt.Fprintln(w)
	keys := make([]string, 0, len(cv.Headers))
	for k := range cv.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(cv.Headers[k], ", "))
	}
	switch {
	case cv.BodyTruncated:
		fmt.Fprintln(w, "  (body over the size limit, not kept)")
	case cv.Body != nil:
		var b bytes.Buffer
		if json.Indent(&b, cv.Body, "  ", "  ") == nil {
			fmt.Fprintf(w, "  %s\n", clip(b.String(), 4000))
		}
	case cv.BodyText != "":
		fmt.Fprintf(w, "  %s\n", clip(cv.BodyText, 2000))
	}
	if len(cv.Suggestions) == 0 {
		return
	}
	if cv.NormalizedBody != nil {
		// A vendor adapter's document, which fields are extracted from.
		fmt.Fprintln(w, "  Suggested fields (paths in the adapter's normalised document, which fields are extracted from):")
	} else {
		fmt.Fprintln(w, "  Suggested fields:")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range cv.Suggestions {
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", s.Name, s.Path, s.Type, clip(string(s.Sample), 60))
		if s.Wildcard != "" {
			fmt.Fprintf(tw, "    \t%s\t(every element)\t\n", s.Wildcard)
		}
	}
	_ = tw.Flush()
}

func queryString(q map[string]string) string {
	v := url.Values{}
	for k, x := range q {
		v.Set(k, x)
	}
	return v.Encode()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// apiClient calls the jsonevent HTTP API with a token.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// do sends a JSON request and decodes a JSON answer into out; a refusal
// becomes an error carrying the server's code and message.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-TOKEN", c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Message string }
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			return fmt.Errorf("%d %s: %s", resp.StatusCode, e.Error, e.Message)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// termSafe writes to w with every control character but newline and tab
// shown as an escape (\x1b, \u009b), and any byte that is not UTF-8 as
// \xNN. What capture prints comes from whoever posted to the trigger
// (headers, a non-JSON body, member names, samples); written raw, an
// escape sequence in it would drive the admin's terminal: rewrite or hide
// lines, set the title, or worse on some terminals.
type termSafe struct{ w io.Writer }

func (t termSafe) Write(p []byte) (int, error) {
	var out []byte // nil while p needs no escape
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		var esc string
		switch {
		case r == utf8.RuneError && n == 1:
			esc = fmt.Sprintf("\\x%02x", p[i])
		case r == '\n' || r == '\t' || !unicode.IsControl(r):
		case r < 0x80:
			esc = fmt.Sprintf("\\x%02x", r)
		default:
			esc = fmt.Sprintf("\\u%04x", r)
		}
		switch {
		case esc != "":
			if out == nil {
				out = append(make([]byte, 0, len(p)+16), p[:i]...)
			}
			out = append(out, esc...)
		case out != nil:
			out = append(out, p[i:i+n]...)
		}
		i += n
	}
	if out == nil {
		return t.w.Write(p)
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
