package store

import (
	"context"
	"testing"
	"time"
)

// TestInsertEventGivesUpOnAFullQueue: a caller's wait is bounded by its
// context (the receiver's storeWait, then a 503), also when the writer is
// stuck and its queue is full; the send into the queue must not wait past
// it, holding the store's lock as well.
func TestInsertEventGivesUpOnAFullQueue(t *testing.T) {
	s, l := openLostAnswers(t, 0, false)
	t.Cleanup(func() { close(l.release) }) // before Close (cleanups run last first)
	go func() {
		ev := sampleEvent("OC_a", "")
		_, _, _ = s.InsertEvent(context.Background(), ev)
	}()
	<-l.entered // the writer is stuck in a commit
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for len(s.queue) < cap(s.queue) { // callers that gave up leave their requests queued
		_, _, _ = s.InsertEvent(gone, sampleEvent("OC_a", ""))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.InsertEvent(ctx, sampleEvent("OC_a", ""))
		errc <- err
	}()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("InsertEvent succeeded while the writer was stuck")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("InsertEvent did not return after its context ended: it waits for room in the full queue")
	}
}

// TestBatcherDoGivesUpOnAFullQueue is the same for the Batcher (workflow
// runs and tickets).
func TestBatcherDoGivesUpOnAFullQueue(t *testing.T) {
	s, l := openLostAnswers(t, 0, false)
	b := s.NewBatcher()
	t.Cleanup(func() { close(l.release); b.Close() })
	noop := func(Tx) error { return nil }
	go func() { _ = b.Do(context.Background(), noop) }()
	<-l.entered
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for len(b.queue) < cap(b.queue) {
		_ = b.Do(gone, noop)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- b.Do(ctx, noop) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Do succeeded while the writer was stuck")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Do did not return after its context ended: it waits for room in the full queue")
	}
}
