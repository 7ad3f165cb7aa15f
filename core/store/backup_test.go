package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jsonevent/jsonevent/core/config"
)

// TestBackupSQLiteWhileWriting copies the database while events keep
// arriving: every event stored before the copy began is in it, the copy is
// a sound database the store opens, an existing file is never overwritten,
// and a database that does not exist is an error, not an empty copy.
func TestBackupSQLiteWhileWriting(t *testing.T) {
	dir := t.TempDir()
	dsn := filepath.Join(dir, "live.db")
	s := openTest(t, config.Store{Driver: "sqlite", DSN: dsn}, Options{})
	ctx := context.Background()
	var before []string
	for range 50 {
		id, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", ""))
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, id)
	}
	// Writers go on during the copy.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_b", "")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	out := filepath.Join(dir, "copy.db")
	n, err := BackupSQLite(ctx, dsn, out)
	stop.Store(true)
	wg.Wait()
	if err != nil || n <= 0 {
		t.Fatalf("BackupSQLite = %d, %v", n, err)
	}

	raw, err := sql.Open("sqlite", "file:"+out+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := raw.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the copy = %q, %v", check, err)
	}
	raw.Close()
	c := openTest(t, config.Store{Driver: "sqlite", DSN: out}, Options{})
	for _, id := range before {
		if _, err := c.GetEvent(ctx, "acme", id); err != nil {
			t.Fatalf("event %s, stored before the copy, is not in it: %v", id, err)
		}
	}

	if _, err := BackupSQLite(ctx, dsn, out); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("a second copy to the same file: %v, want a refusal", err)
	}
	missing := filepath.Join(dir, "none.db")
	if _, err := BackupSQLite(ctx, missing, filepath.Join(dir, "copy2.db")); err == nil {
		t.Error("a copy of a database that does not exist succeeded")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("the backup created the missing database")
	}
	if _, err := BackupSQLite(ctx, dsn, filepath.Join(dir, "no-such-dir", "copy.db")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a copy into a missing directory: %v", err)
	}
}
