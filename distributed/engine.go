package distributed

import (
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// engine is one collective library bound to a connected group: Gloo for
// host memory, NCCL for CUDA memory. Pointers address the elements
// (host memory pinned by the caller, or device memory); every rank calls
// the same methods in the same order with the same sizes.
type engine interface {
	// allReduce sums n elements at p over the ranks, in place.
	allReduce(p unsafe.Pointer, n int, dt device.DType) error
	// broadcast copies root's n elements at p to every rank's p.
	broadcast(p unsafe.Pointer, n int, dt device.DType, root int) error
	// allGather writes rank r's n elements at in to out[r·n : (r+1)·n].
	allGather(in, out unsafe.Pointer, n int, dt device.DType) error
	// reduceScatter sums the n = Σ counts elements at in over the ranks
	// and writes this rank's counts[rank] elements of the sum (those from
	// offset Σ counts[:rank]) to out; in is scratch afterwards.
	reduceScatter(in, out unsafe.Pointer, counts []int, dt device.DType) error
	// barrier returns once every rank has called it.
	barrier() error
	// close drops the connections.
	close()
}

// engineError is what an engine returns: a kind (ErrTimeout, ErrPeer,
// ErrEngine) and the library's message.
type engineError struct {
	kind error
	msg  string
}

func (e *engineError) Error() string { return e.msg }

// errLen is the size of the message buffers the C shims fill.
const errLen = 1024
