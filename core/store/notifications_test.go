package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunNotifications: each failure notification's outcome lands on its
// run, one entry per channel and failure; a run worker's save keeps them;
// a run without any shows none in its JSON.
func TestRunNotifications(t *testing.T) { forEachDriver(t, testRunNotifications) }

func testRunNotifications(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	run := &Run{ID: NewRunID(), EventID: "evt_1", AccountID: "acme", TriggerID: "OC_a", WorkflowID: "wf", Status: RunFailed,
		Attempts: []*Attempt{{Number: 1, StartedAt: time.Now(), Task: "t1", Error: "boom"}}}
	if err := s.Write(ctx, func(tx Tx) error { return SaveRun(ctx, tx, run) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, "acme", run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(got); strings.Contains(string(raw), "notifications") {
		t.Errorf("a run without notifications shows some: %s", raw)
	}

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	record := func(n RunNotification) {
		t.Helper()
		if err := s.RecordNotification(ctx, run.ID, n); err != nil {
			t.Fatalf("RecordNotification(%+v): %v", n, err)
		}
	}
	record(RunNotification{Channel: "webhook", Status: NotifyRetrying, RunAttempts: 1, Attempts: 1, Error: "notify webhook answered 503", At: at})
	record(RunNotification{Channel: "email", Status: NotifySent, RunAttempts: 1, Attempts: 1, At: at})
	record(RunNotification{Channel: "webhook", Status: NotifySent, RunAttempts: 1, Attempts: 2, At: at.Add(time.Second)})
	// A late write of an earlier try does not undo the later one.
	record(RunNotification{Channel: "webhook", Status: NotifyRetrying, RunAttempts: 1, Attempts: 1, Error: "late", At: at})
	// The run worker saves the run again (a manual retry that fails again).
	run.Attempts = append(run.Attempts, &Attempt{Number: 2, StartedAt: time.Now(), Task: "t1", Error: "boom again"})
	if err := s.Write(ctx, func(tx Tx) error { return SaveRun(ctx, tx, run) }); err != nil {
		t.Fatal(err)
	}
	record(RunNotification{Channel: "webhook", Status: NotifyFailed, RunAttempts: 2, Attempts: 6, Error: "bad\x00byte", At: at})
	// A run removed meanwhile is no error.
	if err := s.RecordNotification(ctx, "run_gone", RunNotification{Channel: "email", Status: NotifySent}); err != nil {
		t.Errorf("a missing run: %v", err)
	}

	got, err = s.GetRun(ctx, "acme", run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []RunNotification{
		{Channel: "webhook", Status: NotifySent, RunAttempts: 1, Attempts: 2, At: at.Add(time.Second)},
		{Channel: "email", Status: NotifySent, RunAttempts: 1, Attempts: 1, At: at},
		{Channel: "webhook", Status: NotifyFailed, RunAttempts: 2, Attempts: 6, Error: "bad\uFFFDbyte", At: at},
	}
	if len(got.Notifications) != len(want) {
		t.Fatalf("notifications = %s; want %d", dumpNotifications(got.Notifications), len(want))
	}
	for i, w := range want {
		if g := got.Notifications[i]; *g != w {
			t.Errorf("notification %d = %+v; want %+v", i, *g, w)
		}
	}
	if len(got.Attempts) != 2 {
		t.Errorf("the run's attempts: %d", len(got.Attempts))
	}
	runs, _, err := s.ListRuns(ctx, RunFilter{AccountID: "acme"})
	if err != nil || len(runs) != 1 || len(runs[0].Notifications) != 3 {
		t.Errorf("ListRuns: %v, %v", runs, err)
	}
	raw, _ := json.Marshal(got.Notifications[2])
	if string(raw) != `{"channel":"webhook","status":"failed","runAttempts":2,"attempts":6,"error":"bad�byte","at":"2026-01-02T03:04:05Z"}` {
		t.Errorf("JSON: %s", raw)
	}
}

// TestRunNotificationsConcurrent: notifications of one run recorded at
// once, from two stores on the same database on PostgreSQL (two nodes),
// all keep their entry: none overwrites another's read-modify-write.
func TestRunNotificationsConcurrent(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv storeDriver) {
		cfg := drv.fresh(t)
		nodes := []*Store{openTest(t, cfg, Options{})}
		if drv.name == "postgres" {
			nodes = append(nodes, openTest(t, cfg, Options{}))
		}
		ctx := context.Background()
		run := &Run{ID: NewRunID(), EventID: "evt_1", AccountID: "acme", TriggerID: "OC_a", WorkflowID: "wf", Status: RunFailed}
		if err := nodes[0].Write(ctx, func(tx Tx) error { return SaveRun(ctx, tx, run) }); err != nil {
			t.Fatal(err)
		}
		const channels, tries = 8, 5
		var wg sync.WaitGroup
		for c := range channels {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := nodes[c%len(nodes)]
				for try := 1; try <= tries; try++ {
					n := RunNotification{Channel: fmt.Sprintf("ch%d", c), Status: NotifyRetrying, RunAttempts: 1, Attempts: try, At: time.Now()}
					if err := s.RecordNotification(ctx, run.ID, n); err != nil {
						t.Errorf("record: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		got, err := nodes[0].GetRun(ctx, "acme", run.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, n := range got.Notifications {
			seen[n.Channel] = n.Attempts
		}
		for c := range channels {
			if a := seen[fmt.Sprintf("ch%d", c)]; a != tries {
				t.Errorf("channel ch%d: %d tries recorded, want %d (all: %s)", c, a, tries, dumpNotifications(got.Notifications))
			}
		}
	})
}

func dumpNotifications(ns []*RunNotification) string {
	raw, _ := json.Marshal(ns)
	return string(raw)
}
