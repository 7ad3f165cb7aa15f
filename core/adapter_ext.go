package core

import (
	"context"
	"fmt"
	"sort"
)

// This file holds the optional adapter interfaces. The receiver (and config
// validation) discovers them by type assertion, the way Caddy discovers a
// module's Provisioner: an adapter implements only what its vendor needs.
//
// What the receiver calls, in order, for one request:
//
//  1. at config load / reload, once per trigger: ConfigureAdapter(base,
//     trigger.Options, deps) and keep the returned Adapter for the trigger
//     (an error names the bad option and fails the load);
//  2. if the body is not valid JSON: if the adapter is an InvalidJSONHinter,
//     append InvalidJSONHint(body, offset) to the 400 message;
//  3. Normalize; then extract fields from Normalized.Body and de-duplicate on
//     Idempotency-Key, else Normalized.DeliveryID;
//  4. answer through Responder (adapter.go) when the adapter implements it.

// Configurable is implemented by adapters that take per-trigger options (the
// trigger's `options:` map in the config file). Configure must not modify
// the receiver; it returns a new Adapter configured for one trigger, or an
// *Error with CodeInvalid whose message names the bad option, e.g.
// `option "echo": want a list of field names, got 3`.
type Configurable interface {
	Configure(options map[string]any, deps AdapterDeps) (Adapter, error)
}

// AdapterDeps are the services the host hands to Configure. A nil member
// means "not available"; adapters fall back to something safe and say so in
// their README.
type AdapterDeps struct {
	// Snapshots keeps the last known state of vendor records for adapters
	// that fill in partial updates (dynamics `merge_snapshots: true`). When
	// nil, such adapters keep snapshots in memory (lost on restart).
	Snapshots SnapshotStore
}

// SnapshotStore keeps one JSON document per key, durably, for adapters that
// must remember a record's last known state between events.
//
// Keys are built by the adapter and already contain the trigger ID, the
// entity name and the record ID (e.g. "trg_1/account/78914942-…"); treat
// them as opaque strings of at most 512 bytes.
type SnapshotStore interface {
	// UpdateSnapshot reads the document stored under key (nil when there is
	// none), calls fn with it and stores what fn returns; when fn returns a
	// nil document the key is deleted. The read-modify-write must be atomic
	// with respect to other updates of the same key (a transaction or a
	// per-key lock). fn may be called more than once if the store retries; it
	// must not keep prev. An error from fn is returned unchanged and nothing
	// is written.
	UpdateSnapshot(ctx context.Context, key string, fn func(prev []byte) (next []byte, err error)) error
}

// InvalidJSONHinter is implemented by adapters whose vendor is known to
// produce invalid JSON in a typical way (Freshdesk placeholders left empty
// or unquoted, Genesys unresolved ${input.x} outside quotes). The receiver
// validates JSON before Normalize; when validation fails it calls
// InvalidJSONHint and appends the result (when not "") to its 400 message.
type InvalidJSONHinter interface {
	// InvalidJSONHint explains the likely vendor-side mistake. offset is the
	// byte offset of the syntax error as encoding/json reports it
	// (*json.SyntaxError.Offset), or -1 when the caller does not know it. The
	// hint is one or two sentences for the vendor admin, lowercase, no final
	// period, and never echoes more than a short excerpt of the body.
	InvalidJSONHint(body []byte, offset int64) string
}

// ConfigureAdapter returns the adapter to use for one trigger: a's
// Configure result when a is Configurable, a itself when it is not and
// options is empty, and an *Error with CodeInvalid naming the options when a
// takes none.
func ConfigureAdapter(a Adapter, options map[string]any, deps AdapterDeps) (Adapter, error) {
	if c, ok := a.(Configurable); ok {
		configured, err := c.Configure(options, deps)
		if err != nil {
			return nil, err
		}
		return configured, nil
	}
	if len(options) == 0 {
		return a, nil
	}
	keys := make([]string, 0, len(options))
	for k := range options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return nil, &Error{Code: CodeInvalid, Message: fmt.Sprintf("adapter %q takes no options, got %q", a.Name(), keys)}
}
