// Package peertest holds the test shared by the Go peer programs.
package peertest

import (
	"testing"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
)

// SelfTest runs what a peer's -selftest runs (one small case of each
// kind, results checked against references; skipped with -short), validates
// the JSON it writes, and checks that the cases named in want are in it.
// Each Go peer's tests call it.
func SelfTest(t *testing.T, p peerkit.Peer, want ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the peer")
	}
	o := peerkit.NewOptions(true)
	o.SetSelfTest()
	rep, err := peerkit.RunReport(p, o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want {
		if rep.Find(name, "") == nil {
			t.Errorf("case %s missing", name)
		}
	}
}
