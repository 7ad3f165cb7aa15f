package workflow

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// Policy is a workflow's retry policy.
type Policy struct {
	Attempts   int
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// RetryStatuses are 4xx statuses retried anyway (408 and 429 always are).
	RetryStatuses []int
}

// DefaultPolicy is the policy of a workflow that configures no retry.
var DefaultPolicy = Policy{Attempts: DefaultAttempts, MinBackoff: DefaultMinBackoff, MaxBackoff: DefaultMaxBackoff}

// backoffFactor is the growth of the delay per failed attempt. With the
// defaults (8 attempts, 1s to 15m) the seven waits are about 1s, 8s, 1m,
// 8.5m, 15m, 15m, 15m: some 55 minutes in all, so a receiver that is down
// for most of an hour still gets the event.
const backoffFactor = 8

// Delay returns how long to wait after the given failed attempt (1 for the
// first) before the next: MinBackoff·8^(attempt-1), capped at MaxBackoff,
// times a random factor in [0.75, 1.25), kept within [MinBackoff,
// MaxBackoff]. The jitter spreads retries of many runs that failed together.
func (p Policy) Delay(attempt int) time.Duration {
	return p.delay(attempt, rand.Float64())
}

func (p Policy) delay(attempt int, r float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	lo, hi := float64(p.MinBackoff), float64(p.MaxBackoff)
	if hi < lo {
		hi = lo
	}
	d := lo * math.Pow(backoffFactor, float64(attempt-1))
	if d > hi || math.IsInf(d, 0) || math.IsNaN(d) {
		d = hi
	}
	d *= 0.75 + 0.5*r
	d = min(max(d, lo), hi)
	return time.Duration(d)
}

// Retryable reports whether an HTTP response status is worth another
// attempt: 408, 425 (Too Early: RFC 8470 has the client retry), 429 and
// 5xx are; another 4xx only when listed in RetryStatuses.
func (p Policy) Retryable(status int) bool {
	switch {
	case status == 408 || status == 425 || status == 429 || status >= 500:
		return true
	case status >= 400:
		return slices.Contains(p.RetryStatuses, status)
	}
	return false
}

// RetryPolicy implements river.ClientRetryPolicy with a workflow Policy; the
// workflow worker also answers per job with its own workflow's policy.
type RetryPolicy struct {
	Policy Policy
	Now    func() time.Time // nil = time.Now
}

// NextRetry returns when a job that just failed should run again. It counts
// errors rather than attempts, as river's own policy does, so snoozes do not
// stretch the schedule.
func (rp *RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	now := time.Now
	if rp.Now != nil {
		now = rp.Now
	}
	return now().UTC().Add(rp.Policy.Delay(len(job.Errors) + 1))
}
