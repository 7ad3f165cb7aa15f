package receiver

import (
	"fmt"
	"sort"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/jsonpath"
)

// Adapters finds the adapter a trigger names.
type Adapters interface {
	Lookup(name string) (core.Adapter, bool)
}

// AdapterMap is an Adapters backed by a map from config name to adapter.
type AdapterMap map[string]core.Adapter

// Lookup implements Adapters.
func (m AdapterMap) Lookup(name string) (core.Adapter, bool) {
	a, ok := m[name]
	return a, ok
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
		a, ok := adapters.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("trigger %q: unknown adapter %q", tc.ID, name)
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
