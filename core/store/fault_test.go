package store

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	cfg := config.Store{DSN: filepath.Join(t.TempDir(), "eio.db")}
	s := openTest(t, cfg, Options{})
	b := sqliteOf(t, s)
	ctx := context.Background()
	first, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", ""))
	if err != nil {
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

	_, _, err = s.InsertEvent(ctx, sampleEvent("OC_a", ""))
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
	if err := s.Ping(ctx); core.ErrorCode(err) != core.CodeUnavailable || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Ping after a failed fsync: %v, want unavailable, saying to restart (readyz must say so)", err)
	}

	// A restart recovers from what the disk holds (the README cites this
	// test for it): what was committed before is there, and writes work.
	if err := s.Close(); err != nil {
		t.Logf("Close after the failed fsync: %v", err)
	}
	s2 := openTest(t, cfg, Options{})
	if _, err := s2.GetEvent(ctx, "acme", first); err != nil {
		t.Fatalf("after a restart, the event committed before the failed fsync: %v", err)
	}
	if _, _, err := s2.InsertEvent(ctx, sampleEvent("OC_a", "")); err != nil {
		t.Fatalf("insert after a restart: %v", err)
	}
}

// TestDatabaseFileRemovedWhileRunning removes (then replaces) the database
// file under a running store, as an rm in the data directory or a backup
// moved over it does. SQLite goes on writing into the file it has open,
// which no later start opens: the store answered every insert as stored,
// and after a restart all of them, with everything checkpointed before,
// were gone. Now each insert is refused and the store is not ready.
func TestDatabaseFileRemovedWhileRunning(t *testing.T) {
	for _, how := range []string{"removed", "replaced"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "gone.db")
			s := openTest(t, config.Store{DSN: path}, Options{})
			ctx := context.Background()
			if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path, filepath.Join(dir, "moved.db")); err != nil {
				t.Fatal(err)
			}
			if how == "replaced" {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); core.ErrorCode(err) != core.CodeUnavailable {
				t.Fatalf("insert with the database file %s: %v, want unavailable", how, err)
			}
			if err := s.Ping(ctx); core.ErrorCode(err) != core.CodeUnavailable {
				t.Fatalf("Ping with the database file %s: %v, want unavailable", how, err)
			}
		})
	}
}

// TestFailedStoreRefusesCheaply: once the store has stopped taking writes
// (here after a failed fsync), a burst of inserts is refused as such:
// not retried one by one, each with a look-up of whether it landed and an
// error line of its own, which at ingest rates flooded the log and kept
// the writer busy with reads that could not change the answer.
func TestFailedStoreRefusesCheaply(t *testing.T) {
	var logs lockedBuffer
	s, err := Open(context.Background(), config.Store{DSN: filepath.Join(t.TempDir(), "eio.db")},
		slog.New(slog.NewJSONHandler(&logs, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	opened := strings.Count(logs.String(), "\n") // the migration steps of a new database
	b := sqliteOf(t, s)
	b.walMu.Lock()
	b.fsync = func(f *os.File) error { return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO} }
	b.walMu.Unlock()
	ctx := context.Background()
	if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); core.ErrorCode(err) != core.CodeUnavailable {
		t.Fatalf("insert during the failed fsync: %v, want unavailable", err)
	}

	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = s.InsertEvent(ctx, sampleEvent("OC_a", "")) })
	}
	wg.Wait()
	for i, err := range errs {
		if core.ErrorCode(err) != core.CodeUnavailable || !errors.Is(err, syscall.EIO) {
			t.Fatalf("insert %d after the failure: %v, want unavailable (EIO)", i, err)
		}
	}
	if lines := strings.Count(logs.String(), "\n") - opened; lines > 3 {
		t.Fatalf("%d log lines for %d refused inserts, want a few:\n%s", lines, n, logs.String())
	}
}
