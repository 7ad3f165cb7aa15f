package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/pgtest"
)

// oldInsertEventSQL is the event insert of a node at schema version 4
// (before 0005 added auth_username), as it runs during a rolling upgrade.
const oldInsertEventSQL = `INSERT INTO events (id, account_id, trigger_id, context_id, user_id, brand_id,
    query_json, headers_json, body, normalized_body, fields_json, warnings_json,
    received_at, idempotency_key, replay_of)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`

// toVersion4 takes a migrated database back to schema version 4, the
// schema of the nodes a rolling upgrade to 0005 starts from.
func toVersion4(t *testing.T, ctx context.Context, conn *pgx.Conn) {
	t.Helper()
	if _, err := conn.Exec(ctx, `ALTER TABLE events DROP COLUMN auth_username`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM jsonevent_migrations WHERE version = 5`); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresMigrationDoesNotStallOldNodes upgrades a database that old
// nodes go on writing to while a long transaction (a backup, a report)
// reads the events table. The new node's ALTER TABLE waits for that
// reader, and every insert queues behind the waiting ALTER: the old nodes
// stored nothing until the reader ended. The migration must give way and
// try again instead, and the schema must reach 0005 once the reader ends.
func TestPostgresMigrationDoesNotStallOldNodes(t *testing.T) {
	ctx := context.Background()
	cfg := config.Store{Driver: "postgres", DSN: pgtest.DSN(t)}
	s := openTest(t, cfg, Options{})
	_ = s.Close()

	admin, err := pgx.Connect(ctx, cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	toVersion4(t, ctx, admin)

	rtx := longReader(t, ctx, cfg.DSN)
	done := openAsync(ctx, cfg)
	// Wait until the new node's ALTER TABLE has asked for its lock.
	waitForLockWait(t, ctx, admin, "%ALTER TABLE events ADD COLUMN auth_username%")

	// An old node stores an event meanwhile.
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = admin.Exec(ictx, oldInsertEventSQL, "evt_old_node", "acme", "OC_a", "", "", "", "{}", "{}",
		[]byte(`{}`), []byte(" "), "{}", "[]", time.Now().UnixMicro(), "", "")
	cancel()
	if err != nil {
		t.Fatalf("an old node's insert while the migration waits for its lock: %v", err)
	}

	o := endReader(t, ctx, rtx, done)
	steps, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := o.SchemaVersion(ctx); err != nil || v != steps[len(steps)-1].Version {
		t.Fatalf("schema version %d, %v; want %d", v, err, steps[len(steps)-1].Version)
	}
	ev, err := o.GetEvent(ctx, "acme", "evt_old_node")
	if err != nil || ev.AuthUsername != "" {
		t.Fatalf("the old node's event: %+v, %v", ev, err)
	}
}

// TestPostgresEventListIndexStepLetsReadersThrough: migration 0006 builds
// an index on events, as long as that takes on a large table. Building it
// only keeps writers out; dropping the old index takes the table's
// exclusive lock, which keeps readers out too (a workflow loading its
// event, GET /v1/events) until the step commits. Every statement of the
// step must therefore leave the table readable: the drop is step 0007's.
func TestPostgresEventListIndexStepLetsReadersThrough(t *testing.T) {
	cfg := storeDrivers[1].fresh(t)
	ctx := context.Background()
	s := openTest(t, cfg, Options{})
	reader := openTest(t, cfg, Options{})
	if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); err != nil {
		t.Fatal(err)
	}
	steps, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var step Migration
	for _, m := range steps {
		if m.Version == 6 {
			step = m
		}
	}
	var stmts []string
	for _, st := range strings.Split(step.SQL, ";") {
		var lines []string
		for _, l := range strings.Split(st, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
			stmts = append(stmts, q)
		}
	}
	if len(stmts) == 0 {
		t.Fatal("step 6 has no statement")
	}
	// The database as step 5 left it.
	for _, q := range []string{`DROP INDEX events_account_trigger_id`,
		`CREATE INDEX events_account_trigger_received ON events (account_id, trigger_id, received_at)`} {
		if err := s.Write(ctx, func(tx Tx) error { _, err := tx.Exec(ctx, q); return err }); err != nil {
			t.Fatal(err)
		}
	}
	errDone := errors.New("rolled back on purpose")
	err = s.Write(ctx, func(tx Tx) error {
		for i, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
			err := reader.Write(ctx, func(rtx Tx) error {
				if _, err := rtx.Exec(ctx, `SELECT set_config('lock_timeout', '200ms', true)`); err != nil {
					return err
				}
				var n int64
				return rtx.QueryRow(ctx, `SELECT count(*) FROM events WHERE account_id = 'acme'`).Scan(&n)
			})
			if err != nil {
				t.Errorf("after statement %d of step 6 (%s), a reader of events waits: %v", i+1, q, err)
			}
		}
		return errDone
	})
	if !errors.Is(err, errDone) {
		t.Fatal(err)
	}
}

// TestPostgresEventListIndexBuiltOnceBehindLongReader upgrades a database
// at schema 5 while a long transaction (pg_dump, a report) reads events.
// Building the new index keeps only writers out and goes ahead; dropping
// the old one needs the table's exclusive lock, which the reader holds
// off. When the build and the drop were one step, each lock timeout rolled
// the build back and the next try built the index again, keeping every
// node's inserts out for a whole build each time, for as long as the
// reader ran (measured: 5 builds and 9 s of stalled ingest behind a 25 s
// reader at 600,000 events). The built index must survive the wait.
func TestPostgresEventListIndexBuiltOnceBehindLongReader(t *testing.T) {
	ctx := context.Background()
	cfg := config.Store{Driver: "postgres", DSN: pgtest.DSN(t)}
	s := openTest(t, cfg, Options{})
	if _, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "")); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	admin, err := pgx.Connect(ctx, cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// The database as step 5 left it.
	for _, q := range []string{`DROP INDEX events_account_trigger_id`,
		`CREATE INDEX events_account_trigger_received ON events (account_id, trigger_id, received_at)`,
		`ALTER TABLE workflow_runs DROP COLUMN notifications_json`, // 0009
		`DELETE FROM jsonevent_migrations WHERE version >= 6`} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	rtx := longReader(t, ctx, cfg.DSN)
	done := openAsync(ctx, cfg)
	// Wait until the new node has given way to the reader at least once
	// (a lock wait lasts pgStepLockWait), then look for the new index.
	waitForLockWait(t, ctx, admin, "%")
	time.Sleep(pgStepLockWait + 300*time.Millisecond)
	var built int64
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE indexname = 'events_account_trigger_id'`).Scan(&built); err != nil {
		t.Fatal(err)
	}
	if built != 1 {
		t.Errorf("after the drop gave way to the reader, the new index is gone: it is built again on the next try")
	}

	endReader(t, ctx, rtx, done)
	var old int64
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE indexname = 'events_account_trigger_received'`).Scan(&old); err != nil || old != 0 {
		t.Fatalf("the old index is still there (%d, %v)", old, err)
	}
}

// longReader opens a transaction that has read events and holds it (a
// report, a pg_dump), until the test ends it with endReader.
func longReader(t *testing.T, ctx context.Context, dsn string) pgx.Tx {
	t.Helper()
	reader, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close(ctx) })
	rtx, err := reader.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := rtx.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return rtx
}

type opened struct {
	s   *Store
	err error
}

// openAsync opens the store (migrating it) in the background.
func openAsync(ctx context.Context, cfg config.Store) <-chan opened {
	done := make(chan opened, 1)
	go func() {
		s, err := Open(ctx, cfg, nil)
		done <- opened{s, err}
	}()
	return done
}

// endReader ends rtx and returns the store openAsync opened behind it,
// closed when the test ends.
func endReader(t *testing.T, ctx context.Context, rtx pgx.Tx, done <-chan opened) *Store {
	t.Helper()
	if err := rtx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var o opened
	select {
	case o = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Open did not finish after the reader ended")
	}
	if o.err != nil {
		t.Fatalf("Open: %v", o.err)
	}
	t.Cleanup(func() { _ = o.s.Close() })
	return o.s
}

// waitForLockWait waits until a statement matching like (SQL LIKE) waits
// for a lock, as a migration step does behind a long reader.
func waitForLockWait(t *testing.T, ctx context.Context, admin *pgx.Conn, like string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int64
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE $1`, like).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the migration never waited for its lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
