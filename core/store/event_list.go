package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
func (s *Store) ListEvents(ctx context.Context, f EventFilter) ([]*Event, string, error) {
	if f.AccountID == "" {
		return nil, "", errors.New("list events: account is required")
	}
	pg, q, args := eventListQuery(f)
	rows, err := s.b.reader().Query(ctx, q, args...)
	if err != nil {
		return nil, "", unavailable(fmt.Errorf("list events: %w", err))
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
			return nil, "", unavailable(fmt.Errorf("read events: %w", err))
		}
		ev.AccountID, ev.ReceivedAt = f.AccountID, fromMicros(received)
		for _, d := range []struct {
			src string
			dst any
		}{{query, &ev.Query}, {fields, &ev.Fields}, {warnings, &ev.Warnings}} {
			if err := json.Unmarshal([]byte(d.src), d.dst); err != nil {
				return nil, "", fmt.Errorf("decode event %s: %w", ev.ID, err)
			}
		}
		out = append(out, &ev)
	}
	if err := rows.Err(); err != nil {
		return nil, "", unavailable(fmt.Errorf("read events: %w", err))
	}
	out, next := cut(pg, out, func(ev *Event) string { return ev.ID })
	return out, next, nil
}

// eventListQuery returns ListEvents' page and query. The events_account_id
// and events_account_trigger_id indexes (0006) give its order, so a page
// reads its rows and no more.
func eventListQuery(f EventFilter) (*page, string, []any) {
	pg := newPage(f.AccountID, f.Limit, f.Before)
	if f.TriggerID != "" {
		pg.and("trigger_id = $%d", f.TriggerID)
	}
	q, args := pg.query(`id, trigger_id, context_id, user_id, brand_id, query_json, fields_json, warnings_json,
    received_at, idempotency_key, replay_of`, "events")
	return pg, q, args
}
