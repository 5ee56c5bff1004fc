//go:build cuda

#include <dlfcn.h>
#include <pthread.h>
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
// cublasGemmStridedBatchedEx (cuBLAS 11 and newer): handle, transa, transb,
// m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta, C,
// Ctype, ldc, strideC, batchCount, computeType, algo.
typedef int (*gemm_ex_t)(void *, int, int, int, int, int, const void *, const void *, int, int, long long,
                         const void *, int, int, long long, const void *, void *, int, int, long long, int,
                         int, int);
// cuBLAS's enum values: CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT (which
// uses tensor cores for 16-bit inputs from CUDA 11 on).
enum { TG_CUBLAS_COMPUTE_32F = 68, TG_CUBLAS_GEMM_DEFAULT = -1 };

// The loaded library and its entry points, set once under blas_mu by the
// first tg_blas_open that succeeds (every device's context shares them).
static pthread_mutex_t blas_mu = PTHREAD_MUTEX_INITIALIZER;
static void *blas_lib;
static char blas_name[64];
static blas_create_t blas_create;
static blas_set_stream_t blas_set_stream;
static sgemm_t blas_sgemm;
static dgemm_t blas_dgemm;
static gemm_ex_t blas_gemm_ex; // NULL if the library lacks it (the half fast path is then off)

// appendf appends to the NUL-terminated msg of msglen bytes.
static void appendf(char *msg, size_t msglen, const char *format, const char *a, int st) {
    size_t used = strnlen(msg, msglen);
    if (used + 1 < msglen) {
        snprintf(msg + used, msglen - used, format, a, st);
    }
}

int tg_blas_open(uintptr_t ctx, uintptr_t *handle, char *msg, size_t msglen) {
    static const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"};
    if (msglen == 0) {
        return -1;
    }
    msg[0] = 0;
    int rc = -1;
    pthread_mutex_lock(&blas_mu);
    if (cuCtxSetCurrent((CUcontext)ctx) != CUDA_SUCCESS) {
        snprintf(msg, msglen, "cuCtxSetCurrent failed");
        goto out;
    }
    if (blas_lib != NULL) {
        void *h = NULL;
        int st = blas_create(&h);
        if (st != 0) {
            appendf(msg, msglen, "%s: cublasCreate failed with status %d", blas_name, st);
            goto out;
        }
        *handle = (uintptr_t)h;
        snprintf(msg, msglen, "%s", blas_name);
        rc = 0;
        goto out;
    }
    // The first library that loads, has the four entry points and creates a
    // handle on ctx wins; one whose cublasCreate fails (a cuBLAS newer than
    // the driver) is closed and the next name tried. msg collects why each
    // name was passed over.
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (lib == NULL) {
            const char *e = dlerror();
            appendf(msg, msglen, "%s; ", e ? e : names[i], 0);
            continue;
        }
        blas_create_t create = (blas_create_t)dlsym(lib, "cublasCreate_v2");
        blas_set_stream_t set_stream = (blas_set_stream_t)dlsym(lib, "cublasSetStream_v2");
        sgemm_t sgemm = (sgemm_t)dlsym(lib, "cublasSgemmStridedBatched");
        dgemm_t dgemm = (dgemm_t)dlsym(lib, "cublasDgemmStridedBatched");
        if (!create || !set_stream || !sgemm || !dgemm) {
            appendf(msg, msglen, "%s: lacks a needed symbol; ", names[i], 0);
            dlclose(lib);
            continue;
        }
        void *h = NULL;
        int st = create(&h);
        if (st != 0) {
            appendf(msg, msglen, "%s: cublasCreate failed with status %d; ", names[i], st);
            dlclose(lib);
            continue;
        }
        blas_lib = lib;
        blas_create = create;
        blas_set_stream = set_stream;
        blas_sgemm = sgemm;
        blas_dgemm = dgemm;
        blas_gemm_ex = (gemm_ex_t)dlsym(lib, "cublasGemmStridedBatchedEx");
        snprintf(blas_name, sizeof blas_name, "%s", names[i]);
        *handle = (uintptr_t)h;
        snprintf(msg, msglen, "%s", names[i]);
        rc = 0;
        goto out;
    }
out:
    pthread_mutex_unlock(&blas_mu);
    return rc;
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

int tg_blas_gemm_ex(uintptr_t ctx, uintptr_t handle, uintptr_t stream, int dtype,
                    int transa, int transb, int m, int n, int k,
                    uintptr_t a, int lda, long long stride_a,
                    uintptr_t b, int ldb, long long stride_b,
                    uintptr_t c, int ldc, long long stride_c, int batch) {
    if (blas_gemm_ex == NULL) {
        return TG_BLAS_NO_GEMM_EX;
    }
    if (cuCtxSetCurrent((CUcontext)ctx) != CUDA_SUCCESS) {
        return -1;
    }
    void *h = (void *)handle;
    int st = blas_set_stream(h, (CUstream)stream);
    if (st != 0) {
        return st;
    }
    const float one = 1, zero = 0; // float scalars: CUBLAS_COMPUTE_32F
    return blas_gemm_ex(h, transa, transb, m, n, k, &one, (const void *)a, dtype, lda, stride_a,
                        (const void *)b, dtype, ldb, stride_b, &zero, (void *)c, dtype, ldc, stride_c, batch,
                        TG_CUBLAS_COMPUTE_32F, TG_CUBLAS_GEMM_DEFAULT);
}
