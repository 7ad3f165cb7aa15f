package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/oklog/ulid/v2"
)

// Capture id prefixes.
const (
	CaptureSessionIDPrefix = "cs_"
	CaptureIDPrefix        = "cap_"
)

// NewCaptureSessionID returns a fresh, time-ordered capture session id.
func NewCaptureSessionID() string { return CaptureSessionIDPrefix + ulid.Make().String() }

// NewCaptureID returns a fresh, time-ordered captured-request id.
func NewCaptureID() string { return CaptureIDPrefix + ulid.Make().String() }

// CaptureSession is a window during which requests to one trigger are
// recorded: at most Count of them, until ExpiresAt or ClosedAt.
type CaptureSession struct {
	ID        string
	AccountID string
	TriggerID string
	Count     int
	Captured  int
	CreatedAt time.Time
	ExpiresAt time.Time
	ClosedAt  time.Time // zero while open
}

// Capture is one recorded request.
type Capture struct {
	ID         string
	SessionID  string
	AccountID  string
	TriggerID  string
	ReceivedAt time.Time
	Method     string
	Query      map[string]string
	// Header has its secrets already redacted by the caller.
	Header http.Header
	// Body is the request body, as much as was read (nothing for a body
	// refused as too large: BodyTruncated is then true).
	Body          []byte
	BodyTruncated bool
	// Status is the HTTP status answered; Code and Reason say why it was
	// refused ("" when accepted); EventID is the stored event, if any.
	Status  int
	Code    string
	Reason  string
	EventID string
	// Suggestions is the JSON the capture package made of the body.
	Suggestions json.RawMessage
	ExpiresAt   time.Time
}

// AdoptedField is a field added to a trigger through the API.
type AdoptedField struct {
	AccountID string
	TriggerID string
	Name      string
	Path      string
	Origin    string // captured or manual
	CreatedAt time.Time
	UpdatedAt time.Time
}

const sessionColumns = `id, account_id, trigger_id, count, captured, created_at, expires_at, closed_at`

// SaveCaptureSession inserts cs, or updates the stored session. Its
// captured count only grows and a close time once set stays: cs may have
// been read before a capture was recorded (InsertCapture counts it in the
// database), and saving it must not undo that count.
func (s *Store) SaveCaptureSession(ctx context.Context, cs *CaptureSession) error {
	return s.Write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO capture_sessions (`+sessionColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET count = excluded.count,
    captured = CASE WHEN excluded.captured > capture_sessions.captured THEN excluded.captured ELSE capture_sessions.captured END,
    expires_at = excluded.expires_at,
    closed_at = CASE WHEN capture_sessions.closed_at <> 0 THEN capture_sessions.closed_at ELSE excluded.closed_at END`,
			cs.ID, cs.AccountID, cs.TriggerID, int64(cs.Count), int64(cs.Captured),
			micros(cs.CreatedAt), micros(cs.ExpiresAt), micros(cs.ClosedAt))
		if err != nil {
			return fmt.Errorf("save capture session %s: %w", cs.ID, err)
		}
		return nil
	})
}

func scanSession(row Row) (*CaptureSession, error) {
	var (
		cs                         CaptureSession
		count, captured            int64
		created, expires, closedAt int64
	)
	if err := row.Scan(&cs.ID, &cs.AccountID, &cs.TriggerID, &count, &captured, &created, &expires, &closedAt); err != nil {
		return nil, err
	}
	cs.Count, cs.Captured = int(count), int(captured)
	cs.CreatedAt, cs.ExpiresAt, cs.ClosedAt = fromMicros(created), fromMicros(expires), fromMicros(closedAt)
	return &cs, nil
}

// LatestCaptureSession returns the newest session of the trigger, or nil
// when it never had one.
func (s *Store) LatestCaptureSession(ctx context.Context, accountID, triggerID string) (*CaptureSession, error) {
	cs, err := scanSession(s.b.reader().QueryRow(ctx, `SELECT `+sessionColumns+` FROM capture_sessions
WHERE trigger_id = $1 AND account_id = $2 ORDER BY id DESC LIMIT 1`, triggerID, accountID))
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("get capture session of %s: %w", triggerID, err))
	}
	return cs, nil
}

