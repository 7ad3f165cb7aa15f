// Package pgtest gives tests a real PostgreSQL database of their own.
//
// The server comes from, in this order:
//  1. the environment variable JSONEVENT_TEST_PG_DSN (a superuser or a role
//     with CREATEDB; `make test` and CI set it after `.ci/postgres.sh env`),
//  2. a server this test binary starts with `.ci/postgres.sh start` in a
//     temporary directory when Debian's postgresql binaries are installed,
//     shared by every test of the binary and stopped when it exits,
//  3. otherwise the test is skipped with a message saying how to enable it,
//     unless JSONEVENT_TEST_PG_REQUIRE=1 (.ci/test sets it) or CI=true (every
//     CI service sets it, whatever command the job runs), when it fails
//     instead, so that PostgreSQL tests cannot silently stop running.
//
// Each call of DSN or Pool creates a fresh, empty schema (DatabaseDSN a
// database) that is dropped when the test ends, so tests may run in
// parallel and never see each other's rows.
//
// Packages whose tests use pgtest should call Main from TestMain so that a
// server they started is stopped promptly:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without it the server still stops, about a second after the test binary
// exits, by a watcher the start script leaves behind.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvDSN names the variable holding the DSN of a server to use.
const EnvDSN = "JSONEVENT_TEST_PG_DSN"

// EnvRequire names the variable that turns a skip into a failure.
const EnvRequire = "JSONEVENT_TEST_PG_REQUIRE"

// howTo tells a developer how to run the PostgreSQL tests.
const howTo = "PostgreSQL tests skipped: install it with `sudo .ci/postgres.sh install` " +
	"(Debian's postgresql package) and rerun, or run `make test`, or set " + EnvDSN +
	" to a server where this role may CREATE DATABASE"

var (
	once     sync.Once
	adminDSN string // DSN of the maintenance database of the server
	setupErr error  // why no server is available
	skip     bool   // setupErr means "not installed", not "broken"
	startDir string // data directory of a server this binary started
	counter  atomic.Int64
)

// Main runs the tests of m, stops a server that this binary started, and
// exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops a server this binary started, if any. Main calls it.
func Stop() {
	if startDir == "" {
		return
	}
	script, err := findScript()
	if err == nil {
		cmd := exec.Command("bash", script, "stop", "--dir", startDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop: %v: %s\n", err, out)
		}
	}
	startDir = ""
}

// setup finds or starts the server once per test binary.
func setup() {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		adminDSN = dsn
		return
	}
	script, err := findScript()
	if err != nil {
		setupErr, skip = err, true
		return
	}
	if err := exec.Command("bash", script, "available").Run(); err != nil {
		setupErr, skip = errors.New("postgresql binaries not found under /usr/lib/postgresql"), true
		return
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("jsonevent-pgtest-%d", os.Getpid()))
	cmd := exec.Command("bash", script, "start", "--dir", dir, "--watch-pid", fmt.Sprint(os.Getpid()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		setupErr = fmt.Errorf("start postgresql with %s: %w: %s", script, err, stderr.String())
		return
	}
	startDir = dir
	adminDSN = strings.TrimSpace(string(out))
}

// findScript walks up from the working directory (a package directory
// under go test) to the checkout's .ci/postgres.sh.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find .ci/postgres.sh: %w", err)
	}
	for {
		p := filepath.Join(dir, ".ci", "postgres.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New(".ci/postgres.sh not found above the working directory")
		}
		dir = parent
	}
}

// Available reports whether a server can be had, without skipping.
func Available() bool {
	once.Do(setup)
	return setupErr == nil
}

// Required reports whether a missing server fails the test rather than
// skipping it: JSONEVENT_TEST_PG_REQUIRE=1, or CI=true.
func Required() bool {
	return os.Getenv(EnvRequire) == "1" || os.Getenv("CI") == "true"
}

// AdminDSN returns the DSN of the server's maintenance database, skipping
// (or failing, see the package doc) when there is no server. Tests should
// use DSN instead; AdminDSN is for tests that manage databases themselves.
func AdminDSN(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if setupErr != nil {
		if skip && !Required() {
			t.Skipf("%s (%v)", howTo, setupErr)
		}
		t.Fatalf("pgtest: no PostgreSQL: %v; %s", setupErr, howTo)
	}
	return adminDSN
}

// DSN returns the DSN of an empty schema of its own for this test: a schema
// created in the server's maintenance database and made the connection's
// search_path, so every unqualified table (jsonevent's and river's) lands
// in it. It is dropped, with everything in it, when the test ends. A schema
// costs milliseconds where a database costs a second on a busy machine; use
// DatabaseDSN when a test needs a whole database.
func DSN(t testing.TB) string {
	t.Helper()
	admin := AdminDSN(t)
	name := newName()
	if err := adminExec(admin, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := adminExec(admin, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return withParam(t, admin, "search_path", name)
}

// DatabaseDSN creates an empty database for this test and returns its DSN.
// The database is dropped, with any connections still open to it, when the
// test ends.
func DatabaseDSN(t testing.TB) string {
	t.Helper()
	admin := AdminDSN(t)
	name := newName()
	if err := adminExec(admin, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := adminExec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return withParam(t, admin, "dbname", name)
}

// newName returns a fresh lower-case identifier.
func newName() string {
	return fmt.Sprintf("jet_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, counter.Add(1))
}

// adminExec runs one statement on the maintenance database.
func adminExec(admin, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("pgtest: connect to %s: %w", redact(admin), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

// withParam sets one connection parameter of a URL or key=value DSN.
func withParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " " + key + "=" + value // a later key wins
	}
	if key == "dbname" {
		u.Path = "/" + value
		return u.String()
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// Pool returns a pool on a fresh schema (see DSN), closed when the test
// ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := DSN(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// redact hides a password in a DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}
