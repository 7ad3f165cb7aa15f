package store

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"
	"github.com/riverqueue/river"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/pgtest"
)

// The tests below are about PostgreSQL only: several nodes on one
// database. The driver-neutral behaviour is covered by the tests that run
// against every driver (store_test.go).

// openNodes opens n stores ("nodes") on one database at the same time, as
// nodes starting together behind a load balancer would.
func openNodes(t *testing.T, n int, dsn string, opts func(i int) Options) []*Store {
	t.Helper()
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var opt Options
			if opts != nil {
				opt = opts(i)
			}
			stores[i], errs[i] = Open(context.Background(), config.Store{Driver: "postgres", DSN: dsn}, nil, opt)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("node %d: Open: %v", i, errs[i])
		}
		s := stores[i]
		t.Cleanup(func() { _ = s.Close() })
	}
	return stores
}

func TestPostgresNodesStartTogether(t *testing.T) {
	dsn := pgtest.DSN(t)
	stores := openNodes(t, 3, dsn, nil)
	ctx := context.Background()
	steps, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var applied int64
	if err := stores[0].Reader().QueryRow(ctx, `SELECT count(*) FROM jsonevent_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if int(applied) != len(steps) {
		t.Fatalf("%d migration rows, want %d (each step once)", applied, len(steps))
	}
	// Everything, river's tables included, is in the DSN's schema, so that
	// one database can hold several independent installations.
	var here, public int64
	err = stores[1].Reader().QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ('river_job', 'events')),
		(SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('river_job', 'events'))`).Scan(&here, &public)
	if err != nil {
		t.Fatal(err)
	}
	if here != 2 || public != 0 {
		t.Fatalf("river_job and events: %d in the search_path schema, %d in public; want 2 and 0", here, public)
	}
	if got := stores[2].Driver(); got != "postgres" {
		t.Fatalf("Driver() = %q", got)
	}
	if stores[2].RiverPostgres() == nil || stores[2].RiverSQLite() != nil {
		t.Fatal("RiverPostgres/RiverSQLite do not match the driver")
	}
	// What one node writes, every node reads.
	id, _, err := stores[0].InsertEvent(ctx, sampleEvent("OC_a", ""))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if _, err := s.GetEvent(ctx, "acme", id); err != nil {
			t.Fatalf("node %d cannot read node 0's event: %v", i, err)
		}
	}
}

// TestPostgresIdempotencyAcrossNodes sends one Idempotency-Key to three
// nodes at once: the unique constraint, not a per-node cache, lets exactly
// one event through, and every caller learns its id.
func TestPostgresIdempotencyAcrossNodes(t *testing.T) {
	stores := openNodes(t, 3, pgtest.DSN(t), nil)
	ctx := context.Background()
	const perNode = 40
	type result struct {
		id  string
		dup bool
		err error
	}
	results := make(chan result, 3*perNode)
	var wg sync.WaitGroup
	for _, s := range stores {
		for i := range perNode {
			wg.Go(func() {
				key := "shared-key"
				if i%2 == 1 {
					key = "" // unkeyed traffic in the same batches
				}
				id, dup, err := s.InsertEvent(ctx, sampleEvent("OC_a", key))
				if key == "" {
					if err != nil || dup {
						results <- result{err: err, dup: dup, id: "unkeyed"}
					}
					return
				}
				results <- result{id, dup, err}
			})
		}
	}
	wg.Wait()
	close(results)
	ids := map[string]int{}
	fresh := 0
	for r := range results {
		if r.err != nil || r.id == "unkeyed" {
			t.Fatalf("insert: %+v", r)
		}
		ids[r.id]++
		if !r.dup {
			fresh++
		}
	}
	if len(ids) != 1 || fresh != 1 {
		t.Fatalf("keyed inserts on 3 nodes returned ids %v with %d not duplicate; want one id, one original", ids, fresh)
	}
	var keyed, all int64
	err := stores[0].Reader().QueryRow(ctx,
		`SELECT (SELECT count(*) FROM events WHERE idempotency_key = 'shared-key'), (SELECT count(*) FROM events)`).Scan(&keyed, &all)
	if err != nil {
		t.Fatal(err)
	}
	if keyed != 1 || all != 1+3*perNode/2 {
		t.Fatalf("stored %d keyed and %d events in all, want 1 and %d", keyed, all, 1+3*perNode/2)
	}
}

type pgNotifyArgs struct {
	EventID string `json:"event_id"`
}

func (pgNotifyArgs) Kind() string { return "pg_notify_test" }

