package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long Watch lets a burst of file events settle.
const DefaultDebounce = 200 * time.Millisecond

// Watch reloads the file at path whenever it (or a preset) changes and
// calls apply with the new, fully validated config. A bad edit keeps the
// old config running: apply is not called and the error is logged at Error
// level; so is a file without a single key (empty or all comments, as a
// file caught mid-write reads). Watch does not call apply for the config
// as it is at the start (load it with Load first). It watches the directories, not the files, so
// editors that save by writing a new file and renaming it over the old one
// are followed, and so is a config that is a symlink into another
// directory. Events are debounced by opt.Debounce. apply is called from
// Watch's goroutine, one call at a time. Watch blocks until ctx is done,
// then returns nil. It is NewWatcher and Run in one call; a caller that
// must not miss an edit made while it starts up uses those instead.
func Watch(ctx context.Context, path string, opt Options, apply func(*Config), log *slog.Logger) error {
	w, err := NewWatcher(path, opt, log)
	if err != nil {
		return err
	}
	return w.Run(ctx, apply)
}

// Watcher follows a config file (and its presets) from the moment
// NewWatcher returns: edits made before Run starts are kept and applied by
// Run. Call Run once, or Close.
type Watcher struct {
	w       *fsnotify.Watcher
	path    string
	file    string // absolute
	presets string // absolute
	opt     Options
	log     *slog.Logger
	// target is where file resolves to when it is a symlink into another
	// directory, which is then watched too ("" when not).
	target string
	// presetsWatched says the presets directory is watched (it exists).
	presetsWatched bool
}

// NewWatcher starts watching the directory of path and the presets
// directory. Set it up before loading the config that Run's reloads will
// replace, so that no edit falls between the two.
func NewWatcher(path string, opt Options, log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("config: watch %s: %w", path, err)
	}
	file, err := filepath.Abs(path)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("config: watch %s: %w", path, err)
	}
	if err := w.Add(filepath.Dir(file)); err != nil {
		w.Close()
		return nil, fmt.Errorf("config: watch %s: %w", path, err)
	}
	presets := opt.PresetsDir
	if presets == "" {
		presets = defaultPresetsDir(path)
	}
	presets, _ = filepath.Abs(presets)
	wt := &Watcher{w: w, path: path, file: file, presets: presets, opt: opt, log: log}
	if err := wt.watchPresets(); err != nil {
		w.Close()
		return nil, err
	}
	wt.follow()
	return wt, nil
}

// watchPresets watches the presets directory once it exists: it may be
// created after the service started (its creation beside the config file
// is an event; see relevant).
func (wt *Watcher) watchPresets() error {
	if wt.presetsWatched {
		return nil
	}
	if fi, err := os.Stat(wt.presets); err != nil || !fi.IsDir() {
		return nil
	}
	if err := wt.w.Add(wt.presets); err != nil {
		return fmt.Errorf("config: watch presets %s: %w", wt.presets, err)
	}
	wt.presetsWatched = true
	return nil
}

// follow watches the directory of the file that wt.file resolves to, when
// that is another directory (a symlink to /srv/conf/jsonevent.yaml): edits
// there make no event beside the link. Called again on every change, so
// that a repointed link is followed.
func (wt *Watcher) follow() {
	target, err := filepath.EvalSymlinks(wt.file)
	if err != nil {
		return // missing for now: Load will say so; the link's directory is watched
	}
	target, _ = filepath.Abs(target)
	if target == wt.target {
		return
	}
	own := func(dir string) bool { return dir == filepath.Dir(wt.file) || dir == wt.presets }
	if wt.target != "" && !own(filepath.Dir(wt.target)) && filepath.Dir(wt.target) != filepath.Dir(target) {
		_ = wt.w.Remove(filepath.Dir(wt.target)) // may be gone already
	}
	wt.target = ""
	if target == wt.file {
		return
	}
	if dir := filepath.Dir(target); !own(dir) { // adding a watched directory again is harmless
		if err := wt.w.Add(dir); err != nil {
			wt.log.Error("config file watcher cannot follow the file's symlink; edits there may not be picked up",
				"file", wt.path, "target", target, "error", err.Error())
			return
		}
	}
	wt.target = target
}

