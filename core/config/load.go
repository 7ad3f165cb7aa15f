package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable that overrides a key:
// JSONEVENT_SERVER__LISTEN sets server.listen (a double underscore between
// nesting levels, single underscores kept: JSONEVENT_LIMITS__BODY_BYTES).
// Variables with the prefix but no double underscore are not config keys
// and are ignored (the test tooling's JSONEVENT_TEST_PG_DSN), except one
// that spells a key with a single underscore (JSONEVENT_SERVER_LISTEN),
// which is an error; an unknown key in one that has a double underscore is
// an error, like in the file.
const EnvPrefix = "JSONEVENT_"

// Default values of the keys a file may leave out.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultStoreDriver       = "sqlite"
	DefaultStoreDSN          = "data/jsonevent.db"
	DefaultBodyBytes         = 102400
	DefaultRequestsPerMinute = 3000
	DefaultManualFields      = 10
	DefaultAdapter           = "generic"
	DefaultRetryAttempts     = 8
	DefaultMinBackoff        = time.Second
	DefaultMaxBackoff        = 15 * time.Minute
	DefaultTaskTimeout       = 10 * time.Second
	DefaultSMTPPort          = 587
	DefaultSMTPTLS           = "starttls"
)

// defaults are the top-level built-in values; per-item defaults (trigger
// adapter, workflow retry, task timeout) are filled after decoding.
func defaults() map[string]any {
	return map[string]any{
		"server.listen":              DefaultListen,
		"server.shutdown_timeout":    DefaultShutdownTimeout.String(),
		"store.driver":               DefaultStoreDriver,
		"store.dsn":                  DefaultStoreDSN,
		"limits.body_bytes":          DefaultBodyBytes,
		"limits.requests_per_minute": DefaultRequestsPerMinute,
		"limits.manual_fields":       DefaultManualFields,
		"smtp.port":                  DefaultSMTPPort,
		"smtp.tls":                   DefaultSMTPTLS,
	}
}

// Load reads built-in defaults, then the YAML file at path ("" for none),
// then presets (opt.PresetsDir/<adapter>.yaml), then JSONEVENT_*
// environment variables, decodes strictly (an unknown key is an error
// naming the key and its line), fills defaults and validates everything
// (JSONPath compiles, field limits, accounts exist, unique ids, known
// adapters, opt.Validators). On failure the error is an *Error listing
// every problem, each naming its key and line (or environment variable).
func Load(path string, opt Options) (*Config, error) {
	ps := &problems{loc: &locator{file: path, env: map[string]string{}}}

	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults(), "."), nil); err != nil {
		return nil, fmt.Errorf("config: load defaults: %w", err)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		m, lines, err := parseYAML(path, data)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		ps.loc.lines = lines
		dropNulls(m)
		if err := k.Load(confmap.Provider(m, ""), nil); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	environ := opt.Environ
	if environ == nil {
		environ = os.Environ
	}
	envProvider := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: environ,
		TransformFunc: func(name, value string) (string, any) {
			key := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
			if !strings.Contains(key, "__") {
				// Every config key is nested (server.listen), so a name
				// without a double underscore is not an override but some
				// other tool's variable, e.g. JSONEVENT_TEST_PG_DSN; unless
				// it spells a key with a single underscore, a slip that
				// would otherwise leave the setting silently unapplied.
				if want := singleUnderscoreKey(key); want != "" {
					ps.addProblem(Problem{Env: name, Msg: fmt.Sprintf("not applied: separate the section from the key with a double underscore, %s", want)})
				}
				return "", nil
			}
			key = strings.ReplaceAll(key, "__", ".")
			if key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
				ps.addProblem(Problem{Env: name, Msg: "malformed override name: use JSONEVENT_SECTION__KEY, e.g. JSONEVENT_SERVER__LISTEN"})
				return "", nil
			}
			ps.loc.env[key] = name
			return key, value
		},
	})
	if err := k.Load(envProvider, nil); err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}

	raw := k.Raw()
	checkKeys(raw, reflect.TypeOf(Config{}), "", ps)
	var cfg Config
	before := len(ps.list)
	decode(raw, &cfg, ps)
	if len(ps.list) > before {
		// Values of the wrong type: validating the half-decoded rest would
		// only add confusing follow-on problems.
		return nil, ps.err()
	}
	fillDefaults(&cfg)
	presetsDir := opt.PresetsDir
	if presetsDir == "" {
		presetsDir = defaultPresetsDir(path)
	} else if fi, err := os.Stat(presetsDir); err != nil || !fi.IsDir() {
		// Only presets/ beside the file may be absent: a directory named
		// on purpose (--presets) that is not there is a typo that would
		// strip every vendor trigger of its preset fields.
		msg := "is not a directory"
		if errors.Is(err, fs.ErrNotExist) {
			msg = "does not exist"
		} else if err != nil {
			msg = err.Error()
		}
		ps.addProblem(Problem{File: presetsDir, Msg: "presets directory " + msg + " (check --presets)"})
	}
	loadPresets(&cfg, presetsDir, opt.Adapters, ps)
	validate(&cfg, opt, ps)
	if len(ps.list) == 0 {
		for _, v := range opt.Validators {
			if err := v(&cfg); err != nil {
				ps.addValidatorError(&cfg, err)
			}
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	cfg.Warnings = ps.warnings
	return &cfg, nil
}

// singleUnderscoreKey returns the override name meant by key (lower case,
// prefix removed) when it is section_key for a key of a section
// (server_listen: JSONEVENT_SERVER__LISTEN), else "".
func singleUnderscoreKey(key string) string {
	for section, t := range structKeys(reflect.TypeOf(Config{})) {
		rest, ok := strings.CutPrefix(key, section+"_")
		if !ok || t.Kind() != reflect.Struct {
			continue
		}
		if _, ok := structKeys(t)[rest]; ok {
			return EnvPrefix + strings.ToUpper(section+"__"+rest)
		}
	}
	return ""
}

// dropNulls removes keys whose value is null, so that a section whose
// keys are all commented out (`server:` alone) keeps its defaults instead
// of erasing them.
func dropNulls(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNulls(v)
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					dropNulls(em)
				}
			}
		}
	}
}

