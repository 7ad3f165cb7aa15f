package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCaptures(t *testing.T) { forEachDriver(t, testCaptures) }

func testCaptures(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)

	if cs, err := s.LatestCaptureSession(ctx, "acme", "OC_a"); err != nil || cs != nil {
		t.Fatalf("LatestCaptureSession before any = %+v, %v", cs, err)
	}
	cs := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "acme", TriggerID: "OC_a", Count: 3, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.SaveCaptureSession(ctx, cs); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestCaptureSession(ctx, "acme", "OC_a")
	if err != nil || got.ID != cs.ID || got.Count != 3 || !got.ExpiresAt.Equal(cs.ExpiresAt) || !got.ClosedAt.IsZero() {
		t.Fatalf("LatestCaptureSession = %+v, %v", got, err)
	}
	if other, _ := s.LatestCaptureSession(ctx, "other", "OC_a"); other != nil {
		t.Fatal("another account sees the session")
	}

	// Three captures fill the session (count 3) and close it; keep=2
	// prunes the oldest.
	for i := 0; i < 3; i++ {
		c := &Capture{
			ID: NewCaptureID(), SessionID: cs.ID, AccountID: "acme", TriggerID: "OC_a",
			ReceivedAt: now.Add(time.Duration(i) * time.Second), Method: "POST",
			Query:  map[string]string{"triggerId": "OC_a"},
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   []byte(fmt.Sprintf(`{"i":%d}`, i)), Status: 202, EventID: fmt.Sprintf("evt_%d", i),
			Suggestions: json.RawMessage(`[{"name":"i","path":"$['i']","type":"number","sample":0}]`),
			ExpiresAt:   now.Add(24 * time.Hour),
		}
		if i == 1 {
			c.Body, c.BodyTruncated, c.Status, c.Code, c.Reason = nil, true, 413, "too_large", "too big"
		}
		if err := s.InsertCapture(ctx, c, 2); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct ULID milliseconds keep id order
	}
	caps, err := s.ListCaptures(ctx, "acme", "OC_a", now)
	if err != nil || len(caps) != 2 {
		t.Fatalf("ListCaptures = %d, %v", len(caps), err)
	}
	if string(caps[0].Body) != `{"i":2}` || caps[0].EventID != "evt_2" || caps[0].Header.Get("Content-Type") != "application/json" ||
		caps[0].Query["triggerId"] != "OC_a" || string(caps[0].Suggestions) == "" {
		t.Errorf("newest capture = %+v", caps[0])
	}
	if len(caps[1].Body) != 0 || !caps[1].BodyTruncated || caps[1].Status != 413 || caps[1].Code != "too_large" || caps[1].Reason != "too big" {
		t.Errorf("refused capture = %+v", caps[1])
	}
	got, _ = s.LatestCaptureSession(ctx, "acme", "OC_a")
	if got.Captured != 3 || got.ClosedAt.IsZero() {
		t.Errorf("session after 3 captures = %+v", got)
	}
	if open, err := s.OpenCaptureSessions(ctx, now); err != nil || len(open) != 0 {
		t.Errorf("OpenCaptureSessions = %+v, %v", open, err)
	}

	// Expiry: invisible once expired, deleted by PruneCaptures.
	if caps, _ := s.ListCaptures(ctx, "acme", "OC_a", now.Add(25*time.Hour)); len(caps) != 0 {
		t.Errorf("%d captures visible after expiry", len(caps))
	}
	if n, err := s.PruneCaptures(ctx, now.Add(25*time.Hour)); err != nil || n != 2 {
		t.Errorf("PruneCaptures = %d, %v", n, err)
	}

	// An open session is listed until it expires.
	cs2 := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "acme", TriggerID: "OC_b", Count: 1, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.SaveCaptureSession(ctx, cs2); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.OpenCaptureSessions(ctx, now); len(open) != 1 || open[0].ID != cs2.ID {
		t.Errorf("open sessions = %+v", open)
	}
	if open, _ := s.OpenCaptureSessions(ctx, now.Add(time.Minute)); len(open) != 0 {
		t.Errorf("expired session still open: %+v", open)
	}

	// Adopted fields: upsert keeps CreatedAt, delete reports presence.
	f := []AdoptedField{
		{AccountID: "acme", TriggerID: "OC_a", Name: "subject", Path: "$['s']", Origin: "captured", CreatedAt: now, UpdatedAt: now},
		{AccountID: "acme", TriggerID: "OC_a", Name: "id", Path: "$.id", Origin: "manual", CreatedAt: now, UpdatedAt: now},
	}
	if err := s.SaveAdoptedFields(ctx, f); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	if err := s.SaveAdoptedFields(ctx, []AdoptedField{{AccountID: "acme", TriggerID: "OC_a", Name: "id", Path: "$['id']", Origin: "captured", CreatedAt: later, UpdatedAt: later}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.AdoptedFields(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "id" || all[0].Path != "$['id']" || all[0].Origin != "captured" ||
		!all[0].CreatedAt.Equal(now) || !all[0].UpdatedAt.Equal(later) {
		t.Fatalf("AdoptedFields = %+v, %v", all, err)
	}
	if ok, err := s.DeleteAdoptedField(ctx, "acme", "OC_a", "id"); err != nil || !ok {
		t.Fatalf("DeleteAdoptedField = %v, %v", ok, err)
	}
	if ok, err := s.DeleteAdoptedField(ctx, "acme", "OC_a", "id"); err != nil || ok {
		t.Fatalf("second DeleteAdoptedField = %v, %v", ok, err)
	}
	if ok, _ := s.DeleteAdoptedField(ctx, "other", "OC_a", "subject"); ok {
		t.Fatal("another account deleted a field")
	}
}

func TestListEvents(t *testing.T) { forEachDriver(t, testListEvents) }

func testListEvents(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		ev := sampleEvent([]string{"OC_a", "OC_b", "OC_a"}[i], "")
		id, _, err := s.InsertEvent(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		time.Sleep(2 * time.Millisecond)
	}
	evs, next, err := s.ListEvents(ctx, EventFilter{AccountID: "acme", Limit: 2})
	if err != nil || len(evs) != 2 || next != ids[1] || evs[0].ID != ids[2] || string(evs[0].Fields["a"]) != "1" || evs[0].Query["contextId"] != "ctx1" {
		t.Fatalf("page 1 = %+v, %q, %v", evs, next, err)
	}
	evs, next, err = s.ListEvents(ctx, EventFilter{AccountID: "acme", Before: next})
	if err != nil || len(evs) != 1 || evs[0].ID != ids[0] || next != "" {
		t.Fatalf("page 2 = %+v, %q, %v", evs, next, err)
	}
	// Pages of one: the account's page merges its triggers' pages, newest
	// first, and the cursor walks them all.
	var walked []string
	for before := ""; ; {
		evs, next, err := s.ListEvents(ctx, EventFilter{AccountID: "acme", Limit: 1, Before: before})
		if err != nil || len(evs) != 1 {
			t.Fatalf("page after %q = %+v, %v", before, evs, err)
		}
		walked = append(walked, evs[0].ID)
		if next == "" {
			break
		}
		before = next
	}
	if !slices.Equal(walked, []string{ids[2], ids[1], ids[0]}) {
		t.Fatalf("pages of one = %v, want %v", walked, []string{ids[2], ids[1], ids[0]})
	}
	evs, _, _ = s.ListEvents(ctx, EventFilter{AccountID: "acme", TriggerID: "OC_b"})
	if len(evs) != 1 || evs[0].ID != ids[1] {
		t.Fatalf("OC_b = %+v", evs)
	}
	if evs, _, _ := s.ListEvents(ctx, EventFilter{AccountID: "other"}); len(evs) != 0 {
		t.Fatalf("another account sees %d events", len(evs))
	}
	if _, _, err := s.ListEvents(ctx, EventFilter{}); err == nil {
		t.Fatal("ListEvents without an account succeeded")
	}
}

// TestListEventsReadsOnlyItsPage: the event list (GET /v1/events, the
// admin page) pages by id, newest first, but the only index on events was
// (account_id, trigger_id, received_at): SQLite read every event of the
// account (or trigger) and sorted them for each page, 0.35-0.9 s at
// 105,000 events in the soak test, growing with every event stored, and
// holding a read transaction that long. A trigger's page must be read from
// an index in id order, without a sort, and so must the seek that finds an
// account's triggers (an account's page merges theirs).
func TestListEventsReadsOnlyItsPage(t *testing.T) {
	s := openTest(t, storeDrivers[0].fresh(t), Options{})
	ctx := context.Background()
	queries := map[string][]any{eventTriggerSeek: {"acme", "OC_a"}}
	// The run and ticket lists of one trigger (0008).
	for _, before := range []string{"", "x_01M8F5"} {
		_, q, args := runListQuery(RunFilter{AccountID: "acme", TriggerID: "OC_a", Before: before})
		queries[q+" -- "+before] = args
		_, q, args = ticketListQuery(TicketFilter{AccountID: "acme", TriggerID: "OC_a", Before: before})
		queries[q+" -- "+before] = args
	}
	for _, f := range []EventFilter{
		{AccountID: "acme", TriggerID: "OC_a"},
		{AccountID: "acme", TriggerID: "OC_a", Before: "evt_01M8F5"},
	} {
		for _, cols := range []string{eventListColumns, "id"} {
			_, q, args := eventListQuery(f, cols)
			queries[q+" -- "+f.Before] = args
		}
	}
	for q, args := range queries {
		rows, err := s.Reader().Query(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int64
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if strings.HasPrefix(q, "SELECT id FROM") && !strings.Contains(p, "COVERING INDEX") {
			t.Errorf("%s: plan %q; want the ids read from the index alone", q, p)
		}
		if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "USING") || !strings.Contains(p, "_account_trigger_id") {
			t.Errorf("%s: plan %q; want a search of the table's (account_id, trigger_id, id) index in order, no sort", q, p)
		}
	}
}

// TestSaveCaptureSessionKeepsTheCount: closing a session saves it as read
// a moment before; a capture recorded in between (counted by InsertCapture
// in the database) was overwritten with the lower count.
func TestSaveCaptureSessionKeepsTheCount(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv storeDriver) {
		s := openTest(t, drv.fresh(t), Options{})
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		cs := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "acme", TriggerID: "OC_a", Count: 3, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.SaveCaptureSession(ctx, cs); err != nil {
			t.Fatal(err)
		}
		stale := *cs // read by Close before the capture below
		c := &Capture{ID: NewCaptureID(), SessionID: cs.ID, AccountID: "acme", TriggerID: "OC_a", ReceivedAt: now,
			Method: "POST", Status: 202, ExpiresAt: now.Add(time.Hour)}
		if err := s.InsertCapture(ctx, c, 5); err != nil {
			t.Fatal(err)
		}
		stale.ClosedAt = now.Add(time.Second)
		if err := s.SaveCaptureSession(ctx, &stale); err != nil {
			t.Fatal(err)
		}
		got, err := s.LatestCaptureSession(ctx, "acme", "OC_a")
		if err != nil || got.Captured != 1 || !got.ClosedAt.Equal(stale.ClosedAt) {
			t.Fatalf("after a stale save: %+v, %v; want captured 1, closed", got, err)
		}
		// A close time once set stays.
		again := *got
		again.ClosedAt = now.Add(time.Minute)
		if err := s.SaveCaptureSession(ctx, &again); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.LatestCaptureSession(ctx, "acme", "OC_a"); !got.ClosedAt.Equal(stale.ClosedAt) {
			t.Errorf("closed at %v, want the first close %v", got.ClosedAt, stale.ClosedAt)
		}
	})
}

