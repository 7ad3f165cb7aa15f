package adaptertest

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/jsonevent/jsonevent/core"
)

// Ensure the fuzz headers come from the fixtures, minus what the receiver
// handles itself.
func TestFixtureHeaders(t *testing.T) {
	got := fixtureHeaders(t, "../../..", "genesys")
	for _, want := range []string{"Inin-Correlation-Id", "Inin-Organization-Id", "Inin-User-Id"} {
		if !slices.Contains(got, want) {
			t.Errorf("fixtureHeaders = %v, lacks %s", got, want)
		}
	}
	for _, never := range []string{"Content-Type", "Authorization", "X-Api-Token", "Transfer-Encoding"} {
		if slices.Contains(got, never) {
			t.Errorf("fixtureHeaders = %v, has %s", got, never)
		}
	}
}

type recorder struct{ got chan http.Header }

func (recorder) Name() string { return "recorder" }
func (r recorder) Normalize(_ context.Context, req *core.Request) (*core.Normalized, error) {
	r.got <- req.Header.Clone()
	return &core.Normalized{Body: []byte("{}")}, nil
}

// Ensure Fuzz sets a fixture header when its bit is set, and only then.
func TestFuzzSetsFixtureHeaders(t *testing.T) {
	fuzzHeaders.Store("recorder", []string{"X-Vendor-A", "X-Vendor-B"})
	t.Cleanup(func() { fuzzHeaders.Delete("recorder") })
	r := recorder{got: make(chan http.Header, 1)}
	for _, c := range []struct {
		seed uint8
		a, b bool
	}{{0, false, false}, {16, true, false}, {32, false, true}, {48, true, true}} {
		Fuzz(t, r, []byte("{}"), c.seed, "u")
		h := <-r.got
		if (h.Get("X-Vendor-A") == "u") != c.a || (h.Get("X-Vendor-B") == "u") != c.b {
			t.Errorf("seed %d: headers %v", c.seed, h)
		}
	}
}

// Ensure a fixture's expect_status must agree with what the adapter does:
// a refused case without its 4xx would otherwise be a conformance seed.
func TestCheckExpectStatus(t *testing.T) {
	for _, c := range []struct {
		status  int
		refused bool
		ok      bool
	}{
		{400, true, true}, {415, true, true}, {0, true, false}, {200, true, false},
		{0, false, true}, {200, false, true}, {202, false, true}, {400, false, false},
	} {
		if err := checkExpectStatus(c.status, c.refused); (err == nil) != c.ok {
			t.Errorf("checkExpectStatus(%d, refused %v) = %v", c.status, c.refused, err)
		}
	}
}