// defaultPresetsDir is presets/ beside the config file: configs/presets
// for configs/jsonevent.yaml.
func defaultPresetsDir(path string) string {
	if path == "" {
		return filepath.Join("configs", "presets")
	}
	return filepath.Join(filepath.Dir(path), "presets")
}

// Options tunes Load.
type Options struct {
	// PresetsDir holds <adapter>.yaml presets; default presets/ beside the
	// config file (configs/presets for configs/jsonevent.yaml).
	PresetsDir string
	Adapters   []string              // known adapter names; nil skips the check
	Validators []func(*Config) error // extra checks (workflow templates, …); may return *Problem
	// Environ lists environment variables as KEY=value; nil means os.Environ.
	Environ func() []string
	// Debounce is how long Watch waits for a burst of file events to settle
	// before reloading; default 200ms.
	Debounce time.Duration
}

// fillDefaults sets the per-item defaults and normalises values.
func fillDefaults(c *Config) {
	for i := range c.Accounts {
		for j := range c.Accounts[i].Tokens {
			t := &c.Accounts[i].Tokens[j]
			t.SHA256 = strings.ToLower(strings.TrimSpace(t.SHA256))
		}
	}
	for i := range c.Triggers {
		t := &c.Triggers[i]
		if t.Adapter == "" {
			t.Adapter = DefaultAdapter
		}
		for j := range t.Workflows {
			w := &t.Workflows[j]
			if w.Retry.Attempts == 0 {
				w.Retry.Attempts = DefaultRetryAttempts
			}
			if w.Retry.MinBackoff == 0 {
				w.Retry.MinBackoff = DefaultMinBackoff
			}
			if w.Retry.MaxBackoff == 0 {
				w.Retry.MaxBackoff = max(DefaultMaxBackoff, w.Retry.MinBackoff)
			}
			for k := range w.Tasks {
				tk := &w.Tasks[k]
				if tk.Timeout == 0 {
					tk.Timeout = DefaultTaskTimeout
				}
				tk.Method = strings.ToUpper(strings.TrimSpace(tk.Method))
			}
		}
	}
}

// preset is the schema of configs/presets/<adapter>.yaml.
type preset struct {
	// Fields maps a field name to a JSONPath; triggers using the adapter
	// inherit them.
	Fields map[string]string `koanf:"fields"`
}

// loadPresets fills Trigger.PresetFields from <dir>/<adapter>.yaml, minus
// the names the trigger writes by hand (those win). A missing preset file
// means the adapter has no preset fields.
func loadPresets(c *Config, dir string, known []string, ps *problems) {
	cache := map[string]map[string]string{}
	for i := range c.Triggers {
		t := &c.Triggers[i]
		if known != nil && !contains(known, t.Adapter) {
			continue // reported by validate
		}
		fields, done := cache[t.Adapter]
		if !done {
			var missing bool
			fields, missing = readPreset(dir, t.Adapter, ps)
			cache[t.Adapter] = fields
			if missing && t.Adapter != "generic" { // generic's preset is empty: nothing is lost
				c.MissingPresets = append(c.MissingPresets, filepath.Join(dir, t.Adapter+".yaml"))
			}
		}
		for name, path := range fields {
			if _, own := t.Fields[name]; own {
				continue
			}
			if t.PresetFields == nil {
				t.PresetFields = map[string]string{}
			}
			t.PresetFields[name] = path
		}
	}
}

// readPreset reads adapter's preset in dir; missing says there is no file.
func readPreset(dir, adapter string, ps *problems) (fields map[string]string, missing bool) {
	if adapter == "" || strings.ContainsAny(adapter, `/\`) || strings.HasPrefix(adapter, ".") {
		return nil, false // an invalid name, reported by validate
	}
	file := filepath.Join(dir, adapter+".yaml")
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true
	}
	if err != nil {
		ps.addProblem(Problem{File: file, Msg: fmt.Sprintf("read preset: %v", err)})
		return nil, false
	}
	m, lines, err := parseYAML(file, data)
	if err != nil {
		ps.addProblem(Problem{Msg: err.Error()})
		return nil, false
	}
	pps := &problems{loc: &locator{file: file, lines: lines}}
	checkKeys(m, reflect.TypeOf(preset{}), "", pps)
	var p preset
	decode(m, &p, pps)
	names := make([]string, 0, len(p.Fields))
	for name := range p.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		checkField(joinKey("fields", name), name, p.Fields[name], pps)
	}
	ps.list = append(ps.list, pps.list...)
	if len(pps.list) > 0 {
		return nil, false
	}
	return p.Fields, false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
