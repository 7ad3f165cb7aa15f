package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
	"github.com/riverqueue/river"

	"github.com/jsonevent/jsonevent/core"
)

// EventIDPrefix starts every event id.
const EventIDPrefix = "evt_"

// IdempotencyWindow is how long an Idempotency-Key (or vendor delivery id)
// keeps returning the first event.
const IdempotencyWindow = 24 * time.Hour

// NewEventID returns a fresh, time-ordered event id ("evt_" + ULID).
func NewEventID() string { return EventIDPrefix + ulid.Make().String() }

// NewEventIDAt is NewEventID for an event received at t (Store.Now: the
// database's clock, which retention deletes by).
func NewEventIDAt(t time.Time) string {
	return EventIDPrefix + ulid.MustNew(ulid.Timestamp(t), ulid.DefaultEntropy()).String()
}

// ValidEventID reports whether id has the shape NewEventID gives: the
// prefix and a ULID.
func ValidEventID(id string) bool { return ValidID(EventIDPrefix, id) }

// ValidID reports whether id is prefix followed by a ULID, the shape of
// every id the store makes (events, runs, tickets, captures).
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}

// secretHeaders are never stored.
var secretHeaders = []string{"Authorization", "X-Api-Token", "Cookie", "Proxy-Authorization"}

