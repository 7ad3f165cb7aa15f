package adaptertest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Seeds returns the bodies of the fixtures of adapter that the adapter
// accepts (with their Before requests), for the conformance suite.
func Seeds(t testing.TB, root, adapter string) [][]byte { return seeds(t, root, adapter, true) }

func seeds(t testing.TB, root, adapter string, goodOnly bool) [][]byte {
	t.Helper()
	dir := filepath.Join(root, "fixtures", adapter)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read fixtures: %v", err)
	}
	var out [][]byte
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		f := ReadFixture(t, filepath.Join(dir, e.Name(), "request.json"))
		if goodOnly && f.ExpectStatus >= 300 {
			continue
		}
		for i := range f.Before {
			out = append(out, f.Before[i].Request().Body)
		}
		out = append(out, f.Request().Body)
	}
	return out
}

// FuzzSeeds adds the fixture bodies to f and, when goldens are being
// updated, writes them as the committed corpus under
// testdata/fuzz/<target>/ (the go command's format), so `go test` replays
// them even without -fuzz.
// It also remembers the vendor headers the fixtures send, which Fuzz then
// sets or leaves out, so header-driven paths of a new adapter are fuzzed
// without an edit to this package.
func FuzzSeeds(f *testing.F, root, adapter, target string) {
	fuzzHeaders.Store(adapter, fixtureHeaders(f, root, adapter))
	seeds := seeds(f, root, adapter, false)
	for i, s := range seeds {
		f.Add(s, uint8(i), "user")
	}
	if !Updating() {
		return
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for i, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nuint8(%d)\nstring(%s)\n", strconv.Quote(string(s)), uint8(i), strconv.Quote("seed"))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("fixture-%02d", i)), []byte(body), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}

// fuzzHeaders maps an adapter name to the header names of its fixtures.
var fuzzHeaders sync.Map

// notFuzzed are headers the receiver handles before any adapter runs.
var notFuzzed = map[string]bool{"Content-Type": true, "Authorization": true, "X-Api-Token": true, "Transfer-Encoding": true, "Content-Length": true, "Idempotency-Key": true}

// fixtureHeaders returns the canonical names of the headers adapter's
// fixtures send (their Before requests included), sorted, minus notFuzzed.
func fixtureHeaders(t testing.TB, root, adapter string) []string {
	t.Helper()
	dir := filepath.Join(root, "fixtures", adapter)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read fixtures: %v", err)
	}
	seen := map[string]bool{}
	add := func(f *Fixture) {
		for k := range f.Headers {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); !notFuzzed[k] {
				seen[k] = true
			}
		}
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		f := ReadFixture(t, filepath.Join(dir, e.Name(), "request.json"))
		add(f)
		for i := range f.Before {
			add(&f.Before[i])
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
