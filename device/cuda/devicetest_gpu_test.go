//go:build cuda

package cuda_test

import (
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/devicetest"
)

// TestDevicetest runs the backend conformance suite of package
// device/devicetest on cuda:0. Like the other GPU tests it needs a GPU
// (a cuda-tagged test binary does not start without a driver) and skips
// when the backend fails to open.
func TestDevicetest(t *testing.T) {
	be, err := device.Lookup(device.CUDA(0))
	if err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
	devicetest.Run(t, be)
}

// TestDevicetestHalf runs the conformance suite in bfloat16 and float16 on
// cuda:0 through device.WithHalf (which is how package tensor uses it):
// the backend stores and converts the half types (module index), and the
// wrapper runs every other method on float32 copies.
func TestDevicetestHalf(t *testing.T) {
	be, err := device.Lookup(device.CUDA(0))
	if err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
	devicetest.RunWith(t, device.WithHalf(be), devicetest.Options{DTypes: []device.DType{device.BFloat16, device.Float16}})
}
