// Package capture records what senders actually post to a trigger while an
// admin watches (capture sessions), turns the document each request gave
// the trigger's fields (the JSON body, or a vendor adapter's normalised
// document) into field suggestions (every leaf as a normalized JSONPath,
// with its type and a sample), and keeps the fields an admin adopts from them, persisted in the
// store and served from memory to the receiver's hot path.
//
// A trigger has at most one open session. While it is open, every
// authenticated request to the trigger is recorded, refused ones included,
// with its secrets redacted, until the session has recorded Count requests
// or its TTL runs out. At most Keep captures are kept per trigger, and each
// expires after Retention.
package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/jsonpath"
	"github.com/jsonevent/jsonevent/core/store"
)

// Limits and defaults of capture sessions.
const (
	DefaultCount = 1
	MaxCount     = 20
	DefaultTTL   = 15 * time.Minute
	MaxTTL       = 24 * time.Hour
	// Keep is how many captures are kept per trigger, newest first.
	Keep = 20
	// Retention is how long a capture is kept.
	Retention = 24 * time.Hour
	// MaxSuggestions bounds the suggestions kept for one body.
	MaxSuggestions = 500
	// MaxAdopted bounds the adopted fields of one trigger, so that the
	// receiver's work per event stays bounded.
	MaxAdopted = 100
	// DefaultManualFields is limits.manual_fields when the config leaves
	// it at zero.
	DefaultManualFields = 10
)

// Field origins, as GET /v1/triggers/{id}/fields reports them.
const (
	OriginConfig   = "config"   // hand-written in the config file
	OriginPreset   = "preset"   // inherited from the adapter's preset
	OriginCaptured = "captured" // adopted from a capture's suggestion
	OriginManual   = "manual"   // adopted through the API, typed by hand
)

// redacted replaces the value of a secret header in a capture.
const redacted = "[redacted]"

// secretHeaders are redacted in captures (canonical form).
var secretHeaders = []string{"Authorization", "X-Api-Token", "Cookie", "Proxy-Authorization"}

// Store is what the service needs from the store (*store.Store).
type Store interface {
	SaveCaptureSession(ctx context.Context, cs *store.CaptureSession) error
	LatestCaptureSession(ctx context.Context, accountID, triggerID string) (*store.CaptureSession, error)
	OpenCaptureSessions(ctx context.Context, now time.Time) ([]*store.CaptureSession, error)
	InsertCapture(ctx context.Context, c *store.Capture, keep int) error
	ListCaptures(ctx context.Context, accountID, triggerID string, now time.Time) ([]*store.Capture, error)
	PruneCaptures(ctx context.Context, now time.Time) (int64, error)
	SaveAdoptedFields(ctx context.Context, fields []store.AdoptedField) error
	DeleteAdoptedField(ctx context.Context, accountID, triggerID, name string) (bool, error)
	AdoptedFields(ctx context.Context) ([]store.AdoptedField, error)
	GetEvent(ctx context.Context, accountID, id string) (*store.Event, error)
}

// Field is an adopted field, compiled, for the receiver's extraction.
type Field struct {
	Name   string
	Path   *jsonpath.Path
	Origin string
}

// Options tunes New.
type Options struct {
	Log *slog.Logger
	// Now is the clock (tests); nil is the store's (store.Store.Now: on
	// PostgreSQL the database server's, so that every node agrees when a
	// session or a capture expires), else time.Now.
	Now func() time.Time
}

// Service runs capture sessions and keeps adopted fields. It is safe for
// concurrent use.
type Service struct {
	st  Store
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	open  map[string]*store.CaptureSession // by trigger id
	nOpen atomic.Int32                     // len(open), read without the lock
	// ended holds the sessions this node filled or closed, by id, with
	// when: until the store has the write, Refresh would read them as
	// still open and reopen them (one request more than asked).
	ended map[string]time.Time

	adoptMu sync.Mutex                           // serialises Adopt and Delete (read, check, write)
	fields  atomic.Pointer[map[fieldKey][]Field] // by account and trigger
}

// fieldKey names whose adopted fields a list is: a trigger id alone is not
// enough, since an edited config may give the id to another account, which
// must not inherit (nor be unable to delete) the fields the first adopted.
type fieldKey struct{ account, trigger string }

