package core

import (
	"context"
	"net/http"
)

// Request is one inbound HTTP request as an adapter sees it. The receiver
// fills it with copies (never fiber's reused buffers), so an adapter may keep
// any part of it.
type Request struct {
	TriggerID string
	Method    string
	Header    http.Header // canonical keys; secrets still present, never log them
	Query     map[string]string
	Body      []byte // valid JSON (checked by the receiver before Normalize)
	// AuthUsername is the username half of Basic auth, "" for X-API-TOKEN.
	AuthUsername string
}

// Normalized is what an adapter makes of a Request: the JSON document that
// fields are extracted from (with JSONPath) and that workflows see as .body,
// plus what the receiver needs for de-duplication.
type Normalized struct {
	// Body is the normalised JSON document. For the generic adapter it is the
	// request body unchanged.
	Body []byte
	// DeliveryID is the vendor's own id of this delivery, used for
	// de-duplication when the caller sends no Idempotency-Key. Empty when the
	// vendor sends none.
	DeliveryID string
	// Warnings are notes on what the adapter had to guess (an unresolved
	// Genesys ${input.x} treated as null, say). They are stored with the event.
	Warnings []string
}

// Adapter turns what one vendor really sends into the core event. It must be
// safe for concurrent use and must never panic on any input; a body it cannot
// make sense of is an *Error with CodeInvalid whose message tells the vendor
// admin what to fix.
type Adapter interface {
	// Name is the adapter's config value, package name and fixtures folder.
	Name() string
	// Normalize converts the request into the normalised document.
	Normalize(ctx context.Context, req *Request) (*Normalized, error)
}

// Accepted describes an event the receiver has committed, for Responder.
type Accepted struct {
	EventID   string
	TriggerID string
	Duplicate bool
	// Fields are the extracted fields as raw JSON values, by name.
	Fields map[string][]byte
}

// Responder is implemented by adapters whose vendor consumes the synchronous
// reply (Genesys data actions). Without it the receiver answers 202 with
// {"eventId","triggerId"}.
type Responder interface {
	// Accept returns the status and JSON body for an accepted event.
	Accept(a *Accepted) (status int, body []byte)
	// Refuse returns the status and JSON body for a refused request; status is
	// the one the receiver chose, code and message describe the refusal.
	Refuse(status int, code Code, message string) (int, []byte)
}
