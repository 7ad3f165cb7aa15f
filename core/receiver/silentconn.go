package receiver

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// silentGrace is how long a connection that has not sent a byte when
// Shutdown begins still has to start its request. A request already on its
// way arrives within it; after it the connection is closed as idle.
const silentGrace = time.Second

// connTracker lets Shutdown close the connections that never sent
// anything. fasthttp counts a new connection as active before it reads
// from it (its StateNew grace never applies), so its Shutdown waits for a
// silent connection (a client's spare pooled connection, a browser's
// preconnect) until the read timeout or the shutdown deadline: SIGTERM took
// the whole server.shutdown_timeout and left the workflow queue nothing of
// it. Shutdown gives such a connection silentGrace to send its first byte;
// then its read ends as the client closing it would, so fasthttp closes it
// without an answer or a log line.
type connTracker struct {
	readTimeout time.Duration // restored once a cut-off connection speaks

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newConnTracker(readTimeout time.Duration) *connTracker {
	return &connTracker{readTimeout: readTimeout, conns: map[*trackedConn]struct{}{}}
}

// listener wraps ln so that its connections are tracked.
func (t *connTracker) listener(ln net.Listener) net.Listener {
	return &trackedListener{Listener: ln, t: t}
}

// cutOffSilent gives every connection that has not sent a byte until
// deadline to do so, again every 50 ms (fasthttp sets its own read deadline
// on a connection it has just accepted), until stop is called.
func (t *connTracker) cutOffSilent(deadline time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			t.mu.Lock()
			for c := range t.conns {
				if !c.heard.Load() {
					c.cutOff = true
					_ = c.Conn.SetReadDeadline(deadline)
				}
			}
			t.mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

type trackedListener struct {
	net.Listener
	t *connTracker
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: l.t}
	l.t.mu.Lock()
	l.t.conns[tc] = struct{}{}
	l.t.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	t     *connTracker
	heard atomic.Bool // a byte has been read; set under t.mu
	// cutOff says cutOffSilent set the read deadline (guarded by t.mu).
	cutOff bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.heard.Load() {
		return n, err
	}
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	if n > 0 {
		c.heard.Store(true)
		if c.cutOff { // the rest of the request gets the usual read timeout
			c.cutOff = false
			_ = c.Conn.SetReadDeadline(time.Now().Add(c.t.readTimeout))
		}
		return n, err
	}
	if c.cutOff && errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, io.EOF // silent through the grace: closed as idle
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
	return c.Conn.Close()
}
