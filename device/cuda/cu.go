//go:build cuda

package cuda

// #cgo LDFLAGS: -lcuda -ldl
// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The real driver: gorgonia.org/cu for everything except the launch path,
// page-locked host memory and cuBLAS, which go through shim.c.
//
// gorgonia.org/cu's own context type (cu.Ctx) sends every call through a
// channel to a locked OS thread, about 16–20 µs per call; it is not used.
// Instead the primary context is retained once and made current on the
// calling OS thread around each call (with the goroutine locked to its
// thread for the duration); the launch does both in one cgo call.

func init() {
	device.Register(device.KindCUDA, provider{})
}

type provider struct{}

func (provider) Count() int { return realDriver{}.DeviceCount() }

func (provider) Open(index int) (device.Backend, error) {
	return NewBackend(realDriver{}, index, kernels.PTX)
}

type realDriver struct{}

func (realDriver) DeviceCount() int {
	n, err := cu.NumDevices()
	if err != nil {
		return 0
	}
	return n
}

func (realDriver) Open(ordinal int) (Context, error) {
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("cuda: retaining the primary context of device %d: %w", ordinal, err)
	}
	name, _ := dev.Name()
	return &cuContext{dev: dev, ctx: ctx, raw: *(*uintptr)(unsafe.Pointer(&ctx)), name: name}, nil
}

type cuContext struct {
	dev  cu.Device
	ctx  cu.CUContext
	raw  uintptr // the CUcontext handle, for the shim
	name string

	blasOnce sync.Once
	blas     BLAS
	blasErr  error
}

// do runs fn with the context current on the calling goroutine's thread.
func (c *cuContext) do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(c.ctx); err != nil {
		return err
	}
	return fn()
}

// DriverError is a CUDA driver error code.
type DriverError int

// Error returns the driver's name and description of the code.
func (e DriverError) Error() string {
	var buf [256]C.char
	C.tg_error_text(C.CUresult(e), &buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}

func result(r C.CUresult, what string) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %w", what, DriverError(r))
}

// Conversions between our handle values and gorgonia.org/cu's types, which
// are structs holding one C handle.
func cuStream(s Stream) cu.Stream { return *(*cu.Stream)(unsafe.Pointer(&s)) }
func cuEvent(e Event) cu.Event    { return *(*cu.Event)(unsafe.Pointer(&e)) }

func (c *cuContext) Name() string { return c.name }

func (c *cuContext) MemInfo() (free, total int64, err error) {
	err = c.do(func() error {
		free, total, err = cu.MemInfo()
		return err
	})
	return free, total, err
}

func (c *cuContext) MemAlloc(bytes int64) (Ptr, error) {
	var p cu.DevicePtr
	err := c.do(func() (err error) {
		p, err = cu.MemAlloc(bytes)
		return err
	})
	return Ptr(p), err
}

func (c *cuContext) MemFree(p Ptr) error {
	return c.do(func() error { return cu.MemFree(cu.DevicePtr(p)) })
}

func (c *cuContext) HostAlloc(bytes int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if err := result(C.tg_host_alloc(C.uintptr_t(c.raw), &p, C.size_t(bytes)), "cuMemHostAlloc"); err != nil {
		return nil, err
	}
	return p, nil
}

func (c *cuContext) HostFree(p unsafe.Pointer) error {
	return result(C.tg_host_free(C.uintptr_t(c.raw), p), "cuMemFreeHost")
}

func (c *cuContext) NewStream() (Stream, error) {
	var s cu.Stream
	err := c.do(func() (err error) {
		s, err = cu.MakeStream(cu.NonBlocking)
		return err
	})
	return *(*Stream)(unsafe.Pointer(&s)), err
}

func (c *cuContext) NewEvent() (Event, error) {
	var e cu.Event
	err := c.do(func() (err error) {
		e, err = cu.MakeEvent(cu.DisableTiming)
		return err
	})
	return *(*Event)(unsafe.Pointer(&e)), err
}

func (c *cuContext) NewTimingEvent() (Event, error) {
	var e cu.Event
	err := c.do(func() (err error) {
		e, err = cu.MakeEvent(cu.DefaultEvent)
		return err
	})
	return *(*Event)(unsafe.Pointer(&e)), err
}

func (c *cuContext) EventElapsed(start, end Event) (time.Duration, error) {
	var ms float64
	err := c.do(func() (err error) {
		if err = cuEvent(end).Synchronize(); err != nil {
			return err
		}
		ms, err = cuEvent(start).Elapsed(cuEvent(end))
		return err
	})
	return time.Duration(ms * float64(time.Millisecond)), err
}

func (c *cuContext) RecordEvent(e Event, s Stream) error {
	return c.do(func() error { return cuEvent(e).Record(cuStream(s)) })
}

func (c *cuContext) WaitEvent(s Stream, e Event) error {
	return c.do(func() error { return cuStream(s).Wait(cuEvent(e), 0) })
}

func (c *cuContext) SynchronizeEvent(e Event) error {
	return c.do(func() error { return cuEvent(e).Synchronize() })
}

func (c *cuContext) Synchronize(s Stream) error {
	return c.do(func() error { return cuStream(s).Synchronize() })
}

func (c *cuContext) CopyHtoD(dst Ptr, src unsafe.Pointer, bytes int64, s Stream) error {
	return c.do(func() error { return cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, bytes, cuStream(s)) })
}

