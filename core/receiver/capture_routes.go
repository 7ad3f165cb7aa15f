package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/auth"
	"github.com/jsonevent/jsonevent/core/capture"
	"github.com/jsonevent/jsonevent/core/store"
)

// maxAPIBody bounds the JSON bodies of the capture, field and ticket
// endpoints.
const maxAPIBody = 64 << 10

// EventLister lists an account's recent events for the admin page;
// *store.Store implements it. Options.Store is checked for it.
type EventLister interface {
	ListEvents(ctx context.Context, f store.EventFilter) ([]*store.Event, string, error)
}

// captureRoutes adds the trigger, capture and field routes (issue 5) and
// the event list. They authenticate like the event endpoint and see only
// the caller's account's triggers.
func (s *Server) captureRoutes() {
	s.app.Get("/v1/triggers", s.listTriggers)
	s.app.Get("/v1/events", s.listEvents)
	if s.capture == nil {
		return
	}
	s.app.Post("/v1/triggers/:triggerId/capture", s.withTrigger(s.openCapture))
	s.app.Get("/v1/triggers/:triggerId/capture", s.withTrigger(s.getCapture))
	s.app.Delete("/v1/triggers/:triggerId/capture", s.withTrigger(s.closeCapture))
	s.app.Get("/v1/triggers/:triggerId/fields", s.withTrigger(s.getFields))
	s.app.Post("/v1/triggers/:triggerId/fields", s.withTrigger(s.adoptFields))
	s.app.Delete("/v1/triggers/:triggerId/fields/:name", s.withTrigger(s.deleteField))
	s.app.Post("/v1/triggers/:triggerId/preview", s.withTrigger(s.previewField))
}

// caller authenticates an API request (every /v1 route but the event
// alias). A browser that once answered a Basic challenge sends those
// credentials by itself, also with requests another site makes it send
// (a form posting to /v1/events/{id}/replay): Basic credentials on a
// request the browser marks as coming from another site are refused. The
// admin page is same-origin and sends X-API-TOKEN, which no other site can
// make a browser send without a CORS preflight this server never grants;
// servers and scripts send no Sec-Fetch-Site.
func (s *Server) caller(c *fiber.Ctx, rt *Runtime) (auth.Principal, error) {
	token, authorization := string(c.Request().Header.Peek("X-API-TOKEN")), string(c.Request().Header.Peek("Authorization"))
	if token == "" && authorization != "" && crossSite(c) {
		return auth.Principal{}, core.Errorf(core.CodeUnauthorized,
			"Basic credentials are not accepted on API requests a browser sends from another site; send X-API-TOKEN instead")
	}
	return rt.auth.Authenticate(token, authorization)
}

// crossSite reports whether a browser marked the request as made by a page
// of another site (Fetch Metadata, Sec-Fetch-Site).
func crossSite(c *fiber.Ctx) bool {
	switch string(c.Request().Header.Peek("Sec-Fetch-Site")) {
	case "cross-site", "same-site":
		return true
	}
	return false
}

// withTrigger authenticates the caller and resolves :triggerId among the
// caller's account's triggers (404 otherwise) before fn.
func (s *Server) withTrigger(fn func(c *fiber.Ctx, rt *Runtime, t *trigger) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		rt := s.rt.Load()
		p, err := s.caller(c, rt)
		if err != nil {
			return s.refuseErr(c, nil, "", "", err)
		}
		id := pathParam(c, "triggerId")
		t := rt.triggers[id]
		if t == nil || t.cfg.Account != p.AccountID {
			return s.refuse(c, nil, "", "", http.StatusNotFound, core.CodeNotFound,
				fmt.Sprintf("no trigger %q for this account; GET /v1/triggers lists yours", truncate(id, 100)))
		}
		if err := fn(c, rt, t); err != nil {
			return s.refuseErr(c, nil, "", "", err)
		}
		return nil
	}
}

// TriggerView is one trigger in GET /v1/triggers.
type TriggerView struct {
	ID        string `json:"id"`
	Adapter   string `json:"adapter"`
	URL       string `json:"url"`      // the wire-contract endpoint
	AliasURL  string `json:"aliasUrl"` // POST /v1/triggers/{id}/events
	Username  string `json:"username"` // the Basic-auth username of the account
	BodyBytes int    `json:"bodyBytes"`
	Fields    int    `json:"fields"`
	Workflows int    `json:"workflows"`
	Capturing bool   `json:"capturing"`
}

