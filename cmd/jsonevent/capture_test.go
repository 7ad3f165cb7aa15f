package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/capture"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/receiver"
	"github.com/jsonevent/jsonevent/core/store"
)

type identity struct{}

func (identity) Name() string { return "generic" }
func (identity) Normalize(_ context.Context, r *core.Request) (*core.Normalized, error) {
	return &core.Normalized{Body: r.Body}, nil
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs a receiver with capture on a loopback listener.
func startCaptureServer(t *testing.T, token string) (string, *capture.Service) {
	t.Helper()
	sum := sha256.Sum256([]byte(token))
	cfg := &config.Config{
		Limits:   config.Limits{BodyBytes: 102400, RequestsPerMinute: 3000, ManualFields: 10},
		Accounts: []config.Account{{ID: "demo", Username: "demo@example.com", Tokens: []config.Token{{SHA256: hex.EncodeToString(sum[:])}}}},
		Triggers: []config.Trigger{{ID: "OC_fd", Account: "demo", Adapter: "generic"}},
	}
	st, err := store.Open(context.Background(), config.Store{DSN: filepath.Join(t.TempDir(), "c.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cs, err := capture.New(context.Background(), st, capture.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := receiver.New(cfg, receiver.Options{Store: st, Adapters: receiver.AdapterMap{"generic": identity{}}, Capture: cs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String(), cs
}

func TestCaptureCommand(t *testing.T) {
	const token = "jse_cli_test"
	base, cs := startCaptureServer(t, token)
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"capture", "OC_fd", "--url", base, "--token", token, "--count", "2", "--timeout", "20s", "--poll", "20ms",
			"--adopt", "ticket_subject", "--adopt", "id=$..ticket_id"}, nil, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !cs.Capturing("OC_fd") {
		if time.Now().After(deadline) {
			t.Fatalf("session never opened; stderr: %s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	post := func(ct, body string) int {
		req, _ := http.NewRequest("POST", base+"/inbound-event/v1/event/JSON/triggers?triggerId=OC_fd", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.SetBasicAuth("demo@example.com", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("application/x-www-form-urlencoded", "ticket_subject=x"); st != 415 {
		t.Fatalf("form post = %d", st)
	}
	if st := post("application/json", `{"freshdesk_webhook":{"ticket_id":7,"ticket_subject":"Printer on fire"}}`); st != 202 {
		t.Fatalf("json post = %d", st)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("capture exited %d; stderr: %s\nstdout: %s", code, errOut.String(), out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("capture did not finish; stdout: %s", out.String())
	}
	got := out.String()
	t.Logf("capture output:\n%s", got)
	for _, want := range []string{
		"Capturing 2 request(s) to OC_fd",
		"415 unsupported_media_type: Content-Type \"application/x-www-form-urlencoded\" is not accepted",
		"Authorization: [redacted]",
		"→ 202 (event evt_",
		"ticket_subject  $['freshdesk_webhook']['ticket_subject']  string",
		"Session complete: 2 request(s) captured.",
		"ticket_subject  captured  $['freshdesk_webhook']['ticket_subject']  (adopted now)",
		"id              manual    $..ticket_id",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if len(cs.Adopted("demo", "OC_fd")) != 2 {
		t.Errorf("adopted = %+v", cs.Adopted("demo", "OC_fd"))
	}
}

// TestCaptureHintAdoptsWithoutWaiting checks that the hint printed after a
// session without --adopt does not send the user to a command that opens a
// new session and waits for another request before adopting anything.
func TestCaptureHintAdoptsWithoutWaiting(t *testing.T) {
	const token = "jse_cli_test"
	base, cs := startCaptureServer(t, token)
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"capture", "OC_fd", "--url", base, "--token", token, "--count", "1", "--timeout", "20s", "--poll", "20ms"}, nil, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !cs.Capturing("OC_fd") {
		if time.Now().After(deadline) {
			t.Fatalf("session never opened; stderr: %s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", base+"/v1/triggers/OC_fd/events", strings.NewReader(`{"ticket":{"subject":"x"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("capture exited %d; stderr: %s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("capture did not finish; stdout: %s", out.String())
	}
	got := out.String()
	if !strings.Contains(got, "POST /v1/triggers/OC_fd/fields") || !strings.Contains(got, "waits for the next request") {
		t.Errorf("hint does not say how to adopt without a new session:\n%s", got)
	}
}

func TestCaptureCommandUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"capture"}, 2, "usage: jsonevent capture TRIGGER"},
		{[]string{"capture", "OC_x", "--token", ""}, 2, "no token"},
		{[]string{"capture", "OC_x", "--token", "t", "--count", "21"}, 2, "--count must be 1 to 20"},
		{[]string{"capture", "OC_x", "--token", "t", "--adopt", "x=$.a[", "--url", "http://127.0.0.1:1"}, 2, "--adopt x=$.a[: invalid JSONPath at column 5"},
		{[]string{"capture", "OC_x", "--token", "t", "--adopt", "=$.a", "--url", "http://127.0.0.1:1"}, 2, "the field name is empty"},
		{[]string{"capture", "OC_x", "--token", "t", "--url", "http://127.0.0.1:1", "--timeout", "1s"}, 1, "open capture session"},
		// time.NewTicker panics on a zero or negative interval, once the
		// session was open.
		{[]string{"capture", "OC_x", "--token", "t", "--url", "http://127.0.0.1:1", "--poll", "0s"}, 2, "--poll must be"},
		{[]string{"capture", "OC_x", "--token", "t", "--url", "http://127.0.0.1:1", "--poll", "-1s"}, 2, "--poll must be"},
	}
	t.Setenv("JSONEVENT_TOKEN", "")
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := run(c.args, nil, &out, &errOut); code != c.code || !strings.Contains(errOut.String(), c.msg) {
			t.Errorf("%v = %d %q, want %d with %q", c.args, code, errOut.String(), c.code, c.msg)
		}
	}
}

// TestCaptureUsageHidesToken checks that the usage text never prints the
// token taken from JSONEVENT_TOKEN.
func TestCaptureUsageHidesToken(t *testing.T) {
	t.Setenv("JSONEVENT_TOKEN", "jse_secret_in_env")
	var out, errOut bytes.Buffer
	if code := run([]string{"capture", "--help"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("capture --help = %d, want 0", code)
	}
	if !strings.Contains(errOut.String(), "-token") {
		t.Fatalf("usage lacks --token: %s", errOut.String())
	}
	if strings.Contains(errOut.String()+out.String(), "jse_secret_in_env") {
		t.Fatalf("usage printed the token from the environment:\n%s", errOut.String())
	}
}

// What capture prints comes from the sender: an escape sequence in a
// header, a non-JSON body, a refusal reason, a member name or a sample
// must reach the terminal as visible text, not drive it.
func TestPrintCaptureEscapesControls(t *testing.T) {
	cv := capture.CaptureView{
		ID: "cap_1", Method: "POST", Status: 400, Error: "invalid",
		Reason:   "bad \x1b[2J body",
		Query:    map[string]string{"q": "\x1b]0;title\x07"},
		Headers:  map[string][]string{"X-Evil": {"\x1b[1A\x1b[2Kfake line"}, "X-C1": {"a\u009b31mb"}},
		BodyText: "line1\nline2\x1b[8m hidden\r overwritten",
		Suggestions: []capture.Suggestion{
			{Name: "k", Path: "$['k\u009b']", Type: "string", Sample: json.RawMessage("\"v\u009b2J\x7f\"")},
		},
	}
	var b bytes.Buffer
	printCapture(&b, 1, cv)
	cv.BodyText, cv.Body = "", json.RawMessage("{\"k\u009b\":\"\u009b2J\"}")
	printCapture(&b, 2, cv)
	out := b.String()
	for i, r := range out {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			t.Fatalf("control character %U at byte %d reaches the terminal:\n%q", r, i, out)
		}
	}
	for _, want := range []string{`\x1b[2J`, `\x1b[1A`, `\u009b31m`, `\x0d overwritten`, "line1\nline2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestPrintCaptureQueryLine: the status line shows the query string only
// when the request had one (it printed "POST ?" for none).
func TestPrintCaptureQueryLine(t *testing.T) {
	for _, tc := range []struct {
		query map[string]string
		want  string
	}{
		{nil, "  POST → 202"},
		{map[string]string{"triggerId": "OC_a"}, "  POST ?triggerId=OC_a → 202"},
	} {
		var b bytes.Buffer
		printCapture(&b, 1, capture.CaptureView{ID: "cap_1", Method: "POST", Status: 202, Query: tc.query})
		if first := strings.SplitN(strings.TrimPrefix(b.String(), "\n"), "\n", 2)[0]; !strings.HasSuffix(first, tc.want) {
			t.Errorf("query %v: status line %q, want it to end %q", tc.query, first, tc.want)
		}
	}
}
