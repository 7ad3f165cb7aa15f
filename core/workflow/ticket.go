package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jsonevent/jsonevent/core/store"
)

const (
	maxTitle       = 500
	maxDescription = 64 << 10
	maxPriority    = 32
)

func (r *Runner) runTicket(ctx context.Context, w *Workflow, t *Task, d *Data, root map[string]any) (*Result, error) {
	if r.Tickets == nil {
		return nil, retryable(t.ID, errors.New("no ticket store configured"))
	}
	title, err := render(t, "title", t.title, root)
	if err != nil {
		return nil, err
	}
	desc, err := render(t, "description", t.description, root)
	if err != nil {
		return nil, err
	}
	prio, err := render(t, "priority", t.priority, root)
	if err != nil {
		return nil, err
	}
	title = truncate(strings.TrimSpace(stripControls(title)), maxTitle)
	if title == "" {
		return nil, permanent(t.ID, errors.New("title: rendered empty; a ticket needs a title"))
	}
	prio = strings.ToLower(strings.TrimSpace(prio))
	if prio == "" {
		prio = DefaultPriority
	}
	fields, _ := root["fields"].(map[string]any)
	tk, err := r.Tickets.CreateTicket(ctx, &Ticket{
		AccountID:   w.AccountID,
		TriggerID:   w.TriggerID,
		EventID:     d.Event.ID,
		WorkflowID:  w.ID,
		TaskID:      t.ID,
		Title:       title,
		Description: truncate(desc, maxDescription),
		Priority:    truncate(prio, maxPriority),
		Status:      store.TicketOpen,
		Fields:      fields,
	})
	if err != nil {
		return nil, retryable(t.ID, fmt.Errorf("create ticket: %w", err))
	}
	return &Result{TicketID: tk.ID, Outputs: map[string]any{"id": tk.ID, "status": tk.Status, "priority": tk.Priority}}, nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
