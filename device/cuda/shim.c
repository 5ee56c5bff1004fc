//go:build cuda

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "shim.h"

CUresult tg_launch(uintptr_t ctx, uintptr_t fn, unsigned gx, unsigned gy, unsigned gz,
                   unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   uintptr_t stream, void *args, size_t size) {
    CUresult r = cuCtxSetCurrent((CUcontext)ctx);
    if (r != CUDA_SUCCESS) {
        return r;
    }
    void *config[] = {
        CU_LAUNCH_PARAM_BUFFER_POINTER, args,
        CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
        CU_LAUNCH_PARAM_END,
    };
    return cuLaunchKernel((CUfunction)fn, gx, gy, gz, bx, by, bz, shared, (CUstream)stream, NULL, config);
}

void tg_error_text(CUresult r, char *buf, size_t len) {
    const char *name = NULL, *text = NULL;
    cuGetErrorName(r, &name);
    cuGetErrorString(r, &text);
    snprintf(buf, len, "%s (%d): %s", name ? name : "CUDA_ERROR", (int)r, text ? text : "unknown error");
}

CUresult tg_host_alloc(uintptr_t ctx, void **p, size_t bytes) {
    CUresult r = cuCtxSetCurrent((CUcontext)ctx);
    if (r != CUDA_SUCCESS) {
        return r;
    }
    return cuMemHostAlloc(p, bytes, CU_MEMHOSTALLOC_PORTABLE);
}

CUresult tg_host_free(uintptr_t ctx, void *p) {
    CUresult r = cuCtxSetCurrent((CUcontext)ctx);
    if (r != CUDA_SUCCESS) {
        return r;
    }
    return cuMemFreeHost(p);
}

// The cuBLAS entry points used, declared here so that no cuBLAS header or
// library is needed at build time. Enum values are cuBLAS's (0 = N, 1 = T).
typedef int (*blas_create_t)(void **);
typedef int (*blas_set_stream_t)(void *, CUstream);
typedef int (*sgemm_t)(void *, int, int, int, int, int, const float *, const float *, int, long long,
                       const float *, int, long long, const float *, float *, int, long long, int);
typedef int (*dgemm_t)(void *, int, int, int, int, int, const double *, const double *, int, long long,
                       const double *, int, long long, const double *, double *, int, long long, int);

static void *blas_lib;
static blas_create_t blas_create;
static blas_set_stream_t blas_set_stream;
static sgemm_t blas_sgemm;
static dgemm_t blas_dgemm;

int tg_blas_open(uintptr_t ctx, uintptr_t *handle, char *msg, size_t msglen) {
    static const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"};
    if (blas_lib == NULL) {
        for (size_t i = 0; i < sizeof names / sizeof names[0] && blas_lib == NULL; i++) {
            blas_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
            if (blas_lib != NULL) {
                snprintf(msg, msglen, "%s", names[i]);
            }
        }
        if (blas_lib == NULL) {
            const char *e = dlerror();
            snprintf(msg, msglen, "%s", e ? e : "libcublas not found");
            return -1;
        }
        blas_create = (blas_create_t)dlsym(blas_lib, "cublasCreate_v2");
        blas_set_stream = (blas_set_stream_t)dlsym(blas_lib, "cublasSetStream_v2");
        blas_sgemm = (sgemm_t)dlsym(blas_lib, "cublasSgemmStridedBatched");
        blas_dgemm = (dgemm_t)dlsym(blas_lib, "cublasDgemmStridedBatched");
        if (!blas_create || !blas_set_stream || !blas_sgemm || !blas_dgemm) {
            snprintf(msg, msglen, "cuBLAS lacks a needed symbol");
            dlclose(blas_lib);
            blas_lib = NULL;
            return -1;
        }
    }
    if (cuCtxSetCurrent((CUcontext)ctx) != CUDA_SUCCESS) {
        snprintf(msg, msglen, "cuCtxSetCurrent failed");
        return -1;
    }
    void *h = NULL;
    int st = blas_create(&h);
    if (st != 0) {
        snprintf(msg, msglen, "cublasCreate failed with status %d", st);
        return -1;
    }
    *handle = (uintptr_t)h;
    return 0;
}

int tg_blas_gemm(uintptr_t ctx, uintptr_t handle, uintptr_t stream, int f64,
                 int transa, int transb, int m, int n, int k,
                 uintptr_t a, int lda, long long stride_a,
                 uintptr_t b, int ldb, long long stride_b,
                 uintptr_t c, int ldc, long long stride_c, int batch) {
    if (cuCtxSetCurrent((CUcontext)ctx) != CUDA_SUCCESS) {
        return -1;
    }
    void *h = (void *)handle;
    int st = blas_set_stream(h, (CUstream)stream);
    if (st != 0) {
        return st;
    }
    if (f64) {
        const double one = 1, zero = 0;
        return blas_dgemm(h, transa, transb, m, n, k, &one, (const double *)a, lda, stride_a,
                          (const double *)b, ldb, stride_b, &zero, (double *)c, ldc, stride_c, batch);
    }
    const float one = 1, zero = 0;
    return blas_sgemm(h, transa, transb, m, n, k, &one, (const float *)a, lda, stride_a,
                      (const float *)b, ldb, stride_b, &zero, (float *)c, ldc, stride_c, batch);
}
