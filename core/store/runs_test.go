package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core"
)

func TestRunsSaveListPage(t *testing.T) { forEachDriver(t, testRunsSaveListPage) }

func testRunsSaveListPage(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	b := s.NewBatcher()
	defer b.Close()
	ctx := context.Background()
	start := time.Now().Add(-time.Second)

	// 30 runs saved concurrently through the batcher: they share commits.
	var wg sync.WaitGroup
	ids := make([]string, 30)
	for i := range ids {
		ids[i] = NewRunID()
		time.Sleep(time.Millisecond) // distinct ULID milliseconds keep order obvious
	}
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status := []string{RunSucceeded, RunFailed, RunSkipped}[i%3]
			acct := "acme"
			if i == 29 {
				acct = "other"
			}
			r := &Run{ID: id, EventID: fmt.Sprintf("evt_%d", i%5), AccountID: acct, TriggerID: "OC_a", WorkflowID: "wf",
				Status: status, MaxAttempts: 8,
				Tasks:    map[string]*TaskRecord{"t1": {Result: json.RawMessage(`{"outputs":{"id":"x"}}`), FinishedAt: time.Now()}},
				Attempts: []*Attempt{{Number: 1, StartedAt: time.Now(), Task: "t1", Error: "boom"}}}
			if err := b.Do(ctx, func(tx Tx) error { return SaveRun(ctx, tx, r) }); err != nil {
				t.Errorf("save: %v", err)
			}
		}()
	}
	wg.Wait()

	got, err := s.GetRun(ctx, "acme", ids[0])
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if got.Status != RunSucceeded || got.MaxAttempts != 8 || len(got.Attempts) != 1 || got.Attempts[0].Error != "boom" ||
		string(got.Tasks["t1"].Result) != `{"outputs":{"id":"x"}}` || got.CreatedAt.Before(start) {
		t.Errorf("run = %+v", got)
	}
	if _, err := s.GetRun(ctx, "acme", ids[29]); core.ErrorCode(err) != core.CodeNotFound {
		t.Errorf("another account's run: %v", err)
	}
	if _, err := s.GetRun(ctx, "", ids[29]); err != nil {
		t.Errorf("any-account lookup: %v", err)
	}

	evRuns, err := s.EventRuns(ctx, "acme", "evt_0")
	if err != nil || len(evRuns) != 6 {
		t.Fatalf("EventRuns = %d, %v; want 6", len(evRuns), err)
	}

	// Page through acme's 29 runs 10 at a time: newest first, no overlap.
	var all []string
	cursor := ""
	for page := 0; ; page++ {
		runs, next, err := s.ListRuns(ctx, RunFilter{AccountID: "acme", Before: cursor, Limit: 10})
		if err != nil {
			t.Fatalf("ListRuns: %v", err)
		}
		for _, r := range runs {
			all = append(all, r.ID)
		}
		if next == "" {
			break
		}
		cursor = next
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(all) != 29 || all[0] != ids[28] || all[28] != ids[0] {
		t.Fatalf("paged %d runs, first %s last %s", len(all), all[0], all[len(all)-1])
	}
	failed, _, err := s.ListRuns(ctx, RunFilter{AccountID: "acme", Status: RunFailed, Since: start})
	if err != nil || len(failed) != 10 {
		t.Errorf("failed runs = %d, %v; want 10", len(failed), err)
	}
	none, _, _ := s.ListRuns(ctx, RunFilter{AccountID: "acme", Since: time.Now().Add(time.Hour)})
	if len(none) != 0 {
		t.Errorf("since in the future: %d runs", len(none))
	}
	counts, err := s.CountRuns(ctx)
	if err != nil || counts[RunSucceeded] != 10 || counts[RunFailed] != 10 || counts[RunSkipped] != 10 {
		t.Errorf("counts = %v, %v", counts, err)
	}
}

func TestBatcherIsolatesAFailingWrite(t *testing.T) {
	forEachDriver(t, testBatcherIsolatesAFailingWrite)
}

func testBatcherIsolatesAFailingWrite(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	b := s.NewBatcher()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Do(ctx, func(tx Tx) error {
				if i == 7 {
					_, err := tx.Exec(ctx, `INSERT INTO no_such_table VALUES (1)`)
					return err
				}
				return SaveRun(ctx, tx, &Run{ID: fmt.Sprintf("run_%02d", i), EventID: "e", AccountID: "a", TriggerID: "t", WorkflowID: "w", Status: RunPending})
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 7) {
			t.Errorf("write %d: err = %v", i, err)
		}
	}
	b.Close()
	if err := b.Do(ctx, func(Tx) error { return nil }); core.ErrorCode(err) != core.CodeUnavailable {
		t.Errorf("Do after Close = %v, want unavailable", err)
	}
	runs, _, _ := s.ListRuns(ctx, RunFilter{AccountID: "a", Limit: 100})
	if len(runs) != 19 {
		t.Errorf("runs stored = %d, want 19", len(runs))
	}
}

func TestTickets(t *testing.T) { forEachDriver(t, testTickets) }

