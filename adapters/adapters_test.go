package adapters_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/adapters"
	"github.com/jsonevent/jsonevent/adapters/generic"
	_ "github.com/jsonevent/jsonevent/adapters/internal/adaptertest" // defines -update
	"github.com/jsonevent/jsonevent/core"
)

type fake struct{ name string }

func (f fake) Name() string { return f.name }
func (f fake) Normalize(context.Context, *core.Request) (*core.Normalized, error) {
	return &core.Normalized{Body: []byte("{}")}, nil
}

// Ensure the registry and the repository agree, with no list of names to
// keep by hand: every registered vendor has its fixtures, preset, guide,
// conformance test and a row in adapters/README.md, and every fixtures
// folder and preset belongs to a registered adapter (a vendor added to
// fixtures/ but not to Default would otherwise go untested end to end).
func TestDefault(t *testing.T) {
	r := adapters.Default()
	names := r.Names()
	if !slices.Contains(names, generic.Name) {
		t.Fatalf("Names() = %v, lacks %q (the default adapter)", names, generic.Name)
	}
	guide, err := os.ReadFile(filepath.Join(root, "adapters", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		a, ok := r.Get(n)
		if !ok || a.Name() != n {
			t.Errorf("Get(%q) = %v, %v", n, a, ok)
		}
		if !strings.Contains(string(guide), "| `"+n+"`") {
			t.Errorf("adapters/README.md has no table row for %q", n)
		}
		if n == generic.Name {
			continue // no fixtures, guide or preset fields: the body as sent
		}
		for _, p := range []string{
			filepath.Join("fixtures", n),
			filepath.Join("configs", "presets", n+".yaml"),
			filepath.Join("adapters", n, "README.md"),
			filepath.Join("adapters", n, "conformance_test.go"),
		} {
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("adapter %q lacks %s (see adapters/README.md, Adding a vendor)", n, p)
			}
		}
	}
	for _, dir := range []string{"fixtures", filepath.Join("configs", "presets")} {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			n := strings.TrimSuffix(e.Name(), ".yaml")
			if _, ok := r.Get(n); !ok {
				t.Errorf("%s/%s belongs to no registered adapter: add %s.New() to Default in adapters/adapters.go", dir, e.Name(), n)
			}
		}
	}
	if _, ok := r.Get(unknown); ok {
		t.Errorf("Get of an unknown name succeeded")
	}
}

// unknown is an adapter name no vendor will take.
const unknown = "no-such-vendor"

func TestRegistryErrors(t *testing.T) {
	if _, err := adapters.NewRegistry(fake{"a"}, fake{"a"}); err == nil {
		t.Errorf("duplicate names accepted")
	}
	if _, err := adapters.NewRegistry(fake{""}); err == nil {
		t.Errorf("empty name accepted")
	}
	if _, err := adapters.NewRegistry(nil); err == nil {
		t.Errorf("nil adapter accepted")
	}
	r, err := adapters.NewRegistry(fake{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(fake{"a"}); err == nil {
		t.Errorf("Add of a duplicate accepted")
	}
}

func TestForTrigger(t *testing.T) {
	r := adapters.Default()
	a, err := r.ForTrigger("", nil, core.AdapterDeps{})
	if err != nil || a.Name() != generic.Name {
		t.Errorf(`ForTrigger("") = %v, %v; want generic`, a, err)
	}
	if _, err := r.ForTrigger(unknown, nil, core.AdapterDeps{}); core.ErrorCode(err) != core.CodeInvalid {
		t.Errorf("unknown adapter: %v", err)
	}
	if _, err := r.ForTrigger("generic", map[string]any{"echo": []any{"x"}}, core.AdapterDeps{}); core.ErrorCode(err) != core.CodeInvalid {
		t.Errorf("options on generic: %v", err)
	}
	g, err := r.ForTrigger("genesys", map[string]any{"echo": []any{"csat"}}, core.AdapterDeps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.(core.Responder); !ok {
		t.Errorf("configured genesys lost its Responder")
	}
}
