package cpu_test

import (
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
	"github.com/tapegrad/tapegrad/device/devicetest"
)

// TestDevicetest runs the backend conformance suite on the CPU backend.
func TestDevicetest(t *testing.T) {
	devicetest.Run(t, cpu.Get())
}

// TestDevicetestHalf runs the conformance suite in bfloat16 and float16 on
// the CPU backend through device.WithHalf (which is how package tensor
// uses it).
func TestDevicetestHalf(t *testing.T) {
	devicetest.RunWith(t, device.WithHalf(cpu.Get()), devicetest.Options{DTypes: []device.DType{device.BFloat16, device.Float16}})
}
