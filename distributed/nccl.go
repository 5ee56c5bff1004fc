//go:build cuda && cgo

package distributed

// #cgo LDFLAGS: -lcuda -ldl
// #include <stdlib.h>
// #include "nccl_shim.h"
import "C"

import (
	"fmt"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cuda"
	"github.com/tapegrad/tapegrad/tensor"
)

// The NCCL engine of CUDA tensors (cuda build tag): libnccl.so.2 is loaded
// with dlopen on the first collective on a CUDA tensor; rank 0 makes the
// unique id and publishes it in the rendezvous store, every rank makes its
// communicator on its tensor's device (one per device a group uses), and
// the collectives run on that device's one stream, after the kernels that
// produced their inputs. Each then waits for its work, watching NCCL's
// asynchronous error, and aborts the communicator when the group's timeout
// passes: ErrPeer or ErrTimeout, never a hang. A group from NewGroup makes
// its communicators the same way, on a unique id that its rank 0 publishes
// under the subgroup's own prefix, among its members only (a second
// rendezvous through the store, where ncclCommSplit would split the
// parent's communicator without one; the parent may have none yet, since
// communicators are made on first use).

func init() {
	devicePointer = cudaPointer
	gpuEngine = newNCCL
}

// cudaPointer returns the address of a contiguous CUDA tensor's first
// element.
func cudaPointer(t *tensor.Tensor) (unsafe.Pointer, error) {
	b, ok := t.Buffer().(*cuda.Buffer)
	if !ok {
		return nil, fmt.Errorf("a %v tensor's buffer is a %T, not CUDA memory", t.Device(), t.Buffer())
	}
	addr := uintptr(b.Ptr()) + uintptr(t.Layout().Offset*t.DType().Size())
	// A device address, never dereferenced by Go (read through a pointer
	// so that vet does not take it for a Go pointer made from an integer).
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr)), nil
}

type ncclEngine struct {
	be      *cuda.Backend
	comm    C.uintptr_t
	rank    int
	world   int
	timeout time.Duration
}

var ncclComms sync.Map // *ProcessGroup → *int: communicators made, for the store keys

func ncclCall(f func(msg *C.char) C.int) error {
	var msg [errLen]C.char
	code := f(&msg[0])
	if code == C.TG_NCCL_OK {
		return nil
	}
	kind := ErrEngine
	switch code {
	case C.TG_NCCL_TIMEOUT:
		kind = ErrTimeout
	case C.TG_NCCL_PEER:
		kind = ErrPeer
	}
	return &engineError{kind: kind, msg: "nccl: " + C.GoString(&msg[0])}
}

// newNCCL makes this rank's communicator on d.
func newNCCL(g *ProcessGroup, d device.Device) (engine, error) {
	if err := ncclCall(func(m *C.char) C.int { return C.tg_nccl_load(m, errLen) }); err != nil {
		return nil, &engineError{kind: ErrNoEngine, msg: err.Error()}
	}
	b, err := device.Lookup(d)
	if err != nil {
		return nil, err
	}
	be, ok := b.(*cuda.Backend)
	if !ok {
		return nil, fmt.Errorf("the backend of %v is a %T", d, b)
	}
	v, _ := ncclComms.LoadOrStore(g, new(int))
	n := v.(*int)
	*n++
	key := g.prefix + "nccl/" + strconv.Itoa(*n)
	id := make([]byte, C.TG_NCCL_ID_BYTES)
	if g.rank == 0 {
		if err := ncclCall(func(m *C.char) C.int {
			return C.tg_nccl_unique_id((*C.uchar)(unsafe.Pointer(&id[0])), m, errLen)
		}); err != nil {
			return nil, err
		}
		if err := g.store.Set(key, id); err != nil {
			return nil, err
		}
	} else if id, err = g.store.Get(key); err != nil {
		return nil, err
	} else if len(id) != C.TG_NCCL_ID_BYTES {
		return nil, fmt.Errorf("the NCCL unique id in the store has %d bytes", len(id))
	}
	e := &ncclEngine{be: be, rank: g.rank, world: g.world, timeout: g.timeout}
	cid := C.CBytes(id)
	defer C.free(cid)
	err = be.WithContext(func() error {
		return ncclCall(func(m *C.char) C.int {
			return C.tg_nccl_init(&e.comm, C.int(g.world), (*C.uchar)(cid), C.int(g.rank), m, errLen)
		})
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

func ncclType(dt device.DType) C.int {
	if dt == device.Float64 {
		return 1
	}
	return 0
}

func (e *ncclEngine) stream() C.uintptr_t { return C.uintptr_t(e.be.StreamHandle()) }
func (e *ncclEngine) ms() C.long          { return C.long(e.timeout.Milliseconds()) }

// do runs f with the device's context current. After a timeout or a
// peer's failure the shim has aborted the communicator: it is not used or
// destroyed again.
func (e *ncclEngine) do(f func(m *C.char) C.int) error {
	if e.comm == 0 {
		return &engineError{kind: ErrAborted, msg: "nccl: the communicator was aborted"}
	}
	err := e.be.WithContext(func() error { return ncclCall(f) })
	if ee, ok := err.(*engineError); ok && (ee.kind == ErrTimeout || ee.kind == ErrPeer) {
		e.comm = 0
	}
	return err
}

func (e *ncclEngine) allReduce(p unsafe.Pointer, n int, dt device.DType) error {
	return e.do(func(m *C.char) C.int {
		return C.tg_nccl_allreduce(e.comm, e.stream(), p, C.size_t(n), ncclType(dt), e.ms(), m, errLen)
	})
}

func (e *ncclEngine) broadcast(p unsafe.Pointer, n int, dt device.DType, root int) error {
	return e.do(func(m *C.char) C.int {
		return C.tg_nccl_broadcast(e.comm, e.stream(), p, C.size_t(n), ncclType(dt), C.int(root), e.ms(), m, errLen)
	})
}

func (e *ncclEngine) allGather(in, out unsafe.Pointer, n int, dt device.DType) error {
	return e.do(func(m *C.char) C.int {
		return C.tg_nccl_allgather(e.comm, e.stream(), in, out, C.size_t(n), ncclType(dt), e.ms(), m, errLen)
	})
}

func (e *ncclEngine) reduceScatter(in, out unsafe.Pointer, counts []int, dt device.DType) error {
	cc := (*C.long)(C.malloc(C.size_t(len(counts)) * C.size_t(unsafe.Sizeof(C.long(0)))))
	defer C.free(unsafe.Pointer(cc))
	cs := unsafe.Slice(cc, len(counts))
	for i, c := range counts {
		cs[i] = C.long(c)
	}
	return e.do(func(m *C.char) C.int {
		return C.tg_nccl_reduce_scatter(e.comm, e.stream(), in, out, cc, C.int(len(counts)), C.int(e.rank), ncclType(dt), e.ms(), m, errLen)
	})
}

// barrier is the CPU engine's; a NCCL communicator has none of its own.
func (e *ncclEngine) barrier() error {
	return &engineError{kind: ErrArgument, msg: "Barrier runs on the CPU engine"}
}

func (e *ncclEngine) close() {
	if e.comm == 0 {
		return
	}
	e.be.WithContext(func() error {
		C.tg_nccl_destroy(e.comm, 0)
		return nil
	})
	e.comm = 0
}
