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
