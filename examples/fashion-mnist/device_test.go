package main

import (
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/internal/maintest"
)

func TestMain(m *testing.M) { maintest.Main(m, main) }

// A bad -device flag or TAPEGRAD_DEVICE gives one line naming the value and
// the accepted forms, and exit status 2, not a panic. A good device gets
// past the check: an unknown model then fails with exit status 1 after the
// line that names the device.
func TestBadDevice(t *testing.T) {
	maintest.BadDevice(t, "fashion-mnist: ")
	code, _, stderr := maintest.Run(t, "cpu", "-device", "CPU", "-model", "nonsense", "-epochs", "1")
	if code != 1 || !strings.HasPrefix(stderr, "training nonsense on cpu:") {
		t.Errorf("-device CPU -model nonsense: exit status %d, stderr %q; want 1, \"training nonsense on cpu: ...\"", code, stderr)
	}
}
