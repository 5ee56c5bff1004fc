// Package cuda is tapegrad's CUDA backend: tensors in GPU memory, with
// operations running as PTX kernels (package kernels) loaded through the
// CUDA driver API (gorgonia.org/cu) and matrix products through cuBLAS.
//
// # Building
//
// The backend registers itself only in binaries built with the cuda build
// tag:
//
//	go build -tags cuda ./...
//
// Such a binary links libcuda.so.1 dynamically and is meant for machines
// with an NVIDIA driver and a GPU: gorgonia.org/cu calls cuInit in its
// package initialisation and exits the process when that fails, so a
// cuda-tagged binary does not start on a machine without a driver. Without
// the tag nothing imports gorgonia.org/cu, no GPU code is linked, and
// device.Default() is the CPU. scripts/cuda-toolchain.sh fetches the CUDA
// 11.8 headers and libcuda from Debian for building without a CUDA install.
//
// # Design
//
// Everything that can be checked without a GPU lives in files without the
// build tag and talks to the driver through the small [Driver] and
// [Context] interfaces: the caching allocator (alloc.go), the kernel
// argument structs (args.go, mirroring kernels/tg_args.h), the kernel-name
// table and launch geometry (kernels.go), and the backend itself, split by
// concern as device/cpu is: the backend value, errors and launches
// (backend.go), memory, uploads, downloads and peer copies (memory.go),
// the choice of kernel for each elementwise operation and layout
// (elementwise.go), the half dtypes' own kernels (half.go), reductions
// (reduce.go), matrix products (matmul.go), timing events (timer.go), the
// fused training kernels (train.go), and the device-side error record
// (sticky.go). The
// tests run all of it against a fake driver. cu.go (cuda tag) is the real
// driver.
//
//   - Launches: a kernel takes one argument struct by value, passed as a
//     packed buffer (CU_LAUNCH_PARAM_BUFFER_POINTER) by a cgo shim of our own
//     that makes the device's primary context current and launches in one
//     cgo call. Shapes and strides travel in the launch: there is no
//     host-to-device copy of metadata. gorgonia.org/cu's Function.Launch (two
//     mallocs per launch, 8-byte arguments only) and its channel-based
//     cu.Ctx (16–20 µs per call) are not used.
//   - Streams: each device has one non-blocking stream. Operations enqueue
//     and return; host reads (Float32s, Item, String) synchronise. Backward
//     passes run their kernels on the stream of the device that owns the
//     tensors simply because every operation runs on its tensors' device;
//     a gradient crossing devices (the backward of To) is ordered with
//     events on both streams, never a device-wide synchronisation.
//   - Memory: a caching allocator per device rounds requests to size classes
//     and reuses freed blocks without cuMemFree; reuse needs no
//     synchronisation because a device's work is ordered on its stream.
//     MemStats reports allocated, reserved and peak bytes; EmptyCache gives
//     cached memory back. Tensors free their memory when the garbage
//     collector finds them unreachable, or at once on Tensor.Release. When an
//     allocation fails the allocator empties its cache and retries, then the
//     tensor package runs the garbage collector, waits for cleanups and
//     retries once more before reporting out-of-memory with the device's
//     free and total memory.
//   - Errors: launch failures and faults of asynchronous work are kept and
//     reported by the next synchronisation (Download, Synchronize), naming
//     the kernel that failed or the last one launched.
//   - Bad labels and indices (the "sticky error"): the kernels that read
//     labels or indices (softmax cross-entropy and its gradient, gather,
//     scatter-add, and [Backend.CheckIndices], which package tensor uses
//     for OneHot's labels) check them on the device. A bad one (not an
//     integer, or outside [0, bound)) gives NaN outputs where it is used
//     and is written to a small error record (kernels/tg_args.h,
//     TgErrRecord: code, operation, flat position, value, bound; the first
//     error wins by atomicCAS on the code). The backend reads the record at
//     the synchronisations it already makes (Synchronize, Download,
//     Timer.Stop), and only when such a kernel ran since the last read, and
//     reports it as a *device.IndexError (errors.Is device.ErrBadIndex),
//     clearing it: the context stays usable. So the host never copies
//     indices back to check them and never waits per call; the error
//     surfaces at the next synchronisation, as PyTorch's device-side
//     asserts do, but typed and recoverable. The record is 64 bytes of
//     device memory, allocated on first use and read with one small
//     copy on the idle stream after the synchronisation. Mapped page-locked
//     host memory (cuMemHostAlloc with DEVICEMAP) would make the read a
//     plain load, but it needs a driver entry point more, and atomics on
//     host memory over PCIe are not guaranteed on every platform; the copy
//     costs a few microseconds and is paid only after index kernels.
//   - Timing: [Backend.NewTimer] gives a device.Timer, two CUDA events with
//     timing enabled recorded on the stream around the timed work; Stop
//     waits for the end event and returns the GPU time between them (and
//     reports errors of the work, as Synchronize does). The benchmark
//     harness times its repetitions with it.
//   - Matrix products: cuBLAS, loaded at run time with dlopen (the first of
//     libcublas.so.13, .12, .11 that loads and creates a handle), else the
//     tiled kernel of package kernels; TAPEGRAD_CUDA_BLAS=off forces the
//     kernel, and [Backend.GEMM] says which path is in use and why.
//     Products of half matrices (all three of one half dtype) go to
//     cublasGemmStridedBatchedEx on the half buffers themselves (float32
//     accumulation, tensor cores) through [Backend.HalfMatMul], the
//     backend's device.HalfMatMuler, which device.WithHalf asks first;
//     without cuBLAS (or that entry point) WithHalf computes them in
//     float32.
//   - Half dtypes: BFloat16 and Float16 buffers hold 2-byte elements (their
//     bits). The backend stores them (Alloc, Free, Upload, Download, of
//     []uint16 bits or any host type converted on the host), converts them
//     in Copy (module index: one strided kernel per dtype pair with a half
//     side, bit for bit device/half.go's conversions) and fills them. The
//     elementwise methods (Unary, Scalar, Binary in every variant,
//     AddScaled) and Reduce have kernels of their own for each half dtype
//     (modules half_bf16 and half_f16, half.go): they read and write the
//     half buffers directly (16-byte vectors of 8 halves), compute in
//     float32 with the float32 kernels' functors (reductions: double
//     partials, Reduce's plans) and round once to the half type, so an
//     elementwise result is bit for bit the float32 kernel's result on the
//     widened operands, rounded. The backend offers them as
//     device.HalfKernels (HalfUnary, HalfScalar, HalfBinary,
//     HalfAddScaled, HalfReduce), which device.WithHalf, the wrapper
//     package tensor puts around every backend, asks first; they decline
//     calls whose buffers are not all of one half dtype. Every other
//     method on half buffers (Where, ArgReduce, the fused training and
//     attention kernels, ...) runs in device.WithHalf on float32 copies
//     (MatMul excepted, see above).
//   - Reductions are deterministic: a first pass writes float64 partial
//     results of fixed-size chunks, a second combines them in a fixed order;
//     no floating-point atomics, so results are bitwise identical run to run.
package cuda
