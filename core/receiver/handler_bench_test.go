package receiver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
)

// BenchmarkPostEvent runs the event endpoint's handler (fiber's routing,
// auth, limits, JSON checks, fields, the group-committed store) without a
// network, from parallel goroutines so that commits are shared as under
// load: ns/op is the CPU and wait of one accepted event on this store, and
// allocs/op what the request path allocates. BENCH_STORE_DIR puts the
// database elsewhere than the test's temporary directory (e.g. /dev/shm, to
// leave the disk's fsync out of a CPU comparison).
func BenchmarkPostEvent(b *testing.B) {
	dir := b.TempDir()
	if d := os.Getenv("BENCH_STORE_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "bench"); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	cfg := testConfig()
	cfg.Limits.RequestsPerMinute = 1 << 30
	st, err := store.Open(context.Background(), config.Store{DSN: filepath.Join(dir, "bench.db")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv, err := New(cfg, Options{Store: st, Limiter: limit.NewMemory(), Adapters: testAdapters})
	if err != nil {
		b.Fatal(err)
	}
	handler := srv.app.Handler()
	body := loadBody()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.SetRequestURI("/inbound-event/v1/event/JSON/triggers?triggerId=OC_demo")
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.Header.Set("X-API-TOKEN", demoToken)
			ctx.Request.SetBody(body)
			handler(&ctx)
			if ctx.Response.StatusCode() != fasthttp.StatusAccepted {
				b.Errorf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body()) // not Fatal: this is not the benchmark's goroutine
				return
			}
		}
	})
}

// loadBody is the load tests' 1 KB event.
func loadBody() []byte {
	b := `{"stores":[{"name":"Oslo","id":17}],"ticket":{"priority":"Urgent","total":1200},"pad":"`
	b += strings.Repeat("x", 1024-len(b)-2) + `"}`
	return []byte(b)
}
