package limit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jsonevent/jsonevent/core/pgtest"
)

// pgNodes opens n pools on one fresh database, each standing for one
// jsonevent node, and returns a limiter per node with the given window.
func pgNodes(t testing.TB, n int, window time.Duration, tracer *pgCounter) ([]*Postgres, []*pgxpool.Pool) {
	t.Helper()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	var lims []*Postgres
	var pools []*pgxpool.Pool
	for range n {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("parse dsn: %v", err)
		}
		cfg.MaxConns = 8
		if tracer != nil {
			cfg.ConnConfig.Tracer = tracer
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("open pool: %v", err)
		}
		t.Cleanup(pool.Close)
		lim, err := NewPostgres(ctx, pool)
		if err != nil {
			t.Fatalf("NewPostgres: %v", err)
		}
		lim.window = window
		lims = append(lims, lim)
		pools = append(pools, pool)
	}
	return lims, pools
}

// pgRows counts the stored admissions of key.
func pgRows(t testing.TB, pool *pgxpool.Pool, key string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(),
		"SELECT count(*) FROM "+postgresTable+" WHERE key = $1", key).Scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

func TestPostgresAllowCountsDownAndRefuses(t *testing.T) {
	lims, _ := pgNodes(t, 1, time.Minute, nil)
	lim := lims[0]
	ctx := context.Background()
	const limit = 5
	for i := range limit {
		d, err := lim.Allow(ctx, "tok", limit)
		if err != nil {
			t.Fatalf("Allow #%d: %v", i+1, err)
		}
		if !d.Allowed || d.Limit != limit || d.Remaining != limit-i-1 {
			t.Fatalf("Allow #%d = %+v, want allowed with remaining %d", i+1, d, limit-i-1)
		}
		if d.Reset <= 0 || d.Reset > time.Minute {
			t.Fatalf("Allow #%d reset %v, want in (0, 1m]", i+1, d.Reset)
		}
	}
	d, err := lim.Allow(ctx, "tok", limit)
	if err != nil {
		t.Fatalf("Allow #6: %v", err)
	}
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("Allow #6 = %+v, want refused with nothing remaining", d)
	}
	if d.RetryAfter < 50*time.Second || d.RetryAfter > time.Minute {
		t.Fatalf("Allow #6 retry after %v, want just under a minute", d.RetryAfter)
	}
	// Another key has its own window.
	if d, err := lim.Allow(ctx, "other", limit); err != nil || !d.Allowed || d.Remaining != limit-1 {
		t.Fatalf("Allow(other) = %+v, %v; want allowed, remaining %d", d, err, limit-1)
	}
	// A lowered limit (config reload) is enforced at once, and its
	// Retry-After points at the admission whose expiry makes room.
	d, err = lim.Allow(ctx, "tok", 3)
	if err != nil || d.Allowed {
		t.Fatalf("Allow(limit 3) = %+v, %v; want refused", d, err)
	}
	if d.RetryAfter < 50*time.Second {
		t.Fatalf("Allow(limit 3) retry after %v, want just under a minute", d.RetryAfter)
	}
	// A raised limit admits at once.
	if d, err := lim.Allow(ctx, "tok", 6); err != nil || !d.Allowed || d.Remaining != 0 {
		t.Fatalf("Allow(limit 6) = %+v, %v; want allowed, remaining 0", d, err)
	}
	if d, err := lim.Allow(ctx, "tok", 0); err != nil || d.Allowed {
		t.Fatalf("Allow(limit 0) = %+v, %v; want refused", d, err)
	}
}

// pgAge makes key's admissions up to seq older by d, as if time had
// passed, so that window tests do not depend on the machine's speed.
func pgAge(t testing.TB, pool *pgxpool.Pool, key string, upToSeq int, d time.Duration) {
	t.Helper()
	_, err := pool.Exec(context.Background(),
		"UPDATE "+postgresTable+" SET at = at - $3::interval WHERE key = $1 AND seq <= $2", key, upToSeq, d)
	if err != nil {
		t.Fatalf("age rows: %v", err)
	}
}