// TestPostgresJobsNotifiedAcrossNodes checks that a job inserted on one node
// is worked promptly by another through LISTEN/NOTIFY: the worker's polling
// interval is 30 s, yet each job completes within a few seconds.
func TestPostgresJobsNotifiedAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	worked := make(chan string, 8)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[pgNotifyArgs]) error {
		worked <- job.Args.EventID
		return nil
	}))
	stores := openNodes(t, 2, dsn, func(i int) Options {
		if i == 0 {
			return Options{} // the receiving node only inserts
		}
		return Options{River: &river.Config{
			Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
			Workers:           workers,
			FetchPollInterval: 30 * time.Second,
		}}
	})
	ctx := context.Background()
	q := stores[1].Queue()
	if err := q.Start(ctx); err != nil {
		t.Fatalf("start worker node: %v", err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(stopCtx)
	})

	for i := range 3 {
		// river sends at most one insert notification per queue and node
		// per FetchCooldown (100 ms); space the jobs beyond that.
		time.Sleep(300 * time.Millisecond)
		ev := sampleEvent("OC_a", "")
		ev.ID = NewEventID()
		start := time.Now()
		if _, _, err := stores[0].InsertEvent(ctx, ev, river.InsertManyParams{Args: pgNotifyArgs{EventID: ev.ID}}); err != nil {
			t.Fatal(err)
		}
		// The first job may also be found by the worker's initial fetch.
		select {
		case got := <-worked:
			if got != ev.ID {
				t.Fatalf("worked job for %s, want %s", got, ev.ID)
			}
			t.Logf("job %d worked on the other node after %v", i+1, time.Since(start).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Fatalf("job %d not worked within 10 s although polling is every 30 s: no LISTEN/NOTIFY", i+1)
		}
	}
}

func TestPostgresOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, dsn, want string
		hide            string // must not appear in the error
	}{
		{"empty dsn", "", "store.dsn is empty", ""},
		{"malformed dsn", "postgres://u:hunter2@h:notaport/db", "not a valid PostgreSQL connection string", "hunter2"},
		{"unreachable", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", "unreachable", "hunter2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(ctx, config.Store{Driver: "postgres", DSN: tc.dsn}, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if tc.hide != "" && strings.Contains(err.Error(), tc.hide) {
				t.Fatalf("error %q shows the password", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v to fail", d)
			}
		})
	}
}

// lockedBuffer is an io.Writer safe for the concurrent writes of a logger.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPostgresConcurrentBatchesDoNotDeadlockOnKeys sends bursts of
// redeliveries (a few Idempotency-Keys, each repeated, arriving in any
// order) to three nodes at once, so that concurrent group commits claim the
// same keys. Claiming them in each batch's arrival order made two batches
// wait for each other's keys: PostgreSQL aborted one after deadlock_timeout
// (a second's stall) and the whole batch was retried event by event.
func TestPostgresConcurrentBatchesDoNotDeadlockOnKeys(t *testing.T) {
	testConcurrentKeys(t, pgtest.DSN(t))
}

// TestPostgresKeysUnderRepeatableRead: a server, database or role whose
// default_transaction_isolation is repeatable read made concurrent batches
// claiming one key fail to serialize (40001), each batch's events then
// retried one by one; the store's transactions are read committed always.
func TestPostgresKeysUnderRepeatableRead(t *testing.T) {
	u, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("default_transaction_isolation", "repeatable read")
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads "+" as itself
	testConcurrentKeys(t, u.String())
}

