package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/store"
)

// TestBackupCommand copies the database a config names while a store has
// it open, refuses to overwrite, and sends PostgreSQL users to pg_dump.
func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	dsn := filepath.Join(dir, "live.db")
	st, err := store.Open(context.Background(), config.Store{Driver: "sqlite", DSN: dsn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, _, err := st.InsertEvent(context.Background(), &store.Event{AccountID: "demo", TriggerID: "OC_demo", Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, cmdConfig+"store: { dsn: \""+dsn+"\" }\n")
	out := filepath.Join(dir, "copy.db")

	code, stdout, stderr := runCmd(t, "backup", out, "--config", cfg)
	if code != 0 || !strings.HasPrefix(stdout, "backed up "+dsn+" to "+out+" (") {
		t.Fatalf("backup: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	c, err := store.Open(context.Background(), config.Store{Driver: "sqlite", DSN: out}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetEvent(context.Background(), "demo", id); err != nil {
		t.Fatalf("the copy lacks the stored event: %v", err)
	}

	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"backup", "--config", cfg, out}, 1, "exists already"},
		{[]string{"backup", "--config", cfg}, 2, "give the new file to write"},
		{[]string{"backup", "--config", writeFile(t, cmdConfig+"store: { driver: postgres, dsn: \"postgres://x@localhost/db\" }\n"), filepath.Join(dir, "pg.db")}, 2, "pg_dump"},
	} {
		code, _, stderr := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.err) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.err)
		}
		if strings.Contains(stderr, "backup: backup:") {
			t.Errorf("%v: stderr %q says backup twice", tc.args, stderr)
		}
	}
	if code, stdout, _ := runCmd(t, "backup", "--help"); code != 0 || !strings.Contains(stdout, "To restore, stop the") {
		t.Errorf("backup --help: code %d, stdout %q", code, stdout)
	}
}
