package store

import (
	"context"
	"sync"
	"testing"

	"github.com/jsonevent/jsonevent/core"
)

func TestTextColumnsRefuseWhatPostgresCannotHold(t *testing.T) {
	forEachDriver(t, testTextColumnsRefuseWhatPostgresCannotHold)
}

// testTextColumnsRefuseWhatPostgresCannotHold sends events whose query
// parameters or Idempotency-Key hold a NUL byte or invalid UTF-8, which a
// PostgreSQL TEXT column refuses, among good events in the same batches.
// Every driver must answer the bad ones "invalid" (400: a retry cannot
// succeed), not "unavailable" (503: retry later, for ever), and store the
// good ones.
func testTextColumnsRefuseWhatPostgresCannotHold(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	bad := []func(ev *Event){
		func(ev *Event) { ev.ContextID = "ctx\x00" },
		func(ev *Event) { ev.UserID = "\xff\xfe" },
		func(ev *Event) { ev.BrandID = "b\x00" },
		func(ev *Event) { ev.IdempotencyKey = "key-\xe9" },
		func(ev *Event) { ev.IdempotencyKey = "key\x00" },
	}
	const good = 40
	var wg sync.WaitGroup
	badErrs := make([]error, len(bad))
	goodErrs := make([]error, good)
	for i, f := range bad {
		wg.Go(func() {
			ev := sampleEvent("OC_a", "")
			f(ev)
			_, _, badErrs[i] = s.InsertEvent(ctx, ev)
		})
	}
	for i := range good {
		wg.Go(func() { _, _, goodErrs[i] = s.InsertEvent(ctx, sampleEvent("OC_a", "")) })
	}
	wg.Wait()
	for i, err := range badErrs {
		if core.ErrorCode(err) != core.CodeInvalid {
			t.Errorf("bad event %d: err = %v (code %s), want invalid", i, err, core.ErrorCode(err))
		}
	}
	for i, err := range goodErrs {
		if err != nil {
			t.Errorf("good event %d: %v", i, err)
		}
	}
	if n := countEvents(t, s); n != good {
		t.Errorf("%d events stored, want the %d good ones", n, good)
	}
}
