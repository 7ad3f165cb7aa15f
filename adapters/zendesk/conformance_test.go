package zendesk_test

import (
	"testing"

	"github.com/jsonevent/jsonevent/adapters/internal/adaptertest"
	"github.com/jsonevent/jsonevent/adapters/zendesk"
)

const root = "../.."

// Ensure every fixture under fixtures/zendesk normalises to its golden.
func TestGolden(t *testing.T) { adaptertest.Golden(t, root, zendesk.New()) }

// Ensure the adapter passes the shared conformance suite.
func TestConformance(t *testing.T) {
	adaptertest.Conformance(t, zendesk.New(), adaptertest.Seeds(t, root, "zendesk"))
}

// FuzzNormalize checks the adapter contract on arbitrary bodies and headers.
func FuzzNormalize(f *testing.F) {
	adaptertest.FuzzSeeds(f, root, "zendesk", "FuzzNormalize")
	a := zendesk.New()
	f.Fuzz(func(t *testing.T, body []byte, headers uint8, user string) {
		adaptertest.Fuzz(t, a, body, headers, user)
	})
}
