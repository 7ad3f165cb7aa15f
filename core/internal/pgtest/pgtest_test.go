package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// TestDSNGivesEachTestItsOwnDatabase checks that two DSNs reach two
// different empty databases (the second does not see the first's table) and
// that each is dropped when its test ends.
func TestDSNGivesEachTestItsOwnDatabase(t *testing.T) {
	admin := AdminDSN(t) // skips the whole test when there is no server
	ctx := context.Background()
	var names []string
	for i, sub := range []string{"first", "second"} {
		t.Run(sub, func(t *testing.T) {
			pool := Pool(t)
			var name string
			var tables int
			if err := pool.QueryRow(ctx, `SELECT current_database(),
				(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&name, &tables); err != nil {
				t.Fatalf("query: %v", err)
			}
			if tables != 0 {
				t.Fatalf("database %s has %d tables, want a fresh one", name, tables)
			}
			if _, err := pool.Exec(ctx, "CREATE TABLE marker (n int)"); err != nil {
				t.Fatalf("create: %v", err)
			}
			if _, err := pool.Exec(ctx, "INSERT INTO marker VALUES ($1)", i); err != nil {
				t.Fatalf("insert: %v", err)
			}
			names = append(names, name)
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases %v, want two different ones", names)
	}

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect admin: %v", err)
	}
	defer conn.Close(ctx)
	var left int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names).Scan(&left); err != nil {
		t.Fatalf("query pg_database: %v", err)
	}
	if left != 0 {
		t.Fatalf("%d of the test databases %v were not dropped", left, names)
	}
}

func TestDSNForms(t *testing.T) {
	dsn := DSN(t)
	if !strings.HasPrefix(dsn, "postgres://") && !strings.Contains(dsn, "dbname=") {
		t.Fatalf("DSN %q names no database", dsn)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse %q: %v", dsn, err)
	}
	if !strings.HasPrefix(cfg.Database, "jet_") {
		t.Fatalf("database %q, want a per-test jet_ database", cfg.Database)
	}
	if got := redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Fatalf("redact left the password: %s", got)
	}
}
