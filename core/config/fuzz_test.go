package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/core/config"
)

// FuzzLoad feeds arbitrary file contents to Load. It must never panic, and
// must either return a config or an error that is located: a *config.Error
// whose problems all have a key or a message, or a YAML syntax error naming
// the file.
func FuzzLoad(f *testing.F) {
	if sample, err := os.ReadFile("../../configs/jsonevent.yaml"); err == nil {
		f.Add(string(sample))
	}
	f.Add(base)
	f.Add(base + "    workflows: [ { id: w, when: \"@.x ==\", tasks: [ { id: t, type: http, url: x, to: y } ] } ]\n")
	f.Add("server: &a { listen: \":1\" }\nstore: *a\n")
	f.Add("limits: { body_bytes: 1e9, manual_fields: -1 }\n")
	f.Add("accounts: [ { id: a, tokens: [ { sha256: 5 } ] } ]\n")
	f.Add("triggers:\n  - <<: { id: x }\n    account: y\n")
	f.Add("[1, 2]")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, config.Options{Environ: noEnv, PresetsDir: t.TempDir()})
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without an error")
			}
			return
		}
		var ce *config.Error
		if errors.As(err, &ce) {
			if len(ce.Problems) == 0 {
				t.Fatal("an *Error with no problems")
			}
			for _, p := range ce.Problems {
				if p.Msg == "" {
					t.Fatalf("problem without a message: %+v", p)
				}
			}
			return
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
