package config

import (
	"context"
	"errors"
	"log/slog"
)

// CONTRACT (stub; the config work fills it in, keeping these signatures):
//
// Load reads built-in defaults, then the YAML file at path, then presets
// (opt.PresetsDir/<adapter>.yaml), then JSONEVENT_* environment variables,
// decodes strictly (an unknown key is an error naming the key and its line),
// fills defaults and validates everything (JSONPath compiles, field limits,
// accounts exist, unique ids, known adapters, opt.Validators). The error
// message names the key and the line.
func Load(path string, opt Options) (*Config, error) { return nil, errors.New("config: not built yet") }

// Options tunes Load.
type Options struct {
	PresetsDir string                // default "configs/presets"
	Adapters   []string              // known adapter names; nil skips the check
	Validators []func(*Config) error // extra checks (workflow templates, …)
	// Getenv looks up environment variables; nil means os.Getenv/os.Environ.
	Environ func() []string
}

// Watch reloads the file at path whenever it changes and calls apply with
// the new, fully validated config. A bad edit keeps the old config running:
// apply is not called and the error is logged at Error level. Watch blocks
// until ctx is done.
func Watch(ctx context.Context, path string, opt Options, apply func(*Config), log *slog.Logger) error {
	return errors.New("config: not built yet")
}
