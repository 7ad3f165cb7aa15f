package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFS holds jsonevent's own schema, one file per step, named
// NNNN_name.sql and applied in numeric order. Adding a step is adding a
// file; a step never changes once it has landed.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one numbered schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded schema steps in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || len(num) != 4 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(migrationFS, path.Join("migrations", name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: rest, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// migrate applies the embedded steps the database has not seen, each in
// its own transaction together with its row in jsonevent_migrations. A
// database whose schema is newer than this binary is refused.
func migrate(ctx context.Context, b backend, log *slog.Logger) error {
	steps, err := Migrations()
	if err != nil {
		return err
	}
	err = b.write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS jsonevent_migrations (
    version    BIGINT NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    applied_at BIGINT NOT NULL
)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create jsonevent_migrations: %w", err)
	}
	applied := map[int]bool{}
	maxApplied := 0
	rows, err := b.reader().Query(ctx, `SELECT version FROM jsonevent_migrations`)
	if err != nil {
		return fmt.Errorf("read jsonevent_migrations: %w", err)
	}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read jsonevent_migrations: %w", err)
		}
		applied[int(v)] = true
		maxApplied = max(maxApplied, int(v))
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("read jsonevent_migrations: %w", err)
	}
	if n := len(steps); maxApplied > 0 && (n == 0 || maxApplied > steps[n-1].Version) {
		return fmt.Errorf("database schema is at version %d, newer than this binary knows (%d): upgrade jsonevent", maxApplied, steps[n-1].Version)
	}
	for _, m := range steps {
		if applied[m.Version] {
			continue
		}
		err := migrateStep(ctx, b, log, m)
		if err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// pgStepLockWait is how long a migration step on PostgreSQL waits for a
// lock on a table, and pgStepRetryMax the longest pause before it tries
// again. A step such as ALTER TABLE events waits for every transaction
// using the table, and while it waits every other statement on the table
// (the inserts of the nodes still running) queues behind it: one long
// reader, a backup say, would stop ingest on every node for as long as it
// reads. Giving up after a short wait lets the queued inserts through.
const (
	pgStepLockWait = time.Second
	pgStepRetryMax = 15 * time.Second
)

// migrateStep applies one step in its own transaction. On PostgreSQL it
// gives way to a transaction holding a lock the step needs and tries
// again, logging each time, until the lock is had or ctx ends.
func migrateStep(ctx context.Context, b backend, log *slog.Logger, m Migration) error {
	_, onPG := b.(*pgBackend)
	pause := pgStepLockWait
	name := fmt.Sprintf("%04d_%s", m.Version, m.Name)
	// Logged before the step too: a step that builds an index on a large
	// table keeps the node from listening for as long as it builds.
	log.Info("applying a migration step", "migration", name)
	start := time.Now()
	for try := 1; ; try++ {
		applied := false
		err := b.write(ctx, func(tx Tx) error {
			if onPG {
				if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, pgStepLockWait.String()); err != nil {
					return err
				}
			}
			var err error
			applied, err = applyStep(ctx, tx, m)
			return err
		})
		if !onPG || !isLockNotAvailable(err) {
			if err == nil && applied {
				log.Info("applied a migration step", "migration", name, "took", time.Since(start).Round(time.Millisecond).String())
			}
			return err
		}
		log.Warn("a migration step waits for a table lock that another transaction holds (a long query or a backup?); the other nodes go on writing meanwhile, and the step is tried again",
			"migration", name, "try", try, "retry_in", pause.String(), "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, pgStepRetryMax)
	}
}

// applyStep runs m and records it, unless another process did already,
// and says whether it ran m.
func applyStep(ctx context.Context, tx Tx, m Migration) (bool, error) {
	// Another process may have applied it since the table was read
	// (on SQLite nothing else serialises two processes opening one
	// file); the write transaction holds the lock, so ask again.
	var done int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM jsonevent_migrations WHERE version = $1`, int64(m.Version)).Scan(&done); err != nil {
		return false, err
	}
	if done > 0 {
		return false, nil
	}
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, err
	}
	_, err := tx.Exec(ctx, `INSERT INTO jsonevent_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		int64(m.Version), m.Name, time.Now().UnixMicro())
	return err == nil, err
}
