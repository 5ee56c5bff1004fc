//go:build gloo && cgo

package distributed

// #cgo CXXFLAGS: -std=c++17 -O2
// #cgo LDFLAGS: -lgloo -lstdc++
// #include <stdlib.h>
// #include "gloo_shim.h"
import "C"

import (
	"os/signal"
	"runtime/cgo"
	"syscall"
	"time"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// HaveGloo reports whether the binary was built with the Gloo engine (the
// gloo build tag), which process groups need for CPU tensors.
const HaveGloo = true

type glooEngine struct {
	g    *C.tg_gloo
	rank int
	tag  uint32
}

// newGloo connects rank's Gloo context to the others through store, its
// TCP device bound to host.
func newGloo(rank, world int, host string, store *Store, prefix string, timeout time.Duration) (engine, error) {
	// Gloo writes to its sockets from its own threads without MSG_NOSIGNAL:
	// a write to a dead peer raises SIGPIPE on a thread the Go runtime does
	// not own, which would kill the process instead of letting Gloo report
	// the failure. Ignored, the write fails with EPIPE and Gloo throws.
	signal.Ignore(syscall.SIGPIPE)
	h := cgo.NewHandle(store)
	defer h.Delete()
	chost, cprefix := C.CString(host), C.CString(prefix)
	defer C.free(unsafe.Pointer(chost))
	defer C.free(unsafe.Pointer(cprefix))
	var code C.int
	var msg [errLen]C.char
	g := C.tg_gloo_connect(C.int(rank), C.int(world), chost, C.uintptr_t(h), cprefix, C.long(timeout.Milliseconds()), &code, &msg[0], errLen)
	if g == nil {
		return nil, codeError(code, &msg[0])
	}
	return &glooEngine{g: g, rank: rank}, nil
}

func codeError(code C.int, msg *C.char) error {
	kind := ErrEngine
	switch code {
	case C.TG_OK:
		return nil
	case C.TG_TIMEOUT:
		kind = ErrTimeout
	case C.TG_IO:
		kind = ErrPeer
	}
	return &engineError{kind: kind, msg: "gloo: " + C.GoString(msg)}
}

func glooType(dt device.DType) C.int {
	if dt == device.Float64 {
		return C.TG_F64
	}
	return C.TG_F32
}

func (e *glooEngine) nextTag() C.uint32_t {
	e.tag++
	return C.uint32_t(e.tag)
}

func (e *glooEngine) allReduce(p unsafe.Pointer, n int, dt device.DType) error {
	var msg [errLen]C.char
	return codeError(C.tg_gloo_allreduce(e.g, p, C.size_t(n), glooType(dt), e.nextTag(), &msg[0], errLen), &msg[0])
}

func (e *glooEngine) broadcast(p unsafe.Pointer, n int, dt device.DType, root int) error {
	var msg [errLen]C.char
	return codeError(C.tg_gloo_broadcast(e.g, p, C.size_t(n), glooType(dt), C.int(root), e.nextTag(), &msg[0], errLen), &msg[0])
}

func (e *glooEngine) allGather(in, out unsafe.Pointer, n int, dt device.DType) error {
	var msg [errLen]C.char
	return codeError(C.tg_gloo_allgather(e.g, in, out, C.size_t(n), glooType(dt), e.nextTag(), &msg[0], errLen), &msg[0])
}

func (e *glooEngine) reduceScatter(p, out unsafe.Pointer, counts []int, dt device.DType) error {
	cc := (*C.int)(C.malloc(C.size_t(len(counts)) * C.size_t(unsafe.Sizeof(C.int(0)))))
	defer C.free(unsafe.Pointer(cc))
	cs := unsafe.Slice(cc, len(counts))
	for i, c := range counts {
		cs[i] = C.int(c)
	}
	var msg [errLen]C.char
	tag := e.nextTag()
	e.tag += uint32(len(counts)) // one tag per rank's reduce
	return codeError(C.tg_gloo_reduce_scatter(e.g, p, out, cc, glooType(dt), tag, &msg[0], errLen), &msg[0])
}

func (e *glooEngine) barrier() error {
	var msg [errLen]C.char
	return codeError(C.tg_gloo_barrier(e.g, e.nextTag(), &msg[0], errLen), &msg[0])
}

func (e *glooEngine) close() {
	C.tg_gloo_close(e.g)
	e.g = nil
}

//export tgStoreSet
func tgStoreSet(h C.uintptr_t, key *C.char, keyLen C.int, val *C.char, valLen C.int) C.int {
	s := cgo.Handle(h).Value().(*Store)
	if err := s.Set(C.GoStringN(key, keyLen), C.GoBytes(unsafe.Pointer(val), valLen)); err != nil {
		return 2
	}
	return 0
}

//export tgStoreGet
func tgStoreGet(h C.uintptr_t, key *C.char, keyLen C.int, val **C.char, valLen *C.int) C.int {
	s := cgo.Handle(h).Value().(*Store)
	v, err := s.Get(C.GoStringN(key, keyLen))
	if err != nil {
		if isTimeout(err) {
			return 1
		}
		return 2
	}
	*val = (*C.char)(C.CBytes(v))
	*valLen = C.int(len(v))
	return 0
}
