//go:build loadbench

package receiver

// The load benchmark behind `make bench`: 1 KB JSON over 64 keep-alive
// connections on loopback, against (a) a bare fiber handler that answers
// 202 and (b) the real endpoint (auth, limits, JSONPath, group-committed
// fsynced SQLite), in the same run. It is a test behind a build tag so that
// `go test ./...` never runs it:
//
//	go test -tags loadbench -run TestLoadBench -v -count=1 ./core/receiver
//
// LOADBENCH_SECONDS sets the measuring time per target (default 10),
// LOADBENCH_CONNS the connections (default 64), and LOADBENCH_ONLY=durable
// (or bare) drives only that target (for profiling with -cpuprofile).

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/limit"
	"github.com/jsonevent/jsonevent/core/store"
)

const (
	loadConnsDefault = 64
	loadWarm         = time.Second
)

type loadResult struct {
	name     string
	lat      []time.Duration // sorted
	n        int64
	errors   int64
	elapsed  time.Duration
	p50, p99 time.Duration
	cpu      time.Duration // process CPU (user+sys, client included) while measuring
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r loadResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r loadResult) String() string {
	return fmt.Sprintf("%-28s %9.0f events/s   p50 %7.2f ms   p99 %7.2f ms   %5.0f µs CPU/event   (%d requests, %d errors)",
		r.name, r.rate(), ms(r.p50), ms(r.p99), float64(r.cpu)/float64(time.Microsecond)/float64(max(r.n, 1)), r.n, r.errors)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// load drives addr with loadConns concurrent keep-alive connections, each
// sending one request at a time, for warm-up plus d; only requests started
// after the warm-up are measured.
func load(t *testing.T, name, addr, uri string, body []byte, warm, d time.Duration) loadResult {
	t.Helper()
	client := &fasthttp.HostClient{Addr: addr, MaxConns: loadConns, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		n, errs   atomic.Int64
		mu        sync.Mutex
		lat       []time.Duration
		wg        sync.WaitGroup
	)
	for range loadConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			local := make([]time.Duration, 0, 1<<16)
			for !stop.Load() {
				req.Reset()
				req.SetRequestURI("http://" + addr + uri)
				req.Header.SetMethod(fasthttp.MethodPost)
				req.Header.SetContentType("application/json")
				req.Header.Set("X-API-TOKEN", demoToken)
				req.SetBody(body)
				m := measuring.Load()
				start := time.Now()
				err := client.Do(req, resp)
				el := time.Since(start)
				if !m {
					continue
				}
				if err != nil || resp.StatusCode() != fiber.StatusAccepted {
					errs.Add(1)
					continue
				}
				n.Add(1)
				local = append(local, el)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	time.Sleep(warm)
	measuring.Store(true)
	start, cpu0 := time.Now(), cpuTime()
	time.Sleep(d)
	stop.Store(true)
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := loadResult{name: name, n: n.Load(), errors: errs.Load(), elapsed: elapsed, cpu: cpu, lat: lat}
	r.percentiles()
	return r
}

func (r *loadResult) percentiles() {
	if len(r.lat) > 0 {
		r.p50 = r.lat[len(r.lat)*50/100]
		r.p99 = r.lat[min(len(r.lat)-1, len(r.lat)*99/100)]
	}
}

// merge adds another round's measurements to r.
func (r *loadResult) merge(o loadResult) {
	r.name = o.name
	r.n += o.n
	r.errors += o.errors
	r.elapsed += o.elapsed
	r.cpu += o.cpu
	r.lat = append(r.lat, o.lat...)
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	r.percentiles()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestLoadBench(t *testing.T) {
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("LOADBENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	d := time.Duration(secs) * time.Second
	body := loadBody()
	if len(body) != 1024 {
		t.Fatalf("body is %d bytes", len(body))
	}

	// (a) bare fiber handler.
	bare := fiber.New(fiber.Config{DisableStartupMessage: true})
	bare.Post("/inbound-event/v1/event/JSON/triggers", func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"eventId": "evt_x", "triggerId": "OC_demo"})
	})
	lnA := listen(t)
	go func() { _ = bare.Listener(lnA) }()
	defer bare.Shutdown()

	// (b) the real endpoint on a real on-disk store.
	cfg := testConfig()
	cfg.Limits.RequestsPerMinute = 100_000_000
	st, err := store.Open(context.Background(), config.Store{DSN: filepath.Join(t.TempDir(), "bench.db")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(cfg, Options{Store: st, Limiter: limit.NewMemory(), Adapters: testAdapters})
	if err != nil {
		t.Fatal(err)
	}
	lnB := listen(t)
	go func() { _ = srv.Serve(lnB) }()
	defer srv.Shutdown(context.Background())

	uri := "/inbound-event/v1/event/JSON/triggers?triggerId=OC_demo"
	switch os.Getenv("LOADBENCH_ONLY") { // for profiling
	case "durable":
		fmt.Println(load(t, "jsonevent durable endpoint", lnB.Addr().String(), uri, body, loadWarm, d))
		return
	case "bare":
		fmt.Println(load(t, "bare fiber 202", lnA.Addr().String(), uri, body, loadWarm, d))
		return
	}
	// The two targets alternate in one-second rounds, so that a change in
	// the machine's load (it is shared) hits both alike.
	var (
		a, b   loadResult
		ratios []float64 // per round: the two targets saw the same machine
	)
	for i := range secs {
		warm := 200 * time.Millisecond
		if i == 0 {
			warm = loadWarm
		}
		ra := load(t, "bare fiber 202", lnA.Addr().String(), uri, body, warm, time.Second)
		rb := load(t, "jsonevent durable endpoint", lnB.Addr().String(), uri, body, warm, time.Second)
		if ra.n > 0 {
			ratios = append(ratios, 100*rb.rate()/ra.rate())
		}
		a.merge(ra)
		b.merge(rb)
	}
	sort.Float64s(ratios)
	commits, stored := st.Stats()

	fmt.Printf("\nload: 1 KB JSON, %d connections, loopback, %s per target in alternating 1 s rounds, GOMAXPROCS=%d\n", loadConns, d, runtimeProcs())
	fmt.Println(a)
	fmt.Println(b)
	fmt.Printf("%-28s %9.1f %%   (target >= 30 %%, p99 <= 25 ms)\n", "durable / bare", 100*b.rate()/a.rate())
	if len(ratios) > 0 {
		fmt.Printf("%-28s %9.1f %%   (median of %d rounds; lowest %.1f, highest %.1f)\n", "per round", ratios[len(ratios)/2], len(ratios), ratios[0], ratios[len(ratios)-1])
	}
	fmt.Printf("%-28s %9.1f events per commit (%d commits)\n", "group commit", float64(stored)/float64(max(commits, 1)), commits)
	if a.n == 0 || b.n == 0 || b.errors > 0 {
		t.Fatalf("load run failed: bare %d ok, durable %d ok / %d errors", a.n, b.n, b.errors)
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// loadConns is 64, the figure; LOADBENCH_CONNS changes it to see
// whether a slowdown is latency (more connections help) or work.
var loadConns = func() int {
	if v, err := strconv.Atoi(os.Getenv("LOADBENCH_CONNS")); err == nil && v > 0 {
		return v
	}
	return loadConnsDefault
}()