// New loads the open sessions and the adopted fields from st.
func New(ctx context.Context, st Store, opt Options) (*Service, error) {
	s := &Service{st: st, log: opt.Log, now: opt.Now, open: map[string]*store.CaptureSession{}, ended: map[string]time.Time{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if c, ok := st.(interface{ Now() time.Time }); ok && s.now == nil {
		s.now = c.Now
	}
	if s.now == nil {
		s.now = time.Now
	}
	if _, err := st.PruneCaptures(ctx, s.now()); err != nil {
		return nil, fmt.Errorf("prune expired captures: %w", err)
	}
	sessions, err := st.OpenCaptureSessions(ctx, s.now())
	if err != nil {
		return nil, fmt.Errorf("load capture sessions: %w", err)
	}
	for _, cs := range sessions {
		s.open[cs.TriggerID] = cs
	}
	s.nOpen.Store(int32(len(s.open)))
	if err := s.reloadFields(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// reloadFields rebuilds the in-memory adopted fields from the store.
func (s *Service) reloadFields(ctx context.Context) error {
	all, err := s.st.AdoptedFields(ctx)
	if err != nil {
		return fmt.Errorf("load adopted fields: %w", err)
	}
	m := map[fieldKey][]Field{}
	for _, f := range all {
		p, err := jsonpath.Compile(f.Path)
		if err != nil {
			// Stored paths were compiled when adopted; an engine change
			// that refuses one now must not stop the service.
			s.log.Error("adopted field no longer compiles; it is ignored", "trigger_id", f.TriggerID, "field", f.Name, "err", err)
			continue
		}
		k := fieldKey{f.AccountID, f.TriggerID}
		m[k] = append(m[k], Field{Name: f.Name, Path: p, Origin: f.Origin})
	}
	s.fields.Store(&m)
	return nil
}

// Adopted returns the fields the account adopted for its trigger,
// compiled. Fields adopted while the trigger id belonged to another account
// are not returned. It reads memory only (the receiver calls it for every
// event); the slice must not be modified.
func (s *Service) Adopted(accountID, triggerID string) []Field {
	m := s.fields.Load()
	if m == nil {
		return nil
	}
	return (*m)[fieldKey{accountID, triggerID}]
}

// Capturing reports whether the trigger has an open session. It is cheap
// when no session is open anywhere.
func (s *Service) Capturing(triggerID string) bool {
	if s.nOpen.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.open[triggerID]
	if cs == nil {
		return false
	}
	if !s.now().Before(cs.ExpiresAt) {
		s.dropLocked(triggerID)
		return false
	}
	return true
}

func (s *Service) dropLocked(triggerID string) {
	delete(s.open, triggerID)
	s.nOpen.Store(int32(len(s.open)))
}

// endLocked remembers that this node ended session id at now (see ended),
// forgetting those ended long ago.
func (s *Service) endLocked(id string, now time.Time) {
	s.ended[id] = now
	for old, at := range s.ended {
		if now.Sub(at) > endedMemory {
			delete(s.ended, old)
		}
	}
}

// Request is one request to record, as the receiver saw and answered it.
type Request struct {
	AccountID  string // the authenticated caller's account
	TriggerID  string
	ReceivedAt time.Time
	Method     string
	Query      map[string]string
	// Header is the request's headers with secrets still present; Record
	// redacts them.
	Header        http.Header
	Body          []byte
	BodyTruncated bool
	Status        int
	Code          string // the error code, "" when accepted
	Reason        string // why it was refused, "" when accepted
	EventID       string
	// Document is the adapter's normalised document, which the trigger's
	// fields are extracted from, when it is not Body itself; the
	// suggestions are its leaves, so that an adopted suggestion extracts
	// what the capture showed. Nil means Body is that document (the
	// generic adapter), unless NoDocument.
	Document []byte
	// NoDocument says that a vendor adapter never normalised the request
	// (it was refused first): Body's paths are not the fields' paths, so
	// nothing is suggested.
	NoDocument bool
}

// BodyIsDocument reports whether trig's fields are extracted from the body
// as sent: its adapter is the generic one, whose document is the body.
// A vendor adapter reshapes the body (Freshdesk's
// freshdesk_webhook.ticket_subject becomes ticket.subject), so its
// captures suggest and preview paths in the stored event's document.
func BodyIsDocument(trig *config.Trigger) bool {
	return trig.Adapter == "" || trig.Adapter == config.DefaultAdapter
}

// Record stores r when its trigger has an open session of r's account that
// still has room. Failures are logged, never returned: recording must not
// change what the sender is answered.
func (s *Service) Record(ctx context.Context, r *Request) {
	s.mu.Lock()
	cs := s.open[r.TriggerID]
	if cs == nil || cs.AccountID != r.AccountID {
		s.mu.Unlock()
		return
	}
	now := s.now()
	if !now.Before(cs.ExpiresAt) {
		s.dropLocked(r.TriggerID)
		s.mu.Unlock()
		return
	}
	cs.Captured++
	if cs.Captured >= cs.Count {
		cs.ClosedAt = now
		s.dropLocked(r.TriggerID)
		s.endLocked(cs.ID, now)
	}
	sessionID := cs.ID
	s.mu.Unlock()

	received := r.ReceivedAt
	if received.IsZero() {
		received = now
	}
	doc := r.Body
	switch {
	case r.NoDocument:
		doc = nil
	case r.Document != nil:
		doc = r.Document
	}
	sugg, err := json.Marshal(Suggest(doc))
	if err != nil {
		s.log.Error("encode capture suggestions", "trigger_id", r.TriggerID, "err", err)
		sugg = []byte("[]")
	}
	c := &store.Capture{
		ID:            store.NewCaptureID(),
		SessionID:     sessionID,
		AccountID:     r.AccountID,
		TriggerID:     r.TriggerID,
		ReceivedAt:    received,
		Method:        r.Method,
		Query:         r.Query,
		Header:        Redact(r.Header),
		Body:          r.Body,
		BodyTruncated: r.BodyTruncated,
		Status:        r.Status,
		Code:          r.Code,
		Reason:        r.Reason,
		EventID:       r.EventID,
		Suggestions:   sugg,
		ExpiresAt:     received.Add(Retention),
	}
	err = s.st.InsertCapture(ctx, c, Keep)
	if errors.Is(err, store.ErrCaptureSessionEnded) {
		// Another node sharing the database filled or closed the session
		// (or it expired): stop recording here too.
		s.mu.Lock()
		if cur := s.open[r.TriggerID]; cur != nil && cur.ID == sessionID {
			s.dropLocked(r.TriggerID)
		}
		s.endLocked(sessionID, now)
		s.mu.Unlock()
		s.log.Info("capture not stored: its session had ended (filled, closed, replaced or expired; on PostgreSQL perhaps by another node)", "trigger_id", r.TriggerID, "session_id", sessionID)
		return
	}
	if err != nil {
		s.log.Error("capture could not be stored", "trigger_id", r.TriggerID, "session_id", sessionID, "err", err)
	}
}

// Redact returns a copy of h whose secret headers (Authorization,
// X-API-TOKEN, Cookie, Proxy-Authorization) say only that they were sent.
func Redact(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		out[http.CanonicalHeaderKey(k)] = append(out[http.CanonicalHeaderKey(k)], v...)
	}
	for _, k := range secretHeaders {
		if v, ok := out[k]; ok {
			r := make([]string, len(v))
			for i := range r {
				r[i] = redacted
			}
			out[k] = r
		}
	}
	return out
}

// SessionView is the JSON form of a capture session.
type SessionView struct {
	ID        string    `json:"id"`
	TriggerID string    `json:"triggerId"`
	State     string    `json:"state"` // open, complete, expired or closed
	Count     int       `json:"count"`
	Captured  int       `json:"captured"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	ClosedAt  time.Time `json:"closedAt,omitzero"`
}

// CaptureView is the JSON form of a captured request.
type CaptureView struct {
	ID         string            `json:"id"`
	SessionID  string            `json:"sessionId"`
	ReceivedAt time.Time         `json:"receivedAt"`
	Method     string            `json:"method"`
	Query      map[string]string `json:"query"`
	Headers    http.Header       `json:"headers"`
	// Body is the body when it is JSON; BodyText holds any other body.
	Body          json.RawMessage `json:"body,omitempty"`
	BodyText      string          `json:"bodyText,omitempty"`
	BodyBytes     int             `json:"bodyBytes"`
	BodyTruncated bool            `json:"bodyTruncated,omitempty"`
	Status        int             `json:"status"`
	Error         string          `json:"error,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	EventID       string          `json:"eventId,omitempty"`
	// NormalizedBody is the stored event's document, which the trigger's
	// fields are extracted from, when a vendor adapter made it from Body;
	// the suggestions are its leaves. Absent for the generic adapter (the
	// document is Body) and for a request refused before normalisation.
	NormalizedBody json.RawMessage `json:"normalizedBody,omitempty"`
	Suggestions    []Suggestion    `json:"suggestions"`
	ExpiresAt      time.Time       `json:"expiresAt"`
}

// State is what GET /v1/triggers/{id}/capture returns: the latest session
// (nil when the trigger never had one) and the captures kept, newest first.
type State struct {
	Session  *SessionView  `json:"session"`
	Captures []CaptureView `json:"captures"`
}

func (s *Service) sessionView(cs *store.CaptureSession) *SessionView {
	if cs == nil {
		return nil
	}
	v := &SessionView{
		ID: cs.ID, TriggerID: cs.TriggerID, Count: cs.Count, Captured: cs.Captured,
		CreatedAt: cs.CreatedAt, ExpiresAt: cs.ExpiresAt, ClosedAt: cs.ClosedAt,
	}
	switch {
	case cs.Captured >= cs.Count:
		v.State = "complete"
	case !cs.ClosedAt.IsZero():
		v.State = "closed"
	case !s.now().Before(cs.ExpiresAt):
		v.State = "expired"
	default:
		v.State = "open"
	}
	return v
}

func captureView(c *store.Capture) CaptureView {
	v := CaptureView{
		ID: c.ID, SessionID: c.SessionID, ReceivedAt: c.ReceivedAt, Method: c.Method,
		Query: c.Query, Headers: c.Header, BodyBytes: len(c.Body), BodyTruncated: c.BodyTruncated,
		Status: c.Status, Error: c.Code, Reason: c.Reason, EventID: c.EventID, ExpiresAt: c.ExpiresAt,
	}
	if v.Query == nil {
		v.Query = map[string]string{}
	}
	if len(c.Body) > 0 && json.Valid(c.Body) {
		v.Body = json.RawMessage(c.Body)
	} else {
		v.BodyText = strings.ToValidUTF8(string(c.Body), "\uFFFD")
	}
	if err := json.Unmarshal(c.Suggestions, &v.Suggestions); err != nil || v.Suggestions == nil {
		v.Suggestions = []Suggestion{}
	}
	return v
}

// Open starts a session on trig for count requests and ttl, replacing an
// open one. Zero values take the defaults; values out of range are a
// *core.Error with CodeUnprocessable naming the bound.
func (s *Service) Open(ctx context.Context, trig *config.Trigger, count int, ttl time.Duration) (*SessionView, error) {
	if count == 0 {
		count = DefaultCount
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if count < 1 || count > MaxCount {
		return nil, core.Errorf(core.CodeUnprocessable, "count must be between 1 and %d (the captures kept per trigger), got %d", MaxCount, count)
	}
	if ttl < time.Second || ttl > MaxTTL {
		return nil, core.Errorf(core.CodeUnprocessable, "ttl_seconds must be between 1 and %d, got %d", int(MaxTTL/time.Second), int(ttl/time.Second))
	}
	now := s.now()
	if prev, err := s.st.LatestCaptureSession(ctx, trig.Account, trig.ID); err != nil {
		return nil, err
	} else if prev != nil && prev.ClosedAt.IsZero() && prev.Captured < prev.Count && now.Before(prev.ExpiresAt) {
		prev.ClosedAt = now
		if err := s.st.SaveCaptureSession(ctx, prev); err != nil {
			return nil, err
		}
	}
	cs := &store.CaptureSession{
		ID: store.NewCaptureSessionID(), AccountID: trig.Account, TriggerID: trig.ID,
		Count: count, CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := s.st.SaveCaptureSession(ctx, cs); err != nil {
		return nil, err
	}
	s.mu.Lock()
	c := *cs
	s.open[trig.ID] = &c
	s.nOpen.Store(int32(len(s.open)))
	s.mu.Unlock()
	return s.sessionView(cs), nil
}

// Get returns the trigger's latest session and its kept captures.
func (s *Service) Get(ctx context.Context, trig *config.Trigger) (*State, error) {
	cs, err := s.st.LatestCaptureSession(ctx, trig.Account, trig.ID)
	if err != nil {
		return nil, err
	}
	caps, err := s.st.ListCaptures(ctx, trig.Account, trig.ID, s.now())
	if err != nil {
		return nil, err
	}
	st := &State{Session: s.sessionView(cs), Captures: make([]CaptureView, 0, len(caps))}
	for _, c := range caps {
		v := captureView(c)
		if !BodyIsDocument(trig) && c.EventID != "" {
			doc, _, err := s.document(ctx, trig, c)
			if err != nil {
				return nil, err
			}
			v.NormalizedBody = doc
		}
		st.Captures = append(st.Captures, v)
	}
	return st, nil
}

// document returns the JSON document trig's fields are extracted from for
// capture c: its body for the generic adapter, else the stored event's
// normalised document. Without one (a request refused before a vendor
// adapter normalised it, a body that is not JSON) it is nil, with why.
func (s *Service) document(ctx context.Context, trig *config.Trigger, c *store.Capture) (doc []byte, why string, err error) {
	if BodyIsDocument(trig) {
		if len(c.Body) == 0 || !json.Valid(c.Body) {
			return nil, fmt.Sprintf("capture %s has no JSON body to evaluate the path on", c.ID), nil
		}
		return c.Body, "", nil
	}
	if c.EventID == "" {
		return nil, fmt.Sprintf("capture %s was answered %d, so no event keeps the document the %s adapter makes of it, and fields are extracted from that document, not from the body as sent; preview on a capture that was accepted", c.ID, c.Status, trig.Adapter), nil
	}
	ev, err := s.st.GetEvent(ctx, trig.Account, c.EventID)
	if core.ErrorCode(err) == core.CodeNotFound {
		return nil, fmt.Sprintf("capture %s's event %s is no longer stored", c.ID, c.EventID), nil
	}
	if err != nil {
		return nil, "", err
	}
	return ev.NormalizedBody, "", nil
}

// Close ends the trigger's session early. Closing a session that already
// ended returns it unchanged; a trigger that never had one is a *core.Error
// with CodeNotFound.
func (s *Service) Close(ctx context.Context, trig *config.Trigger) (*SessionView, error) {
	cs, err := s.st.LatestCaptureSession(ctx, trig.Account, trig.ID)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return nil, core.Errorf(core.CodeNotFound, "trigger %q has no capture session; start one with POST /v1/triggers/%s/capture", trig.ID, trig.ID)
	}
	s.mu.Lock()
	if open := s.open[trig.ID]; open != nil && open.ID == cs.ID {
		cs.Captured = max(cs.Captured, open.Captured)
		s.dropLocked(trig.ID)
	}
	s.endLocked(cs.ID, s.now())
	s.mu.Unlock()
	now := s.now()
	if cs.ClosedAt.IsZero() && cs.Captured < cs.Count && now.Before(cs.ExpiresAt) {
		cs.ClosedAt = now
		if err := s.st.SaveCaptureSession(ctx, cs); err != nil {
			return nil, err
		}
	}
	return s.sessionView(cs), nil
}

// FieldView is one field of a trigger as GET /v1/triggers/{id}/fields lists
// it.
type FieldView struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Origin string `json:"origin"`
	// CountsAgainstLimit is true for hand-written fields (config and
	// manual), which limits.manual_fields bounds.
	CountsAgainstLimit bool `json:"countsAgainstLimit"`
	// Hints are notes on a path that is valid but probably does not
	// select what its author meant (jsonpath.Path.Hints).
	Hints []string `json:"hints,omitempty"`
}

// FieldsView is the JSON answer of the fields endpoints.
type FieldsView struct {
	TriggerID   string      `json:"triggerId"`
	Fields      []FieldView `json:"fields"`
	Manual      int         `json:"manual"`      // hand-written fields in use
	ManualLimit int         `json:"manualLimit"` // limits.manual_fields
}

// Fields lists every field of trig: hand-written config fields, preset
// fields they do not override, and adopted fields (which override presets
// of the same name), sorted by name.
func (s *Service) Fields(trig *config.Trigger, manualLimit int) *FieldsView {
	if manualLimit <= 0 {
		manualLimit = DefaultManualFields
	}
	byName := map[string]FieldView{}
	for n, p := range trig.PresetFields {
		byName[n] = FieldView{Name: n, Path: p, Origin: OriginPreset}
	}
	for _, f := range s.Adopted(trig.Account, trig.ID) {
		byName[f.Name] = FieldView{Name: f.Name, Path: f.Path.String(), Origin: f.Origin, CountsAgainstLimit: f.Origin == OriginManual}
	}
	for n, p := range trig.Fields {
		byName[n] = FieldView{Name: n, Path: p, Origin: OriginConfig, CountsAgainstLimit: true}
	}
	v := &FieldsView{TriggerID: trig.ID, Fields: make([]FieldView, 0, len(byName)), ManualLimit: manualLimit}
	for _, f := range byName {
		f.Hints = PathHints(f.Path)
		v.Fields = append(v.Fields, f)
		if f.CountsAgainstLimit {
			v.Manual++
		}
	}
	sort.Slice(v.Fields, func(i, j int) bool { return v.Fields[i].Name < v.Fields[j].Name })
	return v
}

// Adopt adds or replaces fields (name → JSONPath) of trig. A path that one
// of the trigger's kept captures suggested (normalized or [*] form) is
// origin captured and free; any other is manual and counts, with the
// config's hand-written fields, against manualLimit. Errors are
// *core.Error: invalid (bad name or JSONPath, naming the column),
// conflict (a name the config file defines), unprocessable (past a limit).
func (s *Service) Adopt(ctx context.Context, trig *config.Trigger, manualLimit int, fields map[string]string) (*FieldsView, error) {
	if manualLimit <= 0 {
		manualLimit = DefaultManualFields
	}
	if len(fields) == 0 {
		return nil, core.Errorf(core.CodeInvalid, `no fields given; send {"fields": {"name": "$.json.path"}}`)
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checkName(n); err != nil {
			return nil, err
		}
		if _, ok := trig.Fields[n]; ok {
			return nil, core.Errorf(core.CodeConflict, "field %q is written in the config file for trigger %q; change it there, or adopt it under another name", n, trig.ID)
		}
		p := strings.TrimSpace(fields[n])
		if p == "" {
			return nil, core.Errorf(core.CodeInvalid, "field %q has no JSONPath; give one such as \"$.ticket.id\"", n)
		}
		if _, err := jsonpath.Compile(p); err != nil {
			if se, ok := err.(*jsonpath.SyntaxError); ok {
				return nil, core.Errorf(core.CodeInvalid, "field %q: bad JSONPath %q at column %d: %s", n, p, se.Column, se.Msg)
			}
			return nil, core.Errorf(core.CodeInvalid, "field %q: bad JSONPath %q: %v", n, p, err)
		}
		fields[n] = p
	}

	s.adoptMu.Lock()
	defer s.adoptMu.Unlock()
	caps, err := s.st.ListCaptures(ctx, trig.Account, trig.ID, s.now())
	if err != nil {
		return nil, err
	}
	suggested := map[string]bool{}
	for _, c := range caps {
		var ss []Suggestion
		if json.Unmarshal(c.Suggestions, &ss) == nil {
			for _, sg := range ss {
				suggested[sg.Path] = true
				if sg.Wildcard != "" {
					suggested[sg.Wildcard] = true
				}
			}
		}
	}
	current := map[string]string{} // adopted name -> origin, after this call
	for _, f := range s.Adopted(trig.Account, trig.ID) {
		current[f.Name] = f.Origin
	}
	now := s.now()
	rows := make([]store.AdoptedField, 0, len(names))
	for _, n := range names {
		origin := OriginManual
		if suggested[canonical(fields[n])] {
			origin = OriginCaptured
		}
		current[n] = origin
		rows = append(rows, store.AdoptedField{
			AccountID: trig.Account, TriggerID: trig.ID, Name: n, Path: fields[n], Origin: origin,
			CreatedAt: now, UpdatedAt: now,
		})
	}
	manual := len(trig.Fields)
	for _, o := range current {
		if o == OriginManual {
			manual++
		}
	}
	if manual > manualLimit {
		return nil, core.Errorf(core.CodeUnprocessable,
			"trigger %q would have %d hand-written fields, over the limit of %d (limits.manual_fields); fields picked from a capture's suggestions do not count, so capture a request and adopt its suggested paths",
			trig.ID, manual, manualLimit)
	}
	if len(current) > MaxAdopted {
		return nil, core.Errorf(core.CodeUnprocessable, "trigger %q would have %d adopted fields, over the limit of %d", trig.ID, len(current), MaxAdopted)
	}
	if err := s.st.SaveAdoptedFields(ctx, rows); err != nil {
		return nil, err
	}
	if err := s.reloadFields(ctx); err != nil {
		return nil, err
	}
	return s.Fields(trig, manualLimit), nil
}

// DeleteField removes an adopted field of trig. Config and preset fields
// cannot be deleted here (conflict); an unknown name is not found.
func (s *Service) DeleteField(ctx context.Context, trig *config.Trigger, manualLimit int, name string) (*FieldsView, error) {
	if _, ok := trig.Fields[name]; ok {
		return nil, core.Errorf(core.CodeConflict, "field %q is written in the config file; remove it there", name)
	}
	s.adoptMu.Lock()
	defer s.adoptMu.Unlock()
	found, err := s.st.DeleteAdoptedField(ctx, trig.Account, trig.ID, name)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, core.Errorf(core.CodeNotFound, "trigger %q has no adopted field %q", trig.ID, name)
	}
	if err := s.reloadFields(ctx); err != nil {
		return nil, err
	}
	return s.Fields(trig, manualLimit), nil
}

// checkName applies the config's rule for field names: 1 to 64
// characters, no spaces or control characters.
func checkName(n string) error {
	if n == "" || len(n) > 64 || strings.IndexFunc(n, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return core.Errorf(core.CodeInvalid, "field name %q must be 1 to 64 characters without spaces", truncate(n, 80))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Preview evaluates path on the document one of trig's kept captures gave
// its fields (the body for the generic adapter, the stored event's
// normalised document for a vendor adapter), the way the receiver extracts
// a field: nothing selected is null, one node its value, several an array.
// A bad path is invalid (naming the column); a capture that is gone is not
// found; one without such a document (not JSON, or refused before a vendor
// adapter normalised it) is unprocessable.
func (s *Service) Preview(ctx context.Context, trig *config.Trigger, captureID, path string) (value json.RawMessage, nodes int, err error) {
	path = strings.TrimSpace(path)
	p, err := jsonpath.Compile(path)
	if err != nil {
		if se, ok := err.(*jsonpath.SyntaxError); ok {
			return nil, 0, core.Errorf(core.CodeInvalid, "bad JSONPath %q at column %d: %s", path, se.Column, se.Msg)
		}
		return nil, 0, core.Errorf(core.CodeInvalid, "bad JSONPath %q: %v", path, err)
	}
	caps, err := s.st.ListCaptures(ctx, trig.Account, trig.ID, s.now())
	if err != nil {
		return nil, 0, err
	}
	for _, c := range caps {
		if c.ID != captureID {
			continue
		}
		doc, why, err := s.document(ctx, trig, c)
		if err != nil {
			return nil, 0, err
		}
		if doc == nil {
			return nil, 0, core.Errorf(core.CodeUnprocessable, "%s", why)
		}
		vals, err := p.Select(doc)
		if err != nil {
			return nil, 0, core.Errorf(core.CodeUnprocessable,
				"%s does more work than capture %s's body allows (%v); as a field it would be stored as null, with a warning", path, captureID, err)
		}
		switch len(vals) {
		case 0:
			return json.RawMessage("null"), 0, nil
		case 1:
			return append(json.RawMessage(nil), vals[0]...), 1, nil
		}
		out := []byte{'['}
		for i, v := range vals {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, v...)
		}
		return append(out, ']'), len(vals), nil
	}
	return nil, 0, core.Errorf(core.CodeNotFound, "trigger %q has no capture %q (captures expire after %s)", trig.ID, captureID, Retention)
}

// PathHints is jsonpath.Path.Hints for path; none when it does not compile
// (fields are checked when they are written, not here).
func PathHints(path string) []string {
	p, err := jsonpath.Compile(path)
	if err != nil {
		return nil
	}
	return p.Hints()
}

// canonical is path in the normalized form suggestions use, so that $.a.b
// is recognised as the suggested $['a']['b']; path itself when it has no
// such form (or does not compile).
func canonical(path string) string {
	p, err := jsonpath.Compile(path)
	if err != nil {
		return path
	}
	if c, ok := p.Canonical(); ok {
		return c
	}
	return path
}
