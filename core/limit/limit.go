// Package limit enforces requests-per-minute per token over any rolling 60
// seconds (a sliding log, not a refilling bucket).
//
// CONTRACT (stub; the limit work fills it in, keeping these signatures).
package limit

import (
	"context"
	"time"
)

// Window is the rolling window the limit applies to.
const Window = time.Minute

// Decision is the outcome of one Allow call, with what the RateLimit-*
// and Retry-After headers need.
type Decision struct {
	Allowed    bool
	Limit      int
	Remaining  int           // after this request
	Reset      time.Duration // until at least one more request is admitted... or the window is fully free
	RetryAfter time.Duration // when !Allowed: how long until a request would be admitted
}

// Limiter admits or refuses one request for key (a token id) under limit
// requests per Window. Implementations: Memory (one node), a shared one on
// PostgreSQL (several nodes). An error means the limiter could not decide.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int) (Decision, error)
}

// Memory is an exact in-process sliding-window limiter.
type Memory struct{}

// NewMemory returns an empty Memory limiter.
func NewMemory() *Memory { return &Memory{} }

// Allow implements Limiter.
func (m *Memory) Allow(ctx context.Context, key string, limit int) (Decision, error) {
	return Decision{}, nil
}
