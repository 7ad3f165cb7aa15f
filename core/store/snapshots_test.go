package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestUpdateSnapshot(t *testing.T) { forEachDriver(t, testUpdateSnapshot) }

func testUpdateSnapshot(t *testing.T, drv storeDriver) {
	s := openTest(t, drv.fresh(t), Options{})
	ctx := context.Background()
	get := func(key string) []byte {
		t.Helper()
		var got []byte
		err := s.UpdateSnapshot(ctx, key, func(prev []byte) ([]byte, error) {
			got = prev
			return prev, nil // unchanged (nil keeps it deleted)
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	set := func(key, doc string) {
		t.Helper()
		if err := s.UpdateSnapshot(ctx, key, func([]byte) ([]byte, error) { return []byte(doc), nil }); err != nil {
			t.Fatal(err)
		}
	}

	if got := get("trg/account/1"); got != nil {
		t.Fatalf("new key read %q, want nil", got)
	}
	set("trg/account/1", `{"name":"A"}`)
	if got := string(get("trg/account/1")); got != `{"name":"A"}` {
		t.Fatalf("read back %q", got)
	}
	// An error from fn is returned unchanged and nothing is written.
	boom := errors.New("boom")
	err := s.UpdateSnapshot(ctx, "trg/account/1", func([]byte) ([]byte, error) { return []byte(`{"x":1}`), boom })
	if err != boom {
		t.Fatalf("fn error came back as %v", err)
	}
	if got := string(get("trg/account/1")); got != `{"name":"A"}` {
		t.Fatalf("a failed update wrote %q", got)
	}
	// nil deletes.
	if err := s.UpdateSnapshot(ctx, "trg/account/1", func([]byte) ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if got := get("trg/account/1"); got != nil {
		t.Fatalf("deleted key read %q", got)
	}
	if err := s.UpdateSnapshot(ctx, strings.Repeat("k", 513), func(p []byte) ([]byte, error) { return p, nil }); err == nil {
		t.Fatal("a 513-byte key was accepted")
	}

	// Read-modify-write is atomic: concurrent increments all count.
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.UpdateSnapshot(ctx, "counter", func(prev []byte) ([]byte, error) {
				v, _ := strconv.Atoi(string(prev))
				return []byte(strconv.Itoa(v + 1)), nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := string(get("counter")); got != strconv.Itoa(n) {
		t.Fatalf("counter %s after %d concurrent increments", got, n)
	}
}
