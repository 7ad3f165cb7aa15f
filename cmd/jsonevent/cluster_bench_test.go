package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jsonevent/jsonevent/core/pgtest"
)

// BenchmarkIngest measures durable ingest through real `jsonevent serve`
// processes on loopback: 1 KB JSON events from 64 concurrent keep-alive
// connections, spread round-robin over the nodes, each answered 202 only
// once committed. One op is one round of 64 concurrent events; events/s,
// p50 and p99 are reported. SQLite (one node, the default) stands beside
// PostgreSQL with one and with three nodes; the PostgreSQL case names its
// fsync setting (`make bench` starts it with fsync on, like SQLite's
// synchronous=FULL).
func BenchmarkIngest(b *testing.B) {
	cases := []struct {
		driver string
		nodes  int
	}{
		{"sqlite", 1},
		{"postgres", 1},
		{"postgres", 3},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s/%d-node", tc.driver, tc.nodes)
		var dsn string
		if tc.driver == "postgres" {
			if !pgtest.Available() {
				b.Run(name, func(b *testing.B) { pgtest.DSN(b) }) // skips, saying how to enable
				continue
			}
			name = fmt.Sprintf("postgres-fsync=%s/%d-node", pgFsync(b), tc.nodes)
		}
		b.Run(name, func(b *testing.B) {
			var cfg string
			if tc.driver == "postgres" {
				dsn = pgtest.DSN(b)
				cfg = clusterConfig(dsn, 1_000_000)
			} else {
				cfg = serveConfig(filepath.Join(b.TempDir(), "data", "bench.db"))
			}
			nodes := startNodes(b, tc.nodes, writeConfig(b, cfg))
			benchmarkIngest(b, nodes)
		})
	}
}

// pgFsync reports the fsync setting of the test server.
func pgFsync(b *testing.B) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&v); err != nil {
		b.Fatal(err)
	}
	return v
}

func benchmarkIngest(b *testing.B, nodes []*server) {
	const conns = 64
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    error
	)
	send := func(node *server, n int) {
		start := time.Now()
		status, _, err := post(client, node.addr, "", n)
		d := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && status != http.StatusAccepted {
			err = fmt.Errorf("status %d", status)
		}
		if err != nil && failed == nil {
			failed = err
		}
		latencies = append(latencies, d)
	}
	// Warm the connections and the servers' statement caches.
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { send(nodes[i%len(nodes)], i) })
	}
	wg.Wait()
	latencies = latencies[:0]

	start := time.Now()
	n := 0
	for b.Loop() {
		for range conns {
			n++
			node := nodes[n%len(nodes)]
			wg.Go(func() { send(node, n) })
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	if failed != nil {
		b.Fatalf("ingest failed: %v", failed)
	}
	slices.Sort(latencies)
	p := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "events/s")
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}
