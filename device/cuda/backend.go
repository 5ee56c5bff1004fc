package cuda

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// Buffer is device memory holding elements of one dtype.
type Buffer struct {
	ptr   Ptr
	n     int
	dt    device.DType
	class int64 // allocator size class in bytes
}

// Len returns the number of elements.
func (b *Buffer) Len() int { return b.n }

// DType returns the element type.
func (b *Buffer) DType() device.DType { return b.dt }

// Ptr returns the device address of element 0.
func (b *Buffer) Ptr() Ptr { return b.ptr }

// at returns the address of element off.
func (b *Buffer) at(off int) Ptr { return b.ptr + Ptr(off*b.dt.Size()) }

func bufOf(b device.Buffer) *Buffer { return b.(*Buffer) }

// Backend runs operations on one GPU. All of a device's work goes to one
// non-blocking stream in the order the methods are called; methods return
// once the work is enqueued. Errors of enqueued work (including launch
// failures) are kept and reported, with the name of the kernel launched
// last, by the next Synchronize or Download; so are bad labels and indices
// that kernels find (a *device.IndexError, see [Backend.CheckIndices]).
type Backend struct {
	dev    device.Device
	ctx    Context
	stream Stream
	alloc  *allocator
	name   string

	loadMu  sync.Mutex
	modules map[string]Module
	funcs   []atomic.Uintptr // by kernel id; 0 until loaded
	ptx     func(module string) (string, error)

	peerMu sync.Mutex
	// Peer copies into this device: peerA (this device's context) marks
	// this stream for the source's stream to wait on; peerDone[f] (made on
	// the source f's context, since an event is recorded only on a stream of
	// its own context) marks the end of the copy on f's stream.
	peerA    Event
	peerDone map[*Backend]Event

	stageMu sync.Mutex
	stage   [2]unsafe.Pointer // page-locked staging chunks for large downloads
	stageEv [2]Event          // recorded after each chunk's copy

	sticky sticky // the device-side error record (sticky.go)

	errMu   sync.Mutex
	err     error
	lastOp  atomic.Value // string: the kernel launched last
	nLaunch atomic.Int64

	noHalfGemm atomic.Bool // cuBLAS has no cublasGemmStridedBatchedEx: HalfMatMul declines
}

// NewBackend opens device ordinal through drv. ptx returns a module's PTX
// text (package kernels provides it; tests pass their own).
func NewBackend(drv Driver, ordinal int, ptx func(module string) (string, error)) (*Backend, error) {
	ctx, err := drv.Open(ordinal)
	if err != nil {
		return nil, err
	}
	s, err := ctx.NewStream()
	if err != nil {
		return nil, fmt.Errorf("cuda: creating the stream of device %d: %w", ordinal, err)
	}
	b := &Backend{dev: device.CUDA(ordinal), ctx: ctx, stream: s, name: ctx.Name(),
		modules: map[string]Module{}, funcs: make([]atomic.Uintptr, len(kernelTable)), ptx: ptx}
	b.alloc = newAllocator(ctx, func() error { return ctx.Synchronize(s) })
	b.lastOp.Store("")
	return b, nil
}

// Device returns the backend's device.
func (b *Backend) Device() device.Device { return b.dev }

// StreamHandle returns the device's one stream (a CUstream of the real
// driver), for libraries that enqueue work on the tensors' own stream:
// package distributed runs NCCL's collectives there, ordered after the
// kernels that produced their inputs.
func (b *Backend) StreamHandle() Stream { return b.stream }

// WithContext runs fn on a locked OS thread with the device's primary
// context current (with the real driver; other drivers just call fn), for
// cgo code that calls CUDA libraries on the device.
func (b *Backend) WithContext(fn func() error) error {
	if c, ok := b.ctx.(interface{ do(func() error) error }); ok {
		return c.do(fn)
	}
	return fn()
}

// Name returns the GPU's name.
func (b *Backend) Name() string { return b.name }

// MemStats returns the caching allocator's statistics.
func (b *Backend) MemStats() MemStats { return b.alloc.statsNow() }

// EmptyCache gives all cached (unused) device memory back to the driver.
func (b *Backend) EmptyCache() {
	if err := b.alloc.emptyCache(); err != nil {
		b.fail("EmptyCache", err)
	}
}

// Launches returns how many kernels the backend has launched (for
// measuring host cost per launch).
func (b *Backend) Launches() int64 { return b.nLaunch.Load() }

// fail keeps the first error of enqueued work.
func (b *Backend) fail(op string, err error) {
	b.errMu.Lock()
	if b.err == nil {
		b.err = fmt.Errorf("cuda: %s on %v: %w", op, b.dev, err)
	}
	b.errMu.Unlock()
}

// takeError returns and clears the kept error, or wraps err (from a
// synchronisation) with the name of the kernel launched last, or else
// returns and clears the error a kernel recorded in the device-side error
// record (a *device.IndexError). Callers have synchronised the stream
// when err is nil.
func (b *Backend) takeError(err error) error {
	b.errMu.Lock()
	kept := b.err
	b.err = nil
	b.errMu.Unlock()
	if kept != nil {
		return kept
	}
	if err != nil {
		return fmt.Errorf("cuda: error in work enqueued on %v (the last kernel launched was %s): %w", b.dev, b.lastOp.Load(), err)
	}
	return b.readErrRecord()
}

// Synchronize waits for the device's stream and reports the first error of
// the work enqueued since the last synchronisation.
func (b *Backend) Synchronize() error {
	return b.takeError(b.ctx.Synchronize(b.stream))
}

// function returns kernel id's function, loading its module on first use.
func (b *Backend) function(id int) (Function, error) {
	if f := b.funcs[id].Load(); f != 0 {
		return Function(f), nil
	}
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	if f := b.funcs[id].Load(); f != 0 {
		return Function(f), nil
	}
	k := kernelTable[id]
	m, ok := b.modules[k.module]
	if !ok {
		text, err := b.ptx(k.module)
		if err != nil {
			return 0, err
		}
		m, err = b.ctx.LoadModule(k.module, text)
		if err != nil {
			return 0, fmt.Errorf("cuda: loading PTX module %q: %w", k.module, err)
		}
		b.modules[k.module] = m
	}
	f, err := b.ctx.Function(m, k.name)
	if err != nil {
		return 0, fmt.Errorf("cuda: kernel %s in module %q: %w", k.name, k.module, err)
	}
	b.funcs[id].Store(uintptr(f))
	return f, nil
}

// launch enqueues kernel id with the argument struct at args.
func (b *Backend) launch(id int, grid, block [3]uint32, args unsafe.Pointer, size uintptr) {
	name := kernelTable[id].name
	f, err := b.function(id)
	if err == nil {
		err = b.ctx.Launch(f, grid, block, 0, b.stream, args, size)
	}
	b.nLaunch.Add(1)
	b.lastOp.Store(name)
	if err != nil {
		b.fail(name, err)
	}
}