// StripSecrets returns a copy of h without the headers that carry
// credentials (Authorization, X-API-TOKEN, Cookie, Proxy-Authorization).
func StripSecrets(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		out[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	for _, k := range secretHeaders {
		delete(out, k)
	}
	return out
}

// Event is one accepted inbound request as stored.
type Event struct {
	ID        string // "evt_…"; InsertEvent assigns one when empty
	AccountID string
	TriggerID string
	ContextID string
	UserID    string
	BrandID   string
	// Query holds every query parameter of the request.
	Query map[string]string
	// Header is stored without secrets (see StripSecrets).
	Header http.Header
	// Body is the request body exactly as received.
	Body []byte
	// NormalizedBody is the adapter's document the fields come from.
	NormalizedBody []byte
	// Fields are the extracted values as raw JSON by name (null when a path
	// selected nothing).
	Fields   map[string]json.RawMessage
	Warnings []string
	// ReceivedAt is when the request arrived; InsertEvent uses now when zero.
	ReceivedAt time.Time
	// IdempotencyKey (the Idempotency-Key header, else the vendor delivery
	// id) de-duplicates within IdempotencyWindow; "" disables it.
	IdempotencyKey string
	// ReplayOf is the id of the event this one replays, "" otherwise.
	ReplayOf string
	// AuthUsername is the username of the Basic auth the event came with,
	// "" for X-API-TOKEN (adapters read it; a replay passes it on).
	AuthUsername string
}

// InsertEvent commits ev together with jobs (river jobs for its workflows)
// in one transaction shared with concurrent callers, and returns once that
// transaction is durably committed. When ev.IdempotencyKey repeats a key of
// the same account and trigger within IdempotencyWindow, nothing is stored
// (neither the event nor the jobs) and the first event's id is returned
// with duplicate true. A database that cannot commit yields a *core.Error
// with core.CodeUnavailable.
func (s *Store) InsertEvent(ctx context.Context, ev *Event, jobs ...river.InsertManyParams) (id string, duplicate bool, err error) {
	if ev.ID == "" {
		ev.ID = NewEventIDAt(s.Now())
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = s.Now()
	}
	row, err := encodeEvent(ev)
	if err != nil {
		return "", false, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	req := &writeReq{ctx: ctx, ev: row, jobs: jobs, done: make(chan writeRes, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return "", false, core.Errorf(core.CodeUnavailable, "the event store is shutting down; nothing was stored, retry later")
	}
	select {
	case s.queue <- req:
	default:
		// The queue is full: the writer is behind, or stuck. Wait for room
		// only as long as the caller waits for its answer.
		select {
		case s.queue <- req:
		case <-ctx.Done():
			s.mu.RUnlock()
			return "", false, &core.Error{Code: core.CodeUnavailable, Message: "the event store is too busy; nothing was stored, retry later", Err: ctx.Err()}
		}
	}
	s.mu.RUnlock()
	select {
	case res := <-req.done:
		return res.id, res.duplicate, res.err
	case <-ctx.Done():
		return "", false, &core.Error{Code: core.CodeUnavailable, Message: "gave up waiting for the event store; the event may or may not be stored, retry with the same Idempotency-Key", Err: ctx.Err()}
	}
}

// eventRow is an Event encoded for its columns.
type eventRow struct {
	id, accountID, triggerID, contextID, userID, brandID string
	query, headers, fields, warnings                     string
	body, normalized                                     []byte
	receivedAt                                           int64
	idemKey, replayOf, authUsername                      string
}

// textColumns are the event's values stored as they are in TEXT columns,
// named as the sender knows them.
func textColumns(ev *Event) [5]struct{ name, v string } {
	return [5]struct{ name, v string }{
		{"contextId", ev.ContextID}, {"userId", ev.UserID}, {"brandId", ev.BrandID},
		{"Idempotency-Key (or the vendor's delivery id)", ev.IdempotencyKey}, {"the Basic auth username", ev.AuthUsername},
	}
}

// portableText reports whether s fits a TEXT column on every driver:
// PostgreSQL refuses a NUL character and invalid UTF-8 (SQLite would
// store them), so such a value would fail its commit on PostgreSQL for
// ever, answered 503 "retry later".
func portableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// Portable returns s fit for a TEXT column on every driver: invalid UTF-8
// and NUL characters become U+FFFD. It is for text we derive (a run's
// error, a ticket's title rendered from the body), which must be stored,
// unlike a sender's ids, which are refused; and for text river keeps in
// jsonb on PostgreSQL (a job's errors and arguments), which refuses a NUL.
func Portable(s string) string {
	if portableText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

func encodeEvent(ev *Event) (*eventRow, error) {
	for _, c := range textColumns(ev) {
		if !portableText(c.v) {
			return nil, core.Errorf(core.CodeInvalid, "%s is not valid UTF-8 text (or holds a NUL character); nothing was stored", c.name)
		}
	}
	body := ev.Body
	if body == nil {
		body = []byte{}
	}
	// The generic adapter's document is the body itself: store it once,
	// halving the bytes every commit must fsync.
	norm := ev.NormalizedBody
	if norm == nil || bytes.Equal(norm, body) {
		norm = sameAsBody
	}
	return &eventRow{
		id: ev.ID, accountID: ev.AccountID, triggerID: ev.TriggerID,
		contextID: ev.ContextID, userID: ev.UserID, brandID: ev.BrandID,
		query: encodeStrings(ev.Query), headers: encodeHeaders(ev.Header),
		fields: encodeFields(ev.Fields), warnings: encodeList(ev.Warnings),
		body: body, normalized: norm, receivedAt: ev.ReceivedAt.UnixMicro(),
		idemKey: ev.IdempotencyKey, replayOf: ev.ReplayOf, authUsername: ev.AuthUsername,
	}, nil
}

// claimKey records r's idempotency key, or finds the live event that holds
// it. One upsert: a key older than the window ($6 microseconds before the
// new key's created_at) is taken over, a live one is left alone and its
// event id returned. On SQLite created_at is $5, the event's received time
// (one node, whose clock is the only one); on PostgreSQL it is the
// database's clock (pgClaimKeySQL), which every node shares and the
// janitor prunes keys by: a node whose clock ran a day fast would take
// over the keys the others had just stored, and one a day slow store keys
// the janitor deleted at once, each letting a retry in as a new event.
const claimKeySQL = `INSERT INTO idempotency_keys (account_id, trigger_id, idem_key, event_id, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (account_id, trigger_id, idem_key) DO UPDATE SET
    event_id   = CASE WHEN idempotency_keys.created_at < excluded.created_at - $6 THEN excluded.event_id   ELSE idempotency_keys.event_id   END,
    created_at = CASE WHEN idempotency_keys.created_at < excluded.created_at - $6 THEN excluded.created_at ELSE idempotency_keys.created_at END
RETURNING event_id`

// pgClaimKeySQL is claimKeySQL with created_at from the database's clock,
// in microseconds since 1970 as the column holds, and the window as $5.
var pgClaimKeySQL = strings.NewReplacer(
	"$4, $5)", "$4, CAST(extract(epoch FROM now()) * 1000000 AS bigint))",
	"$6", "$5",
).Replace(claimKeySQL)

const insertEventSQL = `INSERT INTO events (id, account_id, trigger_id, context_id, user_id, brand_id,
    query_json, headers_json, body, normalized_body, fields_json, warnings_json,
    received_at, idempotency_key, replay_of, auth_username)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`

// sameAsBody is stored in normalized_body when the normalised document is
// the body itself. One space is never a JSON document, so it cannot be
// mistaken for one (and SQLite drivers bind an empty blob as NULL, which
// the NOT NULL column refuses).
var sameAsBody = []byte{' '}

// eventColumns is how many columns an events insert binds per event.
const eventColumns = 16

// maxInsertChunk is the most events one INSERT statement carries. A batch
// is cut into power-of-two chunks (64, 32, ... 1), so each connection keeps
// at most seven statement texts prepared, and the largest binds 1,024
// parameters, far below SQLite's and PostgreSQL's limits.
const maxInsertChunk = 64

// insertEventsSQLs[k] inserts 1<<k events in one multi-row statement with
// PostgreSQL's numbered parameters ($1, $2, ...); sqliteInsertEventsSQLs[k]
// is the same statement with anonymous "?" parameters in the same order,
// which SQLite binds by position. SQLite looks a numbered parameter's name
// up in a linear list at every bind, which makes binding a 1,024-parameter
// statement quadratic.
var insertEventsSQLs, sqliteInsertEventsSQLs = multiRowInserts(true), multiRowInserts(false)

func multiRowInserts(numbered bool) []string {
	head := insertEventSQL[:strings.Index(insertEventSQL, "VALUES")]
	var out []string
	for n := 1; n <= maxInsertChunk; n *= 2 {
		var b strings.Builder
		b.WriteString(head)
		b.WriteString("VALUES ")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range eventColumns {
				if c > 0 {
					b.WriteString(", ")
				}
				if numbered {
					b.WriteString("$" + strconv.Itoa(i*eventColumns+c+1))
				} else {
					b.WriteByte('?')
				}
			}
			b.WriteByte(')')
		}
		out = append(out, b.String())
	}
	return out
}

// claimKey records r's idempotency key in tx, or finds the live event that
// holds it: it returns the holder's id and true when r is a duplicate.
func claimKey(ctx context.Context, tx Tx, r *eventRow, window time.Duration) (string, bool, error) {
	if r.idemKey == "" {
		return r.id, false, nil
	}
	var row Row
	if _, ok := tx.(*sqlTx); ok { // SQLite: one node, the event's own time
		row = tx.QueryRow(ctx, claimKeySQL, r.accountID, r.triggerID, r.idemKey, r.id, r.receivedAt, window.Microseconds())
	} else {
		row = tx.QueryRow(ctx, pgClaimKeySQL, r.accountID, r.triggerID, r.idemKey, r.id, window.Microseconds())
	}
	var holder string
	err := row.Scan(&holder)
	if err != nil {
		return "", false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return holder, holder != r.id, nil
}

// insertEvents writes rows in tx with as few statements as the chunk sizes
// allow: one statement per event cost the SQLite writer (database/sql, a
// VDBE run) several microseconds each.
func insertEvents(ctx context.Context, tx Tx, rows []*eventRow) error {
	sqls := insertEventsSQLs
	if _, ok := tx.(*sqlTx); ok { // database/sql on modernc SQLite
		sqls = sqliteInsertEventsSQLs
	}
	args := make([]any, 0, eventColumns*min(len(rows), maxInsertChunk))
	for len(rows) > 0 {
		k := bits.Len(uint(min(len(rows), maxInsertChunk))) - 1 // largest 1<<k <= len(rows)
		n := 1 << k
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r.id, r.accountID, r.triggerID, r.contextID, r.userID, r.brandID,
				r.query, r.headers, r.body, r.normalized, r.fields, r.warnings, r.receivedAt, r.idemKey, r.replayOf, r.authUsername)
		}
		if _, err := tx.Exec(ctx, sqls[k], args...); err != nil {
			return fmt.Errorf("insert %d events: %w", n, err)
		}
		rows = rows[n:]
	}
	return nil
}

// GetEvent returns the event id of account accountID. Another account's
// event, like a missing one, is a *core.Error with core.CodeNotFound.
func (s *Store) GetEvent(ctx context.Context, accountID, id string) (*Event, error) {
	var (
		r        eventRow
		notFound = core.Errorf(core.CodeNotFound, "no event %q for this account", id)
	)
	err := s.b.reader().QueryRow(ctx, `SELECT id, account_id, trigger_id, context_id, user_id, brand_id,
    query_json, headers_json, body, normalized_body, fields_json, warnings_json,
    received_at, idempotency_key, replay_of, auth_username
FROM events WHERE id = $1 AND account_id = $2`, id, accountID).Scan(
		&r.id, &r.accountID, &r.triggerID, &r.contextID, &r.userID, &r.brandID,
		&r.query, &r.headers, &r.body, &r.normalized, &r.fields, &r.warnings,
		&r.receivedAt, &r.idemKey, &r.replayOf, &r.authUsername)
	if errors.Is(err, ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("get event %s: %w", id, err))
	}
	if bytes.Equal(r.normalized, sameAsBody) {
		r.normalized = r.body
	}
	ev := &Event{
		ID: r.id, AccountID: r.accountID, TriggerID: r.triggerID,
		ContextID: r.contextID, UserID: r.userID, BrandID: r.brandID,
		Body: r.body, NormalizedBody: r.normalized,
		ReceivedAt:     time.UnixMicro(r.receivedAt).UTC(),
		IdempotencyKey: r.idemKey, ReplayOf: r.replayOf, AuthUsername: r.authUsername,
	}
	for _, d := range []struct {
		src string
		dst any
	}{{r.query, &ev.Query}, {r.headers, &ev.Header}, {r.fields, &ev.Fields}, {r.warnings, &ev.Warnings}} {
		if err := json.Unmarshal([]byte(d.src), d.dst); err != nil {
			return nil, fmt.Errorf("decode event %s: %w", id, err)
		}
	}
	return ev, nil
}
