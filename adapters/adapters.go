package adapters

import (
	"github.com/jsonevent/jsonevent/adapters/dynamics"
	"github.com/jsonevent/jsonevent/adapters/freshdesk"
	"github.com/jsonevent/jsonevent/adapters/generic"
	"github.com/jsonevent/jsonevent/adapters/genesys"
	"github.com/jsonevent/jsonevent/adapters/servicenow"
	"github.com/jsonevent/jsonevent/adapters/zendesk"
)

// Default returns the registry of every adapter the service ships. Adding a
// vendor is one line here (see adapters/README.md).
func Default() *Registry {
	r, err := NewRegistry(
		generic.New(),
		freshdesk.New(),
		servicenow.New(),
		dynamics.New(),
		genesys.New(),
		zendesk.New(),
	)
	if err != nil {
		panic(err) // a duplicate name in this fixed list is a programming error caught by tests
	}
	return r
}
