package servicenow_test

import (
	"testing"

	"github.com/jsonevent/jsonevent/adapters/internal/adaptertest"
	"github.com/jsonevent/jsonevent/adapters/servicenow"
)

const root = "../.."

// Ensure every fixture under fixtures/servicenow normalises to its golden.
func TestGolden(t *testing.T) { adaptertest.Golden(t, root, servicenow.New()) }

// Ensure the adapter passes the shared conformance suite.
func TestConformance(t *testing.T) {
	adaptertest.Conformance(t, servicenow.New(), adaptertest.Seeds(t, root, "servicenow"))
}

// FuzzNormalize checks the adapter contract on arbitrary bodies and headers.
func FuzzNormalize(f *testing.F) {
	adaptertest.FuzzSeeds(f, root, "servicenow", "FuzzNormalize")
	a := servicenow.New()
	f.Fuzz(func(t *testing.T, body []byte, headers uint8, user string) {
		adaptertest.Fuzz(t, a, body, headers, user)
	})
}
