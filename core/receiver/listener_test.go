package receiver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// listen serves h on a loopback port until the test ends and returns its
// address: for what only the real listener does (fasthttp reads a request
// before fiber, or app.Test, sees it).
func (h *harness) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// rawRequest writes head and then body on a new connection to addr and
// returns the answer's status line.
func rawRequest(t *testing.T, addr, head string, body []byte) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		if _, err := conn.Write([]byte(head)); err == nil {
			_, _ = conn.Write(body) // the server may close early: fine
		}
	}()
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return strings.TrimSpace(status)
}

// TestMultipartBodyIsNotBuffered: fasthttp reads a multipart/form-data
// body with a Content-Length into a form before any handler runs (file
// parts up to 16 MB in memory, the rest in temporary files, other parts up
// to 10 MB more), past the 8 KB pre-read and every body limit, for any
// path and without credentials. Such a body must be streamed like any
// other: refused at the trigger's limit, nothing of it kept.
func TestMultipartBodyIsNotBuffered(t *testing.T) {
	h := newHarness(t, testConfig())
	addr := h.listen(t)

	const size = 6 << 20
	var body strings.Builder
	body.WriteString("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\n")
	body.WriteString(strings.Repeat("x", size))
	body.WriteString("\r\n--b--\r\n")
	payload := []byte(body.String())

	for _, target := range []string{inbound + "OC_demo", "/healthz"} {
		t.Run(target, func(t *testing.T) {
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n", target, len(payload))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			status := rawRequest(t, addr, head, payload)
			runtime.ReadMemStats(&after)
			if target != "/healthz" && !strings.Contains(status, " 413 ") {
				t.Fatalf("answer %q, want 413", status)
			}
			if target == "/healthz" && !strings.Contains(status, " 405 ") {
				t.Fatalf("answer %q, want 405", status)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > size/3 {
				t.Fatalf("the server allocated %d bytes for a %d-byte multipart body it refuses", grew, len(payload))
			}
		})
	}
}

// TestContentLengthWithChunkedClosesConnection: a request with both
// Content-Length and Transfer-Encoding is read as chunked, as RFC 9112
// §6.1 allows, but a proxy in front may have read it by its Content-Length
// and see what follows the chunks as a request of its own, or the other
// way round (request smuggling). The RFC requires closing the connection
// after answering it; fasthttp keeps it open and answers what follows.
func TestContentLengthWithChunkedClosesConnection(t *testing.T) {
	h := newHarness(t, testConfig())
	addr := h.listen(t)
	exchange := func(requests string) string {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte(requests)); err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(all.String(), `"ok"`) { // the /healthz answer, if any
			n, err := conn.Read(buf)
			all.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return all.String()
	}
	post := func(contentLength string) string {
		return "POST " + inbound + "OC_demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-TOKEN: " + demoToken +
			"\r\n" + contentLength + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
	}
	const next = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

	out := exchange(post("content-length: 4\r\n") + next)
	if !strings.HasPrefix(out, "HTTP/1.1 202 ") || !strings.Contains(out, "Connection: close") || strings.Count(out, "HTTP/1.1 ") != 1 {
		t.Fatalf("both headers: want one 202 with Connection: close, got %q", out)
	}
	// Chunked alone is unambiguous: the connection goes on.
	out = exchange(post("") + next)
	if strings.Count(out, "HTTP/1.1 ") != 2 || strings.Contains(out, "Connection: close") {
		t.Fatalf("chunked alone: want two answers on one connection, got %q", out)
	}
}

// Ensure Shutdown does not wait for a connection that never sent a byte (a
// client's spare pooled connection, a browser's preconnect). fasthttp
// counts a new connection as active before reading from it, so such a
// connection held the drain until the shutdown deadline: SIGTERM took the
// whole server.shutdown_timeout, logged "drain did not finish" and left
// running workflow attempts no time to stop (TestServeDurability's restarted
// server, stopped after its read-back, took 11 s in 1 of 8 runs). The
// silent connection is closed cleanly, without an answer or a log line,
// while a request on another connection, begun before Shutdown and
// finished after, is still answered.
func TestShutdownClosesSilentConnections(t *testing.T) {
	h := newHarness(t, testConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Shutdown(context.Background()) })
	addr := ln.Addr().String()

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// Both accepted by the server, not waiting in the listen backlog.
	deadline := time.Now().Add(10 * time.Second)
	for h.srv.app.Server().GetOpenConnectionsCount() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the server accepted %d of 2 connections", h.srv.app.Server().GetOpenConnectionsCount())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// The other connection's request has begun (its first bytes are read)
	// when Shutdown starts; the rest comes after.
	_ = busy.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := busy.Write([]byte("GET /healthz HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	heard := func() int {
		h.srv.conns.mu.Lock()
		defer h.srv.conns.mu.Unlock()
		n := 0
		for c := range h.srv.conns.conns {
			if c.heard.Load() {
				n++
			}
		}
		return n
	}
	for heard() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the server never read the request's first bytes")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Shutdown must finish well before fasthttp's 30 s read timeout would
	// have closed the silent connection.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- h.srv.Shutdown(ctx) }()
	if _, err := busy.Write([]byte("Host: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	status, err := bufio.NewReader(busy).ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Errorf("a request finished after Shutdown began: %q, %v; want 200", status, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v after %v; a connection that sent nothing held the drain", err, time.Since(start).Round(time.Millisecond))
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(silent); err != nil || len(got) > 0 {
		t.Errorf("the silent connection got %q, %v; want a clean close", got, err)
	}
	if logs := h.logs.String(); logs != "" {
		t.Errorf("Shutdown logged: %s", logs)
	}
}
