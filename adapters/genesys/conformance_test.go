package genesys_test

import (
	"testing"

	"github.com/jsonevent/jsonevent/adapters/genesys"
	"github.com/jsonevent/jsonevent/adapters/internal/adaptertest"
)

const root = "../.."

// Ensure every fixture under fixtures/genesys normalises to its golden.
func TestGolden(t *testing.T) { adaptertest.Golden(t, root, genesys.New()) }

// Ensure the adapter passes the shared conformance suite.
func TestConformance(t *testing.T) {
	adaptertest.Conformance(t, genesys.New(), adaptertest.Seeds(t, root, "genesys"))
}

// FuzzNormalize checks the adapter contract on arbitrary bodies and headers.
func FuzzNormalize(f *testing.F) {
	adaptertest.FuzzSeeds(f, root, "genesys", "FuzzNormalize")
	a := genesys.New()
	f.Fuzz(func(t *testing.T, body []byte, headers uint8, user string) {
		adaptertest.Fuzz(t, a, body, headers, user)
	})
}
