package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/jsonevent/jsonevent/core"
)

// Ticket statuses.
const (
	TicketOpen    = "open"
	TicketPending = "pending"
	TicketSolved  = "solved"
	TicketClosed  = "closed"
)

// TicketStatuses lists the statuses a ticket may have.
var TicketStatuses = []string{TicketOpen, TicketPending, TicketSolved, TicketClosed}

// TicketIDPrefix starts every ticket id.
const TicketIDPrefix = "tkt_"

// Ticket is a ticket opened by a workflow's ticket task.
type Ticket struct {
	ID          string         `json:"id"`
	AccountID   string         `json:"-"`
	TriggerID   string         `json:"triggerId"`
	EventID     string         `json:"eventId"`
	WorkflowID  string         `json:"workflowId"`
	TaskID      string         `json:"taskId"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Priority    string         `json:"priority"`
	Status      string         `json:"status"`
	Assignee    string         `json:"assignee"`
	Fields      map[string]any `json:"fields"`
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
}

const ticketColumns = `id, account_id, trigger_id, event_id, workflow_id, task_id, title, description,
    priority, status, assignee, fields_json, created_at, updated_at`

func scanTicket(row Row) (*Ticket, error) {
	var (
		t        Ticket
		fj       string
		cre, upd int64
	)
	if err := row.Scan(&t.ID, &t.AccountID, &t.TriggerID, &t.EventID, &t.WorkflowID, &t.TaskID, &t.Title,
		&t.Description, &t.Priority, &t.Status, &t.Assignee, &fj, &cre, &upd); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(fj), &t.Fields); err != nil {
		return nil, fmt.Errorf("decode ticket %s fields: %w", t.ID, err)
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(cre), fromMicros(upd)
	return &t, nil
}

// CreateTicketTx opens t in tx unless a ticket for the same (event,
// workflow, task) exists, and returns whichever ticket holds that origin:
// a retried task never opens a second ticket.
func CreateTicketTx(ctx context.Context, tx Querier, t *Ticket) (*Ticket, error) {
	c := *t
	if c.ID == "" {
		c.ID = TicketIDPrefix + ulid.Make().String()
	}
	if c.Status == "" {
		c.Status = TicketOpen
	}
	now := time.Now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = c.CreatedAt
	fields := c.Fields
	if fields == nil {
		fields = map[string]any{}
	}
	fj, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("encode ticket fields: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO tickets (`+ticketColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (event_id, workflow_id, task_id) DO NOTHING`,
		c.ID, c.AccountID, c.TriggerID, c.EventID, c.WorkflowID, c.TaskID, Portable(c.Title), Portable(c.Description),
		Portable(c.Priority), Portable(c.Status), Portable(c.Assignee), string(fj), micros(c.CreatedAt), micros(c.UpdatedAt))
	if err != nil {
		return nil, fmt.Errorf("insert ticket: %w", err)
	}
	got, err := scanTicket(tx.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets
WHERE event_id = $1 AND workflow_id = $2 AND task_id = $3`, c.EventID, c.WorkflowID, c.TaskID))
	if err != nil {
		return nil, fmt.Errorf("read ticket back: %w", err)
	}
	return got, nil
}

// GetTicket returns ticket id of account accountID; another account's, like
// a missing one, is a *core.Error with core.CodeNotFound.
func (s *Store) GetTicket(ctx context.Context, accountID, id string) (*Ticket, error) {
	t, err := scanTicket(s.b.reader().QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets
WHERE id = $1 AND account_id = $2`, id, accountID))
	if errors.Is(err, ErrNoRows) {
		return nil, core.Errorf(core.CodeNotFound, "no ticket %q for this account", id)
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("get ticket %s: %w", id, err))
	}
	return t, nil
}

// TicketFilter selects tickets for ListTickets. AccountID is required.
type TicketFilter struct {
	AccountID string
	TriggerID string
	Status    string
	Before    string // paging cursor: only tickets with a smaller id
	Limit     int    // default 50, at most 500
}

// ListTickets returns the newest tickets matching f and the cursor for the
// next page ("" on the last).
func (s *Store) ListTickets(ctx context.Context, f TicketFilter) ([]*Ticket, string, error) {
	if f.AccountID == "" {
		return nil, "", errors.New("list tickets: account is required")
	}
	pg, q, args := ticketListQuery(f)
	rows, err := s.b.reader().Query(ctx, q, args...)
	if err != nil {
		return nil, "", unavailable(fmt.Errorf("list tickets: %w", err))
	}
	defer rows.Close()
	out := []*Ticket{}
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, "", unavailable(fmt.Errorf("read tickets: %w", err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", unavailable(fmt.Errorf("read tickets: %w", err))
	}
	out, next := cut(pg, out, func(t *Ticket) string { return t.ID })
	return out, next, nil
}

// TicketPatch is a change to a ticket; nil members stay as they are.
type TicketPatch struct {
	Status   *string `json:"status"`
	Assignee *string `json:"assignee"`
}

// UpdateTicket applies p to ticket id of account accountID and returns the
// result. An unknown status is a *core.Error invalid.
func (s *Store) UpdateTicket(ctx context.Context, accountID, id string, p TicketPatch) (*Ticket, error) {
	if p.Status != nil && !slices.Contains(TicketStatuses, *p.Status) {
		return nil, core.Errorf(core.CodeInvalid, "status %q is not one of %s", *p.Status, strings.Join(TicketStatuses, ", "))
	}
	if p.Assignee != nil && len(*p.Assignee) > 200 {
		return nil, core.Errorf(core.CodeInvalid, "assignee is longer than 200 bytes")
	}
	var out *Ticket
	err := s.Write(ctx, func(tx Tx) error {
		t, err := scanTicket(tx.QueryRow(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id = $1 AND account_id = $2`, id, accountID))
		if errors.Is(err, ErrNoRows) {
			return core.Errorf(core.CodeNotFound, "no ticket %q for this account", id)
		}
		if err != nil {
			return err
		}
		if p.Status != nil {
			t.Status = Portable(*p.Status)
		}
		if p.Assignee != nil {
			t.Assignee = Portable(*p.Assignee)
		}
		t.UpdatedAt = time.Now().UTC()
		if _, err := tx.Exec(ctx, `UPDATE tickets SET status = $1, assignee = $2, updated_at = $3 WHERE id = $4`,
			t.Status, t.Assignee, micros(t.UpdatedAt), t.ID); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ticketListQuery returns ListTickets' page and query; a trigger's tickets
// are read in order from tickets_account_trigger_id (0008).
func ticketListQuery(f TicketFilter) (*page, string, []any) {
	pg := newPage(f.AccountID, f.Limit, f.Before)
	if f.TriggerID != "" {
		pg.and("trigger_id = $%d", f.TriggerID)
	}
	if f.Status != "" {
		pg.and("status = $%d", f.Status)
	}
	q, args := pg.query(ticketColumns, "tickets")
	return pg, q, args
}
