// Package receiver is jsonevent's HTTP front door: the JSON event endpoint
// with its checks in the order of the wire contract, event lookup, health
// and metrics. It is the only package that imports fiber.
package receiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/valyala/fasthttp"

	"github.com/jsonevent/jsonevent/core"
	"github.com/jsonevent/jsonevent/core/capture"
	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
)

// EventStore is what the receiver needs from the store (*store.Store).
type EventStore interface {
	InsertEvent(ctx context.Context, ev *store.Event, jobs ...river.InsertManyParams) (id string, duplicate bool, err error)
	GetEvent(ctx context.Context, accountID, id string) (*store.Event, error)
	Ping(ctx context.Context) error
}

// JobPlanner returns the river jobs an accepted event starts (one per
// workflow whose condition holds, say). They are inserted in the event's
// own transaction, so a 202 always has its jobs. ev.ID is already set.
type JobPlanner func(ctx context.Context, trigger *config.Trigger, ev *store.Event) ([]river.InsertManyParams, error)

// Options wires a Server.
type Options struct {
	Store    EventStore
	Limiter  limit.Limiter // nil: limit.NewMemory()
	Adapters Adapters
	Log      *slog.Logger
	// Jobs, when set, plans the jobs of each accepted event.
	Jobs JobPlanner
	// Capture, when set, records requests for capture sessions, adds
	// adopted fields to extraction and serves the capture and field routes
	// (capture_routes.go).
	Capture *capture.Service
	// Workflows, when set, serves runs, tickets and replays (workflow_routes.go).
	Workflows Workflows
	// Registry receives the metrics; nil makes a private one served on
	// /metrics.
	Registry *prometheus.Registry
	// Now is the clock (tests); nil is the store's (store.Store.Now: on
	// PostgreSQL the database server's, which event ids and received
	// times must follow), else time.Now.
	Now func() time.Time
	// StoreWait bounds a request's wait for its commit, and separately for
	// the rate limiter's decision; 0 is 30 s (tests set less).
	StoreWait time.Duration
}

// Server is the HTTP receiver.
type Server struct {
	app     *fiber.App
	rt      atomic.Pointer[Runtime]
	store   EventStore
	limiter limit.Limiter
	adapter Adapters
	log     *slog.Logger
	jobs    JobPlanner
	capture *capture.Service // nil: no capture sessions, no adopted fields
	wf      Workflows        // nil: the run and ticket routes answer 404
	m       *metrics
	now     func() time.Time
	wait    time.Duration // storeWait unless Options.StoreWait
	conns   *connTracker  // lets Shutdown close connections that sent nothing
}

// readTimeout bounds the reading of one request.
const readTimeout = 30 * time.Second

// maxStreamPrefetch is what fiber reads of a body before the handler runs;
// the handler streams the rest itself, stopping one byte past the limit.
const maxStreamPrefetch = 8 << 10

// New compiles cfg and builds the server (not yet listening).
func New(cfg *config.Config, opt Options) (*Server, error) {
	if opt.Store == nil {
		return nil, errors.New("receiver: a store is required")
	}
	rt, err := Compile(cfg, opt.Adapters)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store:   opt.Store,
		limiter: opt.Limiter,
		adapter: opt.Adapters,
		log:     opt.Log,
		jobs:    opt.Jobs,
		capture: opt.Capture,
		wf:      opt.Workflows,
		now:     opt.Now,
		wait:    opt.StoreWait,
		conns:   newConnTracker(readTimeout),
	}
	if s.wait <= 0 {
		s.wait = storeWait
	}
	if s.limiter == nil {
		s.limiter = limit.NewMemory()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if c, ok := opt.Store.(interface{ Now() time.Time }); ok && s.now == nil {
		s.now = c.Now
	}
	if s.now == nil {
		s.now = time.Now
	}
	reg := opt.Registry
	if reg == nil {
		reg = newRegistry()
	}
	s.m = newMetrics(reg)
	s.rt.Store(rt)

	s.app = fiber.New(fiber.Config{
		AppName:               "jsonevent",
		DisableStartupMessage: true,
		// Bodies are streamed: fiber pre-reads at most 8 KB and the handler
		// reads the rest up to the trigger's limit, also for chunked bodies.
		StreamRequestBody: true,
		BodyLimit:         maxStreamPrefetch,
		// fasthttp would otherwise read a multipart/form-data body whole
		// before any handler runs (16 MB in memory, more in temporary
		// files), past every limit and without credentials. No route takes
		// a form: such a body is streamed and refused like any other.
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  readTimeout,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  2 * time.Minute,
		ErrorHandler:                 s.fiberError,
	})
	// A request fasthttp cannot parse reaches fiberError with fasthttp's
	// error text, which by default quotes up to 400 bytes of the raw
	// request: its X-API-TOKEN or Authorization header, the start of its
	// body. That text is the refusal's message, sent back and logged.
	s.app.Server().SecureErrorLogMessage = true
	// A panic in a handler or an adapter answers 500 and is logged, instead
	// of ending the process and every request in flight with it.
	s.app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: s.logPanic}))
	s.refuseUnknownMethods()
	s.drainUnreadBodies()
	s.closeAmbiguousFraming()
	s.app.Post("/inbound-event/v1/event/JSON/triggers", func(c *fiber.Ctx) error {
		return s.postEvent(c, "inbound")
	})
	s.app.Post("/v1/triggers/:triggerId/events", func(c *fiber.Ctx) error {
		return s.postEvent(c, "triggers")
	})
	s.app.Get("/v1/events/:eventId", s.getEvent)
	s.workflowRoutes()
	s.captureRoutes()
	s.uiRoutes()
	s.app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.Status(http.StatusOK).JSON(fiber.Map{"status": "ok"})
	})
	s.app.Get("/readyz", s.ready)
	s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	return s, nil
}

