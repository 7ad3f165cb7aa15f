package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/riverqueue/river"
	"github.com/tidwall/gjson"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// drainLimit is how much of a refused body the server reads and drops
// (never keeps) so that the client gets the answer before the connection
// closes; a client sending more sees the connection reset.
const drainLimit = 8 << 20

// postEvent is the JSON event endpoint. The checks run in the order of the
// wire contract: size, media type, credentials, trigger, rate, JSON, then
// the adapter, fields and the commit; only a commit answers 202.
func (s *Server) postEvent(c *fiber.Ctx, route string) error {
	start := time.Now()
	defer func() { s.m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds()) }()
	rt := s.rt.Load()
	ctx := c.UserContext()

	var triggerID string
	if route == "triggers" {
		triggerID = pathParam(c, "triggerId")
	} else {
		triggerID = string(c.Request().URI().QueryArgs().Peek("triggerId"))
	}
	trig := rt.triggers[triggerID]
	label := "unknown"
	if trig != nil {
		label = triggerID
	}
	refuse := func(status int, code core.Code, msg string) error {
		return s.refuse(c, trig, label, triggerID, status, code, msg)
	}

	// Capture sessions record every authenticated request to their
	// trigger with the answer it got, refusals included (capture_routes.go).
	var (
		body       []byte
		normalized []byte // the adapter's document, once it has made one
		tooLarge   bool
		err        error
	)
	if s.capture != nil {
		defer func() { s.captureHook(c, rt, triggerID, body, normalized, tooLarge, start) }()
	}

	// 1. Size, before anything is buffered beyond the limit.
	bodyLimit := rt.limits.BodyBytes
	if trig != nil {
		bodyLimit = trig.bodyLimit
	}
	body, tooLarge, err = readBody(c, bodyLimit)
	if tooLarge {
		return refuse(http.StatusRequestEntityTooLarge, core.CodeTooLarge,
			fmt.Sprintf("the body is larger than %d bytes, the limit for this trigger; send a smaller event", bodyLimit))
	}
	if err != nil {
		return refuse(http.StatusBadRequest, core.CodeInvalid, "the request body could not be read completely: "+err.Error())
	}

	// 2. Media type.
	if msg := checkContentType(string(c.Request().Header.ContentType())); msg != "" {
		return refuse(http.StatusUnsupportedMediaType, core.CodeUnsupportedMediaType, msg)
	}
	if msg := checkContentEncoding(c); msg != "" {
		return refuse(http.StatusUnsupportedMediaType, core.CodeUnsupportedMediaType, msg)
	}

	// 3. Credentials.
	apiToken := string(c.Request().Header.Peek("X-API-TOKEN"))
	authorization := string(c.Request().Header.Peek("Authorization"))
	p, err := rt.auth.Authenticate(apiToken, authorization)
	if err != nil {
		// RFC 9110 §11.6.1: a 401 carries a challenge. Vendors' HTTP
		// clients set up with Basic credentials may send them only once
		// asked (.NET's CredentialCache, curl --anyauth). Not on the API:
		// a browser would answer it with a login dialog over the admin page.
		c.Set(fiber.HeaderWWWAuthenticate, basicChallenge)
		return s.refuseErr(c, trig, label, triggerID, err)
	}

	// 4. Trigger, owned by the caller's account.
	if triggerID == "" {
		return refuse(http.StatusBadRequest, core.CodeInvalid, "the triggerId query parameter is missing; add ?triggerId=<your trigger id>")
	}
	if trig == nil || trig.cfg.Account != p.AccountID {
		trig, label = nil, "unknown"
		return refuse(http.StatusNotFound, core.CodeNotFound,
			fmt.Sprintf("no trigger %q for this account; check the triggerId", truncate(triggerID, 100)))
	}

	// 5. Rate, per token over any rolling minute.
	if err := s.admit(c, rt, p.TokenID, label); err != nil {
		return s.refuseErr(c, trig, label, triggerID, err)
	}

	// 6. JSON.
	brackets := countBrackets(body) // both checks below need it
	if !validJSONBrackets(body, brackets) {
		msg, offset := jsonErrorMessage(body)
		if h, ok := trig.adapter.(invalidJSONHinter); ok {
			if hint := h.InvalidJSONHint(body, offset); hint != "" {
				msg += "; " + hint
			}
		}
		return refuse(http.StatusBadRequest, core.CodeInvalid, msg)
	}
	if off := invalidUTF8Offset(body); off >= 0 {
		// encoding/json accepts invalid UTF-8 in strings; stored as is it
		// would make GET /v1/events/{id} answer a document that is not JSON.
		return refuse(http.StatusBadRequest, core.CodeInvalid,
			fmt.Sprintf("the body is not valid UTF-8 at byte offset %d; JSON must be sent as UTF-8", off))
	}
	if off := tooDeep(body, brackets); off >= 0 {
		return refuse(http.StatusBadRequest, core.CodeInvalid,
			fmt.Sprintf("the body nests arrays and objects more than %d levels deep (byte offset %d opens level %d); send a flatter document", maxNesting, off, maxNesting+1))
	}

	// 7. Adapter and fields.
	req := &core.Request{
		TriggerID:    triggerID,
		Method:       strings.Clone(c.Method()), // fiber's string aliases a reused buffer
		Header:       copyHeader(c),
		Query:        copyQuery(c),
		Body:         body,
		AuthUsername: p.Username,
	}
	norm, err := trig.adapter.Normalize(ctx, req)
	if err != nil {
		return s.refuseErr(c, trig, label, triggerID, err)
	}
	if norm == nil || (len(norm.Body) > 0 && !sameSlice(norm.Body, body) && !validJSON(norm.Body)) || len(norm.Body) == 0 {
		s.log.Error("adapter returned an invalid document", "adapter", trig.adapter.Name(), "trigger_id", label)
		return refuse(http.StatusInternalServerError, core.CodeInternal, "the adapter could not normalise this event; nothing was stored")
	}
	normalized = norm.Body
	fields, fieldWarnings := extract(s.fieldsOf(trig), norm.Body)

	key := string(c.Request().Header.Peek("Idempotency-Key"))
	if key == "" {
		key = norm.DeliveryID
	}
	if len(key) > maxIdempotencyKey {
		return refuse(http.StatusBadRequest, core.CodeInvalid, fmt.Sprintf("the Idempotency-Key is longer than %d characters", maxIdempotencyKey))
	}

	// 8. Commit, then answer.
	now := s.now()
	ev := &store.Event{
		ID:             store.NewEventIDAt(now),
		AccountID:      p.AccountID,
		TriggerID:      triggerID,
		ContextID:      req.Query["contextId"],
		UserID:         req.Query["userId"],
		BrandID:        req.Query["brandId"],
		Query:          req.Query,
		Header:         req.Header,
		Body:           body,
		NormalizedBody: norm.Body,
		Fields:         fields,
		Warnings:       slices.Concat(norm.Warnings, fieldWarnings),
		ReceivedAt:     now,
		IdempotencyKey: key,
		AuthUsername:   p.Username,
	}
	var jobs []river.InsertManyParams
	if s.jobs != nil {
		jobs, err = s.jobs(ctx, trig.cfg, ev)
		if err != nil {
			s.log.Error("planning workflow jobs failed", "trigger_id", label, "err", err)
			return s.refuseErr(c, trig, label, triggerID, err)
		}
	}
	id, dup, err := s.insertEvent(ctx, ev, jobs)
	if err != nil {
		return s.refuseErr(c, trig, label, triggerID, err) // a 503 gets Retry-After there
	}
	if dup {
		s.m.duplicates.Inc()
	} else {
		s.m.stored.Inc()
	}
	if s.log.Enabled(ctx, slog.LevelDebug) { // the arguments allocate even when the line is dropped
		s.log.Debug("event accepted", "event_id", id, "trigger_id", label, "duplicate", dup)
	}

	status, reply := http.StatusAccepted, []byte(nil)
	if trig.responder != nil {
		status, reply = trig.responder.Accept(&core.Accepted{EventID: id, TriggerID: triggerID, Duplicate: dup, Fields: rawFields(fields)})
	} else {
		reply, _ = json.Marshal(acceptedBody{EventID: id, TriggerID: triggerID, Duplicate: dup})
	}
	s.m.requests.WithLabelValues(label, statusLabel(status)).Inc()
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(status).Send(reply)
}