// Close stops watching; Run does it when it returns.
func (wt *Watcher) Close() error { return wt.w.Close() }

// Run reloads the config on every change, as Watch describes, until ctx is
// done, then closes the watcher and returns nil.
func (wt *Watcher) Run(ctx context.Context, apply func(*Config)) error {
	w, path, file, presets, opt, log := wt.w, wt.path, wt.file, wt.presets, wt.opt, wt.log
	defer w.Close()

	debounce := opt.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	relevant := func(name string) bool {
		name = filepath.Clean(name)
		if name == file || (wt.target != "" && name == wt.target) {
			return true
		}
		if filepath.Dir(name) == filepath.Dir(file) && strings.HasPrefix(filepath.Base(name), "..") {
			// Kubernetes mounts a ConfigMap as symlinks into a ..data
			// directory that it swaps atomically: the file itself sees
			// no event.
			return true
		}
		if name == presets {
			return true // created (or replaced) after the start
		}
		// A preset, or the ..data swap of a presets ConfigMap mount.
		return filepath.Dir(name) == presets && (strings.HasSuffix(name, ".yaml") || strings.HasPrefix(filepath.Base(name), ".."))
	}

	var timer *time.Timer
	var fire <-chan time.Time
	arm := func() { // (re)start the debounce
		if timer == nil {
			timer = time.NewTimer(debounce)
		} else {
			timer.Reset(debounce)
		}
		fire = timer.C
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("config: file watcher closed")
			}
			if ev.Op == fsnotify.Chmod || !relevant(ev.Name) {
				continue
			}
			if filepath.Clean(ev.Name) == presets {
				if !ev.Has(fsnotify.Create) {
					// Removed or renamed away: inotify dropped its watch.
					wt.presetsWatched = false
				}
				if err := wt.watchPresets(); err != nil {
					log.Error("config file watcher failed; preset edits may not be picked up", "file", path, "error", err.Error())
				}
			}
			arm()
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("config: file watcher closed")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were dropped, an edit's maybe: reload to be sure.
				log.Warn("config file watcher lost events; reloading to be sure", "file", path)
				arm()
				continue
			}
			log.Error("config file watcher failed; edits may not be picked up", "file", path, "error", err.Error())
		case <-fire:
			fire = nil
			wt.follow()
			if hasNoKeys(path) {
				// Most likely caught mid-write (truncated, or only the
				// comment header so far): valid, but it would drop every
				// account and trigger. The write's next event reloads.
				log.Error("config reload refused: the file is empty or all comments (still being written?); the previous config keeps running",
					"file", path)
				continue
			}
			cfg, err := Load(path, opt)
			if err != nil {
				log.Error("config reload refused; the previous config keeps running until the file is fixed",
					"file", path, "error", err.Error())
				continue
			}
			log.Debug("config file changed and validated; applying", "file", path)
			apply(cfg) // apply logs the outcome: "config reloaded" once, or its refusal
		}
	}
}

// RestartRequired returns, sorted, the keys whose value differs between
// the running config and next that a running process cannot change: the
// listener, the store, the job queue and the drain timeout are set up
// once at start-up. A reload applies everything else; these keys keep
// their running values until a restart, which the caller should say.
func RestartRequired(running, next *Config) []string {
	var keys []string
	diff := func(key string, a, b any) {
		if a != b {
			keys = append(keys, key)
		}
	}
	diff("queue.poll_interval", running.Queue.PollInterval, next.Queue.PollInterval)
	diff("queue.rescue_after", running.Queue.RescueAfter, next.Queue.RescueAfter)
	diff("queue.workers", running.Queue.Workers, next.Queue.Workers)
	diff("server.listen", running.Server.Listen, next.Server.Listen)
	diff("server.shutdown_timeout", running.Server.ShutdownTimeout, next.Server.ShutdownTimeout)
	diff("store.driver", running.Store.Driver, next.Store.Driver)
	diff("store.dsn", running.Store.DSN, next.Store.DSN)
	diff("store.retention", running.Store.Retention, next.Store.Retention)
	return keys
}

// hasNoKeys reports whether the file at path reads as a YAML document
// without a single key. A file that cannot be read or parsed is left to
// Load, which reports why.
func hasNoKeys(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	m, _, err := parseYAML(path, data)
	return err == nil && len(m) == 0
}
