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
// index. An account's page merges the ids of each trigger's page (found by
// seeking through that index, one step per trigger, and read from it
// alone), then reads the rows of the newest: no second index on
// (account_id, id), which every group commit would also write.
func (s *Store) ListEvents(ctx context.Context, f EventFilter) ([]*Event, string, error) {
	if f.AccountID == "" {
		return nil, "", errors.New("list events: account is required")
	}
	pg := newPage(f.AccountID, f.Limit, f.Before)
	if f.TriggerID != "" {
		_, q, args := eventListQuery(f, eventListColumns)
		out, err := s.queryEvents(ctx, f.AccountID, q, args)
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
	var ids []string
	for _, tr := range triggers {
		g := f
		g.TriggerID = tr
		_, q, args := eventListQuery(g, "id")
		got, err := s.eventIDs(ctx, q, args)
		if err != nil {
			return nil, "", err
		}
		ids = append(ids, got...)
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(b, a) })
	// The cursor comes from the ids, so that an event deleted meanwhile
	// (store.retention) cannot end the list early.
	ids, next := cut(pg, ids, func(id string) string { return id })
	if len(ids) == 0 {
		return []*Event{}, "", nil
	}
	args := []any{f.AccountID}
	marks := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	out, err := s.queryEvents(ctx, f.AccountID, `SELECT `+eventListColumns+` FROM events WHERE account_id = $1 AND id IN (`+
		strings.Join(marks, ", ")+`) ORDER BY id DESC`, args)
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// eventIDs runs a query selecting event ids.
func (s *Store) eventIDs(ctx context.Context, q string, args []any) ([]string, error) {
	rows, err := s.b.reader().Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list events: %w", err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, unavailable(fmt.Errorf("read events: %w", err))
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("read events: %w", err))
	}
	return out, nil
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

// eventListColumns are what the event list shows of an event.
const eventListColumns = `id, trigger_id, context_id, user_id, brand_id, query_json, fields_json, warnings_json,
    received_at, idempotency_key, replay_of`

// queryEvents runs a query selecting eventListColumns of account's events.
func (s *Store) queryEvents(ctx context.Context, account, q string, args []any) ([]*Event, error) {
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
		ev.AccountID, ev.ReceivedAt = account, fromMicros(received)
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
// TriggerID is set), selecting columns, which the events_account_trigger_id
// index (0006) gives in order: a page reads its rows and no more (for
// "id", the index alone).
func eventListQuery(f EventFilter, columns string) (*page, string, []any) {
	pg := newPage(f.AccountID, f.Limit, f.Before)
	pg.and("trigger_id = $%d", f.TriggerID)
	q, args := pg.query(columns, "events")
	return pg, q, args
}