func (c *cuContext) CopyDtoH(dst unsafe.Pointer, src Ptr, bytes int64, s Stream) error {
	return c.do(func() error { return cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), bytes, cuStream(s)) })
}

func (c *cuContext) CopyDtoD(dst, src Ptr, bytes int64, s Stream) error {
	return c.do(func() error { return cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, cuStream(s)) })
}

func (c *cuContext) CopyPeer(dst Ptr, dstCtx Context, src Ptr, bytes int64, s Stream) error {
	d := dstCtx.(*cuContext)
	return c.do(func() error {
		return cu.MemcpyPeerAsync(cu.DevicePtr(dst), d.ctx, cu.DevicePtr(src), c.ctx, bytes, cuStream(s))
	})
}

func (c *cuContext) LoadModule(name string, ptx string) (Module, error) {
	var m cu.Module
	errLog := &cu.JITErrorLogBuffer{Buffer: make([]byte, 1<<14)}
	err := c.do(func() (err error) {
		m, err = cu.LoadDataEx(ptx, errLog)
		return err
	})
	if err != nil {
		log := strings.TrimRight(string(errLog.Buffer), "\x00")
		return 0, fmt.Errorf("JIT compilation of %s failed: %w: %s", name, err, strings.TrimSpace(log))
	}
	return *(*Module)(unsafe.Pointer(&m)), nil
}

func (c *cuContext) Function(m Module, name string) (Function, error) {
	mod := *(*cu.Module)(unsafe.Pointer(&m))
	var f cu.Function
	err := c.do(func() (err error) {
		f, err = mod.Function(name)
		return err
	})
	return *(*Function)(unsafe.Pointer(&f)), err
}

func (c *cuContext) Launch(f Function, grid, block [3]uint32, shared uint32, s Stream, args unsafe.Pointer, size uintptr) error {
	r := C.tg_launch(C.uintptr_t(c.raw), C.uintptr_t(f),
		C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]),
		C.uint(shared), C.uintptr_t(s), args, C.size_t(size))
	return result(r, "cuLaunchKernel")
}

func (c *cuContext) BLAS() (BLAS, error) {
	c.blasOnce.Do(func() {
		if v := os.Getenv("TAPEGRAD_CUDA_BLAS"); v == "off" {
			c.blasErr = errors.New("cuBLAS turned off by TAPEGRAD_CUDA_BLAS=off")
			return
		}
		var h C.uintptr_t
		const n = 1024
		msg := (*C.char)(C.calloc(1, n))
		defer C.free(unsafe.Pointer(msg))
		if C.tg_blas_open(C.uintptr_t(c.raw), &h, msg, n) == 0 {
			c.blas = &cuBLAS{ctx: c, handle: uintptr(h), lib: C.GoString(msg)}
		} else {
			c.blasErr = fmt.Errorf("cuBLAS could not be loaded: %s", C.GoString(msg))
		}
	})
	return c.blas, c.blasErr
}

type cuBLAS struct {
	ctx    *cuContext
	handle uintptr
	lib    string
}

func (b *cuBLAS) Name() string { return b.lib }

func (b *cuBLAS) GemmStridedBatched(s Stream, f64, transA, transB bool, m, n, k int,
	a Ptr, lda int, strideA int64, bp Ptr, ldb int, strideB int64,
	c Ptr, ldc int, strideC int64, batch int) error {
	st := C.tg_blas_gemm(C.uintptr_t(b.ctx.raw), C.uintptr_t(b.handle), C.uintptr_t(s), cbool(f64),
		cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k),
		C.uintptr_t(a), C.int(lda), C.longlong(strideA),
		C.uintptr_t(bp), C.int(ldb), C.longlong(strideB),
		C.uintptr_t(c), C.int(ldc), C.longlong(strideC), C.int(batch))
	if st != 0 {
		return fmt.Errorf("cuBLAS (%s) gemm failed with status %d", b.lib, int(st))
	}
	return nil
}

// The cudaDataType values of the half dtypes (library_types.h).
const (
	cudaR16F  = 2  // CUDA_R_16F
	cudaR16BF = 14 // CUDA_R_16BF
)

func (b *cuBLAS) GemmStridedBatchedEx(s Stream, dt device.DType, transA, transB bool, m, n, k int,
	a Ptr, lda int, strideA int64, bp Ptr, ldb int, strideB int64,
	c Ptr, ldc int, strideC int64, batch int) error {
	var cdt C.int
	switch dt {
	case device.BFloat16:
		cdt = cudaR16BF
	case device.Float16:
		cdt = cudaR16F
	default:
		return fmt.Errorf("%w: cuda: GemmStridedBatchedEx of %v", device.ErrDType, dt)
	}
	st := C.tg_blas_gemm_ex(C.uintptr_t(b.ctx.raw), C.uintptr_t(b.handle), C.uintptr_t(s), cdt,
		cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k),
		C.uintptr_t(a), C.int(lda), C.longlong(strideA),
		C.uintptr_t(bp), C.int(ldb), C.longlong(strideB),
		C.uintptr_t(c), C.int(ldc), C.longlong(strideC), C.int(batch))
	switch st {
	case 0:
		return nil
	case C.TG_BLAS_NO_GEMM_EX:
		return fmt.Errorf("%w (%s)", ErrNoHalfGemm, b.lib)
	}
	return fmt.Errorf("cuBLAS (%s) gemm of %v failed with status %d", b.lib, dt, int(st))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
