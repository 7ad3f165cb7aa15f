package adapters_test

// The end-to-end test is the only place under adapters/ that touches the
// HTTP server: it wires config.Load (with the real presets), the store and
// core/receiver the way cmd/jsonevent does, then POSTs every fixture with
// the auth its vendor would use and reads the stored event back.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/adapters"
	"github.com/jsonevent/jsonevent/adapters/internal/adaptertest"
	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/receiver"
	"github.com/jsonevent/jsonevent/core/store"
)

const root = ".."

// vendors returns the adapters that have fixtures: every folder under
// fixtures/ (TestDefault checks that each belongs to a registered adapter),
// so a new vendor is tested end to end without an edit here.
func vendors(t *testing.T) []string {
	entries, err := os.ReadDir(filepath.Join(root, "fixtures"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no fixtures found")
	}
	return out
}

type e2eCase struct {
	vendor, name string
	f            *adaptertest.Fixture
	exp          *adaptertest.Expected // nil for a refused fixture
	refusal      string                // expected.err of a refused fixture
	token, user  string
}

// credentials returns the token and Basic username a fixture sends.
func credentials(h map[string]string) (token, user string) {
	for k, v := range h {
		switch strings.ToLower(k) {
		case "x-api-token":
			token = v
		case "authorization":
			if u := adaptertest.BasicUsername(v); u != "" {
				user = u
				dec := strings.TrimSpace(strings.TrimPrefix(v, "Basic "))
				if raw, err := decodeBasic(dec); err == nil {
					_, token, _ = strings.Cut(raw, ":")
				}
			}
		}
	}
	return token, user
}

func loadCases(t *testing.T) []*e2eCase {
	var cases []*e2eCase
	for _, v := range vendors(t) {
		dir := filepath.Join(root, "fixtures", v)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			c := &e2eCase{vendor: v, name: e.Name()}
			c.f = adaptertest.ReadFixture(t, filepath.Join(dir, e.Name(), "request.json"))
			if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "expected.json")); err == nil {
				c.exp = &adaptertest.Expected{}
				if err := json.Unmarshal(b, c.exp); err != nil {
					t.Fatal(err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "expected.err")); err == nil {
				c.refusal = string(b)
			}
			c.token, c.user = credentials(c.f.Headers)
			cases = append(cases, c)
		}
	}
	return cases
}

