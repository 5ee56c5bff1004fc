package main

import (
	"testing"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
)

// TestSelfTest runs what -selftest runs (one small case of each kind, results
// checked against references) and validates the JSON file it writes.
func TestSelfTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the peer")
	}
	o := peerkit.NewOptions(true)
	o.SetSelfTest()
	rep, err := peerkit.RunReport(peer, o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range rep.Cases {
		names[c.Name] = true
	}
	for _, want := range []string{"unary/exp/1024", "seed/1024", "overhead/op", "mlp/step", "matmul/256x512x10"} {
		if !names[want] {
			t.Errorf("case %s missing", want)
		}
	}
}
