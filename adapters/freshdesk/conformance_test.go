package freshdesk_test

import (
	"testing"

	"github.com/jsonevent/jsonevent/adapters/freshdesk"
	"github.com/jsonevent/jsonevent/adapters/internal/adaptertest"
)

const root = "../.."

// Ensure every fixture under fixtures/freshdesk normalises to its golden.
func TestGolden(t *testing.T) { adaptertest.Golden(t, root, freshdesk.New()) }

// Ensure the adapter passes the shared conformance suite.
func TestConformance(t *testing.T) {
	adaptertest.Conformance(t, freshdesk.New(), adaptertest.Seeds(t, root, "freshdesk"))
}

// FuzzNormalize checks the adapter contract on arbitrary bodies and headers.
func FuzzNormalize(f *testing.F) {
	adaptertest.FuzzSeeds(f, root, "freshdesk", "FuzzNormalize")
	a := freshdesk.New()
	f.Fuzz(func(t *testing.T, body []byte, headers uint8, user string) {
		adaptertest.Fuzz(t, a, body, headers, user)
	})
}
