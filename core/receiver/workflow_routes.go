package receiver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/riverqueue/river"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/store"
)

// Workflows is what the run, ticket and replay routes need; the workflow
// engine (*workflow.Engine) implements it.
type Workflows interface {
	EventRuns(ctx context.Context, accountID, eventID string) ([]*store.Run, error)
	GetRun(ctx context.Context, accountID, runID string) (*store.Run, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]*store.Run, string, error)
	RetryRun(ctx context.Context, accountID, runID string) (*store.Run, error)
	ListTickets(ctx context.Context, f store.TicketFilter) ([]*store.Ticket, string, error)
	GetTicket(ctx context.Context, accountID, id string) (*store.Ticket, error)
	UpdateTicket(ctx context.Context, accountID, id string, p store.TicketPatch) (*store.Ticket, error)
}

// workflowRoutes adds the run, ticket and replay routes. Every one
// authenticates like the event endpoint and sees only its account's data.
func (s *Server) workflowRoutes() {
	s.app.Get("/v1/runs", s.listRuns)
	s.app.Get("/v1/runs/:runId", s.getRun)
	s.app.Post("/v1/runs/:runId/retry", s.retryRun)
	s.app.Get("/v1/tickets", s.listTickets)
	s.app.Get("/v1/tickets/:ticketId", s.getTicket)
	s.app.Patch("/v1/tickets/:ticketId", s.patchTicket)
	s.app.Post("/v1/events/:eventId/replay", s.replayEvent)
}

// admit counts a request that creates an event (the event endpoints, a
// replay) against its token's requests_per_minute and sets the RateLimit-*
// headers: past the limit a 429 with Retry-After, a limiter that fails a
// 503. label is the trigger for the log line.
func (s *Server) admit(c *fiber.Ctx, rt *Runtime, tokenID, label string) error {
	d, err := s.allow(c.UserContext(), tokenID, rt.limits.RequestsPerMinute)
	if err != nil {
		s.log.Error("rate limiter failed", "trigger_id", label, "err", err)
		return core.Errorf(core.CodeUnavailable, "the rate limiter is unavailable; nothing was stored, retry later")
	}
	setRateHeaders(c, d.Limit, d.Remaining, d.Reset)
	if !d.Allowed {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(ceilSeconds(d.RetryAfter)))
		return core.Errorf(core.CodeRateLimited, "more than %d requests in the last minute for this token; retry after %d s", d.Limit, ceilSeconds(d.RetryAfter))
	}
	return nil
}

// api wraps a handler that needs the caller's account and the workflows.
func (s *Server) api(c *fiber.Ctx, fn func(accountID string) error) error {
	return s.apiAs(c, func(p auth.Principal) error { return fn(p.AccountID) })
}

// apiAs is api for a handler that needs the whole caller (its token).
func (s *Server) apiAs(c *fiber.Ctx, fn func(p auth.Principal) error) error {
	p, err := s.caller(c, s.rt.Load())
	if err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	if s.wf == nil {
		return s.refuse(c, nil, "", "", http.StatusNotFound, core.CodeNotFound, "workflows are not enabled on this server")
	}
	if err := fn(p); err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	return nil
}

