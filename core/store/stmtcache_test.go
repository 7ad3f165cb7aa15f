package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// Ensure cached statements give the same answers as fresh ones, including a
// query run again while its own rows are still open, and past the cache's
// size.
func TestStmtCache(t *testing.T) {
	db := sql.OpenDB(newStmtCacheConnector(sqliteDSN(filepath.Join(t.TempDir(), "c.db"), "write")))
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX t_v ON t (v)`); err != nil {
		t.Fatalf("script: %v", err)
	}
	for i := range 5 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, $2)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const q = `SELECT id, v FROM t WHERE id >= $1 ORDER BY id`
	outer, err := tx.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for outer.Next() {
		var id int64
		var v string
		if err := outer.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		// The same statement again while outer is open: a fresh statement.
		var cnt int
		inner, err := tx.QueryContext(ctx, q, id)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			cnt++
		}
		inner.Close()
		if cnt != 5-int(id) || v != fmt.Sprint("v", id) {
			t.Errorf("row %d: inner count %d, v %q", id, cnt, v)
		}
		n++
	}
	outer.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("outer rows = %d", n)
	}
	// More distinct statements than the cache holds still work.
	for i := range maxCachedStmts + 20 {
		var got int
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + $1`, i), 1).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("statement %d: %d, %v", i, got, err)
		}
	}
	// A schema change under a cached statement: SQLite re-prepares it.
	var before int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&before); err != nil || before != 5 {
		t.Fatalf("count = %d, %v", before, err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT 'x'`); err != nil {
		t.Fatal(err)
	}
	var w string
	if err := db.QueryRowContext(ctx, `SELECT w FROM t WHERE id = $1`, 3).Scan(&w); err != nil || w != "x" {
		t.Fatalf("after ALTER: %q, %v", w, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM t`).Scan(&before); err != nil || before != 5 {
		t.Fatalf("count after ALTER = %d, %v", before, err)
	}
}