// TestPostgresRollingWindow checks that admissions leave the window one by
// one as they age (a sliding log), not all at once (a fixed window).
func TestPostgresRollingWindow(t *testing.T) {
	lims, pools := pgNodes(t, 1, time.Minute, nil)
	lim, pool := lims[0], pools[0]
	ctx := context.Background()
	allow := func(want bool) Decision {
		t.Helper()
		d, err := lim.Allow(ctx, "k", 4)
		if err != nil || d.Allowed != want {
			t.Fatalf("Allow = %+v, %v; want allowed %v", d, err, want)
		}
		return d
	}
	for range 4 {
		allow(true)
	}
	// The first two were admitted 30 s before the last two.
	pgAge(t, pool, "k", 2, 30*time.Second)
	d := allow(false)
	if d.RetryAfter < 28*time.Second || d.RetryAfter > 30*time.Second {
		t.Fatalf("retry after %v, want about 30 s (when the oldest leaves the window)", d.RetryAfter)
	}
	// 31 s later the first two have left the window; the last two have not.
	// (The instance's remembered refusal belongs to the real clock: forget
	// it, as 31 real seconds would.)
	pgAge(t, pool, "k", 4, 31*time.Second)
	lim.mu.Lock()
	clear(lim.refused)
	lim.mu.Unlock()
	if d := allow(true); d.Remaining != 1 {
		t.Fatalf("remaining %d, want 1", d.Remaining)
	}
	allow(true)
	d = allow(false)
	if d.RetryAfter < 27*time.Second || d.RetryAfter > 29*time.Second {
		t.Fatalf("retry after %v, want about 29 s (when the third leaves)", d.RetryAfter)
	}
	// Admitting deleted the key's expired rows: only the window is kept.
	if n := pgRows(t, pool, "k"); n != 4 {
		t.Fatalf("rows for k = %d, want 4", n)
	}
}

// TestPostgresClockStepsBack: admissions are stamped with the database's
// clock, so when that clock steps back (an NTP step, a VM restored or
// migrated), the admissions made before the step lie in its future. They
// counted against the token until the clock caught up: an hour's step
// refused a busy token for an hour and a minute, with Retry-After 3661.
// Stamped after now, an admission now counts as made now: the token
// waits one window at most, and the window still never holds more than
// the limit.
func TestPostgresClockStepsBack(t *testing.T) {
	lims, pools := pgNodes(t, 1, time.Minute, nil)
	lim, pool := lims[0], pools[0]
	ctx := context.Background()
	for range 2 {
		if d, err := lim.Allow(ctx, "k", 4); err != nil || !d.Allowed {
			t.Fatalf("Allow = %+v, %v; want allowed", d, err)
		}
	}
	pgAge(t, pool, "k", 1<<30, -time.Hour) // the clock has since stepped back an hour
	for i := range 2 {
		d, err := lim.Allow(ctx, "k", 4)
		if err != nil || !d.Allowed || d.Remaining != 1-i {
			t.Fatalf("Allow #%d after the step = %+v, %v; want allowed, remaining %d", i+3, d, err, 1-i)
		}
		if d.Reset > time.Minute {
			t.Fatalf("Allow #%d after the step: reset %v, want at most a minute", i+3, d.Reset)
		}
	}
	d, err := lim.Allow(ctx, "k", 4)
	if err != nil || d.Allowed {
		t.Fatalf("Allow #5 = %+v, %v; want refused (4 in the window)", d, err)
	}
	if d.RetryAfter > time.Minute || d.Reset > time.Minute {
		t.Fatalf("Allow #5: retry after %v, reset %v; want at most a minute", d.RetryAfter, d.Reset)
	}
	// A minute later (the remembered refusal forgotten, as a real minute
	// would) the window is empty again.
	pgAge(t, pool, "k", 1<<30, Window+time.Second)
	lim.mu.Lock()
	clear(lim.refused)
	lim.mu.Unlock()
	if d, err := lim.Allow(ctx, "k", 4); err != nil || !d.Allowed || d.Remaining != 3 {
		t.Fatalf("Allow a minute later = %+v, %v; want allowed, remaining 3", d, err)
	}
}

