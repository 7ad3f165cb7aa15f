package capture

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/jsonpath"
	"github.com/jsonevent/jsonevent/core/store"
)

const freshdesk = `{"freshdesk_webhook":{"ticket_id":1042,"ticket_subject":"Unable to download invoice PDF","ticket_tags":"billing,invoice","ticket_agent_email":""}}`

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), config.Store{DSN: dsn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newService(t *testing.T, st *store.Store, clk *clock) *Service {
	t.Helper()
	s, err := New(context.Background(), st, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testTrigger() *config.Trigger {
	return &config.Trigger{
		ID: "OC_fd", Account: "demo", Adapter: "generic",
		Fields:       map[string]string{"hand": "$.a", "hand2": "$.b"},
		PresetFields: map[string]string{"preset_only": "$.p", "hand": "$.overridden"},
	}
}

func request(trigger, account, body string, status int) *Request {
	return &Request{
		AccountID: account, TriggerID: trigger, Method: "POST",
		Query: map[string]string{"triggerId": trigger},
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Authorization": {"Basic c2VjcmV0"},
			"X-Api-Token":   {"jse_secret"},
			"Cookie":        {"a=b"},
			"X-Request-Id":  {"r1"},
		},
		Body: []byte(body), Status: status,
	}
}

func wantCode(t *testing.T, err error, code core.Code, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := core.ErrorCode(err); got != code {
		t.Fatalf("code = %s (%v), want %s", got, err, code)
	}
	for _, c := range contains {
		if !strings.Contains(core.ErrorMessage(err), c) {
			t.Errorf("message %q does not contain %q", core.ErrorMessage(err), c)
		}
	}
}

func TestSuggest(t *testing.T) {
	got := Suggest([]byte(freshdesk))
	want := []Suggestion{
		{Name: "ticket_id", Path: "$['freshdesk_webhook']['ticket_id']", Type: "number", Sample: json.RawMessage(`1042`)},
		{Name: "ticket_subject", Path: "$['freshdesk_webhook']['ticket_subject']", Type: "string", Sample: json.RawMessage(`"Unable to download invoice PDF"`)},
		{Name: "ticket_tags", Path: "$['freshdesk_webhook']['ticket_tags']", Type: "string", Sample: json.RawMessage(`"billing,invoice"`)},
		{Name: "ticket_agent_email", Path: "$['freshdesk_webhook']['ticket_agent_email']", Type: "string", Sample: json.RawMessage(`""`)},
	}
	if len(got) != len(want) {
		t.Fatalf("Suggest = %+v, want %d leaves", got, len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Path != want[i].Path || got[i].Type != want[i].Type ||
			got[i].Wildcard != "" || string(got[i].Sample) != string(want[i].Sample) {
			t.Errorf("leaf %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	arr := Suggest([]byte(`{"items":[{"sku":"a","n":1},{"sku":"b","n":null}],"tags":["x"],"empty":{},"o'k":true}`))
	byPath := map[string]Suggestion{}
	for _, s := range arr {
		byPath[s.Path] = s
	}
	cases := []struct{ path, name, wildcard, typ string }{
		{"$['items'][0]['sku']", "sku", "$['items'][*]['sku']", "string"},
		{"$['items'][1]['sku']", "sku_2", "$['items'][*]['sku']", "string"},
		{"$['items'][1]['n']", "n_2", "$['items'][*]['n']", "null"},
		{"$['tags'][0]", "tags_0", "$['tags'][*]", "string"},
		{"$['empty']", "empty", "", "object"},
		{`$['o\'k']`, "o'k", "", "boolean"},
	}
	for _, c := range cases {
		s, ok := byPath[c.path]
		if !ok {
			t.Errorf("no suggestion for %s in %+v", c.path, arr)
			continue
		}
		if s.Name != c.name || s.Wildcard != c.wildcard || s.Type != c.typ {
			t.Errorf("%s = %+v, want name %s wildcard %q type %s", c.path, s, c.name, c.wildcard, c.typ)
		}
	}

	// Names come from the path's unescaped member names.
	for body, want := range map[string]string{`{"a\nb":1}`: "a_b", `[[true]]`: "item_0_0", `7`: "value", `{"x":{"\u0001y":[2]}}`: "_y_0"} {
		if got := Suggest([]byte(body)); len(got) != 1 || got[0].Name != want {
			t.Errorf("Suggest(%s) = %+v, want the name %q", body, got, want)
		}
	}

	for _, body := range []string{"", "a=b&c=d", `{"broken":`} {
		if got := Suggest([]byte(body)); len(got) != 0 {
			t.Errorf("Suggest(%q) = %+v, want none", body, got)
		}
	}
	long := `{"s":"` + strings.Repeat("é", 300) + `"}`
	if s := Suggest([]byte(long)); len(s) != 1 || len([]rune(string(s[0].Sample))) > maxSample+3 || !json.Valid(s[0].Sample) {
		t.Errorf("long sample not shortened to valid JSON: %s", s[0].Sample)
	}
}

func TestRedact(t *testing.T) {
	h := Redact(http.Header{"authorization": {"Basic x"}, "X-Api-Token": {"t"}, "Cookie": {"c"}, "Proxy-Authorization": {"p"}, "X-Other": {"o"}})
	for _, k := range []string{"Authorization", "X-Api-Token", "Cookie", "Proxy-Authorization"} {
		if got := h.Get(k); got != redacted {
			t.Errorf("%s = %q, want %q", k, got, redacted)
		}
	}
	if h.Get("X-Other") != "o" {
		t.Errorf("X-Other = %q", h.Get("X-Other"))
	}
}

func TestSessionLifecycle(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "c.db")
	st := openStore(t, dsn)
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := newService(t, st, clk)
	trig := testTrigger()

	if s.Capturing(trig.ID) {
		t.Fatal("capturing before any session")
	}
	if _, err := s.Close(ctx, trig); err == nil {
		t.Fatal("Close without a session succeeded")
	} else {
		wantCode(t, err, core.CodeNotFound, "POST /v1/triggers/OC_fd/capture")
	}
	state, err := s.Get(ctx, trig)
	if err != nil || state.Session != nil || len(state.Captures) != 0 {
		t.Fatalf("Get before any session = %+v, %v", state, err)
	}

	sv, err := s.Open(ctx, trig, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sv.Count != DefaultCount || !sv.ExpiresAt.Equal(clk.now().Add(DefaultTTL)) || sv.State != "open" {
		t.Fatalf("defaults: %+v", sv)
	}
	if !s.Capturing(trig.ID) {
		t.Fatal("not capturing after Open")
	}
	// Another account's request to the trigger is not recorded.
	s.Record(ctx, request(trig.ID, "other", `{}`, 404))
	s.Record(ctx, request(trig.ID, "demo", freshdesk, 202))
	if s.Capturing(trig.ID) {
		t.Fatal("still capturing after count requests")
	}
	s.Record(ctx, request(trig.ID, "demo", `{"late":1}`, 202))

	state, err = s.Get(ctx, trig)
	if err != nil {
		t.Fatal(err)
	}
	if state.Session.State != "complete" || state.Session.Captured != 1 || len(state.Captures) != 1 {
		t.Fatalf("after one capture: session %+v, %d captures", state.Session, len(state.Captures))
	}
	c := state.Captures[0]
	if c.Status != 202 || c.Method != "POST" || c.Query["triggerId"] != trig.ID || string(c.Body) != freshdesk ||
		c.Headers.Get("Authorization") != redacted || c.Headers.Get("X-Api-Token") != redacted ||
		c.Headers.Get("Cookie") != redacted || c.Headers.Get("X-Request-Id") != "r1" || len(c.Suggestions) != 4 {
		t.Fatalf("capture = %+v", c)
	}

	// A refused form body: kept as text, with its reason, no suggestions.
	if _, err := s.Open(ctx, trig, 3, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	form := request(trig.ID, "demo", "a=1&b=2", 415)
	form.Code, form.Reason = "unsupported_media_type", "Content-Type \"application/x-www-form-urlencoded\" is not accepted"
	s.Record(ctx, form)
	state, _ = s.Get(ctx, trig)
	if len(state.Captures) != 2 || state.Session.Captured != 1 || state.Session.State != "open" {
		t.Fatalf("after form: %+v", state)
	}
	if f := state.Captures[0]; f.BodyText != "a=1&b=2" || f.Body != nil || f.Status != 415 || f.Error != "unsupported_media_type" || !strings.Contains(f.Reason, "form-urlencoded") || len(f.Suggestions) != 0 {
		t.Fatalf("form capture = %+v", f)
	}

	// A restart keeps the open session and the captures.
	s2 := newService(t, st, clk)
	if !s2.Capturing(trig.ID) {
		t.Fatal("open session lost on restart")
	}
	// The TTL ends it.
	clk.add(61 * time.Second)
	if s2.Capturing(trig.ID) {
		t.Fatal("capturing after the TTL")
	}
	s2.Record(ctx, request(trig.ID, "demo", `{}`, 202))
	state, _ = s2.Get(ctx, trig)
	if state.Session.State != "expired" || len(state.Captures) != 2 {
		t.Fatalf("after TTL: %+v, %d captures", state.Session, len(state.Captures))
	}

	// DELETE closes an open session; closing again is harmless.
	if _, err := s2.Open(ctx, trig, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	sv, err = s2.Close(ctx, trig)
	if err != nil || sv.State != "closed" || s2.Capturing(trig.ID) {
		t.Fatalf("Close = %+v, %v", sv, err)
	}
	if sv2, err := s2.Close(ctx, trig); err != nil || sv2.ID != sv.ID || sv2.State != "closed" {
		t.Fatalf("second Close = %+v, %v", sv2, err)
	}

	// Captures expire after Retention.
	clk.add(Retention)
	state, _ = s2.Get(ctx, trig)
	if len(state.Captures) != 0 {
		t.Fatalf("%d captures after retention", len(state.Captures))
	}
}

func TestOpenValidation(t *testing.T) {
	s := newService(t, openStore(t, filepath.Join(t.TempDir(), "c.db")), &clock{t: time.Now()})
	cases := []struct {
		count int
		ttl   time.Duration
		msg   string
	}{
		{-1, 0, "count must be between 1 and 20"},
		{21, 0, "count must be between 1 and 20"},
		{1, -time.Second, "ttl_seconds must be between 1 and 86400"},
		{1, MaxTTL + time.Second, "ttl_seconds must be between 1 and 86400"},
	}
	for _, c := range cases {
		_, err := s.Open(context.Background(), testTrigger(), c.count, c.ttl)
		wantCode(t, err, core.CodeUnprocessable, c.msg)
	}
}

func TestKeepAtMost20(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	clk := &clock{t: time.Now()}
	s := newService(t, st, clk)
	trig := testTrigger()
	for round := 0; round < 2; round++ {
		if _, err := s.Open(ctx, trig, MaxCount, time.Hour); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < MaxCount; i++ {
			s.Record(ctx, request(trig.ID, "demo", fmt.Sprintf(`{"round":%d,"i":%d}`, round, i), 202))
		}
	}
	state, err := s.Get(ctx, trig)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Captures) != Keep {
		t.Fatalf("%d captures kept, want %d", len(state.Captures), Keep)
	}
	if got := string(state.Captures[0].Body); got != `{"round":1,"i":19}` {
		t.Errorf("newest capture = %s", got)
	}
	if got := string(state.Captures[Keep-1].Body); got != `{"round":1,"i":0}` {
		t.Errorf("oldest kept capture = %s", got)
	}
}

func TestAdopt(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "c.db")
	st := openStore(t, dsn)
	clk := &clock{t: time.Now()}
	s := newService(t, st, clk)
	trig := testTrigger() // 2 hand-written config fields
	if _, err := s.Open(ctx, trig, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	s.Record(ctx, request(trig.ID, "demo", `{"freshdesk_webhook":{"ticket_subject":"s"},"list":[{"x":1}]}`, 202))

	// Suggested paths (normalized and [*], in any spelling) are captured
	// and free.
	fv, err := s.Adopt(ctx, trig, 3, map[string]string{
		"ticket_subject": "$['freshdesk_webhook']['ticket_subject']",
		"xs":             "$['list'][*]['x']",
		"x0":             " $['list'][0]['x'] ",
		"xs_dotted":      "$.list.*.x",
	})
	if err != nil {
		t.Fatal(err)
	}
	origins := map[string]string{}
	for _, f := range fv.Fields {
		origins[f.Name] = f.Origin
	}
	want := map[string]string{"hand": OriginConfig, "hand2": OriginConfig, "preset_only": OriginPreset,
		"ticket_subject": OriginCaptured, "xs": OriginCaptured, "x0": OriginCaptured, "xs_dotted": OriginCaptured}
	if fmt.Sprint(origins) != fmt.Sprint(want) || fv.Manual != 2 || fv.ManualLimit != 3 {
		t.Fatalf("fields = %+v, want origins %v and 2 manual", fv, want)
	}
	if got := s.Adopted(trig.Account, trig.ID); len(got) != 4 || got[0].Name != "ticket_subject" || got[0].Path.String() != "$['freshdesk_webhook']['ticket_subject']" {
		t.Fatalf("Adopted = %+v", got)
	}

	// One manual field fits (2 config + 1 = 3), a second does not.
	if _, err := s.Adopt(ctx, trig, 3, map[string]string{"typed": "$.freshdesk_webhook.ticket_status"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Adopt(ctx, trig, 3, map[string]string{"typed2": "$.other"})
	wantCode(t, err, core.CodeUnprocessable, "limits.manual_fields", "limit of 3", "4 hand-written")
	// Replacing the manual one with a suggested path frees its slot.
	if _, err := s.Adopt(ctx, trig, 3, map[string]string{"typed": "$['list'][0]['x']", "typed2": "$.other"}); err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		fields map[string]string
		code   core.Code
		msg    []string
	}{
		{map[string]string{}, core.CodeInvalid, []string{"no fields given"}},
		{map[string]string{"ok": "$.a[", "zz": "$.b"}, core.CodeInvalid, []string{`field "ok"`, "column 5"}},
		{map[string]string{"sp ace": "$.a"}, core.CodeInvalid, []string{"without spaces"}},
		{map[string]string{"e": "  "}, core.CodeInvalid, []string{"has no JSONPath"}},
		{map[string]string{"hand": "$.x"}, core.CodeConflict, []string{"config file"}},
	}
	for _, b := range bad {
		_, err := s.Adopt(ctx, trig, 3, b.fields)
		wantCode(t, err, b.code, b.msg...)
	}

	// Adopted fields survive a restart.
	s2 := newService(t, st, clk)
	fv = s2.Fields(trig, 3)
	origins = map[string]string{}
	for _, f := range fv.Fields {
		origins[f.Name] = f.Origin
	}
	if origins["ticket_subject"] != OriginCaptured || origins["typed"] != OriginCaptured || origins["typed2"] != OriginManual || len(s2.Adopted(trig.Account, trig.ID)) != 6 {
		t.Fatalf("after restart: %+v", fv)
	}
	// Deleting.
	if _, err := s2.DeleteField(ctx, trig, 3, "typed2"); err != nil {
		t.Fatal(err)
	}
	_, err = s2.DeleteField(ctx, trig, 3, "typed2")
	wantCode(t, err, core.CodeNotFound)
	_, err = s2.DeleteField(ctx, trig, 3, "hand")
	wantCode(t, err, core.CodeConflict)
	if len(s2.Adopted(trig.Account, trig.ID)) != 5 {
		t.Fatalf("Adopted after delete = %+v", s2.Adopted(trig.Account, trig.ID))
	}
}

// BenchmarkCapturingIdle measures the receiver's per-request cost of the
// capture check when no session is open.
func BenchmarkCapturingIdle(b *testing.B) {
	s := &Service{open: map[string]*store.CaptureSession{}, now: time.Now}
	for b.Loop() {
		s.Capturing("OC_demo")
	}
}

// TestRefreshOnSQLite checks Refresh on SQLite (cluster_test.go runs the
// PostgreSQL case), including a session closed through the other node.
func TestRefreshOnSQLite(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	clk := &clock{t: time.Now()}
	a, b := newService(t, st, clk), newService(t, st, clk)
	trig := testTrigger()
	if _, err := a.Open(ctx, trig, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Adopt(ctx, trig, 10, map[string]string{"x": "$.x"}); err != nil {
		t.Fatal(err)
	}
	if b.Capturing(trig.ID) || len(b.Adopted(trig.Account, trig.ID)) != 0 {
		t.Fatal("node b saw the session before Refresh")
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !b.Capturing(trig.ID) || len(b.Adopted(trig.Account, trig.ID)) != 1 {
		t.Fatalf("after Refresh: capturing %v, adopted %+v", b.Capturing(trig.ID), b.Adopted(trig.Account, trig.ID))
	}
	// Each node records one request; the session (count 2) is then full
	// for both once they refresh.
	a.Record(ctx, request(trig.ID, "demo", `{"n":1}`, 202))
	b.Record(ctx, request(trig.ID, "demo", `{"n":2}`, 202))
	for _, s := range []*Service{a, b} {
		if err := s.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if s.Capturing(trig.ID) {
			t.Error("still capturing after the session filled across nodes")
		}
	}
	state, err := a.Get(ctx, trig)
	if err != nil || state.Session.State != "complete" || len(state.Captures) != 2 {
		t.Fatalf("state = %+v, %v", state, err)
	}
	// A session closed on one node stops on the other after Refresh.
	if _, err := a.Open(ctx, trig, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil || !b.Capturing(trig.ID) {
		t.Fatalf("b not capturing after Refresh: %v", err)
	}
	if _, err := a.Close(ctx, trig); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil || b.Capturing(trig.ID) {
		t.Fatalf("b still capturing after the session closed elsewhere: %v", err)
	}
}

// A trigger id the config moves to another account (removed, then added
// again under the other one) must not carry the first account's adopted
// fields: they would be extracted into the new owner's events, listed as
// its fields and counted against its limit, and it could not delete them.
func TestAdoptedFieldsStayWithTheirAccount(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	clk := &clock{t: time.Now()}
	s := newService(t, st, clk)
	trig := testTrigger()
	if _, err := s.Adopt(ctx, trig, 10, map[string]string{"secret_a": "$.a.secret", "m1": "$.m1", "m2": "$.m2"}); err != nil {
		t.Fatal(err)
	}
	moved := testTrigger()
	moved.Account = "other"
	moved.Fields = nil
	check := func(s *Service, when string) {
		t.Helper()
		if got := s.Adopted(moved.Account, moved.ID); len(got) != 0 {
			t.Errorf("%s: the new owner's trigger has the old owner's adopted fields %+v", when, got)
		}
		for _, f := range s.Fields(moved, 10).Fields {
			if f.Origin == OriginManual || f.Origin == OriginCaptured {
				t.Errorf("%s: Fields of the new owner lists %+v", when, f)
			}
		}
		if got := s.Adopted(trig.Account, trig.ID); len(got) != 3 {
			t.Errorf("%s: the old owner's fields = %+v, want 3", when, got)
		}
	}
	check(s, "in memory")
	check(newService(t, st, clk), "after a restart")
	// The new owner's limit counts only its own hand-written fields.
	if _, err := s.Adopt(ctx, moved, 2, map[string]string{"mine": "$.mine", "mine2": "$.mine2"}); err != nil {
		t.Fatalf("new owner adopting 2 of its limit of 2: %v", err)
	}
}

// A suggestion's name is what `jsonevent capture --adopt NAME` and the
// admin page send as the field's name, so Adopt must accept it: member
// names holding Unicode spaces or controls (a line separator, an
// ideographic space, a C1 control) must not be proposed as they are.
func TestSuggestedNamesAreAdoptable(t *testing.T) {
	body := `{"a\u2028b":1,"c\u3000d":2,"e\u0085f":3,"g\u2029":4,"\u00a0":5,"h\u200bi":6}`
	sugg := Suggest([]byte(body))
	if len(sugg) != 6 {
		t.Fatalf("Suggest = %+v, want 6", sugg)
	}
	for _, s := range sugg {
		if err := checkName(s.Name); err != nil {
			t.Errorf("suggestion %s is named %q, which Adopt refuses: %v", s.Path, s.Name, err)
		}
	}
}

// JSON allows a member name twice in one object; a path names the member
// and selects the first, so the later member's leaves must not be
// suggested under a path that selects another value than their sample.
func TestSuggestDuplicateMembers(t *testing.T) {
	for _, body := range []string{
		`{"a":1,"a":2}`,
		`{"a":{"x":1},"b":0,"a":{"x":2,"y":3}}`,
		`{"a":{"x":1},"a":{"y":2,"z":[]}}`,
		`[{"id":1,"id":{"n":[4,{}]}},{"\u0041":1,"A":[5]}]`,
		`{"a":{},"a":{}}`,
		`{"o":{"k":"first","k":"second"},"p":[[],{}]}`,
	} {
		sugg := Suggest([]byte(body))
		seen := map[string]bool{}
		for _, s := range sugg {
			if seen[s.Path] {
				t.Errorf("%s: path %s suggested twice: %+v", body, s.Path, sugg)
			}
			seen[s.Path] = true
			p, err := jsonpath.Compile(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Values([]byte(body)); len(got) != 1 || string(got[0]) != string(s.Sample) {
				t.Errorf("%s: suggestion %s (%s) shows %s but selects %q", body, s.Name, s.Path, s.Sample, got)
			}
		}
		if len(sugg) == 0 {
			t.Errorf("%s: no suggestions", body)
		}
	}
	// Without duplicates, nothing is left out: one suggestion per leaf.
	body := `{"a":[{"b":1,"c":[]},{"b":{}}],"d":"x","e":{"f":null,"g":true}}`
	if got, want := len(Suggest([]byte(body))), len(jsonpath.Leaves([]byte(body))); got != want {
		t.Errorf("%d suggestions for %d leaves", got, want)
	}
}

// slowInsert is a store whose InsertCapture waits for release, like a
// PostgreSQL commit under load.
type slowInsert struct {
	*store.Store
	entered, release chan struct{}
}

func (s *slowInsert) InsertCapture(ctx context.Context, c *store.Capture, keep int) error {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.InsertCapture(ctx, c, keep)
}

// A session this node has just filled must stay ended when Refresh runs
// before the capture that filled it is written: the store still has the
// session open then, and reopening it recorded one request more than
// asked.
func TestRefreshDoesNotReopenAFilledSession(t *testing.T) {
	ctx := context.Background()
	st := &slowInsert{Store: openStore(t, filepath.Join(t.TempDir(), "c.db")), entered: make(chan struct{}), release: make(chan struct{})}
	clk := &clock{t: time.Now()}
	s, err := New(ctx, st, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	trig := testTrigger()
	if _, err := s.Open(ctx, trig, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Record(ctx, request(trig.ID, "demo", `{"n":1}`, 202))
	}()
	<-st.entered // counted in memory, not yet written
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	capturing := s.Capturing(trig.ID)
	close(st.release)
	<-done
	if capturing {
		t.Fatal("Refresh reopened the session that the request in flight filled")
	}
	go func() {
		for range st.entered {
		}
	}()
	s.Record(ctx, request(trig.ID, "demo", `{"n":2}`, 202))
	close(st.entered)
	state, err := s.Get(ctx, trig)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Captures) != 1 || state.Session.Captured != 1 {
		t.Fatalf("%d captures, session %+v; want exactly the 1 asked for", len(state.Captures), state.Session)
	}
}

// TestFieldsCarryPathHints checks that a field whose path is valid but
// probably wrong (a Goessner-style .length in a filter) carries the hint in
// the fields listing, whatever its origin, and that others carry none.
func TestFieldsCarryPathHints(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	s := newService(t, st, &clock{t: time.Now()})
	trig := testTrigger()
	trig.Fields = map[string]string{"long_tags": "$.tags[?(@.length > 3)]", "id": "$.id"}
	trig.PresetFields = map[string]string{"preset_long": "$.items[?@.length > 1]"}
	if _, err := s.Adopt(ctx, trig, 10, map[string]string{"adopted_long": "$.a[?@.b.length == 2]", "plain": "$.b"}); err != nil {
		t.Fatal(err)
	}
	hinted := map[string]bool{"long_tags": true, "preset_long": true, "adopted_long": true}
	fv := s.Fields(trig, 10)
	if len(fv.Fields) != 5 {
		t.Fatalf("fields = %+v", fv.Fields)
	}
	for _, f := range fv.Fields {
		switch {
		case hinted[f.Name] && (len(f.Hints) != 1 || !strings.Contains(f.Hints[0], "length()")):
			t.Errorf("field %s (%s): hints %q, want the .length hint", f.Name, f.Path, f.Hints)
		case !hinted[f.Name] && len(f.Hints) != 0:
			t.Errorf("field %s (%s): hints %q, want none", f.Name, f.Path, f.Hints)
		}
	}
}

// clockStore is a store whose clock (the database's, store.Store.Now) is
// not this process's.
type clockStore struct {
	*store.Store
	now func() time.Time
}

func (s clockStore) Now() time.Time { return s.now() }

// TestSessionsFollowTheStoreClock: without Options.Now a session's times
// come from the store's clock, on PostgreSQL the database server's, which
// every node shares. They came from each node's own clock: a session
// opened for 15 minutes on one node was already over on a node whose
// clock ran 15 minutes fast, which captured nothing for it.
func TestSessionsFollowTheStoreClock(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "c.db"))
	db := &clock{t: time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)}
	s, err := New(ctx, clockStore{st, db.now}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	trig := testTrigger()
	v, err := s.Open(ctx, trig, 2, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !v.CreatedAt.Equal(db.now()) || !v.ExpiresAt.Equal(db.now().Add(15*time.Minute)) {
		t.Errorf("session created %s, expiring %s; want the store's clock, %s", v.CreatedAt, v.ExpiresAt, db.now())
	}
	if !s.Capturing(trig.ID) {
		t.Error("a session 0 of its 15 minutes old by the store's clock is not capturing")
	}
	db.add(16 * time.Minute)
	if s.Capturing(trig.ID) {
		t.Error("a session 16 minutes old by the store's clock is still capturing")
	}
}
