package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// TestIsolation checks that DSN and DatabaseDSN each reach an empty place of
// their own (a table made through one is not seen through the next) and
// that it is dropped when its test ends.
func TestIsolation(t *testing.T) {
	admin := AdminDSN(t) // skips the whole test when there is no server
	ctx := context.Background()
	tests := []struct {
		name  string
		dsn   func(testing.TB) string
		where string // SQL naming the place the DSN reaches
		left  string // SQL counting places in $1 that still exist
	}{
		{"schema", DSN, "SELECT current_schema()",
			"SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1)"},
		{"database", DatabaseDSN, "SELECT current_database()",
			"SELECT count(*) FROM pg_database WHERE datname = ANY($1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			for _, sub := range []string{"first", "second"} {
				t.Run(sub, func(t *testing.T) {
					conn, err := pgx.Connect(ctx, tc.dsn(t))
					if err != nil {
						t.Fatalf("connect: %v", err)
					}
					defer conn.Close(ctx)
					var name string
					if err := conn.QueryRow(ctx, tc.where).Scan(&name); err != nil {
						t.Fatalf("%s: %v", tc.where, err)
					}
					if !strings.HasPrefix(name, "jet_") {
						t.Fatalf("reached %q, want a per-test jet_ %s", name, tc.name)
					}
					// Fails if the previous subtest's table were visible.
					if _, err := conn.Exec(ctx, "CREATE TABLE marker (n int)"); err != nil {
						t.Fatalf("create: %v", err)
					}
					names = append(names, name)
				})
			}
			if len(names) != 2 || names[0] == names[1] {
				t.Fatalf("%ss %v, want two different ones", tc.name, names)
			}
			conn, err := pgx.Connect(ctx, admin)
			if err != nil {
				t.Fatalf("connect admin: %v", err)
			}
			defer conn.Close(ctx)
			var left int
			if err := conn.QueryRow(ctx, tc.left, names).Scan(&left); err != nil {
				t.Fatalf("%s: %v", tc.left, err)
			}
			if left != 0 {
				t.Fatalf("%d of the test %ss %v were not dropped", left, tc.name, names)
			}
		})
	}
}

func TestWithParamAndRedact(t *testing.T) {
	tests := []struct{ dsn, key, value, want string }{
		{"postgres://u@h:5/postgres?sslmode=disable", "search_path", "s1",
			"postgres://u@h:5/postgres?search_path=s1&sslmode=disable"},
		{"postgres://u@h:5/postgres?sslmode=disable", "dbname", "d1", "postgres://u@h:5/d1?sslmode=disable"},
		{"host=h user=u", "search_path", "s1", "host=h user=u search_path=s1"},
	}
	for _, tc := range tests {
		if got := withParam(t, tc.dsn, tc.key, tc.value); got != tc.want {
			t.Errorf("withParam(%q, %s) = %q, want %q", tc.dsn, tc.key, got, tc.want)
		}
	}
	if got := redact("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Fatalf("redact left the password: %s", got)
	}
}

// TestRequired: in CI (CI=true, which CI services set whatever command a
// job runs, `make test-race` included) or with JSONEVENT_TEST_PG_REQUIRE=1
// a missing server fails the PostgreSQL tests; only elsewhere do they skip.
func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		ci, require string
		want        bool
	}{
		{"", "", false},
		{"false", "", false},
		{"true", "", true},
		{"", "1", true},
		{"true", "1", true},
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv(EnvRequire, tc.require)
		if got := Required(); got != tc.want {
			t.Errorf("CI=%q %s=%q: Required() = %v, want %v", tc.ci, EnvRequire, tc.require, got, tc.want)
		}
	}
}