// RunList is the answer of GET /v1/runs.
type RunList struct {
	Runs       []*store.Run `json:"runs"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

func (s *Server) listRuns(c *fiber.Ctx) error {
	return s.api(c, func(acct string) error {
		if err := checkQuery(c, "trigger", "status", "since", "limit", "cursor"); err != nil {
			return err
		}
		f := store.RunFilter{AccountID: acct, TriggerID: strings.Clone(c.Query("trigger")), Status: strings.Clone(c.Query("status"))}
		var err error
		if f.Before, err = parseCursor(c.Query("cursor"), store.RunIDPrefix, "a run id"); err != nil {
			return err
		}
		if f.Status != "" && !slices.Contains(store.RunStatuses, f.Status) {
			return core.Errorf(core.CodeInvalid, "status %q is not one of %s", truncate(f.Status, 40), strings.Join(store.RunStatuses, ", "))
		}
		if f.Since, err = parseSince(c.Query("since"), s.now()); err != nil {
			return err
		}
		if f.Limit, err = parseLimit(c.Query("limit")); err != nil {
			return err
		}
		runs, next, err := s.wf.ListRuns(c.UserContext(), f)
		if err != nil {
			return err
		}
		return c.Status(http.StatusOK).JSON(RunList{Runs: runs, NextCursor: next})
	})
}

func (s *Server) getRun(c *fiber.Ctx) error {
	return s.api(c, func(acct string) error {
		run, err := s.wf.GetRun(c.UserContext(), acct, idParam(c, "runId", store.RunIDPrefix))
		if err != nil {
			return err
		}
		return c.Status(http.StatusOK).JSON(run)
	})
}

func (s *Server) retryRun(c *fiber.Ctx) error {
	return s.api(c, func(acct string) error {
		run, err := s.wf.RetryRun(c.UserContext(), acct, idParam(c, "runId", store.RunIDPrefix))
		if err != nil {
			return err
		}
		return c.Status(http.StatusAccepted).JSON(run)
	})
}

// TicketList is the answer of GET /v1/tickets.
type TicketList struct {
	Tickets    []*store.Ticket `json:"tickets"`
	NextCursor string          `json:"nextCursor,omitempty"`
}

func (s *Server) listTickets(c *fiber.Ctx) error {
	return s.api(c, func(acct string) error {
		if err := checkQuery(c, "trigger", "status", "limit", "cursor"); err != nil {
			return err
		}
		f := store.TicketFilter{AccountID: acct, TriggerID: strings.Clone(c.Query("trigger")), Status: strings.Clone(c.Query("status"))}
		var err error
		if f.Before, err = parseCursor(c.Query("cursor"), store.TicketIDPrefix, "a ticket id"); err != nil {
			return err
		}
		if f.Status != "" && !slices.Contains(store.TicketStatuses, f.Status) {
			return core.Errorf(core.CodeInvalid, "status %q is not one of %s", truncate(f.Status, 40), strings.Join(store.TicketStatuses, ", "))
		}
		if f.Limit, err = parseLimit(c.Query("limit")); err != nil {
			return err
		}
		tickets, next, err := s.wf.ListTickets(c.UserContext(), f)
		if err != nil {
			return err
		}
		return c.Status(http.StatusOK).JSON(TicketList{Tickets: tickets, NextCursor: next})
	})
}

func (s *Server) getTicket(c *fiber.Ctx) error {
	return s.api(c, func(acct string) error {
		t, err := s.wf.GetTicket(c.UserContext(), acct, idParam(c, "ticketId", store.TicketIDPrefix))
		if err != nil {
			return err
		}
		return c.Status(http.StatusOK).JSON(t)
	})
}

func (s *Server) patchTicket(c *fiber.Ctx) error {
	return s.api(c, func(acct string) error {
		var p store.TicketPatch
		if err := decodeAPIBody(c, &p); err != nil {
			return err
		}
		if p.Status == nil && p.Assignee == nil {
			return core.Errorf(core.CodeInvalid, `nothing to change: send status and/or assignee, such as {"status":"solved"}`)
		}
		t, err := s.wf.UpdateTicket(c.UserContext(), acct, idParam(c, "ticketId", store.TicketIDPrefix), p)
		if err != nil {
			return err
		}
		return c.Status(http.StatusOK).JSON(t)
	})
}

// replayBody is the answer of POST /v1/events/{id}/replay.
type replayBody struct {
	EventID   string `json:"eventId"`
	TriggerID string `json:"triggerId"`
	ReplayOf  string `json:"replayOf"`
}

// replayEvent runs a stored request through the current config again: the
// trigger's adapter and fields as they are now, its workflows as they are
// now. The result is a new event marked as a replay of the old one; it
// passes de-duplication on purpose (no idempotency key).
func (s *Server) replayEvent(c *fiber.Ctx) error {
	return s.apiAs(c, func(p auth.Principal) error {
		acct := p.AccountID
		ctx := c.UserContext()
		old, err := s.store.GetEvent(ctx, acct, idParam(c, "eventId", store.EventIDPrefix))
		if err != nil {
			return err
		}
		trig := s.rt.Load().triggers[old.TriggerID]
		if trig == nil || trig.cfg.Account != acct {
			return core.Errorf(core.CodeNotFound, "trigger %q of event %s is no longer configured for this account, so it cannot be replayed", old.TriggerID, old.ID)
		}
		// A replay stores an event and starts its workflows like a live
		// request: it counts against the same per-token limit.
		if err := s.admit(c, s.rt.Load(), p.TokenID, old.TriggerID); err != nil {
			return err
		}
		req := &core.Request{TriggerID: old.TriggerID, Method: http.MethodPost, Header: old.Header, Query: old.Query, Body: old.Body,
			AuthUsername: old.AuthUsername}
		norm, err := trig.adapter.Normalize(ctx, req)
		if err != nil {
			return err
		}
		if norm == nil || len(norm.Body) == 0 || !json.Valid(norm.Body) {
			return core.Errorf(core.CodeInternal, "the adapter could not normalise the stored event")
		}
		// The fields a live event would get now, adopted ones included.
		fields, fieldWarnings := extract(s.fieldsOf(trig), norm.Body)
		now := s.now()
		ev := &store.Event{
			ID: store.NewEventIDAt(now), AccountID: acct, TriggerID: old.TriggerID,
			ContextID: old.ContextID, UserID: old.UserID, BrandID: old.BrandID,
			Query: old.Query, Header: old.Header, Body: old.Body, NormalizedBody: norm.Body,
			Fields: fields, Warnings: slices.Concat(norm.Warnings, fieldWarnings),
			ReceivedAt: now, ReplayOf: old.ID, AuthUsername: old.AuthUsername,
		}
		var jobs []river.InsertManyParams
		if s.jobs != nil {
			if jobs, err = s.jobs(ctx, trig.cfg, ev); err != nil {
				return err
			}
		}
		id, _, err := s.insertEvent(ctx, ev, jobs)
		if err != nil {
			return err
		}
		return c.Status(http.StatusAccepted).JSON(replayBody{EventID: id, TriggerID: old.TriggerID, ReplayOf: old.ID})
	})
}

// parseSince reads since= as an RFC 3339 time or a duration back from now
// ("24h", or with days as config durations take them: "7d", "1d12h").
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, core.Errorf(core.CodeInvalid, "since %q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration (24h, 7d)", truncate(v, 60))
}

// parseCursor checks a paging cursor: empty, or an id with prefix (what
// names it in the message). A cursor that is not one would otherwise page
// silently to nothing. The ULID is returned in upper case, as ids are
// stored: ULIDs are case-insensitive, but pages compare ids as strings,
// and a lower-case cursor sorts after every id (the first page again).
func parseCursor(v, prefix, what string) (string, error) {
	if v == "" {
		return "", nil
	}
	if id, ok := canonicalID(v, prefix); ok {
		return id, nil
	}
	return "", core.Errorf(core.CodeInvalid, "cursor %q is not %s; pass the nextCursor of the previous page", truncate(v, 60), what)
}

// checkQuery refuses a query parameter a list does not know, or one given
// twice: a misspelt filter (?state=failed) or a second value
// (?status=failed&status=retrying) would otherwise be ignored and the
// answer look like the filtered list it is not.
func checkQuery(c *fiber.Ctx, known ...string) error {
	var bad string
	seen := make(map[string]bool, len(known))
	c.Request().URI().QueryArgs().VisitAll(func(k, _ []byte) {
		if bad != "" {
			return
		}
		key := string(k)
		switch {
		case len(known) == 0:
			bad = fmt.Sprintf("query parameter %q is not known here; this list takes none", truncate(key, 40))
		case !slices.Contains(known, key):
			bad = fmt.Sprintf("query parameter %q is not known here; use %s", truncate(key, 40), strings.Join(known, ", "))
		case seen[key]:
			bad = fmt.Sprintf("query parameter %q is given more than once; it takes one value", key)
		}
		seen[key] = true
	})
	if bad != "" {
		return core.Errorf(core.CodeInvalid, "%s", bad)
	}
	return nil
}

func parseLimit(v string) (int, error) {
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		return 0, core.Errorf(core.CodeInvalid, "limit must be a number from 1 to 500, not %q", truncate(v, 20))
	}
	return n, nil
}
