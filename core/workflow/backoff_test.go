package workflow

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

func TestDefaultScheduleSpansAboutAnHour(t *testing.T) {
	p := DefaultPolicy
	var lo, mid, hi time.Duration
	for attempt := 1; attempt < p.Attempts; attempt++ {
		a, m, b := p.delay(attempt, 0), p.delay(attempt, 0.5), p.delay(attempt, 0.999999)
		if !(a <= m && m <= b) {
			t.Errorf("attempt %d: jitter not ordered: %s %s %s", attempt, a, m, b)
		}
		if a < p.MinBackoff || b > p.MaxBackoff {
			t.Errorf("attempt %d: %s..%s outside [%s, %s]", attempt, a, b, p.MinBackoff, p.MaxBackoff)
		}
		lo, mid, hi = lo+a, mid+m, hi+b
	}
	if mid < 45*time.Minute || mid > 65*time.Minute {
		t.Errorf("nominal schedule = %s, want about an hour", mid)
	}
	if lo < 35*time.Minute || hi > 70*time.Minute {
		t.Errorf("schedule with jitter = %s..%s", lo, hi)
	}
}

func TestDelayGrowsAndCaps(t *testing.T) {
	p := Policy{Attempts: 10, MinBackoff: 10 * time.Millisecond, MaxBackoff: 2 * time.Second}
	want := []time.Duration{10 * time.Millisecond, 80 * time.Millisecond, 640 * time.Millisecond, 2 * time.Second, 2 * time.Second}
	for i, w := range want {
		// r = 0.5 is the nominal value (factor 1.0).
		if got := p.delay(i+1, 0.5); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
	}
	if got := p.delay(1000, 0.5); got != p.MaxBackoff {
		t.Errorf("attempt 1000 = %s, want the cap", got)
	}
	for range 200 {
		if d := p.Delay(2); d < 60*time.Millisecond || d > 100*time.Millisecond {
			t.Fatalf("Delay(2) = %s, want 80ms ±25%%", d)
		}
	}
}

func TestRetryable(t *testing.T) {
	p := Policy{RetryStatuses: []int{409}}
	tests := []struct {
		status int
		want   bool
	}{
		{400, false}, {401, false}, {403, false}, {404, false}, {422, false},
		{408, true}, {425, true}, {429, true}, {409, true},
		{500, true}, {502, true}, {503, true}, {504, true},
		{200, false}, {302, false},
	}
	for _, tt := range tests {
		if got := p.Retryable(tt.status); got != tt.want {
			t.Errorf("Retryable(%d) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func TestRetryPolicyNextRetry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rp := &RetryPolicy{Policy: Policy{MinBackoff: time.Second, MaxBackoff: time.Hour}, Now: func() time.Time { return now }}
	job := &rivertype.JobRow{Attempt: 3, Errors: []rivertype.AttemptError{{}, {}}}
	got := rp.NextRetry(job).Sub(now)
	// Third failure: 1s·8² = 64s, ±25%.
	if got < 48*time.Second || got > 80*time.Second {
		t.Errorf("NextRetry after 2 errors = %s, want about 64s", got)
	}
}

// Ensure a retry time chosen when an attempt failed is never handed to river
// in the past: river would then drop it for its own default policy.
func TestRunWorkerNextRetryNeverInThePast(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	e := &Engine{now: func() time.Time { return now }}
	w := &runWorker{e: e}
	job := &river.Job[RunArgs]{JobRow: &rivertype.JobRow{ID: 7, Attempt: 1}}

	e.nextAt.Store(int64(7), now.Add(-146*time.Millisecond))
	if got := w.NextRetry(job); !got.Equal(now) {
		t.Errorf("stale retry time: NextRetry = %s, want now %s", got, now)
	}
	later := now.Add(2 * time.Second)
	e.nextAt.Store(int64(7), later)
	if got := w.NextRetry(job); !got.Equal(later) {
		t.Errorf("future retry time: NextRetry = %s, want %s", got, later)
	}
}
