package cuda

import (
	"errors"

	"github.com/tapegrad/tapegrad/device"
)

// errNoIndexKernels is reported by the index operations until their
// kernels are in the PTX. They cannot be reached yet: Alloc refuses the
// integer buffers that hold indices.
var errNoIndexKernels = errors.New("index kernels are not supported on CUDA yet")

// Gather is not supported on CUDA yet (see errNoIndexKernels).
func (b *Backend) Gather(dst, src, idx device.Buffer, g device.GatherGeom) {
	b.fail("Gather", errNoIndexKernels)
}

// ScatterAdd is not supported on CUDA yet (see errNoIndexKernels).
func (b *Backend) ScatterAdd(dst, src, idx device.Buffer, g device.GatherGeom) {
	b.fail("ScatterAdd", errNoIndexKernels)
}
