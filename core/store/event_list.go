package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// EventFilter selects events for ListEvents. AccountID is required.
type EventFilter struct {
	AccountID string
	TriggerID string // "" = every trigger
	// Before is a paging cursor: only events with a smaller id (older).
	Before string
	Limit  int // default 50, at most 500
}

// ListEvents returns the newest events matching f, newest first, without
// their bodies (GetEvent has them), and the cursor of the next page (""
// when this is the last). It serves the admin page's event list.
//
// A trigger's page is read in order from the (account_id, trigger_id, id)
// index. An account's page merges the pages of each trigger the account has
// events of (found by seeking through that index, one step per trigger),
// rather than reading a second index on (account_id, id), which every
// group commit would also write.
func (s *Store) ListEvents(ctx context.Context, f EventFilter) ([]*Event, string, error) {
	if f.AccountID == "" {
		return nil, "", errors.New("list events: account is required")
	}
	pg := newPage(f.AccountID, f.Limit, f.Before)
	if f.TriggerID != "" {
		out, err := s.listEvents(ctx, f)
		if err != nil {
			return nil, "", err
		}
		out, next := cut(pg, out, func(ev *Event) string { return ev.ID })
		return out, next, nil
	}
	triggers, err := s.eventTriggers(ctx, f.AccountID)
	if err != nil {
		return nil, "", err
	}
	var out []*Event
	for _, tr := range triggers {
		g := f
		g.TriggerID = tr
		evs, err := s.listEvents(ctx, g)
		if err != nil {
			return nil, "", err
		}
		out = append(out, evs...)
	}
	slices.SortFunc(out, func(a, b *Event) int { return strings.Compare(b.ID, a.ID) })
	out, next := cut(pg, out, func(ev *Event) string { return ev.ID })
	return out, next, nil
}

// eventTriggerSeek finds the account's next trigger id after $2 that has
// events: one seek in the (account_id, trigger_id, id) index.
const eventTriggerSeek = `SELECT trigger_id FROM events WHERE account_id = $1 AND trigger_id > $2 ORDER BY account_id, trigger_id LIMIT 1`

// eventTriggers lists the trigger ids account has events of (config may no
// longer name some of them), in order.
func (s *Store) eventTriggers(ctx context.Context, account string) ([]string, error) {
	var out []string
	last := ""
	for {
		var tr string
		err := s.b.reader().QueryRow(ctx, eventTriggerSeek, account, last).Scan(&tr)
		if errors.Is(err, ErrNoRows) {
			return out, nil
		}
		if err != nil {
			return nil, unavailable(fmt.Errorf("list events: %w", err))
		}
		out = append(out, tr)
		last = tr
	}
}

// listEvents reads one page (plus one row) of f, whose TriggerID is set.
func (s *Store) listEvents(ctx context.Context, f EventFilter) ([]*Event, error) {
	_, q, args := eventListQuery(f)
	rows, err := s.b.reader().Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list events: %w", err))
	}
	defer rows.Close()
	out := []*Event{}
	for rows.Next() {
		var (
			ev                      Event
			query, fields, warnings string
			received                int64
		)
		err := rows.Scan(&ev.ID, &ev.TriggerID, &ev.ContextID, &ev.UserID, &ev.BrandID, &query, &fields, &warnings,
			&received, &ev.IdempotencyKey, &ev.ReplayOf)
		if err != nil {
			return nil, unavailable(fmt.Errorf("read events: %w", err))
		}
		ev.AccountID, ev.ReceivedAt = f.AccountID, fromMicros(received)
		for _, d := range []struct {
			src string
			dst any
		}{{query, &ev.Query}, {fields, &ev.Fields}, {warnings, &ev.Warnings}} {
			if err := json.Unmarshal([]byte(d.src), d.dst); err != nil {
				return nil, fmt.Errorf("decode event %s: %w", ev.ID, err)
			}
		}
		out = append(out, &ev)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("read events: %w", err))
	}
	return out, nil
}

// eventListQuery returns the page and query of one trigger's events (f's
// TriggerID is set), which the events_account_trigger_id index (0006)
// gives in order: a page reads its rows and no more.
func eventListQuery(f EventFilter) (*page, string, []any) {
	pg := newPage(f.AccountID, f.Limit, f.Before)
	pg.and("trigger_id = $%d", f.TriggerID)
	q, args := pg.query(`id, trigger_id, context_id, user_id, brand_id, query_json, fields_json, warnings_json,
    received_at, idempotency_key, replay_of`, "events")
	return pg, q, args
}
