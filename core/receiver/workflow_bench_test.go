package receiver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/config"
	"github.com/jsonevent/jsonevent/core/workflow"
)

// BenchmarkWorkflowEndToEnd measures events per second from the POST to
// the workflow's http task delivered to a local sink: the receiver commits
// each event with its job (group commit, SQLite), river works the jobs and
// the run is recorded. 64 concurrent senders, 1 KB bodies, the default
// queue settings. p50/p99 are POST-to-delivery latencies.
func BenchmarkWorkflowEndToEnd(b *testing.B) {
	b.Run("workflow", func(b *testing.B) { benchEndToEnd(b, true) })
	b.Run("receive-only", func(b *testing.B) { benchEndToEnd(b, false) })
}

func benchEndToEnd(b *testing.B, withWorkflow bool) {
	var delivered atomic.Int64
	done := make(chan struct{})
	var target atomic.Int64
	// sent[n] is when event n was POSTed; latency[n] how long until the
	// sink got its delivery.
	sent := make([]atomic.Int64, b.N+1)
	latency := make([]time.Duration, b.N+1)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil && n > 0 && n <= b.N {
			latency[n] = time.Duration(time.Now().UnixNano() - sent[n].Load())
		}
		if delivered.Add(1) == target.Load() {
			close(done)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	cfg := &config.Config{
		Accounts: []config.Account{{ID: "demo", Username: demoUser, Tokens: []config.Token{{SHA256: sha(demoToken)}}}},
		Limits:   config.Limits{RequestsPerMinute: 10_000_000},
		Triggers: []config.Trigger{{ID: "OC_bench", Account: "demo", Adapter: "generic",
			Fields: map[string]string{"store": "$.stores[0].name", "n": "$.n"},
			Workflows: []config.Workflow{{ID: "deliver", Tasks: []config.Task{{
				ID: "post", Type: "http", URL: sink.URL + "/hook?store={{ .fields.store }}&n={{ .fields.n }}",
				Body: map[string]any{"store": "{{ .fields.store }}", "n": "{{ .fields.n }}"},
			}}}},
		}},
	}
	if !withWorkflow {
		cfg.Triggers[0].Workflows = nil
		target.Store(-1)
	}
	benchWorkers = workflow.DefaultWorkers // what serve runs with
	defer func() { benchWorkers = 20 }()
	h := newWFHarness(b, cfg)
	pad := strings.Repeat("x", 900)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	const senders = 64

	b.ResetTimer()
	if withWorkflow {
		target.Store(int64(b.N))
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				sent[i].Store(time.Now().UnixNano())
				body := fmt.Sprintf(`{"stores":[{"name":"Oslo"}],"n":%d,"pad":%q}`, i, pad)
				req, _ := http.NewRequest(http.MethodPost, h.base+"/inbound-event/v1/event/JSON/triggers?triggerId=OC_bench", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-API-TOKEN", demoToken)
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	if !withWorkflow {
		close(done)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d deliveries", delivered.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d POSTs failed", f)
	}
	if withWorkflow {
		lat := slices.Clone(latency[1:])
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "delivered/s")
	}
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
}
