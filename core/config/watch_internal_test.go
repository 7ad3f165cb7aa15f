package config

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Ensure a watcher whose event queue overflowed (the kernel dropped
// events: an edit may be among them) reloads instead of only logging, so
// that a lost edit does not leave the old config running unnoticed.
func TestWatchReloadsAfterOverflow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jsonevent.yaml")
	body := "accounts: [ { id: demo } ]\nlimits: { requests_per_minute: 9 }\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	wt, err := NewWatcher(path, Options{Environ: func() []string { return nil }, Debounce: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go wt.Run(ctx, func(c *Config) {
		mu.Lock()
		defer mu.Unlock()
		got = c.Limits.RequestsPerMinute
	})
	wt.w.Errors <- fsnotify.ErrEventOverflow // as if the edit's events were dropped
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		g := got
		mu.Unlock()
		if g == 9 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no reload after the watcher lost events")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
