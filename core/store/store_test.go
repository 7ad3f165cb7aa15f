package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
)

// Every store test runs against each driver in storeDrivers
// (drivers_test.go): TestX calls forEachDriver with testX, which opens its
// store from drv.fresh(t). Add new tests the same way.

func openTest(t *testing.T, cfg config.Store, opt Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg, nil, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sampleEvent(trigger, key string) *Event {
	return &Event{
		AccountID: "acme",
		TriggerID: trigger,
		ContextID: "ctx1",
		Query:     map[string]string{"triggerId": trigger, "contextId": "ctx1"},
		Header: http.Header{
			"Content-Type":        {"application/json"},
			"Authorization":       {"Basic c2VjcmV0"},
			"X-Api-Token":         {"jse_secret"},
			"Cookie":              {"session=1"},
			"Proxy-Authorization": {"Basic x"},
			"X-Request-Id":        {"r1"},
		},
		Body:           []byte(`{"a":1}`),
		Fields:         map[string]json.RawMessage{"a": json.RawMessage(`1`), "missing": nil},
		IdempotencyKey: key,
	}
}

func TestInsertAndGetEvent(t *testing.T) { forEachDriver(t, testInsertAndGetEvent) }

func testInsertAndGetEvent(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	ev := sampleEvent("OC_a", "")
	id, dup, err := s.InsertEvent(ctx, ev)
	if err != nil || dup {
		t.Fatalf("InsertEvent = %q, %v, %v", id, dup, err)
	}
	if id != ev.ID || len(id) != len(EventIDPrefix)+26 || id[:4] != EventIDPrefix {
		t.Fatalf("id %q (ev.ID %q) is not evt_+ULID", id, ev.ID)
	}
	got, err := s.GetEvent(ctx, "acme", id)
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if got.TriggerID != "OC_a" || got.ContextID != "ctx1" || string(got.Body) != `{"a":1}` || string(got.NormalizedBody) != `{"a":1}` {
		t.Fatalf("stored event differs: %+v", got)
	}
	if got.Query["contextId"] != "ctx1" {
		t.Fatalf("query = %v", got.Query)
	}
	for _, h := range []string{"Authorization", "X-Api-Token", "Cookie", "Proxy-Authorization"} {
		if _, ok := got.Header[h]; ok {
			t.Errorf("secret header %s was stored", h)
		}
	}
	if got.Header.Get("X-Request-Id") != "r1" {
		t.Errorf("ordinary header lost: %v", got.Header)
	}
	if string(got.Fields["a"]) != "1" || string(got.Fields["missing"]) != "null" {
		t.Errorf("fields = %s / %s", got.Fields["a"], got.Fields["missing"])
	}
	if d := time.Since(got.ReceivedAt); d < 0 || d > time.Minute {
		t.Errorf("received_at %v is not now", got.ReceivedAt)
	}

	_, err = s.GetEvent(ctx, "other", id)
	if core.ErrorCode(err) != core.CodeNotFound {
		t.Fatalf("other account's GetEvent err = %v, want not_found", err)
	}
	_, err = s.GetEvent(ctx, "acme", "evt_nope")
	if core.ErrorCode(err) != core.CodeNotFound {
		t.Fatalf("missing GetEvent err = %v, want not_found", err)
	}
}

func countEvents(t *testing.T, s *Store) int {
	t.Helper()
	var n int64
	if err := s.Reader().QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestIdempotency(t *testing.T) { forEachDriver(t, testIdempotency) }

func testIdempotency(t *testing.T, drv storeDriver) {
	// A key's age is measured on the database's clock (on SQLite, one
	// node's, the events' received times), so the test ages the stored keys
	// instead of sleeping.
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	age := func(d time.Duration) {
		t.Helper()
		if err := s.Write(ctx, func(tx Tx) error {
			_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET created_at = created_at - $1`, d.Microseconds())
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	first, dup, err := s.InsertEvent(ctx, sampleEvent("OC_a", "k1"))
	if err != nil || dup {
		t.Fatalf("first: %v %v", dup, err)
	}
	tests := []struct {
		name    string
		trigger string
		key     string
		age     time.Duration
		wantDup bool
	}{
		{"same key repeats", "OC_a", "k1", 0, true},
		{"other key", "OC_a", "k2", 0, false},
		{"same key other trigger", "OC_b", "k1", 0, false},
		{"no key", "OC_a", "", 0, false},
		{"same key 23h later", "OC_a", "k1", 23 * time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			age(tc.age)
			before := countEvents(t, s)
			id, dup, err := s.InsertEvent(ctx, sampleEvent(tc.trigger, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			if dup != tc.wantDup {
				t.Fatalf("duplicate = %v, want %v", dup, tc.wantDup)
			}
			after := countEvents(t, s)
			if tc.wantDup && (id != first || after != before) {
				t.Fatalf("duplicate returned %q (want %q) and stored %d new rows", id, first, after-before)
			}
			if !tc.wantDup && (id == first || after != before+1) {
				t.Fatalf("new event %q stored %d rows", id, after-before)
			}
		})
	}
	age(2 * time.Hour) // every key is now 25 h old
	id, dup, err := s.InsertEvent(ctx, sampleEvent("OC_a", "k1"))
	if err != nil || dup || id == first {
		t.Fatalf("after the 24 h window: id %q dup %v err %v, want a new event", id, dup, err)
	}
	again, dup, err := s.InsertEvent(ctx, sampleEvent("OC_a", "k1"))
	if err != nil || !dup || again != id {
		t.Fatalf("repeat after takeover: %q %v %v, want %q duplicate", again, dup, err, id)
	}

	// Pruning removes the keys first used before the cut-off only.
	n, err := s.PruneIdempotencyKeys(ctx, time.Now().Add(-24*time.Hour))
	if err != nil || n != 2 { // k2 and OC_b/k1; OC_a/k1 was taken over just now
		t.Fatalf("pruned %d keys (%v), want 2", n, err)
	}
	if _, dup, _ := s.InsertEvent(ctx, sampleEvent("OC_a", "k1")); !dup {
		t.Fatal("pruning removed a live key")
	}
}

// TestGroupCommit checks that concurrent inserts all land, that duplicates
// inside one batch are caught, and that batches really are shared.
func TestGroupCommit(t *testing.T) { forEachDriver(t, testGroupCommit) }

func testGroupCommit(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	const n = 400
	ids := make([]string, n)
	dups := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := ""
			if i%4 == 0 {
				key = "same" // 100 requests share one key: exactly one is stored
			}
			ids[i], dups[i], errs[i] = s.InsertEvent(ctx, sampleEvent("OC_a", key))
		}()
	}
	wg.Wait()
	keyed := map[string]bool{}
	nDup := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("insert %d: %v", i, errs[i])
		}
		if i%4 == 0 {
			keyed[ids[i]] = true
		}
		if dups[i] {
			nDup++
		}
	}
	if len(keyed) != 1 || nDup != n/4-1 {
		t.Fatalf("keyed requests got %d distinct ids and %d duplicates, want 1 and %d", len(keyed), nDup, n/4-1)
	}
	if got, want := countEvents(t, s), n-n/4+1; got != want {
		t.Fatalf("%d events stored, want %d", got, want)
	}
	commits, stored := s.Stats()
	if stored != uint64(n-n/4+1) || commits >= stored {
		t.Fatalf("stats: %d commits for %d events; group commit did not batch", commits, stored)
	}
	t.Logf("%d events in %d commits", stored, commits)
}

type testJobArgs struct {
	EventID string `json:"event_id"`
}

func (testJobArgs) Kind() string { return "test_job" }

func TestJobsCommitWithEvent(t *testing.T) { forEachDriver(t, testJobsCommitWithEvent) }

func testJobsCommitWithEvent(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	ev := sampleEvent("OC_a", "job-key")
	ev.ID = NewEventID()
	jobs := []river.InsertManyParams{{Args: testJobArgs{EventID: ev.ID}}, {Args: testJobArgs{EventID: ev.ID}}}
	id, _, err := s.InsertEvent(ctx, ev, jobs...)
	if err != nil {
		t.Fatal(err)
	}
	// A duplicate must not add jobs.
	if _, dup, err := s.InsertEvent(ctx, sampleEvent("OC_a", "job-key"), river.InsertManyParams{Args: testJobArgs{EventID: "x"}}); err != nil || !dup {
		t.Fatalf("duplicate: %v %v", dup, err)
	}
	res, err := s.Queue().JobList(ctx, river.NewJobListParams().Kinds("test_job"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 2 {
		t.Fatalf("%d jobs, want 2", len(res.Jobs))
	}
	for _, j := range res.Jobs {
		var a testJobArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil || a.EventID != id {
			t.Fatalf("job args %s, want event %s", j.EncodedArgs, id)
		}
	}
}

func TestReopenKeepsEventsAndMigrationsOnce(t *testing.T) {
	forEachDriver(t, testReopenKeepsEventsAndMigrationsOnce)
}

func testReopenKeepsEventsAndMigrationsOnce(t *testing.T, drv storeDriver) {
	cfg := drv.fresh(t)
	ctx := context.Background()
	s, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg, Options{})
	if _, err := s.GetEvent(ctx, "acme", id); err != nil {
		t.Fatalf("event lost across reopen: %v", err)
	}
	steps, err := Migrations()
	if err != nil || len(steps) == 0 || steps[0].Version != 1 {
		t.Fatalf("Migrations() = %v, %v", steps, err)
	}
	var n int64
	if err := s.Reader().QueryRow(ctx, `SELECT count(*) FROM jsonevent_migrations`).Scan(&n); err != nil || int(n) != len(steps) {
		t.Fatalf("%d migration rows (%v), want %d", n, err, len(steps))
	}
}

func TestNewerSchemaRefused(t *testing.T) { forEachDriver(t, testNewerSchemaRefused) }

func testNewerSchemaRefused(t *testing.T, drv storeDriver) {
	cfg := drv.fresh(t)
	s := openTest(t, cfg, Options{})
	err := s.Write(context.Background(), func(tx Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO jsonevent_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, int64(9999), "future", int64(0))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_, err = Open(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("Open on a newer schema: %v", err)
	}
}

func TestFailuresAreUnavailable(t *testing.T) { forEachDriver(t, testFailuresAreUnavailable) }

func testFailuresAreUnavailable(t *testing.T, drv storeDriver) {
	ctx := context.Background()
	t.Run("database cannot write", func(t *testing.T) {
		s := openTest(t, drv.fresh(t), Options{})
		if err := s.Write(ctx, func(tx Tx) error {
			_, err := tx.Exec(ctx, `DROP TABLE events`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", ""))
		if core.ErrorCode(err) != core.CodeUnavailable {
			t.Fatalf("err = %v, want unavailable", err)
		}
	})
	t.Run("closed store", func(t *testing.T) {
		s := openTest(t, drv.fresh(t), Options{})
		_ = s.Close()
		_, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", ""))
		if core.ErrorCode(err) != core.CodeUnavailable {
			t.Fatalf("err = %v, want unavailable", err)
		}
		if core.ErrorCode(s.Ping(ctx)) != core.CodeUnavailable {
			t.Fatal("Ping on a closed store did not fail")
		}
	})
	t.Run("memory dsn refused", func(t *testing.T) {
		if drv.name != "sqlite" {
			t.Skip("an SQLite DSN")
		}
		_, err := Open(ctx, config.Store{DSN: ":memory:"}, nil)
		if err == nil {
			t.Fatal("opened an in-memory store")
		}
	})
}

func BenchmarkInsertEventParallel(b *testing.B) {
	for _, drv := range storeDrivers {
		b.Run(drv.name, func(b *testing.B) { benchmarkInsertEventParallel(b, drv) })
	}
}

func benchmarkInsertEventParallel(b *testing.B, drv storeDriver) {
	s, err := Open(context.Background(), drv.fresh(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 1000)))
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ev := sampleEvent("OC_a", "")
			ev.Body = body
			if _, _, err := s.InsertEvent(context.Background(), ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	commits, stored := s.Stats()
	b.ReportMetric(float64(stored)/float64(max(commits, 1)), "events/commit")
}

// TestInsertEventsChunks checks that a batch cut into multi-row inserts of
// power-of-two sizes stores every event with its own columns, for batch
// sizes below, at and above the largest chunk.
func TestInsertEventsChunks(t *testing.T) { forEachDriver(t, testInsertEventsChunks) }

func testInsertEventsChunks(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	for _, n := range []int{1, 3, 64, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rows := make([]*eventRow, n)
			for i := range rows {
				ev := sampleEvent("OC_a", "")
				ev.ID = NewEventID()
				ev.ContextID = fmt.Sprintf("ctx-%d-%d", n, i)
				ev.Body = fmt.Appendf(nil, `{"i":%d}`, i)
				ev.ReceivedAt = time.UnixMicro(int64(1_700_000_000_000_000 + i))
				r, err := encodeEvent(ev)
				if err != nil {
					t.Fatal(err)
				}
				rows[i] = r
			}
			if err := s.b.write(ctx, func(tx Tx) error { return insertEvents(ctx, tx, rows) }); err != nil {
				t.Fatalf("insertEvents(%d): %v", n, err)
			}
			for i, r := range rows {
				got, err := s.GetEvent(ctx, "acme", r.id)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if got.ContextID != r.contextID || string(got.Body) != string(r.body) || got.ReceivedAt.UnixMicro() != r.receivedAt {
					t.Fatalf("event %d stored as context %q body %s at %d, want %q %s %d",
						i, got.ContextID, got.Body, got.ReceivedAt.UnixMicro(), r.contextID, r.body, r.receivedAt)
				}
			}
		})
	}
}

// TestEventListIndexStepReapplies checks what the README tells an operator
// about 0006 and 0007: with the index built beforehand, or after a
// rollback that deleted only the steps' rows, the steps apply again, and
// the list keeps working.
func TestEventListIndexStepReapplies(t *testing.T) { forEachDriver(t, testEventListIndexStepReapplies) }

func testEventListIndexStepReapplies(t *testing.T, drv storeDriver) {
	cfg := drv.fresh(t)
	ctx := context.Background()
	s, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", ""))
	if err != nil {
		t.Fatal(err)
	}
	// The index is there (as if built by hand) and the step's row is not.
	if err := s.Write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM jsonevent_migrations WHERE version IN (6, 7)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg, Options{})
	var n int64
	if err := s.Reader().QueryRow(ctx, `SELECT count(*) FROM jsonevent_migrations WHERE version IN (6, 7)`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("step 6 and 7 rows = %d (%v), want 2", n, err)
	}
	evs, _, err := s.ListEvents(ctx, EventFilter{AccountID: "acme"})
	if err != nil || len(evs) != 1 || evs[0].ID != id {
		t.Fatalf("ListEvents = %+v, %v", evs, err)
	}
}
