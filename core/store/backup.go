package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jsonevent/jsonevent/core/config"
)

// BackupSQLite writes a consistent copy of the SQLite database at dsn to
// out, which must not exist yet, while the service may be running: one
// read transaction (VACUUM INTO) sees every commit made before it began
// and none after, and a commit whose fsync the service has not finished
// yet may be in the copy although its sender got no 202 (it was retried or
// will be, and the copy holds it once). Nothing is written to the
// database; out is fsynced before BackupSQLite returns. It returns the
// copy's size. A database that does not exist is an error, not an empty
// copy.
func BackupSQLite(ctx context.Context, dsn, out string) (int64, error) {
	if msg := config.SQLitePathProblem(dsn); msg != "" {
		return 0, errors.New("store.dsn " + msg)
	}
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("backup: the database %s: %w", path, err)
	}
	if _, err := os.Lstat(out); err == nil {
		return 0, fmt.Errorf("backup: %s exists already; give a new file name (a backup never overwrites)", out)
	}
	if dir := filepath.Dir(out); dir != "." {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return 0, fmt.Errorf("backup: the directory %s of %s does not exist", dir, out)
		}
	}
	// Not the "read" role: query_only refuses VACUUM INTO, although it
	// writes only the new file.
	db, err := sql.Open("sqlite", sqliteDSN(dsn, "backup"))
	if err != nil {
		return 0, fmt.Errorf("backup: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		_ = os.Remove(out) // a partial copy is no backup
		return 0, fmt.Errorf("backup: copy %s to %s: %w", path, out, err)
	}
	f, err := os.Open(out)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("backup: fsync %s: %w", out, err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	// The new file's name survives a power loss only once its directory is
	// synced too.
	if d, err := os.Open(filepath.Dir(out)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return 0, fmt.Errorf("backup: fsync the directory of %s: %w", out, err)
		}
	}
	return st.Size(), nil
}
