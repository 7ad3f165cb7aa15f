// Package adapters holds the vendor adapters and the registry that the
// service builds from them. Each vendor lives in its own package
// (adapters/<name>) and imports only core and core/jsonpath; the list of
// adapters the binary knows is explicit, in adapters.go.
package adapters

import (
	"fmt"
	"sort"

	"github.com/jsonevent/jsonevent/core"
)

// Adapter is the contract every vendor adapter implements; see core.Adapter
// and the optional interfaces in core/adapter_ext.go.
type Adapter = core.Adapter

// Registry maps adapter names to adapters. It is an object you build (as
// River builds its Workers), not global state, so tests can register fakes.
// A Registry is safe for concurrent reads once built.
type Registry struct {
	byName map[string]Adapter
}

// NewRegistry returns a registry of the given adapters, or an error when one
// is nil, has an empty name or repeats a name.
func NewRegistry(list ...Adapter) (*Registry, error) {
	r := &Registry{byName: make(map[string]Adapter, len(list))}
	for _, a := range list {
		if err := r.Add(a); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add registers a; a duplicate name is an error.
func (r *Registry) Add(a Adapter) error {
	if a == nil {
		return fmt.Errorf("register adapter: nil adapter")
	}
	name := a.Name()
	if name == "" {
		return fmt.Errorf("register adapter %T: empty name", a)
	}
	if _, dup := r.byName[name]; dup {
		return fmt.Errorf("register adapter %q: name already registered", name)
	}
	r.byName[name] = a
	return nil
}

// Get returns the adapter registered under name.
func (r *Registry) Get(name string) (Adapter, bool) {
	a, ok := r.byName[name]
	return a, ok
}

// Lookup is Get under the name core/receiver's Adapters interface uses, so
// a *Registry can be passed to receiver.Options as it is.
func (r *Registry) Lookup(name string) (Adapter, bool) { return r.Get(name) }

// Names returns the registered names, sorted; config validation uses them
// (config.Options.Adapters).
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ForTrigger returns the adapter for one trigger: the one registered under
// name ("" means generic), configured with the trigger's options (see
// core.ConfigureAdapter). Errors are *core.Error with CodeInvalid.
func (r *Registry) ForTrigger(name string, options map[string]any, deps core.AdapterDeps) (Adapter, error) {
	if name == "" {
		name = "generic"
	}
	a, ok := r.Get(name)
	if !ok {
		return nil, core.Errorf(core.CodeInvalid, "unknown adapter %q (known: %v)", name, r.Names())
	}
	return core.ConfigureAdapter(a, options, deps)
}
