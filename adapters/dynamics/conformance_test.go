package dynamics_test

import (
	"testing"

	"github.com/jsonevent/jsonevent/adapters/dynamics"
	"github.com/jsonevent/jsonevent/adapters/internal/adaptertest"
)

const root = "../.."

// Ensure every fixture under fixtures/dynamics normalises to its golden.
func TestGolden(t *testing.T) { adaptertest.Golden(t, root, dynamics.New()) }

// Ensure the adapter passes the shared conformance suite.
func TestConformance(t *testing.T) {
	adaptertest.Conformance(t, dynamics.New(), adaptertest.Seeds(t, root, "dynamics"))
}

// FuzzNormalize checks the adapter contract on arbitrary bodies and headers.
func FuzzNormalize(f *testing.F) {
	adaptertest.FuzzSeeds(f, root, "dynamics", "FuzzNormalize")
	a := dynamics.New()
	f.Fuzz(func(t *testing.T, body []byte, headers uint8, user string) {
		adaptertest.Fuzz(t, a, body, headers, user)
	})
}
