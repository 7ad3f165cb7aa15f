package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
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
func migrate(ctx context.Context, b backend) error {
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
		err := b.write(ctx, func(tx Tx) error {
			// Another process may have applied it since the table was read
			// (on SQLite nothing else serialises two processes opening one
			// file); the write transaction holds the lock, so ask again.
			var done int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM jsonevent_migrations WHERE version = $1`, int64(m.Version)).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO jsonevent_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				int64(m.Version), m.Name, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}
