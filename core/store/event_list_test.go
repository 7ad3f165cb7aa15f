package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jsonevent/jsonevent/core/config"
)

// BenchmarkListEventsAccount reads an account's event page over 40
// triggers of 500 events each (SQLite): the page merges the triggers' ids,
// then reads its own rows.
func BenchmarkListEventsAccount(b *testing.B) {
	s, err := Open(context.Background(), config.Store{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "l.db")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 40 {
		wg.Go(func() {
			for range 500 {
				if _, _, err := s.InsertEvent(ctx, sampleEvent(fmt.Sprintf("OC_%02d", w), "")); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, limit := range []int{50, 500} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			for b.Loop() {
				evs, _, err := s.ListEvents(ctx, EventFilter{AccountID: "acme", Limit: limit})
				if err != nil || len(evs) != limit {
					b.Fatalf("%d events, %v", len(evs), err)
				}
			}
		})
	}
}
