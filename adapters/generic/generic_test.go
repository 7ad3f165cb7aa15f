package generic_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/jsonevent/jsonevent/adapters/generic"
	"github.com/jsonevent/jsonevent/adapters/internal/adaptertest"
	"github.com/jsonevent/jsonevent/core"
)

// Ensure the body passes through byte for byte with no delivery id.
func TestPassThrough(t *testing.T) {
	for _, body := range []string{`{"a": 1.50, "b":"<x>"}`, `[1,2]`, `"s"`, `null`} {
		n, err := generic.New().Normalize(context.Background(), &core.Request{Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(n.Body, []byte(body)) || n.DeliveryID != "" || len(n.Warnings) != 0 {
			t.Errorf("Normalize(%s) = %s %q %q", body, n.Body, n.DeliveryID, n.Warnings)
		}
	}
}

func TestConformance(t *testing.T) {
	adaptertest.Conformance(t, generic.New(), [][]byte{[]byte(`{"a":1}`), []byte(`[]`)})
}

func FuzzNormalize(f *testing.F) {
	f.Add([]byte(`{"a":1}`), uint8(0), "u")
	f.Fuzz(func(t *testing.T, body []byte, h uint8, user string) {
		adaptertest.Fuzz(t, generic.New(), body, h, user)
	})
}