// Apply compiles cfg and swaps it in for the requests that start after it;
// it is the apply function for config.Watch. A config that does not compile
// keeps the running one, is logged at Error and is returned, so that the
// caller does not apply it elsewhere either.
func (s *Server) Apply(cfg *config.Config) error {
	rt, err := Compile(cfg, s.adapter)
	if err != nil {
		s.log.Error("config reload refused; the previous config keeps running", "err", err)
		return err
	}
	s.rt.Store(rt)
	s.log.Info("config reloaded", "triggers", len(cfg.Triggers), "accounts", len(cfg.Accounts))
	return nil
}

// Runtime returns the config currently in force.
func (s *Server) Runtime() *Runtime { return s.rt.Load() }

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.app.Listener(s.conns.listener(ln))
}

// Listen answers requests on addr until Shutdown.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Shutdown stops accepting connections and waits for in-flight requests
// (each of which finishes its commit before answering) until ctx is done.
// A connection that has sent nothing gets silentGrace to start a request,
// then is closed as idle.
func (s *Server) Shutdown(ctx context.Context) error {
	stop := s.conns.cutOffSilent(time.Now().Add(silentGrace))
	defer stop()
	return s.app.ShutdownWithContext(ctx)
}

// Test runs req through the server without a listener (fiber's app.Test),
// for tests in other packages.
func (s *Server) Test(req *http.Request) (*http.Response, error) {
	return s.app.Test(req, -1)
}

// refuseUnknownMethods answers a method fiber does not know (PROPFIND,
// BREW…) with the JSON error contract: fiber itself sends a plain-text 400
// "Invalid http method" before any handler or error handler runs. Such a
// request is routed as TRACE, which no route answers, so that fiber's own
// router decides: 404 for an unknown path, else 405 with the Allow header
// listing the path's methods. fiberError names the method as sent.
func (s *Server) refuseUnknownMethods() {
	srv := s.app.Server()
	next := srv.Handler
	srv.Handler = func(fc *fasthttp.RequestCtx) {
		if !slices.Contains(fiber.DefaultMethods, string(fc.Method())) {
			fc.SetUserValue(unknownMethodKey, string(fc.Method()))
			fc.Request.Header.SetMethod(fiber.MethodTrace)
		}
		next(fc)
	}
}

// drainUnreadBodies keeps the connection in step with the client when a
// handler leaves part of the request body unread. Bodies are streamed:
// fiber pre-reads 8 KB, and fasthttp parses whatever a handler did not read
// as the next request on the connection, so the body of a GET, DELETE or
// replay past 8 KB could carry requests of its own (request smuggling, and
// answers out of step behind a proxy). After the handler, the rest is read
// and dropped, up to drainLimit; past it the connection is closed after the
// answer. Handlers that read their body to the end (the event endpoint)
// leave nothing: one read sees the end, and small bodies have no stream.
func (s *Server) drainUnreadBodies() {
	srv := s.app.Server()
	next := srv.Handler
	srv.Handler = func(fc *fasthttp.RequestCtx) {
		next(fc)
		stream := fc.RequestBodyStream()
		if stream == nil || fc.Response.ConnectionClose() {
			return
		}
		if _, err := io.CopyN(io.Discard, stream, drainLimit); err != io.EOF {
			fc.SetConnectionClose()
		}
	}
}

