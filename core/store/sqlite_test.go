package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/config"
)

// TestWALStartsOverUnderSteadyLoad writes without a pause, as a busy
// receiver does, and checks that the WAL file stays far smaller than what
// was written: the checkpointer must let the WAL start over even though a
// commit is always just behind the one it copies. Before it did, the WAL
// held every byte written since the store opened (450 MB after 8 s of the
// load test) and each fsync had to extend the file.
func TestWALStartsOverUnderSteadyLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	// A short interval, so that many intervals pass while the test
	// writes: the WAL holds about two intervals' writes.
	s := openTest(t, config.Store{DSN: path}, Options{CheckpointEvery: 10 * time.Millisecond})
	ctx := context.Background()
	body := []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 8<<10)))
	const (
		writers = 8
		total   = 48 << 20 // bytes of bodies to write
	)
	var (
		written atomic.Int64
		maxWAL  atomic.Int64
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for written.Load() < total {
				ev := sampleEvent("OC_a", "")
				ev.Body = body
				if _, _, err := s.InsertEvent(ctx, ev); err != nil {
					t.Error(err)
					return
				}
				written.Add(int64(len(body)))
				if w == 0 {
					if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > maxWAL.Load() {
						maxWAL.Store(fi.Size())
					}
				}
			}
		})
	}
	wg.Wait()
	commits, stored := s.Stats()
	t.Logf("%d events in %d commits, %d MB of bodies, largest WAL %.1f MB",
		stored, commits, written.Load()>>20, float64(maxWAL.Load())/(1<<20))
	// Without restarts the WAL would hold at least every body written.
	if maxWAL.Load() > total/6 {
		t.Fatalf("the WAL grew to %d bytes while %d bytes of events were written: it never started over",
			maxWAL.Load(), written.Load())
	}
	// Every event is still there after the WAL started over, possibly many times.
	var n int64
	if err := s.Reader().QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || uint64(n) != stored {
		t.Fatalf("%d events in the table (%v), %d stored", n, err, stored)
	}
}

// TestSQLiteRefusesAPostgresDSN opens the sqlite driver (the default) on a
// PostgreSQL DSN, as a node does whose operator set store.dsn but forgot
// store.driver. It must refuse to start, without the password in the
// error, rather than run on a local SQLite file whose path (directories
// named after the DSN, password included) it creates beside the process.
func TestSQLiteRefusesAPostgresDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://jsonevent:hunter2@db.example:5432/jsonevent?sslmode=require",
		"postgresql://jsonevent:hunter2@db.example/jsonevent",
		"host=db.example user=jsonevent password=hunter2 dbname=jsonevent",
	} {
		t.Run(dsn[:10], func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			s, err := Open(context.Background(), config.Store{Driver: "sqlite", DSN: dsn}, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("the sqlite driver opened a PostgreSQL DSN")
			}
			if !strings.Contains(err.Error(), "store.driver") {
				t.Errorf("error %q does not point at store.driver", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("created %s in the working directory", entries[0].Name())
			}
		})
	}
}

// TestSQLiteOpenTogether opens one new SQLite file from three stores at
// once, as `jsonevent migrate` started beside a starting `serve` does. Each
// read which migrations were applied, then applied the rest: all but one
// failed to start on "table ... already exists".
func TestSQLiteOpenTogether(t *testing.T) {
	for round := range 4 {
		cfg := config.Store{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "data", "test.db")}
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() {
				s, err := Open(context.Background(), cfg, nil)
				if err == nil {
					t.Cleanup(func() { _ = s.Close() })
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, store %d: %v", round, i, err)
			}
		}
	}
}