func testConcurrentKeys(t *testing.T, dsn string) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stores := make([]*Store, 3)
	for i := range stores {
		s, err := Open(context.Background(), config.Store{Driver: "postgres", DSN: dsn}, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	ctx := context.Background()
	const rounds, perRound, keys = 8, 60, 6
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, perRound)
		for i := range perRound {
			wg.Go(func() {
				key := fmt.Sprintf("r%d-k%d", round, rand.IntN(keys))
				_, _, errs[i] = stores[i%len(stores)].InsertEvent(ctx, sampleEvent("OC_a", key))
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	if got := countEvents(t, stores[0]); got != rounds*keys {
		t.Fatalf("%d events stored, want %d (one per key)", got, rounds*keys)
	}
	if l := logs.String(); strings.Contains(l, "40P01") {
		t.Fatalf("concurrent group commits deadlocked on idempotency keys:\n%s", l)
	}
	if l := logs.String(); strings.Contains(l, "40001") {
		t.Fatalf("concurrent group commits failed to serialize:\n%s", l)
	}
}

// TestPostgresMigrationWaitIsLogged: a node that starts while another
// holds the migration lock says it is waiting (it printed nothing and
// looked hung), then opens once the lock is free.
func TestPostgresMigrationWaitIsLogged(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", int32(pgMigrationLockClass), int32(pgMigrationLockID)); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	opened := make(chan error, 1)
	go func() {
		s, err := Open(ctx, config.Store{Driver: "postgres", DSN: dsn}, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err == nil {
			_ = s.Close()
		}
		opened <- err
	}()
	giveUp := time.After(30 * time.Second) // a guard against hanging, not a speed target
	for !strings.Contains(logs.String(), "waiting for another node to finish migrating") {
		select {
		case err := <-opened:
			t.Fatalf("opened while another node held the migration lock (%v); logs:\n%s", err, logs.String())
		case <-giveUp:
			t.Fatalf("no line says the node waits for the migration lock; logs:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", int32(pgMigrationLockClass), int32(pgMigrationLockID)); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("open after the lock was released: %v", err)
	}
	if !strings.Contains(logs.String(), "migration is done") {
		t.Errorf("no line once the wait ended:\n%s", logs.String())
	}
}

// TestPostgresIdempotencyOnDatabaseClock: on PostgreSQL an idempotency
// key's age is measured on the database's clock, which every node shares,
// not on the clock of the node that received the event. A node whose
// clock ran a day fast took over every key another node had just stored
// (its cutoff, its now less 24 h, was after them), accepting a retry as a
// new event; a node whose clock ran a day slow stored keys that the
// janitor (database clock) deleted at once, so the next retry was new too.
func TestPostgresIdempotencyOnDatabaseClock(t *testing.T) {
	nodes := openNodes(t, 2, pgtest.DSN(t), func(int) Options { return Options{IdempotencyWindow: 24 * time.Hour} })
	ctx := context.Background()
	received := func(key string, skew time.Duration) *Event {
		ev := sampleEvent("OC_a", key)
		ev.ReceivedAt = time.Now().Add(skew) // the receiving node's clock
		return ev
	}

	first, _, err := nodes[0].InsertEvent(ctx, received("fast", 0))
	if err != nil {
		t.Fatal(err)
	}
	id, dup, err := nodes[1].InsertEvent(ctx, received("fast", 25*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !dup || id != first {
		t.Errorf("a retry through a node whose clock runs 25 h fast: id %s duplicate %v; want %s, a duplicate", id, dup, first)
	}

	first, _, err = nodes[1].InsertEvent(ctx, received("slow", -25*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	nodes[0].janitorRound()
	id, dup, err = nodes[0].InsertEvent(ctx, received("slow", 0))
	if err != nil {
		t.Fatal(err)
	}
	if !dup || id != first {
		t.Errorf("a retry of an event a node whose clock runs 25 h slow stored: id %s duplicate %v; want %s, a duplicate", id, dup, first)
	}
}

// TestPostgresStoreNowFollowsDatabaseClock: on PostgreSQL Store.Now is
// the server's clock as measured from this node, whatever this node's own
// clock says. Event ids are made from it, and retention deletes by their
// time on the server's clock: a node whose clock ran 49 h slow made ids
// that the janitor (store.retention 48h) deleted at their first round.
func TestPostgresStoreNowFollowsDatabaseClock(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, storeDrivers[1].fresh(t), Options{Retention: 48 * time.Hour})
	s.nodeNow = func() time.Time { return time.Now().Add(-49 * time.Hour) }
	s.janitorRound() // measures the offset, as Open did
	if d := time.Since(s.Now()); d.Abs() > time.Second {
		t.Fatalf("Now is %s off the database's clock on a node 49 h slow", d)
	}
	ev := sampleEvent("OC_a", "")
	ev.ReceivedAt = time.Time{}
	id, _, err := s.InsertEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(ulid.MustParse(strings.TrimPrefix(id, EventIDPrefix)).Timestamp()); d.Abs() > time.Second {
		t.Errorf("event id %s is %s off the database's clock", id, d)
	}
	s.janitorRound()
	got, err := s.GetEvent(ctx, "acme", id)
	if err != nil {
		t.Fatalf("the janitor deleted an event received just now through a node 49 h slow: %v", err)
	}
	if d := time.Since(got.ReceivedAt); d.Abs() > time.Second {
		t.Errorf("received at %s, %s off the database's clock", got.ReceivedAt, d)
	}
}
