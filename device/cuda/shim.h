//go:build cuda

// shim.h: the few CUDA driver and cuBLAS calls tapegrad makes itself
// rather than through gorgonia.org/cu: the kernel launch (one cgo call that
// makes the context current and launches with a packed argument buffer),
// page-locked host memory, and cuBLAS loaded at run time with dlopen.
#ifndef TG_SHIM_H
#define TG_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <cuda.h>

CUresult tg_launch(uintptr_t ctx, uintptr_t fn, unsigned gx, unsigned gy, unsigned gz,
                   unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   uintptr_t stream, void *args, size_t size);
// tg_error_text writes the driver's name and description of r.
void tg_error_text(CUresult r, char *buf, size_t len);

CUresult tg_host_alloc(uintptr_t ctx, void **p, size_t bytes);
CUresult tg_host_free(uintptr_t ctx, void *p);

// cuBLAS, loaded on first use (once per process, under a mutex).
// tg_blas_open creates a handle on ctx; it returns 0 on success and writes
// the name of the library to msg, or -1 and why each library was passed
// over.
int tg_blas_open(uintptr_t ctx, uintptr_t *handle, char *msg, size_t msglen);
int tg_blas_gemm(uintptr_t ctx, uintptr_t handle, uintptr_t stream, int f64,
                 int transa, int transb, int m, int n, int k,
                 uintptr_t a, int lda, long long stride_a,
                 uintptr_t b, int ldb, long long stride_b,
                 uintptr_t c, int ldc, long long stride_c, int batch);
// tg_blas_gemm_ex is tg_blas_gemm for 16-bit matrices of cudaDataType
// dtype (CUDA_R_16F or CUDA_R_16BF) in and out, accumulating in float32
// (CUBLAS_COMPUTE_32F). It returns TG_BLAS_NO_GEMM_EX, having done
// nothing, when the library has no cublasGemmStridedBatchedEx.
#define TG_BLAS_NO_GEMM_EX (-1000)
int tg_blas_gemm_ex(uintptr_t ctx, uintptr_t handle, uintptr_t stream, int dtype,
                    int transa, int transb, int m, int n, int k,
                    uintptr_t a, int lda, long long stride_a,
                    uintptr_t b, int ldb, long long stride_b,
                    uintptr_t c, int ldc, long long stride_c, int batch);

#endif