// basicChallenge is the event endpoints' WWW-Authenticate.
const basicChallenge = `Basic realm="jsonevent", charset="UTF-8"`

// storeWait bounds how long a request waits for the store to commit its
// event; past it the answer is a 503 (the event may or may not be stored,
// and a retry with the same Idempotency-Key is safe), never a hung request.
const storeWait = 30 * time.Second

// unavailableRetryAfter is the Retry-After of every 503, which refuse sets:
// the store, and on PostgreSQL the limiter too, is the same database, and a
// second's pause had senders hammer a limiter that was down.
const unavailableRetryAfter = "5"

// allow asks the limiter, waiting at most storeWait: fiber's context has
// no deadline, and the shared limiter waits on PostgreSQL (a connection
// from the pool, the token's lock, the statement), so a database that
// stops answering would hold the request, unanswered, for as long.
// The in-memory limiter answers at once and needs no timer.
func (s *Server) allow(ctx context.Context, key string, perMinute int) (limit.Decision, error) {
	if m, ok := s.limiter.(*limit.Memory); ok {
		return m.Allow(ctx, key, perMinute)
	}
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	return s.limiter.Allow(ctx, key, perMinute)
}

// insertEvent stores ev and its jobs, waiting at most storeWait.
func (s *Server) insertEvent(ctx context.Context, ev *store.Event, jobs []river.InsertManyParams) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	return s.store.InsertEvent(ctx, ev, jobs...)
}

