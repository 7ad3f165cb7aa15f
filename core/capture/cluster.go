package capture

import (
	"context"
	"fmt"
	"time"

	"github.com/jsonevent/jsonevent/core/store"
)

// Refresh reloads the open capture sessions and the adopted fields from the
// store, so that a node sees the sessions and fields that other nodes
// sharing the database opened, closed or adopted. serve calls it every
// second when the store is PostgreSQL; on one node it changes nothing.
//
// A session known here and in the store keeps the larger captured count
// (the store counts every node's captures; memory may count one not yet
// written). A session this node filled or closed stays ended even while the
// store, not yet written, still has it open. A session opened here after
// the store was read reappears at the next refresh.
// endedMemory is how long a session this node filled or closed is kept
// from being reopened by Refresh: far longer than a capture's write takes.
const endedMemory = 5 * time.Minute

func (s *Service) Refresh(ctx context.Context) error {
	sessions, err := s.st.OpenCaptureSessions(ctx, s.now())
	if err != nil {
		return fmt.Errorf("refresh capture sessions: %w", err)
	}
	open := make(map[string]*store.CaptureSession, len(sessions))
	for _, cs := range sessions {
		open[cs.TriggerID] = cs
	}
	s.mu.Lock()
	for trig, cs := range open {
		if _, ok := s.ended[cs.ID]; ok {
			delete(open, trig) // ended here; the store may not have it yet
			continue
		}
		if mine := s.open[trig]; mine != nil && mine.ID == cs.ID {
			cs.Captured = max(cs.Captured, mine.Captured)
			if cs.Captured >= cs.Count {
				delete(open, trig)
			}
		}
	}
	s.open = open
	s.nOpen.Store(int32(len(open)))
	s.mu.Unlock()

	// Serialised with Adopt and DeleteField, so that an older read never
	// replaces a newer one.
	s.adoptMu.Lock()
	defer s.adoptMu.Unlock()
	return s.reloadFields(ctx)
}