// closeAmbiguousFraming closes the connection after answering a request
// that has both Transfer-Encoding and Content-Length (RFC 9112 §6.1: the
// server MUST). fasthttp reads it as chunked and would go on reading the
// connection; a proxy in front that went by the Content-Length sees the
// connection's next bytes elsewhere than this server does, and a request
// can be smuggled past it. Only chunked requests are looked at.
func (s *Server) closeAmbiguousFraming() {
	srv := s.app.Server()
	next := srv.Handler
	srv.Handler = func(fc *fasthttp.RequestCtx) {
		if fc.Request.Header.ContentLength() == -1 && hasContentLength(fc.Request.Header.RawHeaders()) {
			fc.SetConnectionClose()
		}
		next(fc)
	}
}

// hasContentLength reports whether raw request headers hold a
// Content-Length line, whatever its case.
func hasContentLength(raw []byte) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if name, _, ok := bytes.Cut(line, []byte{':'}); ok && bytes.EqualFold(bytes.TrimSpace(name), []byte(fiber.HeaderContentLength)) {
			return true
		}
	}
	return false
}

// unknownMethodKey holds, in the request's user values, the method a
// request came with when refuseUnknownMethods replaced it.
const unknownMethodKey = "jsonevent.unknownMethod"

// requestMethod is the method the client sent.
func requestMethod(c *fiber.Ctx) string {
	if m, ok := c.Context().UserValue(unknownMethodKey).(string); ok {
		return m
	}
	return c.Method()
}

// fiberError turns errors fiber raises itself (unknown route, malformed
// request) into the JSON error contract.
func (s *Server) fiberError(c *fiber.Ctx, err error) error {
	status := http.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
	}
	code, ok := codeOf[status]
	if !ok {
		code = core.CodeInvalid
		if status >= 500 {
			code = core.CodeInternal
		}
	}
	var msg string
	switch status {
	case http.StatusNotFound:
		msg = "no such endpoint; events go to POST /inbound-event/v1/event/JSON/triggers?triggerId=… or POST /v1/triggers/{triggerId}/events"
	case http.StatusMethodNotAllowed:
		allow := string(c.Response().Header.Peek(fiber.HeaderAllow))
		if m, ok := c.Context().UserValue(unknownMethodKey).(string); ok {
			msg = fmt.Sprintf("method %q is not supported; use %s", truncate(m, 20), allow)
		} else {
			msg = fmt.Sprintf("method %s is not allowed here; use %s", truncate(c.Method(), 20), allow)
		}
	case http.StatusRequestHeaderFieldsTooLarge:
		code = core.CodeTooLarge
		msg = "the request headers are too large (at most 4 KB in all); send fewer or shorter headers"
	case http.StatusRequestTimeout:
		msg = "the request was not received completely in time; check that Content-Length matches the body sent"
	default:
		msg = http.StatusText(status)
		if fe != nil && fe.Message != "" {
			msg = fe.Message
		} else if fe == nil && status == http.StatusInternalServerError {
			if c.Locals(panickedKey) == nil { // logPanic has logged a panic, with its stack
				s.log.Error("request failed", "method", truncate(requestMethod(c), 20), "path", truncate(c.Path(), 200), "err", err)
			}
			msg = "the server failed while handling this request (the failure is logged); retry later, with the same Idempotency-Key so that a retry is never stored twice"
		}
	}
	return s.refuse(c, nil, "", "", status, code, msg)
}

// panickedKey marks, in a request's locals, a panic logPanic logged.
const panickedKey = "jsonevent.panicked"

// logPanic logs a handler's panic with its stack; the request is then
// answered 500 by fiberError. The panic's value is cut short: it may quote
// what the request sent.
func (s *Server) logPanic(c *fiber.Ctx, e any) {
	c.Locals(panickedKey, true)
	s.log.Error("a request handler panicked; answered 500", "method", truncate(c.Method(), 20), "path", truncate(c.Path(), 200),
		"panic", truncate(fmt.Sprint(e), 200), "stack", string(debug.Stack()))
}
