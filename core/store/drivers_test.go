package store

import (
	"path/filepath"
	"testing"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/pgtest"
)

// TestMain stops the PostgreSQL server pgtest may have started.
func TestMain(m *testing.M) { pgtest.Main(m) }

// storeDriver is one database the store tests run against.
type storeDriver struct {
	name string
	// fresh returns the config of a new, empty database that lives until
	// the test ends; opening it twice reopens the same database. The
	// postgres driver skips the test when no PostgreSQL is available (see
	// core/pgtest).
	fresh func(t testing.TB) config.Store
}

// storeDrivers are the drivers every store test runs against.
var storeDrivers = []storeDriver{
	{name: "sqlite", fresh: func(t testing.TB) config.Store {
		return config.Store{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "data", "test.db")}
	}},
	{name: "postgres", fresh: func(t testing.TB) config.Store {
		return config.Store{Driver: "postgres", DSN: pgtest.DSN(t)}
	}},
}

// forEachDriver runs fn as one subtest per driver.
func forEachDriver(t *testing.T, fn func(t *testing.T, drv storeDriver)) {
	t.Helper()
	for _, drv := range storeDrivers {
		t.Run(drv.name, func(t *testing.T) { fn(t, drv) })
	}
}
