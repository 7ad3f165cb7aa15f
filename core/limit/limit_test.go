package limit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jsonevent/jsonevent/core/limit"
)

// clock is a fake time source tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(d)
}

func allow(t *testing.T, m *limit.Memory, key string, lim int) limit.Decision {
	t.Helper()
	d, err := m.Allow(context.Background(), key, lim)
	if err != nil {
		t.Fatalf("Allow(%q, %d): %v", key, lim, err)
	}
	return d
}

// Ensure the 3,001st request inside one minute is refused with the header
// values a client needs, and that the 3,000 before it were admitted.
func TestThreeThousandAndFirstRefused(t *testing.T) {
	c := newClock()
	m := limit.NewMemoryWithClock(c.Now)
	for i := 0; i < 3000; i++ {
		c.Set(time.Duration(i) * 10 * time.Millisecond) // spread over 30 s
		d := allow(t, m, "tok", 3000)
		if !d.Allowed {
			t.Fatalf("request %d refused", i+1)
		}
		if d.Remaining != 3000-(i+1) {
			t.Fatalf("request %d: Remaining = %d, want %d", i+1, d.Remaining, 3000-(i+1))
		}
		if d.Limit != 3000 {
			t.Fatalf("Limit = %d", d.Limit)
		}
	}
	c.Set(40 * time.Second)
	d := allow(t, m, "tok", 3000)
	if d.Allowed {
		t.Fatal("3,001st request in a minute was admitted")
	}
	if d.Remaining != 0 {
		t.Errorf("Remaining = %d, want 0", d.Remaining)
	}
	// The first admission was at t=0, so a slot frees at t=60s: 20 s away.
	if d.RetryAfter != 20*time.Second || d.Reset != 20*time.Second {
		t.Errorf("RetryAfter = %v, Reset = %v, want 20s", d.RetryAfter, d.Reset)
	}
	// Another token is not affected.
	if d := allow(t, m, "other", 3000); !d.Allowed {
		t.Error("a different key was refused")
	}
}

// Ensure that a burst at t=0 and another at t=59s cannot together exceed
// the limit in any rolling minute (a refilling bucket would let ~6,000
// through), and that requests are admitted again as the window slides.
func TestRollingWindowBursts(t *testing.T) {
	const lim = 3000
	c := newClock()
	m := limit.NewMemoryWithClock(c.Now)
	var admitted []time.Duration
	burst := func(at time.Duration, n int) int {
		c.Set(at)
		ok := 0
		for i := 0; i < n; i++ {
			if allow(t, m, "tok", lim).Allowed {
				ok++
				admitted = append(admitted, at)
			}
		}
		return ok
	}
	if got := burst(0, lim); got != lim {
		t.Fatalf("burst at 0s admitted %d, want %d", got, lim)
	}
	if got := burst(59*time.Second, lim); got != 0 {
		t.Fatalf("burst at 59s admitted %d, want 0 (would exceed %d in a minute)", got, lim)
	}
	if got := burst(59999*time.Millisecond, 10); got != 0 {
		t.Fatalf("burst at 59.999s admitted %d, want 0", got)
	}
	// At exactly 60 s the t=0 admissions leave the window.
	if got := burst(60*time.Second, lim+5); got != lim {
		t.Fatalf("burst at 60s admitted %d, want %d", got, lim)
	}
	// Half-window steps: 0s..119s, every rolling 60 s holds at most lim.
	if got := burst(90*time.Second, 100); got != 0 {
		t.Fatalf("burst at 90s admitted %d, want 0", got)
	}
	if got := burst(120*time.Second, 100); got != 100 {
		t.Fatalf("burst at 120s admitted %d, want 100", got)
	}
	for i, start := range admitted {
		n := 0
		for _, a := range admitted[i:] {
			if a-start < limit.Window {
				n++
			}
		}
		if n > lim {
			t.Fatalf("%d admissions in the minute from %v, limit %d", n, start, lim)
		}
	}
}

// Ensure Reset and RetryAfter follow the oldest admission in the window.
func TestDecisionTimes(t *testing.T) {
	c := newClock()
	m := limit.NewMemoryWithClock(c.Now)
	c.Set(10 * time.Second)
	d := allow(t, m, "k", 2)
	if !d.Allowed || d.Remaining != 1 || d.Reset != 60*time.Second || d.RetryAfter != 0 {
		t.Fatalf("first: %+v", d)
	}
	c.Set(30 * time.Second)
	d = allow(t, m, "k", 2)
	if !d.Allowed || d.Remaining != 0 || d.Reset != 40*time.Second {
		t.Fatalf("second: %+v", d)
	}
	c.Set(45 * time.Second)
	d = allow(t, m, "k", 2)
	if d.Allowed || d.RetryAfter != 25*time.Second {
		t.Fatalf("third: %+v", d)
	}
	c.Set(70 * time.Second) // first admission (10s) expired
	d = allow(t, m, "k", 2)
	if !d.Allowed || d.Remaining != 0 || d.Reset != 20*time.Second {
		t.Fatalf("fourth: %+v", d)
	}
}

