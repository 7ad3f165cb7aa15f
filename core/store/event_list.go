package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
func (s *Store) ListEvents(ctx context.Context, f EventFilter) ([]*Event, string, error) {
	if f.AccountID == "" {
		return nil, "", errors.New("list events: account is required")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	where := []string{"account_id = $1"}
	args := []any{f.AccountID}
	if f.TriggerID != "" {
		args = append(args, f.TriggerID)
		where = append(where, fmt.Sprintf("trigger_id = $%d", len(args)))
	}
	if f.Before != "" {
		args = append(args, f.Before)
		where = append(where, fmt.Sprintf("id < $%d", len(args)))
	}
	args = append(args, int64(limit+1))
	q := fmt.Sprintf(`SELECT id, trigger_id, context_id, user_id, brand_id, query_json, fields_json, warnings_json,
    received_at, idempotency_key, replay_of
FROM events WHERE %s ORDER BY id DESC LIMIT $%d`, strings.Join(where, " AND "), len(args))
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
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}
