package adapters_test

import (
	"context"
	"reflect"
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

func TestDefault(t *testing.T) {
	r := adapters.Default()
	want := []string{"dynamics", "freshdesk", "generic", "genesys", "servicenow"}
	if got := r.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range want {
		a, ok := r.Get(n)
		if !ok || a.Name() != n {
			t.Errorf("Get(%q) = %v, %v", n, a, ok)
		}
	}
	if _, ok := r.Get("zendesk"); ok {
		t.Errorf("Get of an unknown name succeeded")
	}
}

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
	if _, err := r.ForTrigger("zendesk", nil, core.AdapterDeps{}); core.ErrorCode(err) != core.CodeInvalid {
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