func testTickets(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	var first *Ticket
	for range 2 { // the second create is a retried task: same ticket
		err := s.Write(ctx, func(tx Tx) error {
			tk, err := CreateTicketTx(ctx, tx, &Ticket{AccountID: "acme", TriggerID: "OC_a", EventID: "evt_1", WorkflowID: "wf", TaskID: "open",
				Title: "Printer on fire", Priority: "high", Fields: map[string]any{"email": "a@b.c"}})
			if first == nil {
				first = tk
			} else if tk.ID != first.ID {
				t.Errorf("second create made %s, want %s", tk.ID, first.ID)
			}
			return err
		})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
	}
	if first.Status != TicketOpen || first.Fields["email"] != "a@b.c" || first.Title != "Printer on fire" {
		t.Errorf("ticket = %+v", first)
	}
	_ = s.Write(ctx, func(tx Tx) error {
		_, err := CreateTicketTx(ctx, tx, &Ticket{AccountID: "other", TriggerID: "OC_b", EventID: "evt_2", WorkflowID: "wf", TaskID: "open", Title: "x"})
		return err
	})
	list, next, err := s.ListTickets(ctx, TicketFilter{AccountID: "acme"})
	if err != nil || len(list) != 1 || next != "" || list[0].ID != first.ID {
		t.Fatalf("ListTickets = %v, %q, %v", list, next, err)
	}
	if _, err := s.GetTicket(ctx, "other", first.ID); core.ErrorCode(err) != core.CodeNotFound {
		t.Errorf("another account's ticket: %v", err)
	}
	solved, who := TicketSolved, "bob"
	up, err := s.UpdateTicket(ctx, "acme", first.ID, TicketPatch{Status: &solved, Assignee: &who})
	if err != nil || up.Status != "solved" || up.Assignee != "bob" || !up.UpdatedAt.After(first.UpdatedAt) {
		t.Fatalf("UpdateTicket = %+v, %v", up, err)
	}
	got, _ := s.GetTicket(ctx, "acme", first.ID)
	if got.Status != "solved" || got.Assignee != "bob" || got.Title != first.Title {
		t.Errorf("after update = %+v", got)
	}
	bad := "done"
	if _, err := s.UpdateTicket(ctx, "acme", first.ID, TicketPatch{Status: &bad}); core.ErrorCode(err) != core.CodeInvalid {
		t.Errorf("bad status: %v", err)
	}
	if _, err := s.UpdateTicket(ctx, "other", first.ID, TicketPatch{Assignee: &who}); core.ErrorCode(err) != core.CodeNotFound {
		t.Errorf("other account's update: %v", err)
	}
	if l, _, _ := s.ListTickets(ctx, TicketFilter{AccountID: "acme", Status: TicketOpen}); len(l) != 0 {
		t.Errorf("open tickets after solving = %d", len(l))
	}
}

// TestDerivedTextIsStoredOnEveryDriver: a run's error and a ticket's text
// are derived from what senders and receivers sent, and may hold a NUL
// character or invalid UTF-8, which PostgreSQL's TEXT refuses. Refusing
// them would leave the run "running" and the ticket task failing for ever:
// they are stored with U+FFFD in their place.
func TestDerivedTextIsStoredOnEveryDriver(t *testing.T) {
	forEachDriver(t, testDerivedTextIsStoredOnEveryDriver)
}

func testDerivedTextIsStoredOnEveryDriver(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	const bad, want = "answered 500: a\x00b \xff", "answered 500: a\uFFFDb \uFFFD"
	now := time.Now().UTC()
	r := &Run{ID: NewRunID(), EventID: "evt_1", AccountID: "acme", TriggerID: "OC_a", WorkflowID: "wf",
		Status: RunFailed, Error: bad, FailedTask: "call", MaxAttempts: 1, CreatedAt: now, FinishedAt: now}
	if err := s.Write(ctx, func(tx Tx) error { return SaveRun(ctx, tx, r) }); err != nil {
		t.Fatalf("SaveRun: %v", err)
	}
	got, err := s.GetRun(ctx, "acme", r.ID)
	if err != nil || got.Error != want {
		t.Errorf("run error = %q, %v; want %q", got.Error, err, want)
	}
	var tk *Ticket
	err = s.Write(ctx, func(tx Tx) (err error) {
		tk, err = CreateTicketTx(ctx, tx, &Ticket{AccountID: "acme", TriggerID: "OC_a", EventID: "evt_1", WorkflowID: "wf", TaskID: "open",
			Title: bad, Description: bad, Priority: "high"})
		return err
	})
	if err != nil || tk.Title != want || tk.Description != want {
		t.Fatalf("CreateTicketTx = %+v, %v", tk, err)
	}
	who := "bo\x00b"
	up, err := s.UpdateTicket(ctx, "acme", tk.ID, TicketPatch{Assignee: &who})
	if err != nil || up.Assignee != "bo\uFFFDb" {
		t.Fatalf("UpdateTicket = %+v, %v", up, err)
	}
	if got, _ := s.GetTicket(ctx, "acme", tk.ID); got.Assignee != up.Assignee {
		t.Errorf("stored assignee %q, answered %q", got.Assignee, up.Assignee)
	}
}