// TriggerList is the answer of GET /v1/triggers.
type TriggerList struct {
	AccountID string        `json:"accountId"`
	Triggers  []TriggerView `json:"triggers"`
}

func (s *Server) listTriggers(c *fiber.Ctx) error {
	rt := s.rt.Load()
	p, err := s.caller(c, rt)
	if err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	if err := checkQuery(c); err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	username := ""
	for _, a := range rt.Config.Accounts {
		if a.ID == p.AccountID {
			username = a.Username
		}
	}
	base := strings.TrimSuffix(c.BaseURL(), "/")
	out := TriggerList{AccountID: p.AccountID, Triggers: []TriggerView{}}
	for id, t := range rt.triggers {
		if t.cfg.Account != p.AccountID {
			continue
		}
		adapter := t.cfg.Adapter
		if adapter == "" {
			adapter = "generic"
		}
		v := TriggerView{
			ID: id, Adapter: adapter, Username: username, BodyBytes: t.bodyLimit, Workflows: len(t.cfg.Workflows),
			URL:      base + "/inbound-event/v1/event/JSON/triggers?triggerId=" + url.QueryEscape(id),
			AliasURL: base + "/v1/triggers/" + url.PathEscape(id) + "/events",
			Fields:   len(t.fields),
		}
		if s.capture != nil {
			v.Fields = len(s.fieldsOf(t))
			v.Capturing = s.capture.Capturing(id)
		}
		out.Triggers = append(out.Triggers, v)
	}
	sort.Slice(out.Triggers, func(i, j int) bool { return out.Triggers[i].ID < out.Triggers[j].ID })
	return c.Status(http.StatusOK).JSON(out)
}

// EventSummary is one event in GET /v1/events.
type EventSummary struct {
	EventID    string                     `json:"eventId"`
	TriggerID  string                     `json:"triggerId"`
	ReceivedAt time.Time                  `json:"receivedAt"`
	Fields     map[string]json.RawMessage `json:"fields"`
	Warnings   []string                   `json:"warnings,omitempty"`
	ReplayOf   string                     `json:"replayOf,omitempty"`
}

// EventList is the answer of GET /v1/events.
type EventList struct {
	Events     []EventSummary `json:"events"`
	NextCursor string         `json:"nextCursor,omitempty"`
}

func (s *Server) listEvents(c *fiber.Ctx) error {
	rt := s.rt.Load()
	p, err := s.caller(c, rt)
	if err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	lister, ok := s.store.(EventLister)
	if !ok {
		return s.refuse(c, nil, "", "", http.StatusNotFound, core.CodeNotFound, "this store cannot list events")
	}
	if err := checkQuery(c, "trigger", "limit", "cursor"); err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	limit, err := parseLimit(c.Query("limit"))
	if err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	cursor, err := parseCursor(c.Query("cursor"), store.EventIDPrefix, "an event id")
	if err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	evs, next, err := lister.ListEvents(c.UserContext(), store.EventFilter{
		AccountID: p.AccountID, TriggerID: strings.Clone(c.Query("trigger")),
		Before: cursor, Limit: limit,
	})
	if err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	out := EventList{Events: make([]EventSummary, 0, len(evs)), NextCursor: next}
	for _, ev := range evs {
		out.Events = append(out.Events, EventSummary{EventID: ev.ID, TriggerID: ev.TriggerID, ReceivedAt: ev.ReceivedAt,
			Fields: ev.Fields, Warnings: ev.Warnings, ReplayOf: ev.ReplayOf})
	}
	return c.Status(http.StatusOK).JSON(out)
}

// captureRequest is the body of POST /v1/triggers/{id}/capture.
type captureRequest struct {
	Count      *int `json:"count"`
	TTLSeconds *int `json:"ttl_seconds"`
}

