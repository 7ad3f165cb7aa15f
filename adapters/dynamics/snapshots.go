package dynamics

import (
	"context"
	"sync"

	"github.com/jsonevent/jsonevent/core"
)

// MemorySnapshots is an in-memory core.SnapshotStore for tests and for a
// single instance without a durable store: snapshots are lost on restart and
// it keeps at most Max records (default 10,000), evicting an arbitrary one
// when full. Production wiring passes the store's implementation in
// core.AdapterDeps.Snapshots instead.
type MemorySnapshots struct {
	// Max bounds the number of records kept; 0 means 10,000.
	Max int

	mu sync.Mutex
	m  map[string][]byte
}

var _ core.SnapshotStore = (*MemorySnapshots)(nil)

// NewMemorySnapshots returns an empty in-memory store.
func NewMemorySnapshots() *MemorySnapshots { return &MemorySnapshots{} }

// UpdateSnapshot implements core.SnapshotStore; fn runs under the store's
// lock, so updates of any keys are serialised.
func (s *MemorySnapshots) UpdateSnapshot(_ context.Context, key string, fn func(prev []byte) ([]byte, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	next, err := fn(s.m[key])
	if err != nil {
		return err
	}
	if next == nil {
		delete(s.m, key)
		return nil
	}
	max := s.Max
	if max <= 0 {
		max = 10000
	}
	if _, exists := s.m[key]; !exists && len(s.m) >= max {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[key] = append([]byte(nil), next...)
	return nil
}

// Len returns the number of records kept.
func (s *MemorySnapshots) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