type acceptedBody struct {
	EventID   string `json:"eventId"`
	TriggerID string `json:"triggerId"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// refuseErr refuses with the status and message err's code calls for.
func (s *Server) refuseErr(c *fiber.Ctx, trig *trigger, label, triggerID string, err error) error {
	code := core.ErrorCode(err)
	if code == core.CodeInternal {
		s.log.Error("internal error", "trigger_id", label, "err", err)
	}
	return s.refuse(c, trig, label, triggerID, HTTPStatus(err), code, core.ErrorMessage(err))
}

// refuse sends the JSON error (shaped by the trigger's adapter when it is a
// Responder), counts it and logs one line without token, headers or body.
func (s *Server) refuse(c *fiber.Ctx, trig *trigger, label, triggerID string, status int, code core.Code, msg string) error {
	body := marshalError(code, msg)
	sendStatus := status
	if trig != nil && trig.responder != nil {
		sendStatus, body = trig.responder.Refuse(status, code, msg)
	}
	if label != "" {
		s.m.requests.WithLabelValues(label, statusLabel(sendStatus)).Inc()
	}
	s.m.rejections.WithLabelValues(string(code)).Inc()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(context.Background(), level, "request refused",
		slog.Int("status", status),
		slog.String("error", string(code)),
		slog.String("message", msg),
		slog.String("method", truncate(requestMethod(c), 20)),
		slog.String("path", c.Path()),
		slog.String("trigger_id", truncate(triggerID, 100)),
		slog.String("remote_ip", c.IP()),
	)
	if sendStatus == http.StatusServiceUnavailable && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		// Every 503 says when to come back, the API's reads too.
		c.Set(fiber.HeaderRetryAfter, unavailableRetryAfter)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(sendStatus).Send(body)
}

// readBody reads the streamed body up to limit bytes, plus one to tell
// "exactly the limit" from "over it". tooLarge is true when the declared
// Content-Length or the bytes actually sent (chunked) exceed limit; the
// rest is then drained (up to drainLimit) and the connection closed.
func readBody(c *fiber.Ctx, limit int) (body []byte, tooLarge bool, err error) {
	req := c.Request()
	cl := req.Header.ContentLength() // -1 chunked, -2 none
	stream := c.Context().RequestBodyStream()
	if cl > limit {
		drain(c, stream)
		return nil, true, nil
	}
	if stream == nil {
		b := req.Body()
		if len(b) > limit {
			return nil, true, nil
		}
		return bytes.Clone(b), false, nil
	}
	size := 1024
	if cl >= 0 {
		size = cl + 1
	}
	buf := make([]byte, 0, size)
	r := io.LimitReader(stream, int64(limit)+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if len(buf) <= limit { // the body's own end, not the LimitReader's
				bodyRead(c)
			}
			break
		}
		if err != nil {
			c.Context().SetConnectionClose()
			return nil, false, err
		}
	}
	if len(buf) > limit {
		drain(c, stream)
		return buf[:limit], true, nil // what was read: capture sessions keep it
	}
	return buf, false, nil
}

// bodyRead marks a streamed body as read to its end, so that nothing reads
// it again (drainUnreadBodies): a chunked body's stream read past its end
// would parse the connection's next request as a chunk size, waiting for
// it or eating it.
func bodyRead(c *fiber.Ctx) { _ = c.Request().CloseBodyStream() }

// drain reads what is left of a refused body, up to drainLimit, and closes
// the connection after the answer (so drainUnreadBodies reads nothing more).
func drain(c *fiber.Ctx, stream io.Reader) {
	if stream != nil {
		_, _ = io.CopyN(io.Discard, stream, drainLimit)
	}
	c.Context().SetConnectionClose()
}

// checkContentType returns why ct is refused, or "" for application/json
// (with an optional UTF-8 charset).
func checkContentType(ct string) string {
	if ct == "" {
		return "the Content-Type header is missing; send Content-Type: application/json"
	}
	if ct == "application/json" { // what nearly every sender sends: no parse
		return ""
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Sprintf("Content-Type %q is not accepted; send the body as JSON with Content-Type: application/json", truncate(ct, 100))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return fmt.Sprintf("charset %q is not accepted; JSON must be UTF-8", truncate(cs, 40))
	}
	return ""
}

// checkContentEncoding returns why the request's Content-Encoding is
// refused, or "" when there is none (or identity). Bodies are read as
// sent: a compressed one would be refused as "not JSON at offset 0", or,
// when the header lies, kept as if plain.
func checkContentEncoding(c *fiber.Ctx) string {
	ce := strings.TrimSpace(string(c.Request().Header.Peek(fiber.HeaderContentEncoding)))
	if ce == "" || strings.EqualFold(ce, "identity") {
		return ""
	}
	return fmt.Sprintf("Content-Encoding %q is not accepted; send the JSON uncompressed", truncate(ce, 40))
}

// invalidJSONHinter is core.InvalidJSONHinter: adapters whose vendor
// breaks JSON in a typical way explain the likely mistake.
type invalidJSONHinter interface {
	InvalidJSONHint(body []byte, offset int64) string
}

// maxJSONDepth is encoding/json's nesting limit: json.Valid refuses a
// document nested deeper.
const maxJSONDepth = 10000

// validJSON reports whether b is one JSON document exactly as json.Valid
// does, about three times faster: gjson's validator follows the same
// grammar (FuzzValidJSON compares the two) but has no nesting limit, so a
// document with maxJSONDepth or more brackets, which could be nested that
// deep, goes to json.Valid.
func validJSON(b []byte) bool { return validJSONBrackets(b, countBrackets(b)) }

// validJSONBrackets is validJSON for b holding brackets '[' and '{'.
func validJSONBrackets(b []byte, brackets int) bool {
	if brackets < maxJSONDepth {
		return gjson.ValidBytes(b)
	}
	return json.Valid(b)
}

// countBrackets counts the '[' and '{' bytes of b (in strings too): an
// upper bound on how deep b can nest.
func countBrackets(b []byte) int {
	return bytes.Count(b, []byte{'['}) + bytes.Count(b, []byte{'{'})
}

// jsonErrorMessage says where body stops being JSON, and returns that
// byte offset (-1 when unknown).
func jsonErrorMessage(body []byte) (string, int64) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "the body is empty; send a JSON document", 0
	}
	var v json.RawMessage
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("the body is not valid JSON at byte offset %d: %s", se.Offset, se.Error()), se.Offset
	}
	if err != nil {
		return "the body is not valid JSON: " + err.Error(), -1
	}
	return "the body is not valid JSON", -1
}

// invalidUTF8Offset returns the offset of the first byte of body that is
// not valid UTF-8, or -1 when body is valid UTF-8.
func invalidUTF8Offset(body []byte) int {
	if utf8.Valid(body) {
		return -1
	}
	for i := 0; i < len(body); {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// maxNesting is how deep arrays and objects may nest in a body. No vendor
// payload comes near it, and JSONPath's descendant queries (`$..x`, which
// captured fields and workflow conditions use too) rescan a document once
// per level of nesting: a 100 KB body nested 5,000 deep cost about 90 ms
// per such field, and ran into the evaluation budget, so the field came out
// null instead of its value. Refused, it is a 400 the sender can act on.
const maxNesting = 128

// tooDeep returns the byte offset of the first '[' or '{' that opens a
// level deeper than maxNesting, or -1 when there is none. b is valid JSON
// and holds brackets '[' and '{' (countBrackets).
func tooDeep(b []byte, brackets int) int {
	if brackets <= maxNesting {
		return -1 // cannot nest that deep: the common case costs nothing more
	}
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip the string: to the next quote not escaped.
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
			if depth > maxNesting {
				return i
			}
		case ']', '}':
			depth--
		}
	}
	return -1
}

// extract evaluates each field: one node gives its value, several an
// array of them, none null. A field whose query outgrows JSONPath's work
// budget is null too, and said so in a warning stored with the event.
func extract(fields []field, doc []byte) (map[string]json.RawMessage, []string) {
	out := make(map[string]json.RawMessage, len(fields))
	var warnings []string
	for _, f := range fields {
		vals, err := f.path.Select(doc)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("field %q is null: %s did more work than this document allows (%v)", f.name, f.path, err))
		}
		switch len(vals) {
		case 0:
			out[f.name] = json.RawMessage("null")
		case 1:
			out[f.name] = json.RawMessage(vals[0])
		default:
			n := 1
			for _, v := range vals {
				n += len(v) + 1
			}
			arr := make([]byte, 0, n)
			arr = append(arr, '[')
			for i, v := range vals {
				if i > 0 {
					arr = append(arr, ',')
				}
				arr = append(arr, v...)
			}
			out[f.name] = append(arr, ']')
		}
	}
	return out, warnings
}

func rawFields(f map[string]json.RawMessage) map[string][]byte {
	out := make(map[string][]byte, len(f))
	for k, v := range f {
		out[k] = v
	}
	return out
}

// copyHeader copies the request's headers (fasthttp's buffers are reused
// after the handler returns). Each header's first value gets a one-element
// slice of one shared array instead of an allocation of its own.
func copyHeader(c *fiber.Ctx) http.Header {
	rh := &c.Request().Header
	n := rh.Len()
	h := make(http.Header, n)
	vals := make([]string, 0, n)
	rh.VisitAll(func(k, v []byte) {
		key := http.CanonicalHeaderKey(string(k))
		if prev, ok := h[key]; ok {
			h[key] = append(prev, string(v))
			return
		}
		vals = append(vals, string(v))
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	})
	return h
}

// copyQuery keeps the first value of a repeated query parameter, the one
// the trigger was chosen by (QueryArgs().Peek), so that a stored event's
// query never names another triggerId than the event's, nor its contextId
// another than the one the adapter and fields saw.
func copyQuery(c *fiber.Ctx) map[string]string {
	q := make(map[string]string, 4)
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		if _, seen := q[string(k)]; !seen {
			q[string(k)] = string(v)
		}
	})
	return q
}

func setRateHeaders(c *fiber.Ctx, limit, remaining int, reset time.Duration) {
	c.Set("RateLimit-Limit", strconv.Itoa(limit))
	c.Set("RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	c.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(reset)))
}

func ceilSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// pathParam returns the route parameter name percent-decoded. fiber routes
// on the path as sent, so an id a client encodes (encodeURIComponent and
// url.PathEscape turn "café" into "caf%C3%A9", and the admin page encodes
// every id and field name) would otherwise be looked up encoded and not
// found. A value that is not valid percent-encoding is taken as sent.
func pathParam(c *fiber.Ctx, name string) string {
	v := c.Params(name)
	if strings.IndexByte(v, '%') >= 0 {
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
	}
	return strings.Clone(v) // fiber's string aliases a reused buffer
}

// idParam is the path parameter name holding an id the store made
// (prefix and a ULID): a ULID is case-insensitive, so an id pasted in lower
// case finds its record, as a lower-case cursor pages on (parseCursor).
func idParam(c *fiber.Ctx, name, prefix string) string {
	id, _ := canonicalID(pathParam(c, name), prefix)
	return id
}

// canonicalID writes a valid prefix+ULID id in the store's upper case and
// reports that it is one; anything else is returned as it is (and found
// by nothing).
func canonicalID(v, prefix string) (string, bool) {
	if store.ValidID(prefix, v) {
		return prefix + strings.ToUpper(v[len(prefix):]), true
	}
	return v, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// getEvent returns a stored event to its own account.
func (s *Server) getEvent(c *fiber.Ctx) error {
	p, err := s.caller(c, s.rt.Load())
	if err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	ev, err := s.store.GetEvent(c.UserContext(), p.AccountID, idParam(c, "eventId", store.EventIDPrefix))
	if err != nil {
		return s.refuseErr(c, nil, "", "", err)
	}
	view := EventView(ev)
	if s.wf != nil {
		if view.Runs, err = s.wf.EventRuns(c.UserContext(), p.AccountID, ev.ID); err != nil {
			return s.refuseErr(c, nil, "", "", err)
		}
	}
	return c.Status(http.StatusOK).JSON(view)
}

// EventJSON is the JSON form of a stored event (GET /v1/events/{id}).
type EventJSON struct {
	EventID        string                     `json:"eventId"`
	TriggerID      string                     `json:"triggerId"`
	AccountID      string                     `json:"accountId"`
	ContextID      string                     `json:"contextId,omitempty"`
	UserID         string                     `json:"userId,omitempty"`
	BrandID        string                     `json:"brandId,omitempty"`
	ReceivedAt     time.Time                  `json:"receivedAt"`
	Query          map[string]string          `json:"query"`
	Headers        http.Header                `json:"headers"`
	Body           json.RawMessage            `json:"body"`
	NormalizedBody json.RawMessage            `json:"normalizedBody"`
	Fields         map[string]json.RawMessage `json:"fields"`
	Warnings       []string                   `json:"warnings,omitempty"`
	IdempotencyKey string                     `json:"idempotencyKey,omitempty"`
	ReplayOf       string                     `json:"replayOf,omitempty"`
	// AuthUsername is the username of the Basic auth it came with.
	AuthUsername string `json:"authUsername,omitempty"`
	// Runs are the event's workflow runs (when workflows are enabled).
	Runs []*store.Run `json:"runs,omitempty"`
}

// EventView converts a stored event to its JSON form.
func EventView(ev *store.Event) EventJSON {
	return EventJSON{
		EventID: ev.ID, TriggerID: ev.TriggerID, AccountID: ev.AccountID,
		ContextID: ev.ContextID, UserID: ev.UserID, BrandID: ev.BrandID,
		ReceivedAt: ev.ReceivedAt, Query: ev.Query, Headers: ev.Header,
		Body: rawOrString(ev.Body), NormalizedBody: rawOrString(ev.NormalizedBody),
		Fields: ev.Fields, Warnings: ev.Warnings,
		IdempotencyKey: ev.IdempotencyKey, ReplayOf: ev.ReplayOf, AuthUsername: ev.AuthUsername,
	}
}

func rawOrString(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

// ready reports whether the store answers.
func (s *Server) ready(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		c.Set(fiber.HeaderRetryAfter, unavailableRetryAfter)
		return c.Status(http.StatusServiceUnavailable).JSON(errorBody{Error: core.CodeUnavailable, Message: "the event store is not reachable"})
	}
	return c.Status(http.StatusOK).JSON(fiber.Map{"status": "ready"})
}
