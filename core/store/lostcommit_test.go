package store

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jsonevent/jsonevent/core"
)

// lostAnswers wraps a backend whose commits take effect but, for the first
// lose of them, report an error: PostgreSQL's connection dropping during
// COMMIT. It hides SQLite's split commit and fsync, so the store uses
// write, as it does on PostgreSQL. Once armed (after the migrations), the
// first write waits for release.
type lostAnswers struct {
	backend
	armed   atomic.Bool
	lose    atomic.Int32
	fail    bool        // fail without committing instead
	blind   atomic.Bool // the reader fails too: the database is gone
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (l *lostAnswers) write(ctx context.Context, fn func(Tx) error) error {
	if !l.armed.Load() {
		return l.backend.write(ctx, fn)
	}
	l.once.Do(func() {
		close(l.entered)
		<-l.release
	})
	if l.fail && l.lose.Add(-1) >= 0 {
		return errors.New("connection refused")
	}
	if err := l.backend.write(ctx, fn); err != nil || l.fail {
		return err
	}
	if l.lose.Add(-1) >= 0 {
		return errors.New("unexpected EOF during COMMIT")
	}
	return nil
}

func (l *lostAnswers) reader() Querier {
	if l.blind.Load() {
		return blindQuerier{}
	}
	return l.backend.reader()
}

// blindQuerier is a database that no longer answers.
type blindQuerier struct{}

func (blindQuerier) Exec(context.Context, string, ...any) (int64, error) {
	return 0, errors.New("connection refused")
}
func (blindQuerier) QueryRow(context.Context, string, ...any) Row { return blindRow{} }
func (blindQuerier) Query(context.Context, string, ...any) (Rows, error) {
	return nil, errors.New("connection refused")
}

type blindRow struct{}

func (blindRow) Scan(...any) error { return errors.New("connection refused") }

func openLostAnswers(t *testing.T, lose int32, fail bool) (*Store, *lostAnswers) {
	t.Helper()
	ctx := context.Background()
	b, err := openSQLite(ctx, filepath.Join(t.TempDir(), "lost.db"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := &lostAnswers{backend: b, fail: fail, entered: make(chan struct{}), release: make(chan struct{})}
	s, err := newStore(ctx, l, slog.New(slog.DiscardHandler), Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.lose.Store(lose)
	l.armed.Store(true)
	t.Cleanup(func() { _ = s.Close() })
	return s, l
}

// insertBurst inserts one event, and n more while the first one's commit
// is held, so that they form one batch; it returns each one's outcome.
func insertBurst(t *testing.T, s *Store, l *lostAnswers, n int) (evs []*Event, ids []string, errs []error) {
	t.Helper()
	evs, ids, errs = make([]*Event, n+1), make([]string, n+1), make([]error, n+1)
	var wg sync.WaitGroup
	insert := func(i int) {
		defer wg.Done()
		evs[i] = sampleEvent("OC_a", "")
		evs[i].ID = NewEventID()
		ids[i], _, errs[i] = s.InsertEvent(context.Background(), evs[i])
	}
	wg.Add(1)
	go insert(0)
	<-l.entered // the writer holds event 0's commit
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go insert(i)
	}
	for len(s.queue) < n { // the rest wait together for the next batch
		select {
		case <-t.Context().Done():
			return
		default:
			runtime.Gosched()
		}
	}
	close(l.release)
	wg.Wait()
	return evs, ids, errs
}

// TestLostCommitAnswerIsNotA503: a commit that took effect but whose answer
// was lost must not be answered 503 "nothing was stored", which makes the
// sender send the event again and store it twice.
func TestLostCommitAnswerIsNotA503(t *testing.T) {
	s, l := openLostAnswers(t, 2, false) // event 0 alone, then the batch of 5
	evs, ids, errs := insertBurst(t, s, l, 5)
	for i, ev := range evs {
		if errs[i] != nil {
			t.Errorf("event %d: %v, want it accepted (it is stored)", i, errs[i])
			continue
		}
		if ids[i] != ev.ID {
			t.Errorf("event %d: id %q, want %q", i, ids[i], ev.ID)
		}
		if _, err := s.GetEvent(context.Background(), "acme", ev.ID); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	var n int64
	if err := s.Reader().QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil || n != int64(len(evs)) {
		t.Errorf("%d events stored (%v), want %d", n, err, len(evs))
	}
}

// TestFailedCommitIsA503: a commit that did not take effect is still a
// 503, with nothing stored.
func TestFailedCommitIsA503(t *testing.T) {
	s, l := openLostAnswers(t, 1000, true)
	evs, _, errs := insertBurst(t, s, l, 3)
	for i := range evs {
		if core.ErrorCode(errs[i]) != core.CodeUnavailable {
			t.Errorf("event %d: %v, want unavailable", i, errs[i])
		}
	}
	var n int64
	if err := s.Reader().QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d events stored (%v), want 0", n, err)
	}
}

// TestUnconfirmedCommitSaysMaybe: when a commit reports an error and the
// database cannot be asked whether it took effect, the 503 says the event
// may or may not be stored, not "nothing was stored": its answer may have
// been lost after it took effect, and only the same Idempotency-Key makes
// the retry safe.
func TestUnconfirmedCommitSaysMaybe(t *testing.T) {
	s, l := openLostAnswers(t, 1000, false) // every commit takes effect, its answer lost
	l.blind.Store(true)
	_, _, errs := insertBurst(t, s, l, 0)
	var ce *core.Error
	if !errors.As(errs[0], &ce) || ce.Code != core.CodeUnavailable || !strings.Contains(ce.Message, "may or may not be stored") {
		t.Fatalf("error %v, want unavailable saying the event may or may not be stored", errs[0])
	}
}
