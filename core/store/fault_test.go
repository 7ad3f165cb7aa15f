package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
)

// sqliteOf returns the SQLite backend of s.
func sqliteOf(t *testing.T, s *Store) *sqliteBackend {
	t.Helper()
	b, ok := s.b.(*sqliteBackend)
	if !ok {
		t.Fatalf("backend is %T, want *sqliteBackend", s.b)
	}
	return b
}

// TestFsyncFailureStaysFailed makes one fsync of the WAL fail with EIO, as
// a disk does when it cannot write back the pages of the last commits.
// Linux reports that once and may drop those pages, so the next fsync
// succeeds although the WAL on disk has a hole: after a crash SQLite's
// recovery drops every frame past it. The store answered the failed
// batch 503, then went on answering 202 for events it could no longer
// keep. Now every later write is refused, and the store is not ready,
// until a restart recovers from what is on disk.
func TestFsyncFailureStaysFailed(t *testing.T) {
	s := openTest(t, config.Store{DSN: filepath.Join(t.TempDir(), "eio.db")}, Options{})
	b := sqliteOf(t, s)
	ctx := context.Background()
	if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); err != nil {
		t.Fatal(err)
	}

	b.walMu.Lock()
	failures := 1
	b.fsync = func(f *os.File) error {
		if failures > 0 {
			failures--
			return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
		}
		return f.Sync()
	}
	b.walMu.Unlock()

	_, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", ""))
	if core.ErrorCode(err) != core.CodeUnavailable || !errors.Is(err, syscall.EIO) {
		t.Fatalf("insert during the failed fsync: %v, want unavailable (EIO)", err)
	}
	for i := range 3 {
		if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); core.ErrorCode(err) != core.CodeUnavailable {
			t.Fatalf("insert %d after a failed fsync: %v, want unavailable: the disk may have dropped earlier writes", i, err)
		}
	}
	if err := s.Write(ctx, func(tx Tx) error { return nil }); core.ErrorCode(err) != core.CodeUnavailable {
		t.Fatalf("Write after a failed fsync: %v, want unavailable", err)
	}
	if err := s.Ping(ctx); core.ErrorCode(err) != core.CodeUnavailable {
		t.Fatalf("Ping after a failed fsync: %v, want unavailable (readyz must say so)", err)
	}
}