// writeConfig writes a config (JSON is YAML) with one account per token and
// one trigger per fixture, named after the fixture.
func writeConfig(t *testing.T, cases []*e2eCase, extra map[string]any) string {
	accounts := map[string]map[string]any{}
	var tokens []string
	for _, c := range cases {
		a, ok := accounts[c.token]
		if !ok {
			a = map[string]any{"id": fmt.Sprintf("acc%d", len(accounts)), "username": fmt.Sprintf("api-%d", len(accounts)), "tokens": []any{map[string]any{"sha256": auth.HashToken(c.token)}}}
			accounts[c.token] = a
			tokens = append(tokens, c.token)
		}
		if c.user != "" {
			a["username"] = c.user
		}
	}
	var accList, triggers []any
	for _, tok := range tokens {
		accList = append(accList, accounts[tok])
	}
	for _, c := range cases {
		tr := map[string]any{"id": c.name, "account": accounts[c.token]["id"], "adapter": c.vendor}
		if len(c.f.Fields) > 0 {
			tr["fields"] = c.f.Fields
		}
		if len(c.f.Options) > 0 {
			tr["options"] = c.f.Options
		}
		triggers = append(triggers, tr)
	}
	cfg := map[string]any{"accounts": accList, "triggers": triggers}
	for k, v := range extra {
		cfg[k] = v
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jsonevent.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// server is a receiver listening on a loopback port: a real listener, so
// chunked bodies (Genesys) arrive as the vendor sends them.
type server struct {
	srv  *receiver.Server
	base string
}

func (s *server) do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	u, err := url.Parse(s.base + req.URL.String())
	if err != nil {
		t.Fatal(err)
	}
	req.URL, req.Host = u, u.Host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func listen(t *testing.T, srv *receiver.Server) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &server{srv: srv, base: "http://" + ln.Addr().String()}
}

func newServer(t *testing.T, path string) (*receiver.Server, error) {
	reg := adapters.Default()
	cfg, err := config.Load(path, config.Options{PresetsDir: filepath.Join(root, "configs", "presets"), Adapters: reg.Names(), Environ: func() []string { return nil }})
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	st, err := store.Open(context.Background(), config.Store{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "e2e.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// As cmd/jsonevent serve wires it.
	byTrigger := receiver.AdapterFunc(func(name string, options map[string]any) (core.Adapter, error) {
		return reg.ForTrigger(name, options, core.AdapterDeps{})
	})
	return receiver.New(cfg, receiver.Options{Store: st, Adapters: byTrigger, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// unsized hides a reader's length, so the request goes out chunked, with
// no Content-Length, as Genesys sends it.
type unsized struct{ r io.Reader }

func (u unsized) Read(p []byte) (int, error) { return u.r.Read(p) }

func post(t *testing.T, srv *server, trigger string, f *adaptertest.Fixture) (int, map[string]any, []byte) {
	t.Helper()
	q := url.Values{"triggerId": {trigger}}
	for k, v := range f.Query {
		q.Set(k, v)
	}
	body := f.Request().Body
	var r io.Reader = bytes.NewReader(body)
	chunked := false
	for k, v := range f.Headers {
		if strings.EqualFold(k, "Transfer-Encoding") && strings.EqualFold(v, "chunked") {
			chunked = true
		}
	}
	if chunked {
		r = unsized{bytes.NewReader(body)}
	}
	req, err := http.NewRequest(f.Method, "/inbound-event/v1/event/JSON/triggers?"+q.Encode(), r)
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		req.ContentLength = -1
	}
	for k, v := range f.Headers {
		if !strings.EqualFold(k, "Transfer-Encoding") {
			req.Header.Set(k, v)
		}
	}
	resp := srv.do(t, req)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("reply is not a JSON object: %d %q", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("reply Content-Type %q", ct)
	}
	// Power Automate polls a 202's Location: there must be none.
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("reply has Location %q", loc)
	}
	return resp.StatusCode, m, b
}

// Ensure every fixture, POSTed through the real receiver with its vendor's
// auth, gets the status its vendor needs and stores the preset fields.
func TestEndToEnd(t *testing.T) {
	if adaptertest.Updating() {
		t.Skip("goldens are being rewritten by the adapter packages running beside this one")
	}
	cases := loadCases(t)
	rs, err := newServer(t, writeConfig(t, cases, nil))
	if err != nil {
		t.Fatal(err)
	}
	srv := listen(t, rs)
	for _, c := range cases {
		t.Run(c.vendor+"/"+c.name, func(t *testing.T) {
			for i := range c.f.Before {
				if st, _, b := post(t, srv, c.name, &c.f.Before[i]); st/100 != 2 {
					t.Fatalf("before[%d]: %d %s", i, st, b)
				}
			}
			status, reply, raw := post(t, srv, c.name, c.f)
			if c.exp == nil {
				if status != c.f.ExpectStatus {
					t.Fatalf("status %d, want %d: %s", status, c.f.ExpectStatus, raw)
				}
				if reply["error"] == nil || reply["message"] == nil {
					t.Errorf("refusal %s lacks error/message", raw)
				}
				if c.vendor == "genesys" && reply["status"] != "error" {
					t.Errorf("genesys refusal %s lacks status error", raw)
				}
				// The adapter's hint on invalid JSON reaches the vendor admin.
				if _, hint, ok := strings.Cut(strings.TrimSpace(c.refusal), "; "); ok && status == http.StatusBadRequest {
					if msg, _ := reply["message"].(string); !strings.Contains(msg, hint) {
						t.Errorf("refusal message %q lacks the adapter's hint %q", msg, hint)
					}
				}
				return
			}
			wantStatus := acceptStatus(t, c)
			if c.f.ExpectStatus != 0 && c.f.ExpectStatus/100 != 2 {
				t.Errorf("an accepted case with expect_status %d", c.f.ExpectStatus)
			}
			if status != wantStatus {
				t.Fatalf("status %d, want %d: %s", status, wantStatus, raw)
			}
			id, _ := reply["eventId"].(string)
			if id == "" || reply["triggerId"] != c.name {
				t.Fatalf("reply %s lacks eventId/triggerId", raw)
			}
			if c.vendor == "genesys" && (reply["status"] != "accepted" || reply["accepted"] != true || reply["duplicate"] != false) {
				t.Errorf("genesys reply %s is not the flat accepted object", raw)
			}
			if echo, ok := c.f.Options["echo"].([]any); ok {
				for _, e := range echo {
					name := e.(string)
					if got, _ := json.Marshal(reply[name]); !jsonEqual(got, c.exp.Fields[name]) {
						t.Errorf("reply echoes %s = %s, want %s", name, got, c.exp.Fields[name])
					}
				}
			}
			ev := getEvent(t, srv, id, c.token)
			for _, k := range jsondoc.SortedKeys(c.exp.Fields) {
				if g := ev.Fields[k]; !jsonEqual(g, c.exp.Fields[k]) {
					t.Errorf("stored field %s = %s, want %s", k, g, c.exp.Fields[k])
				}
			}
			for _, k := range jsondoc.SortedKeys(c.f.ExpectFields) {
				if g := ev.Fields[k]; !jsonEqual(g, c.f.ExpectFields[k]) {
					t.Errorf("stored field %s = %s, want the sample's %s", k, g, c.f.ExpectFields[k])
				}
			}
			if !jsonEqual(ev.NormalizedBody, c.exp.Body) {
				t.Errorf("stored normalised body differs from expected.json")
			}
			if !slices.Equal(ev.Warnings, c.exp.Warnings) {
				t.Errorf("stored warnings %q, want %q", ev.Warnings, c.exp.Warnings)
			}
			if c.exp.DeliveryID != "" {
				// The vendor's retry: the same request again is a duplicate.
				status, reply, raw := post(t, srv, c.name, c.f)
				if status != wantStatus || reply["duplicate"] != true || reply["eventId"] != id {
					t.Errorf("retry: %d %s, want a duplicate of %s", status, raw, id)
				}
			}
		})
	}
}

// acceptStatus is the status an accepted event gets: 202, or what the
// adapter's Responder answers (Genesys data actions need 200).
func acceptStatus(t *testing.T, c *e2eCase) int {
	t.Helper()
	a, err := adapters.Default().ForTrigger(c.vendor, c.f.Options, core.AdapterDeps{})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := a.(core.Responder); ok {
		status, _ := r.Accept(&core.Accepted{EventID: "evt_x", TriggerID: c.name})
		return status
	}
	return http.StatusAccepted
}

func getEvent(t *testing.T, srv *server, id, token string) receiver.EventJSON {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "/v1/events/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-TOKEN", token)
	resp := srv.do(t, req)
	defer resp.Body.Close()
	var ev receiver.EventJSON
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET event: %d %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func decodeBasic(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}
