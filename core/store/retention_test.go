package store

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
)

// oldEvent is sampleEvent received at t: event ids are ULIDs of the time
// they were received, which is what retention reads.
func oldEvent(trigger string, t time.Time) *Event {
	ev := sampleEvent(trigger, "")
	ev.ID = EventIDPrefix + ulid.MustNew(ulid.Timestamp(t), rand.Reader).String()
	ev.ReceivedAt = t
	return ev
}

func TestPruneEvents(t *testing.T) { forEachDriver(t, testPruneEvents) }

// testPruneEvents: events received before the cutoff go, with their runs;
// newer ones stay; so does every event from an hour before the oldest
// unfinished job on, whatever the cutoff; and a large backlog goes in
// several transactions.
func testPruneEvents(t *testing.T, drv storeDriver) {
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 2
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	now := time.Now()
	insert := func(age time.Duration) string {
		t.Helper()
		id, _, err := s.InsertEvent(ctx, oldEvent("OC_a", now.Add(-age)))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	run := func(eventID string) string {
		t.Helper()
		r := &Run{ID: NewRunID(), EventID: eventID, AccountID: "acme", TriggerID: "OC_a", WorkflowID: "w", Status: RunSucceeded}
		if err := s.Write(ctx, func(tx Tx) error { return SaveRun(ctx, tx, r) }); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	exists := func(table, id string) bool {
		t.Helper()
		var n int64
		if err := s.Reader().QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	var old []string
	for _, age := range []time.Duration{300 * 24 * time.Hour, 10 * 24 * time.Hour, 3 * 24 * time.Hour, 3*24*time.Hour - time.Minute, 49 * time.Hour} {
		old = append(old, insert(age))
	}
	oldRun := run(old[1])
	recent := insert(30 * time.Minute)
	recentRun := run(recent)

	n, err := s.PruneEvents(ctx, now.Add(-48*time.Hour))
	if err != nil || n != int64(len(old)) {
		t.Fatalf("PruneEvents = %d, %v; want %d", n, err, len(old))
	}
	if got := testutil.ToFloat64(s.m.pruned); got != float64(len(old)) {
		t.Errorf("jsonevent_store_events_pruned_total = %v, want %d", got, len(old))
	}
	for _, id := range old {
		if exists("events", id) {
			t.Errorf("event %s is older than the cutoff and still stored", id)
		}
	}
	if exists("workflow_runs", oldRun) {
		t.Error("the run of a deleted event is still stored")
	}
	if !exists("events", recent) || !exists("workflow_runs", recentRun) {
		t.Error("the recent event or its run was deleted")
	}

	// A job that has not run yet keeps every event from an hour before its
	// creation on, even with a cutoff in the future.
	if _, _, err := s.InsertEvent(ctx, oldEvent("OC_a", now), river.InsertManyParams{Args: testJobArgs{EventID: "x"}}); err != nil {
		t.Fatal(err)
	}
	older := insert(2 * time.Hour)
	if n, err := s.PruneEvents(ctx, now.Add(24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneEvents with an unfinished job = %d, %v; want 1", n, err)
	}
	if exists("events", older) || !exists("events", recent) || !exists("workflow_runs", recentRun) {
		t.Errorf("with an unfinished job: older event stored %v (want false), recent %v (want true)", exists("events", older), exists("events", recent))
	}
}

// TestJanitorAppliesRetention: with store.retention set, the janitor
// deletes the events past it; without, it keeps them.
func TestJanitorAppliesRetention(t *testing.T) {
	defer func(d time.Duration) { janitorEvery = d }(janitorEvery)
	janitorEvery = 20 * time.Millisecond
	ctx := context.Background()
	for _, keep := range []bool{true, false} {
		opt := Options{Retention: 48 * time.Hour}
		if keep {
			opt.Retention = 0
		}
		s := openTest(t, storeDrivers[0].fresh(t), opt)
		id, _, err := s.InsertEvent(ctx, oldEvent("OC_a", time.Now().Add(-72*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		gone := func() bool {
			_, err := s.GetEvent(ctx, "acme", id)
			return err != nil
		}
		deadline := time.Now().Add(5 * time.Second)
		for !keep && !gone() {
			if time.Now().After(deadline) {
				t.Fatalf("the event past retention is still stored after 5 s of a janitor every %s", janitorEvery)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if keep {
			time.Sleep(10 * janitorEvery)
			if gone() {
				t.Fatal("the janitor deleted an event with store.retention 0")
			}
		}
	}
}

// TestJanitorUsesDatabaseClock: on PostgreSQL a janitor's cutoffs come
// from the database's clock, which every node shares. A node whose own
// clock ran ten days fast deleted every node's events younger than
// store.retention (and their idempotency keys); now it deletes only what
// is past retention by the database's clock. On SQLite, with one node,
// its clock is the database's.
func TestJanitorUsesDatabaseClock(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, storeDrivers[1].fresh(t), Options{Retention: 48 * time.Hour, IdempotencyWindow: 24 * time.Hour})
	s.nodeNow = func() time.Time { return time.Now().Add(10 * 24 * time.Hour) }
	young, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", "key-1"))
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := s.InsertEvent(ctx, oldEvent("OC_a", time.Now().Add(-72*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	s.janitorRound()
	if _, err := s.GetEvent(ctx, "acme", young); err != nil {
		t.Errorf("an event received just now was deleted by a node whose clock runs ten days fast: %v", err)
	}
	if _, err := s.GetEvent(ctx, "acme", old); err == nil {
		t.Error("an event 72 h old by the database's clock outlived store.retention 48h")
	}
	var keys int64
	if err := s.Reader().QueryRow(ctx, `SELECT count(*) FROM idempotency_keys`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != 1 {
		t.Errorf("%d idempotency keys after the round; want the fresh one kept", keys)
	}

	// On SQLite the node's clock is the only one.
	l := openTest(t, storeDrivers[0].fresh(t), Options{})
	l.nodeNow = func() time.Time { return time.Unix(1e9, 0) }
	if now, err := l.dbNow(ctx); err != nil || !now.Equal(time.Unix(1e9, 0)) {
		t.Errorf("SQLite dbNow = %v, %v; want the node's clock", now, err)
	}
}

func TestPruneKeepsUnfinishedRuns(t *testing.T) { forEachDriver(t, testPruneKeepsUnfinishedRuns) }

// testPruneKeepsUnfinishedRuns: a failed run retried by hand is a new job
// for an old event, created now, so the oldest unfinished job does not
// protect that event: its run, pending again, does. The event stays with
// every run it has; an old event whose runs have finished goes.
func testPruneKeepsUnfinishedRuns(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	now := time.Now()
	event := func() string {
		t.Helper()
		id, _, err := s.InsertEvent(ctx, oldEvent("OC_a", now.Add(-10*24*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	run := func(eventID, status string) string {
		t.Helper()
		r := &Run{ID: NewRunID(), EventID: eventID, AccountID: "acme", TriggerID: "OC_a", WorkflowID: "w", Status: status}
		if err := s.Write(ctx, func(tx Tx) error { return SaveRun(ctx, tx, r) }); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	count := func(table, col, id string) int64 {
		t.Helper()
		var n int64
		if err := s.Reader().QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	finished := event()
	run(finished, RunSucceeded)
	retried := event()
	run(retried, RunSucceeded)
	failed := run(retried, RunFailed)
	// What RetryRun does: the run pending again, and a job created now.
	if err := s.Write(ctx, func(tx Tx) error {
		if ok, err := MarkRunPending(ctx, tx, failed); err != nil || !ok {
			t.Fatalf("MarkRunPending = %v, %v", ok, err)
		}
		return tx.InsertJobs(ctx, []river.InsertManyParams{{Args: testJobArgs{EventID: retried}}})
	}); err != nil {
		t.Fatal(err)
	}

	n, err := s.PruneEvents(ctx, now.Add(-48*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneEvents = %d, %v; want 1", n, err)
	}
	if count("events", "id", finished) != 0 || count("workflow_runs", "event_id", finished) != 0 {
		t.Error("the old event whose runs finished, or its run, is still stored")
	}
	if count("events", "id", retried) != 1 || count("workflow_runs", "event_id", retried) != 2 {
		t.Errorf("the event of a run retried by hand: %d events, %d runs; want 1 and 2",
			count("events", "id", retried), count("workflow_runs", "event_id", retried))
	}
}

// TestPruneEventsBeforeUnixEpoch: a cutoff before 1970 (a retention of
// more than 56 years) deletes nothing, and is not an error every round.
func TestPruneEventsBeforeUnixEpoch(t *testing.T) {
	s := openTest(t, storeDrivers[0].fresh(t), Options{})
	if n, err := s.PruneEvents(context.Background(), time.Now().Add(-100*365*24*time.Hour)); err != nil || n != 0 {
		t.Fatalf("PruneEvents before 1970 = %d, %v; want 0, nil", n, err)
	}
}

// TestPrunePostgresNodesAtOnce: on PostgreSQL (READ COMMITTED), while one
// node's janitor deletes a batch, another node's, started at the same
// time, waits for it on the batch's runs; its events are then not the same
// batch selected again (the first events are gone by then) but the ones it
// deleted the runs of, so no run outlives its event.
func TestPrunePostgresNodesAtOnce(t *testing.T) {
	defer func(n int) { pruneBatch = n }(pruneBatch)
	pruneBatch = 2
	cfg := storeDrivers[1].fresh(t)
	a := openTest(t, cfg, Options{})
	b := openTest(t, cfg, Options{})
	ctx := context.Background()
	now := time.Now()
	var events []string
	for i := range 4 {
		id, _, err := a.InsertEvent(ctx, oldEvent("OC_a", now.Add(-10*24*time.Hour+time.Duration(i)*time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		r := &Run{ID: NewRunID(), EventID: id, AccountID: "acme", TriggerID: "OC_a", WorkflowID: "w", Status: RunSucceeded}
		if err := a.Write(ctx, func(tx Tx) error { return SaveRun(ctx, tx, r) }); err != nil {
			t.Fatal(err)
		}
		events = append(events, id)
	}
	// Node b deletes the first batch, runs first, and holds its
	// transaction open while node a's janitor starts.
	locked, release, bDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		bDone <- b.Write(ctx, func(tx Tx) error {
			for _, q := range []string{`DELETE FROM workflow_runs WHERE event_id <= $1`, `DELETE FROM events WHERE id <= $1`} {
				if _, err := tx.Exec(ctx, q, events[1]); err != nil {
					return err
				}
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	aDone := make(chan error, 1)
	go func() {
		_, err := a.PruneEvents(ctx, now.Add(-48*time.Hour))
		aDone <- err
	}()
	time.Sleep(300 * time.Millisecond) // node a waits on b's locks
	close(release)
	if err := <-bDone; err != nil {
		t.Fatal(err)
	}
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	var orphans, left int64
	if err := a.Reader().QueryRow(ctx, `SELECT count(*) FROM workflow_runs WHERE event_id NOT IN (SELECT id FROM events)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if err := a.Reader().QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || left != 0 {
		t.Errorf("after two nodes' janitors at once: %d runs of deleted events, %d events left; want 0 and 0", orphans, left)
	}
}

// TestCloseInterruptsRetention: a retention round may go on for a minute
// (the first after store.retention is set on a large database), and Close
// waited for it, past server.shutdown_timeout. Close ends it at the next
// batch.
func TestCloseInterruptsRetention(t *testing.T) {
	defer func(d time.Duration, n int) { janitorEvery, pruneBatch = d, n }(janitorEvery, pruneBatch)
	janitorEvery, pruneBatch = 20*time.Millisecond, 1
	cfg := storeDrivers[0].fresh(t)
	ctx := context.Background()
	const events = 3000
	fill := openTest(t, cfg, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, events)
	for i := range events {
		wg.Go(func() {
			if _, _, err := fill.InsertEvent(ctx, oldEvent("OC_a", time.Now().Add(-72*time.Hour+time.Duration(i)*time.Millisecond))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := fill.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, cfg, nil, Options{Retention: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(s.m.pruned) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the janitor deleted nothing in 5 s")
		}
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	pruned := testutil.ToFloat64(s.m.pruned)
	if took > time.Second || pruned == events {
		t.Errorf("Close took %s with %v of %d events deleted; want it to end the round at once", took.Round(time.Millisecond), pruned, events)
	}
}

// TestJanitorFirstRoundSoonAfterStart: the first janitor round comes
// janitorFirst after start, not a whole janitorEvery later, so a node
// restarted more often than janitorEvery still prunes.
func TestJanitorFirstRoundSoonAfterStart(t *testing.T) {
	defer func(every, first time.Duration) { janitorEvery, janitorFirst = every, first }(janitorEvery, janitorFirst)
	janitorEvery, janitorFirst = time.Hour, 20*time.Millisecond
	ctx := context.Background()
	s := openTest(t, storeDrivers[0].fresh(t), Options{Retention: 48 * time.Hour})
	id, _, err := s.InsertEvent(ctx, oldEvent("OC_a", time.Now().Add(-72*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := s.GetEvent(ctx, "acme", id); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no janitor round within 5 s of start (janitorFirst %s, janitorEvery %s)", janitorFirst, janitorEvery)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
