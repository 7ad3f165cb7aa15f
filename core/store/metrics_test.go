package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jsonevent/jsonevent/core/config"
)

// TestStoreMetrics: group commits and fsyncs are counted, and
// jsonevent_store_writable drops to 0 once the store has stopped taking
// writes (here after a failed fsync), so an operator can alert on it.
func TestStoreMetrics(t *testing.T) {
	s := openTest(t, config.Store{DSN: filepath.Join(t.TempDir(), "m.db")}, Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collectors()...)
	ctx := context.Background()
	for range 3 {
		if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); err != nil {
			t.Fatal(err)
		}
	}
	count := func(name string) uint64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetHistogram().GetSampleCount()
			}
		}
		t.Fatalf("no %s", name)
		return 0
	}
	if n := count("jsonevent_store_group_commit_events"); n < 1 {
		t.Errorf("group commits observed: %d", n)
	}
	if n := count("jsonevent_store_fsync_seconds"); n < 1 {
		t.Errorf("fsyncs observed: %d", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP jsonevent_store_writable 1 while the store accepts writes; 0 once it has stopped for good (a failed fsync, its database file removed): restart the node.
# TYPE jsonevent_store_writable gauge
jsonevent_store_writable 1
`), "jsonevent_store_writable"); err != nil {
		t.Fatal(err)
	}

	b := sqliteOf(t, s)
	b.walMu.Lock()
	b.fsync = func(f *os.File) error { return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO} }
	b.walMu.Unlock()
	if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); err == nil {
		t.Fatal("insert with a failing fsync succeeded")
	}
	if got := testutil.ToFloat64(s.Collectors()[2]); got != 0 {
		t.Fatalf("jsonevent_store_writable = %v after a failed fsync, want 0", got)
	}
}
