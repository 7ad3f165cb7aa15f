package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestMigrationStepsAreLogged: an operator upgrading sees which steps a
// node applied and how long each took (0006 builds an index that can take
// minutes on a large PostgreSQL table, while the node is silent otherwise),
// and a node that finds the schema current logs no step.
func TestMigrationStepsAreLogged(t *testing.T) { forEachDriver(t, testMigrationStepsAreLogged) }

func testMigrationStepsAreLogged(t *testing.T, drv storeDriver) {
	cfg := drv.fresh(t)
	ctx := context.Background()
	var logs bytes.Buffer
	s, err := Open(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	steps, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range steps {
		if !strings.Contains(logs.String(), fmt.Sprintf(`"migration":"%04d_%s"`, m.Version, m.Name)) {
			t.Errorf("no log line names step %04d_%s:\n%s", m.Version, m.Name, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"took"`) {
		t.Errorf("the log does not say how long a step took:\n%s", logs.String())
	}
	logs.Reset()
	s, err = Open(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if strings.Contains(logs.String(), `"migration":`) {
		t.Errorf("a node on a current schema logs a migration:\n%s", logs.String())
	}
}
