package config_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/config"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ensure Watch applies a valid edit (also one saved by rename, as editors
// do), refuses a bad one with an Error log while apply is not called, and
// picks up the next good edit.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jsonevent.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(base + "limits: { requests_per_minute: 100 }\n")

	var mu sync.Mutex
	var applied []*config.Config
	last := func() (int, *config.Config) {
		mu.Lock()
		defer mu.Unlock()
		if len(applied) == 0 {
			return 0, nil
		}
		return len(applied), applied[len(applied)-1]
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opt := config.Options{Environ: noEnv, Debounce: 30 * time.Millisecond}
	started := make(chan struct{})
	go func() {
		close(started)
		done <- config.Watch(ctx, path, opt, func(c *config.Config) {
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, c)
		}, log)
	}()
	<-started
	// The watcher registers asynchronously: repeat the first edit until it
	// is seen.
	deadline := time.Now().Add(5 * time.Second)
	for {
		write(base + "limits: { requests_per_minute: 200 }\n")
		time.Sleep(100 * time.Millisecond)
		if _, c := last(); c != nil && c.Limits.RequestsPerMinute == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first edit was never applied")
		}
	}

	// A bad edit: unknown key. apply must not run; an Error is logged.
	n, _ := last()
	write(base + "limits: { requests_per_minte: 300 }\n")
	eventually(t, "the refusal to be logged", func() bool {
		return strings.Contains(logs.String(), `"level":"ERROR"`)
	})
	if m, c := last(); m != n || c.Limits.RequestsPerMinute != 200 {
		t.Fatalf("a bad edit was applied: %d applies, rpm %d", m, c.Limits.RequestsPerMinute)
	}
	if !strings.Contains(logs.String(), "limits.requests_per_minte: unknown key") {
		t.Errorf("the log does not say what is wrong: %s", logs.String())
	}

	// A good edit saved the way editors do: write a temp file, rename it.
	tmp := filepath.Join(dir, ".jsonevent.yaml.swp")
	if err := os.WriteFile(tmp, []byte(base+"limits: { requests_per_minute: 400 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the renamed file to apply", func() bool {
		_, c := last()
		return c.Limits.RequestsPerMinute == 400
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

// Ensure a burst of writes is debounced into few reloads.
func TestWatchDebounce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jsonevent.yaml")
	if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var rpm []int
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// NewWatcher registers before it returns; Watch in a goroutine did not
	// say when, and the writes below could all land before it had.
	w, err := config.NewWatcher(path, config.Options{Environ: noEnv, Debounce: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(ctx, func(c *config.Config) {
		mu.Lock()
		defer mu.Unlock()
		rpm = append(rpm, c.Limits.RequestsPerMinute)
	})
	for i := 1; i <= 20; i++ {
		body := fmt.Sprintf("%slimits: { requests_per_minute: %d }\n", base, 100+i)
		if i == 20 {
			body = base + "limits: { requests_per_minute: 77 }\n"
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, "the final edit to apply", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(rpm) > 0 && rpm[len(rpm)-1] == 77
	})
	mu.Lock()
	defer mu.Unlock()
	if len(rpm) > 3 {
		t.Errorf("20 writes within ~100ms gave %d reloads, want them debounced", len(rpm))
	}
}

// Ensure an atomic swap of a symlinked directory (how Kubernetes updates a
// mounted ConfigMap) is followed.
func TestWatchSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, rpm int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("%slimits: { requests_per_minute: %d }\n", base, rpm)
		if err := os.WriteFile(filepath.Join(dir, name, "jsonevent.yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mk("..v1", 100)
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jsonevent.yaml")
	if err := os.Symlink(filepath.Join("..data", "jsonevent.yaml"), path); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := config.NewWatcher(path, config.Options{Environ: noEnv, Debounce: 30 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(ctx, func(c *config.Config) {
		mu.Lock()
		defer mu.Unlock()
		got = c.Limits.RequestsPerMinute
	})
	mk("..v2", 200)
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink("..v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the swapped config to apply", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got == 200
	})
}

// Ensure an edit made after NewWatcher returns but before Run starts (the
// time serve spends opening the store) is applied once Run runs.
func TestWatcherKeepsEditsBeforeRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jsonevent.yaml")
	if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	opt := config.Options{Environ: noEnv, Debounce: 30 * time.Millisecond}
	w, err := config.NewWatcher(path, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(base+"limits: { requests_per_minute: 42 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(c *config.Config) {
			mu.Lock()
			defer mu.Unlock()
			got = c.Limits.RequestsPerMinute
		})
	}()
	eventually(t, "the edit made before Run to apply", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got == 42
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// Ensure RestartRequired names exactly the changed keys a running process
// cannot apply (the listener, the store, the queue, the drain timeout).
func TestRestartRequired(t *testing.T) {
	load := func(extra string) *config.Config {
		t.Helper()
		cfg, err := config.Load(writeConfig(t, base+extra), config.Options{Environ: noEnv})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	running := load("server: { listen: \"127.0.0.1:8080\" }\nlimits: { requests_per_minute: 100 }\n")
	if got := config.RestartRequired(running, load("server: { listen: \"127.0.0.1:8080\" }\nlimits: { requests_per_minute: 5 }\n")); len(got) != 0 {
		t.Errorf("a runtime setting changed: got %v, want none", got)
	}
	next := load(`server: { listen: "0.0.0.0:9090", shutdown_timeout: 5s }
store: { dsn: "other/jsonevent.db" }
queue: { workers: 10, poll_interval: 1s, rescue_after: 10m }
`)
	want := []string{"queue.poll_interval", "queue.rescue_after", "queue.workers", "server.listen", "server.shutdown_timeout", "store.dsn"}
	if got := config.RestartRequired(running, next); !reflect.DeepEqual(got, want) {
		t.Errorf("RestartRequired = %v, want %v", got, want)
	}
}

// Ensure a config file caught empty (truncated by `cp`, `>` or an editor
// that writes in place, before the new content lands; or only the comment
// header of the shipped file written so far) is not applied: it is a valid
// config with no accounts and no triggers, so every sender got 401 until
// the write finished, or for good if it stalled.
func TestWatchRefusesEmptyFile(t *testing.T) {
	for _, empty := range []string{"", "## jsonevent configuration.\n##\n# server:\n"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "jsonevent.yaml")
		if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var applied []*config.Config
		logs := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		w, err := config.NewWatcher(path, config.Options{Environ: noEnv, Debounce: 30 * time.Millisecond}, slog.New(slog.NewJSONHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		go w.Run(ctx, func(c *config.Config) {
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, c)
		})
		if err := os.WriteFile(path, []byte(empty), 0o600); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the empty file to be refused or applied", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(applied) > 0 || strings.Contains(logs.String(), "empty")
		})
		mu.Lock()
		if len(applied) > 0 {
			t.Fatalf("%q was applied: %d triggers", empty, len(applied[0].Triggers))
		}
		mu.Unlock()
		if !strings.Contains(logs.String(), `"level":"ERROR"`) {
			t.Errorf("the refusal was not logged at error level: %s", logs.String())
		}
		if err := os.WriteFile(path, []byte(base+"limits: { requests_per_minute: 7 }\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the completed file to apply", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(applied) > 0 && applied[len(applied)-1].Limits.RequestsPerMinute == 7
		})
		cancel()
	}
}

// Ensure edits to the file a symlinked config points to, in another
// directory (/etc/jsonevent.yaml -> /srv/conf/jsonevent.yaml, as config
// management and dotfile tools lay it out), are followed, both in place
// and by an editor's rename, and that a repointed link is followed too.
func TestWatchSymlinkToOtherDirectory(t *testing.T) {
	real1, real2 := t.TempDir(), t.TempDir()
	target := filepath.Join(real1, "jsonevent.yaml")
	write := func(file string, rpm int) {
		t.Helper()
		body := fmt.Sprintf("%slimits: { requests_per_minute: %d }\n", base, rpm)
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(target, 100)
	path := filepath.Join(t.TempDir(), "jsonevent.yaml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := 0
	applied := func(rpm int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return got == rpm
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := config.NewWatcher(path, config.Options{Environ: noEnv, Debounce: 30 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(ctx, func(c *config.Config) {
		mu.Lock()
		defer mu.Unlock()
		got = c.Limits.RequestsPerMinute
	})

	write(target, 200) // in place
	eventually(t, "an in-place edit of the link's target to apply", applied(200))

	tmp := filepath.Join(real1, ".jsonevent.yaml.swp")
	write(tmp, 300) // an editor's save: write a new file, rename it over
	if err := os.Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a rename-save of the link's target to apply", applied(300))

	target2 := filepath.Join(real2, "jsonevent.yaml")
	write(target2, 400)
	link := path + ".new"
	if err := os.Symlink(target2, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link, path); err != nil { // repoint the link atomically
		t.Fatal(err)
	}
	eventually(t, "the repointed link to apply", applied(400))
	write(target2, 500)
	eventually(t, "an edit of the new target to apply", applied(500))
}

// Ensure preset edits are followed when the presets directory is a
// Kubernetes ConfigMap mount (its files are links into a ..data directory
// swapped atomically, so no .yaml name sees an event), and when the
// directory is created after the service started.
func TestWatchPresets(t *testing.T) {
	preset := func(dir, field string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("fields:\n  %s: \"$.%s\"\n", field, field)
		if err := os.WriteFile(filepath.Join(dir, "generic.yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	watch := func(t *testing.T, path string) func() map[string]string {
		var mu sync.Mutex
		var got map[string]string
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		w, err := config.NewWatcher(path, config.Options{Environ: noEnv, Debounce: 30 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		go w.Run(ctx, func(c *config.Config) {
			mu.Lock()
			defer mu.Unlock()
			got = c.Triggers[0].PresetFields
		})
		return func() map[string]string {
			mu.Lock()
			defer mu.Unlock()
			return got
		}
	}

	t.Run("configmap", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "jsonevent.yaml")
		if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
			t.Fatal(err)
		}
		presets := filepath.Join(dir, "presets")
		preset(filepath.Join(presets, "..v1"), "one")
		if err := os.Symlink("..v1", filepath.Join(presets, "..data")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", "generic.yaml"), filepath.Join(presets, "generic.yaml")); err != nil {
			t.Fatal(err)
		}
		got := watch(t, path)
		preset(filepath.Join(presets, "..v2"), "two")
		tmp := filepath.Join(presets, "..data_tmp")
		if err := os.Symlink("..v2", tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(presets, "..data")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the swapped preset to apply", func() bool { return got()["two"] == "$.two" })
	})

	t.Run("created later", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "jsonevent.yaml")
		if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
			t.Fatal(err)
		}
		got := watch(t, path)
		presets := filepath.Join(dir, "presets")
		preset(presets, "one")
		eventually(t, "the new presets directory to apply", func() bool { return got()["one"] == "$.one" })
		preset(presets, "two")
		eventually(t, "an edit in the new presets directory to apply", func() bool { return got()["two"] == "$.two" })
	})
}