// Ensure a limit changed on reload applies at once to the same window, in
// both directions.
func TestLimitChange(t *testing.T) {
	c := newClock()
	m := limit.NewMemoryWithClock(c.Now)
	for i := 0; i < 10; i++ {
		c.Set(time.Duration(i) * time.Second)
		if !allow(t, m, "k", 10).Allowed {
			t.Fatalf("request %d refused", i)
		}
	}
	c.Set(20 * time.Second)
	// Lowered to 5: ten admissions in the window, refused until only four
	// remain, i.e. until the 6th (at 5s) leaves at 65s.
	if d := allow(t, m, "k", 5); d.Allowed || d.RetryAfter != 45*time.Second {
		t.Fatalf("after lowering: %+v", d)
	}
	c.Set(64 * time.Second)
	if d := allow(t, m, "k", 5); d.Allowed {
		t.Fatalf("at 64s with 5 in window: %+v", d)
	}
	c.Set(65 * time.Second)
	if d := allow(t, m, "k", 5); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("at 65s: %+v", d)
	}
	// Raised to 20: the window holds 5, so 15 more pass now.
	ok := 0
	for i := 0; i < 30; i++ {
		if allow(t, m, "k", 20).Allowed {
			ok++
		}
	}
	if ok != 15 {
		t.Fatalf("after raising to 20 admitted %d, want 15", ok)
	}
}

// Ensure keys idle for a whole window are evicted, so memory is bounded by
// the keys active in the last minute.
func TestIdleKeysEvicted(t *testing.T) {
	c := newClock()
	m := limit.NewMemoryWithClock(c.Now)
	for i := 0; i < 1000; i++ {
		allow(t, m, fmt.Sprintf("key-%d", i), 5)
	}
	if n := m.Len(); n != 1000 {
		t.Fatalf("Len = %d, want 1000", n)
	}
	c.Set(61 * time.Second)
	// The first request after a whole window sweeps every shard.
	for i := 0; i < 200; i++ {
		allow(t, m, fmt.Sprintf("new-%d", i), 5)
	}
	if n := m.Len(); n != 200 {
		t.Fatalf("Len after a window = %d, want 200 (the idle keys evicted)", n)
	}
	// Eviction forgot nothing that mattered: an evicted key starts fresh.
	if d := allow(t, m, "key-1", 5); !d.Allowed || d.Remaining != 4 {
		t.Fatalf("evicted key: %+v", d)
	}
}

func TestBadInput(t *testing.T) {
	m := limit.NewMemory()
	if _, err := m.Allow(context.Background(), "k", 0); !errors.Is(err, limit.ErrBadLimit) {
		t.Errorf("limit 0: err = %v, want ErrBadLimit", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Allow(ctx, "k", 5); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v", err)
	}
}

// Ensure concurrent callers on one key never admit more than the limit.
func TestConcurrentExact(t *testing.T) {
	m := limit.NewMemory()
	const lim = 500
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				d, err := m.Allow(context.Background(), "shared", lim)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					ok.Add(1)
				}
				m.Allow(context.Background(), fmt.Sprintf("own-%d-%d", g, i%7), lim)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != lim {
		t.Fatalf("admitted %d of 1600 concurrent requests, want exactly %d", ok.Load(), lim)
	}
}

// BenchmarkAllowOneKey measures the admitted path for a single hot token
// whose ring is full and sliding (the steady state at the limit).
func BenchmarkAllowOneKey(b *testing.B) {
	const lim = 3000
	// One request per Window/lim: each admission finds the oldest one just
	// expired, so the ring stays full (at 25 ms a step it held 2,400 of
	// 3,000 and never reached the limit).
	var now atomic.Int64
	base := time.Now()
	m := limit.NewMemoryWithClock(func() time.Time {
		return base.Add(time.Duration(now.Add(int64(limit.Window / lim))))
	})
	ctx := context.Background()
	for range lim { // fill the window before timing
		m.Allow(ctx, "tok", lim)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := m.Allow(ctx, "tok", lim); !d.Allowed || d.Remaining != 0 {
			b.Fatalf("%+v: not the admitted path with a full ring", d)
		}
	}
}

// BenchmarkAllowParallel measures many goroutines on 1,000 tokens.
func BenchmarkAllowParallel(b *testing.B) {
	m := limit.NewMemory()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("%064x", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Allow(ctx, keys[i%len(keys)], 3000)
			i++
		}
	})
}