// TestInsertCaptureRespectsTheSession: the store's session row decides
// whether a capture is stored. Nodes sharing a database count in memory
// apart, so each may believe the session has room: a capture past the
// count, into a closed session or after expiry stores nothing and is
// ErrCaptureSessionEnded.
func TestInsertCaptureRespectsTheSession(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv storeDriver) {
		s := openTest(t, drv.fresh(t), Options{})
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		capture := func(cs *CaptureSession, at time.Time) error {
			return s.InsertCapture(ctx, &Capture{ID: NewCaptureID(), SessionID: cs.ID, AccountID: "acme", TriggerID: cs.TriggerID,
				ReceivedAt: at, Method: "POST", Status: 202, ExpiresAt: at.Add(time.Hour)}, 10)
		}
		stored := func(trig string) int {
			t.Helper()
			list, err := s.ListCaptures(ctx, "acme", trig, now)
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}

		full := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "acme", TriggerID: "OC_full", Count: 2, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		closed := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "acme", TriggerID: "OC_closed", Count: 5, CreatedAt: now, ExpiresAt: now.Add(time.Hour), ClosedAt: now}
		expired := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "acme", TriggerID: "OC_expired", Count: 5, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		for _, cs := range []*CaptureSession{full, closed, expired} {
			if err := s.SaveCaptureSession(ctx, cs); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			err := capture(full, now)
			if i < 2 && err != nil {
				t.Fatalf("capture %d of a session of 2: %v", i+1, err)
			}
			if i == 2 && !errors.Is(err, ErrCaptureSessionEnded) {
				t.Fatalf("third capture of a session of 2 = %v, want ErrCaptureSessionEnded", err)
			}
		}
		if n := stored("OC_full"); n != 2 {
			t.Fatalf("%d captures stored for a session of 2", n)
		}
		if cs, _ := s.LatestCaptureSession(ctx, "acme", "OC_full"); cs.Captured != 2 || cs.ClosedAt.IsZero() {
			t.Fatalf("full session = %+v, want captured 2 and closed", cs)
		}
		if err := capture(closed, now); !errors.Is(err, ErrCaptureSessionEnded) {
			t.Fatalf("capture into a closed session = %v", err)
		}
		if err := capture(expired, now.Add(2*time.Minute)); !errors.Is(err, ErrCaptureSessionEnded) {
			t.Fatalf("capture after the session expired = %v", err)
		}
		if n := stored("OC_closed") + stored("OC_expired"); n != 0 {
			t.Fatalf("%d captures stored in closed or expired sessions", n)
		}
	})
}

