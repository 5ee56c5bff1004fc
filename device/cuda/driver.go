package cuda

import (
	"errors"
	"time"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// Ptr is a device memory address.
type Ptr uintptr

// Handles of driver objects. Their values mean something only to the driver
// that made them.
type (
	Stream   uintptr
	Event    uintptr
	Module   uintptr
	Function uintptr
)

// Driver is the small part of the CUDA driver API the backend uses. The
// real driver (file cu.go, built with the cuda tag) wraps gorgonia.org/cu
// and a cgo shim of its own for the launch path; tests use a fake, so that
// everything here except the driver itself runs in CPU-only CI.
type Driver interface {
	// DeviceCount returns the number of usable GPUs.
	DeviceCount() int
	// Open retains device ordinal's primary context.
	Open(ordinal int) (Context, error)
}

// Context is one device's primary context. Its methods may be called from
// any goroutine; the real driver makes the context current on the calling
// OS thread inside each call.
type Context interface {
	// Name returns the device's name, e.g. "NVIDIA H100 80GB HBM3".
	Name() string
	// MemInfo returns the device's free and total memory in bytes.
	MemInfo() (free, total int64, err error)
	MemAlloc(bytes int64) (Ptr, error)
	MemFree(p Ptr) error
	// HostAlloc returns page-locked host memory (for fast transfers).
	HostAlloc(bytes int64) (unsafe.Pointer, error)
	HostFree(p unsafe.Pointer) error

	NewStream() (Stream, error) // non-blocking with respect to the legacy stream
	NewEvent() (Event, error)   // timing disabled
	// NewTimingEvent returns an event with timing enabled (for Timer).
	NewTimingEvent() (Event, error)
	// EventElapsed waits for end (recorded after start on one stream) and
	// returns the device time between the two events.
	EventElapsed(start, end Event) (time.Duration, error)
	RecordEvent(e Event, s Stream) error
	WaitEvent(s Stream, e Event) error
	Synchronize(s Stream) error
	// SynchronizeEvent waits until the work before e's last record is done.
	SynchronizeEvent(e Event) error

	// Copies are enqueued on s. CopyHtoD returns once src may be reused;
	// CopyDtoH into pageable memory returns when the data has arrived.
	CopyHtoD(dst Ptr, src unsafe.Pointer, bytes int64, s Stream) error
	CopyDtoH(dst unsafe.Pointer, src Ptr, bytes int64, s Stream) error
	CopyDtoD(dst, src Ptr, bytes int64, s Stream) error
	// CopyPeer copies from this context's memory to dstCtx's memory.
	CopyPeer(dst Ptr, dstCtx Context, src Ptr, bytes int64, s Stream) error

	// LoadModule JIT-compiles PTX; errors include the JIT log.
	LoadModule(name string, ptx string) (Module, error)
	Function(m Module, name string) (Function, error)
	// Launch enqueues f on s with the argument struct at args (size bytes).
	Launch(f Function, grid, block [3]uint32, shared uint32, s Stream, args unsafe.Pointer, size uintptr) error

	// BLAS returns the context's cuBLAS, or nil and why when the library
	// cannot be loaded or is turned off (the backend then uses its own GEMM
	// kernel).
	BLAS() (BLAS, error)
}

// BLAS is the part of cuBLAS the backend uses (column-major, as cuBLAS).
type BLAS interface {
	// Name names the library, e.g. "libcublas.so.12".
	Name() string
	// GemmStridedBatched computes C_i = op(A_i)·op(B_i) for i < batch, in
	// float32 (f64 false) or float64, on stream s.
	GemmStridedBatched(s Stream, f64, transA, transB bool, m, n, k int,
		a Ptr, lda int, strideA int64, b Ptr, ldb int, strideB int64,
		c Ptr, ldc int, strideC int64, batch int) error
	// GemmStridedBatchedEx is GemmStridedBatched for A, B and C of the
	// half dtype dt (device.BFloat16 or device.Float16), accumulating in
	// float32 and rounding C once (cublasGemmStridedBatchedEx with
	// CUBLAS_COMPUTE_32F, tensor cores where the GPU has them). It returns
	// an error wrapping [ErrNoHalfGemm], having enqueued nothing, when the
	// library lacks the entry point.
	GemmStridedBatchedEx(s Stream, dt device.DType, transA, transB bool, m, n, k int,
		a Ptr, lda int, strideA int64, b Ptr, ldb int, strideB int64,
		c Ptr, ldc int, strideC int64, batch int) error
}

// ErrNoHalfGemm is wrapped by the error of [BLAS.GemmStridedBatchedEx]
// when the loaded cuBLAS has no cublasGemmStridedBatchedEx.
var ErrNoHalfGemm = errors.New("cuda: cuBLAS has no cublasGemmStridedBatchedEx")
