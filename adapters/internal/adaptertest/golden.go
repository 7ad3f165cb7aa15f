// Package adaptertest is the shared test kit of the adapters: the golden
// fixture runner (fixtures/<adapter>/<case>/), the conformance suite every
// adapter passes, and the fuzz invariants. It is imported by tests only.
package adaptertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/jsonevent/jsonevent/adapters/internal/jsondoc"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/jsonpath"
	"go.yaml.in/yaml/v3"
)

// update is the issue's `go test ./adapters/... -update`; GOLDEN_UPDATE=1
// does the same and works with any package pattern. Every test package
// under adapters/ imports this package, so the flag is always defined.
var update = flag.Bool("update", false, "rewrite the golden expected.json / expected.err files")

// Updating reports whether goldens should be rewritten.
func Updating() bool { return *update || os.Getenv("GOLDEN_UPDATE") == "1" }

// Fixture is fixtures/<adapter>/<case>/request.json: a real-shaped request
// plus what the trigger would configure.
type Fixture struct {
	Description string            `json:"description"`
	Source      string            `json:"source,omitempty"`
	Sample      string            `json:"sample,omitempty"` // ../shared/vendors/<adapter>/<sample>: the body must match it
	Method      string            `json:"method"`
	Headers     map[string]string `json:"headers"`
	Query       map[string]string `json:"query,omitempty"`
	RawBody     bool              `json:"raw_body,omitempty"`
	Body        json.RawMessage   `json:"body"`
	TriggerID   string            `json:"trigger_id,omitempty"`
	Options     map[string]any    `json:"options,omitempty"`
	// Fields are the trigger's hand-written fields, added to the preset's.
	Fields map[string]string `json:"fields,omitempty"`
	// Before are requests normalised first by the same configured adapter
	// (merge_snapshots sequences).
	Before []Fixture `json:"before,omitempty"`
	// ExpectStatus is the HTTP status the whole service answers to a
	// refused case (400, 415 …): required there, since it also keeps the
	// case out of the conformance seeds. For an accepted case it only says
	// "accepted" (the shared samples write 200); the end-to-end test expects
	// 202, or what the adapter's Responder answers.
	ExpectStatus int `json:"expect_status,omitempty"`
	// ExpectFields are the target values (copied from the shared sample
	// when there is one); every one must come out, except those explained
	// in Differences.
	ExpectFields map[string]json.RawMessage `json:"expect_fields,omitempty"`
	Differences  map[string]string          `json:"deliberate_differences,omitempty"`
}

// Expected is expected.json.
type Expected struct {
	DeliveryID string                     `json:"delivery_id"`
	Warnings   []string                   `json:"warnings"`
	Body       json.RawMessage            `json:"body"`
	Fields     map[string]json.RawMessage `json:"fields,omitempty"`
}

// Request builds the core.Request the receiver would hand the adapter.
func (f *Fixture) Request() *core.Request {
	h := http.Header{}
	for k, v := range f.Headers {
		h.Set(k, v)
	}
	body := []byte(f.Body)
	if f.RawBody {
		var s string
		if err := json.Unmarshal(f.Body, &s); err == nil {
			body = []byte(s)
		}
	}
	trigger := f.TriggerID
	if trigger == "" {
		trigger = "trg_fixture"
	}
	method := f.Method
	if method == "" {
		method = http.MethodPost
	}
	return &core.Request{TriggerID: trigger, Method: method, Header: h, Query: f.Query, Body: body, AuthUsername: BasicUsername(h.Get("Authorization"))}
}

// BasicUsername returns the username of a Basic Authorization value.
func BasicUsername(authorization string) string {
	scheme, cred, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return ""
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return ""
	}
	user, _, _ := strings.Cut(string(dec), ":")
	return user
}

