package cpu_test

import (
	"testing"

	"github.com/tapegrad/tapegrad/device/cpu"
	"github.com/tapegrad/tapegrad/device/devicetest"
)

// TestDevicetest runs the backend conformance suite on the CPU backend.
func TestDevicetest(t *testing.T) {
	devicetest.Run(t, cpu.Get())
}