func (s *Server) openCapture(c *fiber.Ctx, _ *Runtime, t *trigger) error {
	var req captureRequest
	if err := decodeAPIBody(c, &req); err != nil {
		return err
	}
	count, ttl := 0, time.Duration(0)
	if req.Count != nil {
		if count = *req.Count; count == 0 {
			return core.Errorf(core.CodeUnprocessable, "count must be between 1 and %d, got 0", capture.MaxCount)
		}
	}
	if req.TTLSeconds != nil {
		// Checked in seconds: converted first, a huge value wraps around
		// int64 nanoseconds and can land inside the range.
		if n, most := *req.TTLSeconds, int(capture.MaxTTL/time.Second); n < 1 || n > most {
			return core.Errorf(core.CodeUnprocessable, "ttl_seconds must be between 1 and %d, got %d", most, n)
		}
		ttl = time.Duration(*req.TTLSeconds) * time.Second
	}
	sv, err := s.capture.Open(c.UserContext(), t.cfg, count, ttl)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(sv)
}

func (s *Server) getCapture(c *fiber.Ctx, _ *Runtime, t *trigger) error {
	st, err := s.capture.Get(c.UserContext(), t.cfg)
	if err != nil {
		return err
	}
	return c.Status(http.StatusOK).JSON(st)
}

func (s *Server) closeCapture(c *fiber.Ctx, _ *Runtime, t *trigger) error {
	sv, err := s.capture.Close(c.UserContext(), t.cfg)
	if err != nil {
		return err
	}
	return c.Status(http.StatusOK).JSON(sv)
}

func (s *Server) getFields(c *fiber.Ctx, rt *Runtime, t *trigger) error {
	return c.Status(http.StatusOK).JSON(s.capture.Fields(t.cfg, rt.limits.ManualFields))
}

// fieldsRequest is the body of POST /v1/triggers/{id}/fields.
type fieldsRequest struct {
	Fields map[string]string `json:"fields"`
}

func (s *Server) adoptFields(c *fiber.Ctx, rt *Runtime, t *trigger) error {
	var req fieldsRequest
	if err := decodeAPIBody(c, &req); err != nil {
		return err
	}
	fv, err := s.capture.Adopt(c.UserContext(), t.cfg, rt.limits.ManualFields, req.Fields)
	if err != nil {
		return err
	}
	return c.Status(http.StatusOK).JSON(fv)
}

func (s *Server) deleteField(c *fiber.Ctx, rt *Runtime, t *trigger) error {
	fv, err := s.capture.DeleteField(c.UserContext(), t.cfg, rt.limits.ManualFields, pathParam(c, "name"))
	if err != nil {
		return err
	}
	return c.Status(http.StatusOK).JSON(fv)
}

// previewRequest is the body of POST /v1/triggers/{id}/preview.
type previewRequest struct {
	Path      string `json:"path"`
	CaptureID string `json:"captureId"`
}

// PreviewView is the answer of POST /v1/triggers/{id}/preview: what a
// field with this path would hold for the captured body.
type PreviewView struct {
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
	Nodes int             `json:"nodes"`
	// Hints are notes on a valid path that probably does not select what
	// was meant, such as a Goessner-style ".length" in a filter.
	Hints []string `json:"hints,omitempty"`
}

func (s *Server) previewField(c *fiber.Ctx, _ *Runtime, t *trigger) error {
	var req previewRequest
	if err := decodeAPIBody(c, &req); err != nil {
		return err
	}
	const want = `send {"path": "$.…", "captureId": "cap_…"} with the id of one of GET /v1/triggers/{id}/capture's captures`
	if strings.TrimSpace(req.Path) == "" {
		return core.Errorf(core.CodeInvalid, "path is missing; %s", want)
	}
	if req.CaptureID == "" {
		return core.Errorf(core.CodeInvalid, "captureId is missing; %s", want)
	}
	v, n, err := s.capture.Preview(c.UserContext(), t.cfg, req.CaptureID, req.Path)
	if err != nil {
		return err
	}
	path := strings.TrimSpace(req.Path)
	return c.Status(http.StatusOK).JSON(PreviewView{Path: path, Value: v, Nodes: n, Hints: capture.PathHints(path)})
}

