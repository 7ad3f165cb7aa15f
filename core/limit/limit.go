// Package limit enforces requests-per-minute per token over any rolling 60
// seconds (a sliding log, not a refilling bucket).
//
// Memory keeps, per key, a ring buffer of the timestamps of the last `limit`
// admissions. A request is admitted if and only if fewer than `limit`
// requests were admitted in the Window before it, so no rolling 60 seconds
// ever holds more than `limit` admissions: a burst at second 0 and another
// at second 59 cannot both pass, as they would with a token bucket.
package limit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Window is the rolling window the limit applies to.
const Window = time.Minute

// Decision is the outcome of one Allow call, with what the RateLimit-*
// and Retry-After headers need.
type Decision struct {
	Allowed bool
	Limit   int
	// Remaining is how many more requests would be admitted right now,
	// counting this one if it was admitted.
	Remaining int
	// Reset is how long until the oldest admission still in the window
	// leaves it, that is until Remaining next grows; 0 when the window is
	// empty.
	Reset time.Duration
	// RetryAfter is, when !Allowed, how long until a request would be
	// admitted; 0 when Allowed. Round it up to whole seconds for the
	// Retry-After header.
	RetryAfter time.Duration
}

// Limiter admits or refuses one request for key (a token id) under limit
// requests per Window. Implementations: Memory (one node), a shared one on
// PostgreSQL (several nodes). An error means the limiter could not decide.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int) (Decision, error)
}

// ErrBadLimit is returned by Allow for a limit below 1.
var ErrBadLimit = errors.New("limit: requests per window must be at least 1")

// shardCount spreads keys over independent mutexes so that concurrent
// requests for different tokens rarely contend. A power of two.
const shardCount = 64

// Memory is an exact in-process sliding-window limiter. It is safe for
// concurrent use. Once per Window, keys idle for a whole Window are
// evicted, so memory stays bounded by the keys active in the last two
// minutes, times the admissions they made (at most limit timestamps of 8
// bytes each).
type Memory struct {
	now       func() time.Time
	base      time.Time // timestamps are stored as nanoseconds since base
	seed      maphash.Seed
	lastSweep atomic.Int64
	shards    [shardCount]shard
}

type shard struct {
	mu   sync.Mutex
	keys map[string]*ring
	_    [48]byte // keep shards on separate cache lines
}

// ring holds the admission times of one key, oldest at head. buf grows on
// demand up to the limit, so a quiet key costs a few bytes, not limit*8.
type ring struct {
	buf  []int64
	head int
	n    int
	last int64 // newest admission, for eviction
}

// NewMemory returns an empty Memory limiter on the wall clock.
func NewMemory() *Memory { return NewMemoryWithClock(time.Now) }

// NewMemoryWithClock returns an empty Memory limiter that reads the time
// from now; tests inject a fake clock. now must not go backwards by more
// than a Window.
func NewMemoryWithClock(now func() time.Time) *Memory {
	m := &Memory{now: now, base: now(), seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].keys = make(map[string]*ring)
	}
	return m
}

var _ Limiter = (*Memory)(nil)

// Allow implements Limiter. A change of limit for a key (a config reload)
// resizes its ring, keeping its newest admissions, so the new limit applies
// at once to the same rolling window.
func (m *Memory) Allow(ctx context.Context, key string, limit int) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("limit: %w", err)
	}
	if limit < 1 {
		return Decision{}, ErrBadLimit
	}
	now := int64(m.now().Sub(m.base))
	cutoff := now - int64(Window)
	if last := m.lastSweep.Load(); now-last >= int64(Window) && m.lastSweep.CompareAndSwap(last, now) {
		m.sweep(cutoff)
	}
	s := &m.shards[maphash.String(m.seed, key)&(shardCount-1)]

	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.keys[key]
	if r == nil {
		r = &ring{}
		s.keys[key] = r
	}
	r.expire(cutoff)
	if len(r.buf) > limit {
		r.shrink(limit)
	}

	d := Decision{Limit: limit}
	if r.n < limit {
		r.push(now, limit)
		d.Allowed = true
	}
	d.Remaining = limit - r.n
	if r.n > 0 {
		d.Reset = time.Duration(r.buf[r.head] - cutoff)
	}
	if !d.Allowed {
		d.RetryAfter = d.Reset
	}
	return d, nil
}

// Len returns the number of keys currently tracked; for tests and metrics.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}

// sweep evicts the keys with no admission inside the window: forgetting
// them changes no future decision. It locks one shard at a time.
func (m *Memory) sweep(cutoff int64) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, r := range s.keys {
			if r.last <= cutoff {
				delete(s.keys, k)
			}
		}
		s.mu.Unlock()
	}
}

// expire drops the admissions that left the window.
func (r *ring) expire(cutoff int64) {
	for r.n > 0 && r.buf[r.head] <= cutoff {
		r.head++
		if r.head == len(r.buf) {
			r.head = 0
		}
		r.n--
	}
	if r.n == 0 {
		r.head = 0
	}
}

// push records an admission; the caller ensured r.n < limit.
func (r *ring) push(t int64, limit int) {
	if r.n == len(r.buf) {
		size := 2 * len(r.buf)
		if size < 4 {
			size = 4
		}
		if size > limit {
			size = limit
		}
		r.resize(size, r.n)
	}
	i := r.head + r.n
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	r.buf[i] = t
	r.n++
	r.last = t
}

// shrink fits the ring to a lowered limit, keeping the newest admissions.
func (r *ring) shrink(limit int) {
	keep := r.n
	if keep > limit {
		keep = limit
	}
	r.resize(limit, keep)
}

// resize copies the newest keep admissions into a buffer of size entries.
func (r *ring) resize(size, keep int) {
	buf := make([]int64, size)
	skip := r.n - keep
	for i := 0; i < keep; i++ {
		j := r.head + skip + i
		j %= len(r.buf)
		buf[i] = r.buf[j]
	}
	r.buf, r.head, r.n = buf, 0, keep
}