// OpenCaptureSessions returns every session still open at now (not closed,
// not expired, not full), for loading into memory at start-up.
func (s *Store) OpenCaptureSessions(ctx context.Context, now time.Time) ([]*CaptureSession, error) {
	rows, err := s.b.reader().Query(ctx, `SELECT `+sessionColumns+` FROM capture_sessions
WHERE closed_at = 0 AND expires_at > $1 AND captured < count ORDER BY id`, micros(now))
	if err != nil {
		return nil, unavailable(fmt.Errorf("list open capture sessions: %w", err))
	}
	defer rows.Close()
	var out []*CaptureSession
	for rows.Next() {
		cs, err := scanSession(rows)
		if err != nil {
			return nil, unavailable(fmt.Errorf("read capture sessions: %w", err))
		}
		out = append(out, cs)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("read capture sessions: %w", err))
	}
	return out, nil
}

// ErrCaptureSessionEnded is InsertCapture's answer when the capture's
// session is already full, closed or expired in the store (another node
// recorded its last capture, or its admin closed it): nothing is stored.
var ErrCaptureSessionEnded = errors.New("capture session ended")

// InsertCapture counts c in its session (closing the session when it is
// full), stores it and prunes the trigger's captures to the newest keep
// ones that have not expired, all in one transaction. A session that is
// not open with room in the store is ErrCaptureSessionEnded.
func (s *Store) InsertCapture(ctx context.Context, c *Capture, keep int) error {
	query, err := json.Marshal(orEmpty(c.Query))
	if err != nil {
		return fmt.Errorf("encode capture query: %w", err)
	}
	h := c.Header
	if h == nil {
		h = http.Header{}
	}
	headers, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode capture headers: %w", err)
	}
	sugg := c.Suggestions
	if len(sugg) == 0 {
		sugg = json.RawMessage("[]")
	}
	body := c.Body
	if body == nil {
		body = []byte{}
	}
	truncated := int64(0)
	if c.BodyTruncated {
		truncated = 1
	}
	now := micros(c.ReceivedAt)
	return s.Write(ctx, func(tx Tx) error {
		// The session's row is the count every node shares: the capture is
		// stored only if this update finds the session open with room.
		// Counting in memory alone let two nodes of one PostgreSQL database
		// each record the session's last capture, or record into a session
		// that another node's admin had closed.
		n, err := tx.Exec(ctx, `UPDATE capture_sessions SET captured = captured + 1,
    closed_at = CASE WHEN captured + 1 >= count THEN $2 ELSE closed_at END
WHERE id = $1 AND closed_at = 0 AND captured < count AND expires_at > $2`, c.SessionID, now)
		if err != nil {
			return fmt.Errorf("count capture in session %s: %w", c.SessionID, err)
		}
		if n == 0 {
			return ErrCaptureSessionEnded
		}
		_, err = tx.Exec(ctx, `INSERT INTO captures (id, session_id, account_id, trigger_id, received_at, method,
    query_json, headers_json, body, body_truncated, status, error_code, reason, event_id, suggestions_json, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			c.ID, c.SessionID, c.AccountID, c.TriggerID, now, c.Method, string(query), string(headers),
			body, truncated, int64(c.Status), c.Code, c.Reason, c.EventID, string(sugg), micros(c.ExpiresAt))
		if err != nil {
			return fmt.Errorf("insert capture %s: %w", c.ID, err)
		}
		_, err = tx.Exec(ctx, `DELETE FROM captures WHERE trigger_id = $1 AND (expires_at <= $2 OR id NOT IN (
    SELECT id FROM captures WHERE trigger_id = $1 ORDER BY id DESC LIMIT $3))`, c.TriggerID, now, int64(keep))
		if err != nil {
			return fmt.Errorf("prune captures of %s: %w", c.TriggerID, err)
		}
		return nil
	})
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

const captureColumns = `id, session_id, account_id, trigger_id, received_at, method, query_json, headers_json,
    body, body_truncated, status, error_code, reason, event_id, suggestions_json, expires_at`

// ListCaptures returns the trigger's captures that have not expired at now,
// newest first.
func (s *Store) ListCaptures(ctx context.Context, accountID, triggerID string, now time.Time) ([]*Capture, error) {
	rows, err := s.b.reader().Query(ctx, `SELECT `+captureColumns+` FROM captures
WHERE trigger_id = $1 AND account_id = $2 AND expires_at > $3 ORDER BY id DESC`, triggerID, accountID, micros(now))
	if err != nil {
		return nil, unavailable(fmt.Errorf("list captures of %s: %w", triggerID, err))
	}
	defer rows.Close()
	out := []*Capture{}
	for rows.Next() {
		var (
			c                              Capture
			received, truncated, expiresAt int64
			status                         int64
			query, headers, sugg           string
		)
		err := rows.Scan(&c.ID, &c.SessionID, &c.AccountID, &c.TriggerID, &received, &c.Method, &query, &headers,
			&c.Body, &truncated, &status, &c.Code, &c.Reason, &c.EventID, &sugg, &expiresAt)
		if err != nil {
			return nil, unavailable(fmt.Errorf("read captures of %s: %w", triggerID, err))
		}
		c.ReceivedAt, c.ExpiresAt = fromMicros(received), fromMicros(expiresAt)
		c.BodyTruncated, c.Status, c.Suggestions = truncated != 0, int(status), json.RawMessage(sugg)
		if err := json.Unmarshal([]byte(query), &c.Query); err != nil {
			return nil, fmt.Errorf("decode capture %s query: %w", c.ID, err)
		}
		if err := json.Unmarshal([]byte(headers), &c.Header); err != nil {
			return nil, fmt.Errorf("decode capture %s headers: %w", c.ID, err)
		}
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("read captures of %s: %w", triggerID, err))
	}
	return out, nil
}

// SaveAdoptedFields inserts or replaces fields (matched by trigger and
// name) in one transaction; an existing field keeps its CreatedAt.
func (s *Store) SaveAdoptedFields(ctx context.Context, fields []AdoptedField) error {
	return s.Write(ctx, func(tx Tx) error {
		for _, f := range fields {
			_, err := tx.Exec(ctx, `INSERT INTO adopted_fields (account_id, trigger_id, name, path, origin, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (trigger_id, name) DO UPDATE SET account_id = excluded.account_id, path = excluded.path,
    origin = excluded.origin, updated_at = excluded.updated_at`,
				f.AccountID, f.TriggerID, f.Name, f.Path, f.Origin, micros(f.CreatedAt), micros(f.UpdatedAt))
			if err != nil {
				return fmt.Errorf("save field %s of %s: %w", f.Name, f.TriggerID, err)
			}
		}
		return nil
	})
}

// DeleteAdoptedField removes one adopted field and reports whether it
// existed.
func (s *Store) DeleteAdoptedField(ctx context.Context, accountID, triggerID, name string) (bool, error) {
	var n int64
	err := s.Write(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM adopted_fields WHERE account_id = $1 AND trigger_id = $2 AND name = $3`,
			accountID, triggerID, name)
		return err
	})
	return n > 0, err
}