// decodeAPIBody reads a JSON body of at most maxAPIBody bytes into v,
// refusing unknown members. An empty body leaves v as it is.
func decodeAPIBody(c *fiber.Ctx, v any) error {
	body, tooLarge, err := readBody(c, maxAPIBody)
	if tooLarge {
		return core.Errorf(core.CodeTooLarge, "the request body is larger than %d bytes", maxAPIBody)
	}
	if err != nil {
		return core.Errorf(core.CodeInvalid, "the request body could not be read: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if msg := checkContentType(string(c.Request().Header.ContentType())); msg != "" {
		return core.Errorf(core.CodeUnsupportedMediaType, "%s", msg)
	}
	if msg := checkContentEncoding(c); msg != "" {
		return core.Errorf(core.CodeUnsupportedMediaType, "%s", msg)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return core.Errorf(core.CodeInvalid, "the body is not valid JSON at byte offset %d: %v", se.Offset, err)
		case errors.As(err, &te) && te.Field == "":
			return core.Errorf(core.CodeInvalid, "the body must be a JSON object, not a JSON %s", te.Value)
		case errors.As(err, &te):
			return core.Errorf(core.CodeInvalid, "member %q must be %s, not a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return core.Errorf(core.CodeInvalid, "the body is not valid JSON: it ends too early")
		default:
			return core.Errorf(core.CodeInvalid, "the body is not accepted: %v", err)
		}
	}
	// dec.More would miss a stray ']' or '}': it reports the end of an
	// array or object, not the end of the input.
	if off := dec.InputOffset(); strings.TrimSpace(string(body[off:])) != "" {
		return core.Errorf(core.CodeInvalid, "the body goes on after its JSON value, at byte offset %d; send one JSON object", off)
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64":
		return "an integer"
	case "map", "struct":
		return "an object"
	case "string":
		return "a string"
	}
	return k
}

// fieldsOf returns the fields extracted for t's events: the config's
// (hand-written over preset) and the adopted ones, which override presets
// but never a hand-written config field.
func (s *Server) fieldsOf(t *trigger) []field {
	if s.capture == nil {
		return t.fields
	}
	adopted := s.capture.Adopted(t.cfg.Account, t.cfg.ID)
	if len(adopted) == 0 {
		return t.fields
	}
	names := make(map[string]bool, len(adopted))
	out := make([]field, 0, len(t.fields)+len(adopted))
	for _, f := range adopted {
		if _, hand := t.cfg.Fields[f.Name]; hand {
			continue
		}
		names[f.Name] = true
		out = append(out, field{name: f.Name, path: f.Path})
	}
	for _, f := range t.fields {
		if !names[f.name] {
			out = append(out, f)
		}
	}
	return out
}

// captureHook records the request postEvent has just answered when its
// trigger has an open capture session and the caller authenticates as the
// trigger's account, whatever the answer was (refusals for size, media
// type, rate or JSON included). It runs deferred, after the answer is set;
// it costs one map look-up when no session is open. normalized is the
// adapter's document (nil when the request was refused before the adapter
// made one): suggestions are paths in it, since fields are extracted from
// it, not from the body as sent.
func (s *Server) captureHook(c *fiber.Ctx, rt *Runtime, triggerID string, body, normalized []byte, tooLarge bool, received time.Time) {
	if s.capture == nil || triggerID == "" || !s.capture.Capturing(triggerID) {
		return
	}
	t := rt.triggers[triggerID]
	if t == nil {
		return
	}
	p, err := s.caller(c, rt)
	if err != nil || p.AccountID != t.cfg.Account {
		return
	}
	resp := c.Response()
	r := &capture.Request{
		AccountID:     p.AccountID,
		TriggerID:     triggerID,
		ReceivedAt:    received,
		Method:        strings.Clone(c.Method()), // fiber's string aliases a reused buffer
		Query:         copyQuery(c),
		Header:        copyHeader(c),
		Body:          body,
		BodyTruncated: tooLarge,
		Status:        resp.StatusCode(),
	}
	switch {
	case normalized != nil:
		if !sameSlice(normalized, body) {
			r.Document = normalized
		}
	case !capture.BodyIsDocument(t.cfg):
		r.NoDocument = true
	}
	var answer struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		EventID string `json:"eventId"`
	}
	raw := resp.Body()
	if json.Unmarshal(raw, &answer) == nil {
		r.EventID = answer.EventID
		if r.Status >= 300 {
			r.Code, r.Reason = answer.Error, answer.Message
		}
	}
	if r.Status >= 300 && r.Reason == "" {
		r.Reason = truncate(string(raw), 500) // a Responder's own refusal shape
	}
	s.capture.Record(c.UserContext(), r)
}
