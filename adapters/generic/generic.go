// Package generic is the default adapter: the body is the event, unchanged,
// and there is no vendor delivery id. Triggers without `adapter:` use it.
package generic

import (
	"context"
	"encoding/json"

	"github.com/jsonevent/jsonevent/core"
)

// Name is the adapter's config value.
const Name = "generic"

// Adapter passes the body through.
type Adapter struct{}

var _ core.Adapter = Adapter{}

// New returns the generic adapter.
func New() Adapter { return Adapter{} }

// Name returns "generic".
func (Adapter) Name() string { return Name }

// Normalize returns the body unchanged. The receiver has already checked
// that it is valid JSON; a body that is not is refused here too, so the
// adapter keeps the Normalized.Body-is-JSON promise on its own.
func (Adapter) Normalize(_ context.Context, req *core.Request) (*core.Normalized, error) {
	if !json.Valid(req.Body) {
		return nil, core.Errorf(core.CodeInvalid, "body is not valid JSON")
	}
	return &core.Normalized{Body: req.Body}, nil
}
