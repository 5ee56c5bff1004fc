package main

import (
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/internal/maintest"
)

func TestMain(m *testing.M) { maintest.Main(m, main) }

// A bad -device flag or TAPEGRAD_DEVICE gives one line naming the value and
// the accepted forms, and exit status 2, not a panic; a good one runs.
func TestBadDevice(t *testing.T) {
	maintest.BadDevice(t, "autograd: ")
	code, stdout, stderr := maintest.Run(t, "cpu", "-device", "CPU")
	if code != 0 || !strings.HasPrefix(stdout, "device: cpu\n") {
		t.Errorf("-device CPU: exit status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