// AdoptedFields returns every adopted field of every trigger, ordered by
// trigger and name.
func (s *Store) AdoptedFields(ctx context.Context) ([]AdoptedField, error) {
	rows, err := s.b.reader().Query(ctx, `SELECT account_id, trigger_id, name, path, origin, created_at, updated_at
FROM adopted_fields ORDER BY trigger_id, name`)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list adopted fields: %w", err))
	}
	defer rows.Close()
	var out []AdoptedField
	for rows.Next() {
		var (
			f        AdoptedField
			cre, upd int64
		)
		if err := rows.Scan(&f.AccountID, &f.TriggerID, &f.Name, &f.Path, &f.Origin, &cre, &upd); err != nil {
			return nil, unavailable(fmt.Errorf("read adopted fields: %w", err))
		}
		f.CreatedAt, f.UpdatedAt = fromMicros(cre), fromMicros(upd)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("read adopted fields: %w", err))
	}
	return out, nil
}

// PruneCaptures deletes every capture that expired at now and the capture
// sessions no longer needed, and returns how many captures went. A session
// is kept while it may still record (open, not full, not expired), while
// it is its trigger's newest (LatestCaptureSession shows it) and while a
// capture of it is kept; each trigger keeps at most Keep captures, so the
// sessions left are bounded too. Without this every session ever opened
// kept its row, and nodes on PostgreSQL scan that table every second
// (OpenCaptureSessions).
func (s *Store) PruneCaptures(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.Write(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM captures WHERE expires_at <= $1`, micros(now))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM capture_sessions
WHERE (closed_at <> 0 OR captured >= count OR expires_at <= $1)
  AND id NOT IN (SELECT max(id) FROM capture_sessions GROUP BY account_id, trigger_id)
  AND NOT EXISTS (SELECT 1 FROM captures
      WHERE captures.trigger_id = capture_sessions.trigger_id AND captures.session_id = capture_sessions.id)`, micros(now))
		return err
	})
	return n, err
}