// TestPostgresSharedAcrossNodes is the multi-node guarantee: three nodes
// hammering one token concurrently admit the limit once in total.
func TestPostgresSharedAcrossNodes(t *testing.T) {
	const (
		nodes     = 3
		perNode   = 6 // concurrent senders per node
		limit     = 300
		attempts  = 2 * limit // per node
		tolerance = limit * 5 / 100
	)
	lims, pools := pgNodes(t, nodes, time.Minute, nil)
	ctx := context.Background()

	var admitted, refused atomic.Int64
	perNodeAdmitted := make([]atomic.Int64, nodes)
	var wg sync.WaitGroup
	errs := make(chan error, nodes*perNode)
	start := time.Now()
	for n, lim := range lims {
		var tries atomic.Int64
		for range perNode {
			wg.Go(func() {
				for tries.Add(1) <= attempts {
					d, err := lim.Allow(ctx, "shared-token", limit)
					if err != nil {
						errs <- err
						return
					}
					if d.Allowed {
						admitted.Add(1)
						perNodeAdmitted[n].Add(1)
					} else {
						refused.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Allow: %v", err)
	}
	elapsed := time.Since(start)
	if elapsed > 50*time.Second {
		t.Skipf("the run took %v, too close to the window to judge", elapsed)
	}
	got := admitted.Load()
	t.Logf("%d nodes x %d senders: %d admitted, %d refused of %d in %v (per node %d/%d/%d)",
		nodes, perNode, got, refused.Load(), nodes*attempts, elapsed.Round(time.Millisecond),
		perNodeAdmitted[0].Load(), perNodeAdmitted[1].Load(), perNodeAdmitted[2].Load())
	if got < limit-tolerance || got > limit+tolerance {
		t.Fatalf("admitted %d across %d nodes, want %d ± %d", got, nodes, limit, tolerance)
	}
	// The design is exact, not just within 5%.
	if got != limit {
		t.Errorf("admitted %d, want exactly %d", got, limit)
	}
	for n := range nodes {
		if perNodeAdmitted[n].Load() == 0 {
			t.Errorf("node %d admitted nothing; the load was not spread", n)
		}
	}
	if rows := pgRows(t, pools[0], "shared-token"); rows != limit {
		t.Errorf("stored admissions = %d, want %d", rows, limit)
	}
}

// TestPostgresRefusalCostsNoRoundTrip checks that a node that was refused
// refuses again locally until Retry-After, while another node still asks
// the database (and is refused too).
func TestPostgresRefusalCostsNoRoundTrip(t *testing.T) {
	var tr pgCounter
	lims, _ := pgNodes(t, 2, time.Minute, &tr)
	ctx := context.Background()
	for range 2 {
		if d, err := lims[0].Allow(ctx, "flood", 2); err != nil || !d.Allowed {
			t.Fatalf("Allow = %+v, %v", d, err)
		}
	}
	first, err := lims[0].Allow(ctx, "flood", 2)
	if err != nil || first.Allowed {
		t.Fatalf("third Allow = %+v, %v; want refused", first, err)
	}
	before := tr.roundTrips.Load()
	for range 100 {
		d, err := lims[0].Allow(ctx, "flood", 2)
		if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > first.RetryAfter {
			t.Fatalf("repeated Allow = %+v, %v; want refused within %v", d, err, first.RetryAfter)
		}
	}
	if n := tr.roundTrips.Load() - before; n != 0 {
		t.Fatalf("100 repeated refusals cost %d round trips, want 0", n)
	}
	if d, err := lims[1].Allow(ctx, "flood", 2); err != nil || d.Allowed {
		t.Fatalf("other node's Allow = %+v, %v; want refused by the database", d, err)
	}
	if tr.roundTrips.Load() == before {
		t.Fatal("the other node did not ask the database")
	}
	// A raised limit (config reload) is not answered from the old refusal.
	if d, err := lims[0].Allow(ctx, "flood", 3); err != nil || !d.Allowed {
		t.Fatalf("Allow under a raised limit = %+v, %v; want allowed", d, err)
	}
}

func TestPostgresSweepRemovesIdleKeys(t *testing.T) {
	lims, pools := pgNodes(t, 2, time.Minute, nil)
	ctx := context.Background()
	for i := range 10 {
		if _, err := lims[i%2].Allow(ctx, fmt.Sprintf("idle-%d", i%3), 100); err != nil {
			t.Fatalf("Allow: %v", err)
		}
	}
	if n := pgRows(t, pools[0], "idle-0"); n != 4 {
		t.Fatalf("rows for idle-0 = %d, want 4", n)
	}
	// A minute passes with no request for these keys.
	for k := range 3 {
		pgAge(t, pools[0], fmt.Sprintf("idle-%d", k), 1<<30, Window+time.Second)
	}
	// An Allow runs the periodic sweep once a window has passed since this
	// instance's last one: nothing but the fresh admission is left.
	lims[0].lastSweep.Store(time.Now().Add(-2 * Window).UnixNano())
	if _, err := lims[0].Allow(ctx, "fresh", 100); err != nil {
		t.Fatalf("Allow: %v", err)
	}
	var total int
	if err := pools[0].QueryRow(ctx, "SELECT count(*) FROM "+postgresTable).Scan(&total); err != nil {
		t.Fatalf("count: %v", err)
	}
	if total != 1 {
		t.Fatalf("rows after the automatic sweep = %d, want 1", total)
	}
	// Sweep removes only expired rows.
	for range 2 {
		if _, err := lims[1].Allow(ctx, "idle-1", 100); err != nil {
			t.Fatalf("Allow: %v", err)
		}
	}
	pgAge(t, pools[0], "idle-1", 1<<30, Window+time.Second)
	n, err := lims[1].Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n != 2 {
		t.Fatalf("Sweep removed %d rows, want 2", n)
	}
	if n := pgRows(t, pools[0], "fresh"); n != 1 {
		t.Fatalf("Sweep removed a live row: fresh has %d, want 1", n)
	}
}

func TestPostgresUnreachable(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	defer pool.Close()
	lim := &Postgres{pool: pool, window: Window}
	if _, err := lim.Allow(context.Background(), "k", 10); err == nil {
		t.Fatal("Allow on an unreachable database returned no error")
	}
	if _, err := NewPostgres(context.Background(), pool); err == nil {
		t.Fatal("NewPostgres on an unreachable database returned no error")
	}
}

// pgCounter is a pgx tracer that counts round trips (a query or a batch)
// and statements, to report the limiter's cost per request.
type pgCounter struct {
	roundTrips, statements atomic.Int64
}

func (c *pgCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.roundTrips.Add(1)
	c.statements.Add(1)
	return ctx
}
func (c *pgCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *pgCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.roundTrips.Add(1)
	return ctx
}
func (c *pgCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.statements.Add(1)
}
func (c *pgCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// BenchmarkPostgresAllow measures one Allow: admitted requests on one key,
// refused requests on one key, and admitted requests on many keys from
// parallel senders, reporting round trips and statements per request.
func BenchmarkPostgresAllow(b *testing.B) {
	cases := []struct {
		name     string
		limit    int
		parallel bool
		keys     int
	}{
		{"admit/one-key", 1 << 30, false, 1},
		{"refuse/one-key", 1, false, 1},
		{"admit/parallel-one-key", 1 << 30, true, 1},
		{"admit/parallel-64-keys", 1 << 30, true, 64},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var tr pgCounter
			lims, _ := pgNodes(b, 1, time.Minute, &tr)
			lim := lims[0]
			ctx := context.Background()
			if _, err := lim.Allow(ctx, "warm", tc.limit); err != nil { // prepare statements
				b.Fatal(err)
			}
			tr.roundTrips.Store(0)
			tr.statements.Store(0)
			b.ResetTimer()
			if tc.parallel {
				// Each sender goes round every key: RunParallel starts
				// GOMAXPROCS senders, and one key per sender made the
				// 64-key case use as many keys as the machine has cores.
				keys := make([]string, tc.keys)
				for i := range keys {
					keys[i] = fmt.Sprintf("key-%d", i)
				}
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(1))
					for pb.Next() {
						i++
						if _, err := lim.Allow(ctx, keys[i%len(keys)], tc.limit); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if _, err := lim.Allow(ctx, "key", tc.limit); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(tr.roundTrips.Load())/float64(b.N), "roundtrips/op")
			b.ReportMetric(float64(tr.statements.Load())/float64(b.N), "statements/op")
		})
	}
}

// TestPostgresExactUnderRepeatableRead: the limiter's statements read what
// other transactions committed before its lock was granted, which only
// read committed guarantees. A server (or database, or role) whose
// default_transaction_isolation is stricter must not make it fail or admit
// past the limit.
func TestPostgresExactUnderRepeatableRead(t *testing.T) {
	const limit, senders, tries = 100, 6, 40
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var iso string
	if err := pool.QueryRow(ctx, "SHOW default_transaction_isolation").Scan(&iso); err != nil || iso != "repeatable read" {
		t.Fatalf("default_transaction_isolation = %q, %v", iso, err)
	}
	lim, err := NewPostgres(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			for range tries {
				d, err := lim.Allow(ctx, "rr-token", limit)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Allow: %v", err)
	}
	if got := admitted.Load(); got != limit {
		t.Errorf("admitted %d of %d, want exactly %d", got, senders*tries, limit)
	}
}

// TestPostgresAllowSendsNoWarning: Allow runs on every event request, so
// it must not make the server warn. "SET TRANSACTION" outside BEGIN (the
// batch is an implicit transaction, not a block) made PostgreSQL send and
// log "WARNING: SET TRANSACTION can only be used in transaction blocks"
// for each request, and cost a third statement. A pool whose sessions read
// committed pays the README's two statements; one whose default is
// stricter still gets read committed (TestPostgresExactUnderRepeatableRead)
// without a warning.
func TestPostgresAllowSendsNoWarning(t *testing.T) {
	for _, iso := range []string{"", "repeatable read"} {
		t.Run(fmt.Sprintf("default=%q", iso), func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			if iso != "" {
				cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = iso
			}
			var tr pgCounter
			cfg.ConnConfig.Tracer = &tr
			var notices atomic.Int64
			var mu sync.Mutex
			var first string
			cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
				if notices.Add(1) == 1 {
					mu.Lock()
					first = n.Severity + ": " + n.Message
					mu.Unlock()
				}
			}
			ctx := context.Background()
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			lim, err := NewPostgres(ctx, pool)
			if err != nil {
				t.Fatal(err)
			}
			const n = 10
			before := tr.statements.Load()
			for range n {
				if d, err := lim.Allow(ctx, "quiet", 1000); err != nil || !d.Allowed {
					t.Fatalf("Allow = %+v, %v", d, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if got := notices.Load(); got != 0 {
				t.Errorf("%d Allow calls drew %d notices from the server, first %q; want none", n, got, first)
			}
			if got := (tr.statements.Load() - before) / n; iso == "" && got != 2 {
				t.Errorf("Allow sends %d statements, want 2 (the lock and the decision)", got)
			}
		})
	}
}

// TestPostgresSweepBesideRequests: sweeps on two nodes run beside requests
// that delete their own key's expired admissions, on keys that expire
// every few milliseconds: no statement fails (row locks taken in different
// orders could deadlock; the sweep now skips locked rows) and the sweeps
// still remove what expired.
func TestPostgresSweepBesideRequests(t *testing.T) {
	lims, pools := pgNodes(t, 2, 5*time.Millisecond, nil)
	ctx := context.Background()
	stop := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 16 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				if _, err := lims[g%2].Allow(ctx, fmt.Sprintf("k%d", i%2), 1000); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for n := range 4 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := lims[n%2].Sweep(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	time.Sleep(20 * time.Millisecond) // every admission has expired
	if _, err := lims[0].Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for k := range 2 {
		if n := pgRows(t, pools[0], fmt.Sprintf("k%d", k)); n != 0 {
			t.Errorf("k%d keeps %d expired admissions after a sweep", k, n)
		}
	}
}