// TestPruneCapturesBoundsSessions: every capture session opened left a row
// behind for good (the soak test opened 497 and kept 497), and nodes on
// PostgreSQL read that table every second. PruneCaptures keeps the newest
// session of each trigger and the sessions whose captures are still kept.
func TestPruneCapturesBoundsSessions(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv storeDriver) {
		s := openTest(t, drv.fresh(t), Options{})
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		open := func(trig string, closed bool) *CaptureSession {
			t.Helper()
			cs := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "acme", TriggerID: trig, Count: 5, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if closed {
				cs.ClosedAt = now
			}
			if err := s.SaveCaptureSession(ctx, cs); err != nil {
				t.Fatal(err)
			}
			return cs
		}
		var withCapture, latest *CaptureSession
		for i := range 50 {
			cs := open("OC_a", i != 40)
			if i == 40 { // one capture recorded, then closed
				withCapture = cs
				c := &Capture{ID: NewCaptureID(), SessionID: cs.ID, AccountID: "acme", TriggerID: "OC_a",
					ReceivedAt: now, Method: "POST", Status: 202, ExpiresAt: now.Add(time.Hour)}
				if err := s.InsertCapture(ctx, c, 20); err != nil {
					t.Fatal(err)
				}
				cs.ClosedAt = now
				if err := s.SaveCaptureSession(ctx, cs); err != nil {
					t.Fatal(err)
				}
			}
			latest = cs
		}
		stillOpen := open("OC_b", false) // older than the next, but still open
		open("OC_b", true)
		otherAccount := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "other", TriggerID: "OC_a", Count: 1, CreatedAt: now, ExpiresAt: now.Add(time.Hour), ClosedAt: now}
		if err := s.SaveCaptureSession(ctx, otherAccount); err != nil {
			t.Fatal(err)
		}

		if _, err := s.PruneCaptures(ctx, now); err != nil {
			t.Fatal(err)
		}
		ids := sessionIDs(t, s)
		want := map[string]bool{withCapture.ID: true, latest.ID: true, stillOpen.ID: true, otherAccount.ID: true}
		if len(ids) != 5 { // the four above and OC_b's newest
			t.Fatalf("%d capture sessions left after PruneCaptures, want 5", len(ids))
		}
		for id := range want {
			if !ids[id] {
				t.Errorf("session %s was pruned", id)
			}
		}
		if got, err := s.LatestCaptureSession(ctx, "acme", "OC_a"); err != nil || got.ID != latest.ID {
			t.Errorf("LatestCaptureSession = %+v, %v; want %s", got, err, latest.ID)
		}

		// Once its capture expires, its session goes too.
		if _, err := s.PruneCaptures(ctx, now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if ids := sessionIDs(t, s); ids[withCapture.ID] || !ids[latest.ID] || len(ids) != 3 {
			t.Errorf("sessions after the capture expired: %v", ids)
		}
	})
}

// TestJanitorPrunesCaptures: PruneCaptures ran only when a node started,
// so a node that ran for months kept every session opened meanwhile (and
// every expired capture of a trigger that captured nothing since).
func TestJanitorPrunesCaptures(t *testing.T) {
	defer func(d time.Duration) { janitorEvery = d }(janitorEvery)
	janitorEvery = 20 * time.Millisecond
	s := openTest(t, storeDrivers[0].fresh(t), Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	for range 10 {
		cs := &CaptureSession{ID: NewCaptureSessionID(), AccountID: "acme", TriggerID: "OC_a", Count: 1, CreatedAt: now, ExpiresAt: now.Add(time.Hour), ClosedAt: now}
		if err := s.SaveCaptureSession(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(sessionIDs(t, s)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d capture sessions after 5 s of a janitor every %s, want 1", len(sessionIDs(t, s)), janitorEvery)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sessionIDs(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.Reader().Query(context.Background(), `SELECT id FROM capture_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}
