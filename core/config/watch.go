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
// level. Watch does not call apply for the config as it is at the start
// (load it with Load first). It watches the directories, not the files, so
// editors that save by writing a new file and renaming it over the old one
// are followed. Events are debounced by opt.Debounce. apply is called from
// Watch's goroutine, one call at a time. Watch blocks until ctx is done,
// then returns nil.
func Watch(ctx context.Context, path string, opt Options, apply func(*Config), log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config: watch %s: %w", path, err)
	}
	defer w.Close()

	file, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config: watch %s: %w", path, err)
	}
	if err := w.Add(filepath.Dir(file)); err != nil {
		return fmt.Errorf("config: watch %s: %w", path, err)
	}
	presets := opt.PresetsDir
	if presets == "" {
		presets = defaultPresetsDir(path)
	}
	presets, _ = filepath.Abs(presets)
	if fi, err := os.Stat(presets); err == nil && fi.IsDir() {
		if err := w.Add(presets); err != nil {
			return fmt.Errorf("config: watch presets %s: %w", presets, err)
		}
	}

	debounce := opt.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	relevant := func(name string) bool {
		name = filepath.Clean(name)
		if name == file {
			return true
		}
		if filepath.Dir(name) == filepath.Dir(file) && strings.HasPrefix(filepath.Base(name), "..") {
			// Kubernetes mounts a ConfigMap as symlinks into a ..data
			// directory that it swaps atomically: the file itself sees
			// no event.
			return true
		}
		return filepath.Dir(name) == presets && strings.HasSuffix(name, ".yaml")
	}

	var timer *time.Timer
	var fire <-chan time.Time
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
			if timer == nil {
				timer = time.NewTimer(debounce)
			} else {
				timer.Reset(debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("config: file watcher closed")
			}
			log.Error("config file watcher failed; edits may not be picked up", "file", path, "error", err.Error())
		case <-fire:
			fire = nil
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
