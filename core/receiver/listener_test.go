package receiver

import (
	"bufio"
	"context"
	"fmt"
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
