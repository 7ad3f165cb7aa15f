package receiver

import (
	"fmt"
	"sort"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/jsonpath"
)

// Adapters builds the adapter of one trigger from the adapter name and the
// trigger's options. cmd wires the adapters registry in
// (adapters.Registry.ForTrigger with the host's dependencies).
type Adapters interface {
	ForTrigger(name string, options map[string]any) (core.Adapter, error)
}

// AdapterFunc is a function that implements Adapters.
type AdapterFunc func(name string, options map[string]any) (core.Adapter, error)

// ForTrigger implements Adapters.
func (f AdapterFunc) ForTrigger(name string, options map[string]any) (core.Adapter, error) {
	return f(name, options)
}

// AdapterMap is an Adapters backed by a map from name to adapter, for
// adapters that take no options (tests).
type AdapterMap map[string]core.Adapter

// ForTrigger implements Adapters.
func (m AdapterMap) ForTrigger(name string, options map[string]any) (core.Adapter, error) {
	a, ok := m[name]
	if !ok {
		return nil, core.Errorf(core.CodeInvalid, "unknown adapter %q", name)
	}
	if len(options) > 0 {
		return nil, core.Errorf(core.CodeInvalid, "adapter %q takes no options", name)
	}
	return a, nil
}

// Runtime is the compiled, immutable form of a config that the handlers
// read: triggers with compiled JSONPath fields, the authenticator and the
// limits. Config reloads build a new Runtime and swap it in atomically.
type Runtime struct {
	Config   *config.Config
	auth     *auth.Authenticator
	triggers map[string]*trigger
	limits   config.Limits
	maxBody  int // the largest body any trigger accepts
}

type trigger struct {
	cfg       *config.Trigger
	adapter   core.Adapter
	responder core.Responder // nil unless the adapter shapes replies
	bodyLimit int
	fields    []field // sorted by name
}

type field struct {
	name string
	path *jsonpath.Path
}

// Default limits, used when the config leaves them at zero.
const (
	DefaultBodyBytes         = 102400
	DefaultRequestsPerMinute = 3000
)

// Compile builds a Runtime from a loaded config. The config has already been
// validated by config.Load; Compile still reports, naming the trigger, an
// adapter it cannot find or a JSONPath it cannot compile.
func Compile(cfg *config.Config, adapters Adapters) (*Runtime, error) {
	rt := &Runtime{
		Config:   cfg,
		auth:     auth.New(cfg.Accounts),
		triggers: make(map[string]*trigger, len(cfg.Triggers)),
		limits:   cfg.Limits,
	}
	if rt.limits.BodyBytes <= 0 {
		rt.limits.BodyBytes = DefaultBodyBytes
	}
	if rt.limits.RequestsPerMinute <= 0 {
		rt.limits.RequestsPerMinute = DefaultRequestsPerMinute
	}
	rt.maxBody = rt.limits.BodyBytes
	for i := range cfg.Triggers {
		tc := &cfg.Triggers[i]
		if _, dup := rt.triggers[tc.ID]; dup {
			return nil, fmt.Errorf("triggers[%d]: duplicate trigger id %q", i, tc.ID)
		}
		name := tc.Adapter
		if name == "" {
			name = "generic"
		}
		if adapters == nil {
			return nil, fmt.Errorf("trigger %q: no adapters are registered", tc.ID)
		}
		a, err := adapters.ForTrigger(name, tc.Options)
		if err != nil {
			return nil, fmt.Errorf("trigger %q: %w", tc.ID, err)
		}
		t := &trigger{cfg: tc, adapter: a, bodyLimit: rt.limits.BodyBytes}
		if r, ok := a.(core.Responder); ok {
			t.responder = r
		}
		if tc.BodyBytes > 0 {
			t.bodyLimit = tc.BodyBytes
		}
		rt.maxBody = max(rt.maxBody, t.bodyLimit)
		exprs := map[string]string{}
		for k, v := range tc.PresetFields {
			exprs[k] = v
		}
		for k, v := range tc.Fields { // hand-written wins
			exprs[k] = v
		}
		for name, expr := range exprs {
			p, err := jsonpath.Compile(expr)
			if err != nil {
				return nil, fmt.Errorf("trigger %q field %q: %w", tc.ID, name, err)
			}
			t.fields = append(t.fields, field{name: name, path: p})
		}
		sort.Slice(t.fields, func(i, j int) bool { return t.fields[i].name < t.fields[j].name })
		rt.triggers[tc.ID] = t
	}
	return rt, nil
}