// LoadPreset reads configs/presets/<name>.yaml's fields map.
func LoadPreset(t testing.TB, root, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "configs", "presets", name+".yaml"))
	if err != nil {
		t.Fatalf("read preset: %v", err)
	}
	var p struct {
		Fields map[string]string `yaml:"fields"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("preset %s: %v", name, err)
	}
	if len(p.Fields) == 0 {
		t.Fatalf("preset %s has no fields", name)
	}
	return p.Fields
}

// EngineReady reports whether core/jsonpath is implemented yet.
func EngineReady() bool {
	_, err := jsonpath.Compile("$.a")
	return err == nil
}

// Extract evaluates fields over doc the way the receiver stores them
// (core/receiver extract): no node → null, one node → its value, several →
// a list of them.
func Extract(t testing.TB, doc []byte, fields map[string]string) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for name, expr := range fields {
		p, err := jsonpath.Compile(expr)
		if err != nil {
			t.Fatalf("field %s: %v", name, err)
		}
		vals := p.Values(doc)
		switch len(vals) {
		case 0:
			out[name] = json.RawMessage("null")
		case 1:
			out[name] = append(json.RawMessage(nil), vals[0]...)
		default:
			var b bytes.Buffer
			b.WriteByte('[')
			for i, v := range vals {
				if i > 0 {
					b.WriteByte(',')
				}
				b.Write(v)
			}
			b.WriteByte(']')
			out[name] = b.Bytes()
		}
	}
	return out
}

// Golden runs every fixtures/<adapter>/<case>/ through a (configured with
// the case's options) and compares with expected.json or expected.err;
// Updating() rewrites them. root is the repository root.
func Golden(t *testing.T, root string, a core.Adapter) {
	dir := filepath.Join(root, "fixtures", a.Name())
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read fixtures: %v", err)
	}
	preset := LoadPreset(t, root, a.Name())
	engine := EngineReady()
	if !engine {
		t.Log("core/jsonpath not built yet: comparing normalised bodies only")
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		caseDir := filepath.Join(dir, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			f := ReadFixture(t, filepath.Join(caseDir, "request.json"))
			if f.Sample != "" {
				CheckSample(t, root, a.Name(), f)
			}
			got, gotErr := Run(t, a, f)
			fields := map[string]string{}
			for k, v := range preset {
				fields[k] = v
			}
			for k, v := range f.Fields {
				fields[k] = v
			}
			if err := checkExpectStatus(f.ExpectStatus, gotErr != nil); err != nil {
				t.Error(err)
			}
			if gotErr != nil {
				compareErr(t, caseDir, gotErr)
				return
			}
			exp := Expected{DeliveryID: got.DeliveryID, Warnings: got.Warnings, Body: got.Body}
			if exp.Warnings == nil {
				exp.Warnings = []string{}
			}
			if engine {
				exp.Fields = Extract(t, got.Body, fields)
				checkTarget(t, f, exp.Fields)
			}
			compareExpected(t, caseDir, exp, engine)
		})
	}
	if n < 4 {
		t.Errorf("%s has %d fixtures, want at least 4", dir, n)
	}
}

// checkExpectStatus reports a fixture's expect_status that contradicts what
// the adapter did with it: a refused case needs its 4xx, an accepted one
// none or a 2xx.
func checkExpectStatus(status int, refused bool) error {
	if refused && status < 400 {
		return fmt.Errorf("the adapter refuses this case, so expect_status must be the 4xx the service answers (400), not %d", status)
	}
	if !refused && status >= 300 {
		return fmt.Errorf("the adapter accepts this case, but expect_status is %d (use 202, or leave it out)", status)
	}
	return nil
}

// ReadFixture decodes a request.json.
func ReadFixture(t testing.TB, path string) *Fixture {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var f Fixture
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &f
}

// Run configures a with f's options and normalises f (after f.Before).
func Run(t testing.TB, a core.Adapter, f *Fixture) (*core.Normalized, error) {
	t.Helper()
	configured, err := core.ConfigureAdapter(a, f.Options, core.AdapterDeps{})
	if err != nil {
		return nil, err
	}
	for i := range f.Before {
		b := f.Before[i]
		if b.TriggerID == "" {
			b.TriggerID = f.TriggerID
		}
		if _, err := configured.Normalize(context.Background(), b.Request()); err != nil {
			t.Fatalf("before[%d]: %v", i, err)
		}
	}
	return configured.Normalize(context.Background(), f.Request())
}

// CheckSample checks that the fixture's body is the shared sample's body.
func CheckSample(t testing.TB, root, adapter string, f *Fixture) {
	t.Helper()
	path := filepath.Join(root, "..", "shared", "vendors", adapter, f.Sample)
	b, err := os.ReadFile(path)
	if err != nil {
		// Not a skip: the fixture says its body is the vendor's sample, and
		// a missing file (no ../shared, a misspelt sample name) would let
		// the two drift apart unnoticed, as core/jsonpath's compliance
		// suite also refuses to pass without it.
		t.Fatalf("shared sample %s: %v (the shared test material must lie beside the repository: ln -s /work/shared ../shared)", f.Sample, err)
	}
	var s Fixture
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("sample %s: %v", path, err)
	}
	if !jsonEqual(s.Body, f.Body) {
		t.Errorf("fixture body differs from the shared sample %s", f.Sample)
	}
	for k, v := range s.ExpectFields {
		if fv, ok := f.ExpectFields[k]; !ok || !jsonEqual(fv, v) {
			t.Errorf("fixture expect_fields[%s] differs from the shared sample's %s", k, v)
		}
	}
}

// checkTarget compares the extracted fields with the fixture's targets.
func checkTarget(t testing.TB, f *Fixture, got map[string]json.RawMessage) {
	t.Helper()
	for _, k := range jsondoc.SortedKeys(f.ExpectFields) {
		if why, ok := f.Differences[k]; ok {
			t.Logf("field %s: deliberate difference: %s", k, why)
			continue
		}
		want := f.ExpectFields[k]
		g, ok := got[k]
		if !ok {
			t.Errorf("field %s is not extracted (not in the preset nor the fixture's fields)", k)
			continue
		}
		if !jsonEqual(g, want) {
			t.Errorf("field %s = %s, want %s", k, g, want)
		}
	}
}

func compareErr(t *testing.T, caseDir string, gotErr error) {
	t.Helper()
	var ce *core.Error
	if !errors.As(gotErr, &ce) {
		t.Fatalf("error is not a *core.Error: %v", gotErr)
	}
	got := fmt.Sprintf("%s: %s\n", ce.Code, ce.Message)
	path := filepath.Join(caseDir, "expected.err")
	if Updating() {
		writeFile(t, path, []byte(got))
		_ = os.Remove(filepath.Join(caseDir, "expected.json"))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("normalize failed (%v) and there is no expected.err: %v", gotErr, err)
	}
	if got != string(want) {
		t.Errorf("error:\n got: %s\nwant: %s", got, want)
	}
}

func compareExpected(t *testing.T, caseDir string, got Expected, engine bool) {
	t.Helper()
	path := filepath.Join(caseDir, "expected.json")
	gotBytes := marshalIndent(t, got)
	if Updating() {
		if !engine {
			// Keep fields written by an earlier run with the engine.
			if old, err := os.ReadFile(path); err == nil {
				var prev Expected
				if json.Unmarshal(old, &prev) == nil && prev.Fields != nil {
					got.Fields = prev.Fields
					gotBytes = marshalIndent(t, got)
				}
			}
		}
		writeFile(t, path, gotBytes)
		_ = os.Remove(filepath.Join(caseDir, "expected.err"))
		return
	}
	wantBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no expected.json (run with GOLDEN_UPDATE=1): %v", err)
	}
	var want Expected
	if err := json.Unmarshal(wantBytes, &want); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if got.DeliveryID != want.DeliveryID {
		t.Errorf("delivery id = %q, want %q", got.DeliveryID, want.DeliveryID)
	}
	if !reflect.DeepEqual(got.Warnings, want.Warnings) && !(len(got.Warnings) == 0 && len(want.Warnings) == 0) {
		t.Errorf("warnings = %q, want %q", got.Warnings, want.Warnings)
	}
	if !jsonEqual(got.Body, want.Body) {
		t.Errorf("normalised body differs from expected.json:\n got: %s\nwant: %s", compact(got.Body), compact(want.Body))
	}
	if engine {
		if len(got.Fields) != len(want.Fields) {
			t.Errorf("fields = %v, want %v", names(got.Fields), names(want.Fields))
		}
		for k, w := range want.Fields {
			if g, ok := got.Fields[k]; !ok || !jsonEqual(g, w) {
				t.Errorf("field %s = %s, want %s", k, g, w)
			}
		}
	}
}

func names(m map[string]json.RawMessage) []string { return jsondoc.SortedKeys(m) }

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// marshalIndent writes v indented, without HTML escaping, so goldens show
// <div> as it is.
func marshalIndent(t testing.TB, v any) []byte {
	t.Helper()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encode golden: %v", err)
	}
	return out.Bytes()
}

func compact(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return string(b)
	}
	return out.String()
}

// jsonEqual compares two JSON texts as values (numbers as float64, so
// 20000 equals 20000.0).
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}
