//go:build cuda

#include "nccl_shim.h"

#include <cuda.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

// NCCL's C ABI (nccl.h): the handful of types and entry points used.
typedef struct { char internal[TG_NCCL_ID_BYTES]; } ncclUniqueId;
typedef void *ncclComm_t;
typedef int ncclResult_t; // ncclSuccess 0, ncclSystemError 2, ncclRemoteError 6, ncclInProgress 7
enum { ncclSuccess = 0, ncclSystemError = 2, ncclRemoteError = 6, ncclInProgress = 7 };
enum { ncclSum = 0 };
enum { ncclFloat32 = 7, ncclFloat64 = 8 };

static void *lib;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_err[512];

static ncclResult_t (*p_get_unique_id)(ncclUniqueId *);
static ncclResult_t (*p_comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
static ncclResult_t (*p_all_reduce)(const void *, void *, size_t, int, int, ncclComm_t, CUstream);
static ncclResult_t (*p_broadcast)(const void *, void *, size_t, int, int, ncclComm_t, CUstream);
static ncclResult_t (*p_all_gather)(const void *, void *, size_t, int, ncclComm_t, CUstream);
static ncclResult_t (*p_reduce)(const void *, void *, size_t, int, int, int, ncclComm_t, CUstream);
static ncclResult_t (*p_group_start)(void);
static ncclResult_t (*p_group_end)(void);
static ncclResult_t (*p_comm_get_async_error)(ncclComm_t, ncclResult_t *);
static ncclResult_t (*p_comm_abort)(ncclComm_t);
static ncclResult_t (*p_comm_destroy)(ncclComm_t);
static const char *(*p_get_error_string)(ncclResult_t);

#define SYM(p, name)                                                              \
	do {                                                                          \
		*(void **)(&p) = dlsym(lib, name);                                        \
		if (!p) {                                                                 \
			snprintf(load_err, sizeof load_err, "libnccl.so.2 lacks %s", name);   \
			dlclose(lib);                                                         \
			lib = NULL;                                                           \
			return;                                                               \
		}                                                                         \
	} while (0)

static void load(void) {
	lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *e = dlerror();
		snprintf(load_err, sizeof load_err, "%s", e ? e : "dlopen libnccl.so.2 failed");
		return;
	}
	SYM(p_get_unique_id, "ncclGetUniqueId");
	SYM(p_comm_init_rank, "ncclCommInitRank");
	SYM(p_all_reduce, "ncclAllReduce");
	SYM(p_broadcast, "ncclBroadcast");
	SYM(p_all_gather, "ncclAllGather");
	SYM(p_reduce, "ncclReduce");
	SYM(p_group_start, "ncclGroupStart");
	SYM(p_group_end, "ncclGroupEnd");
	SYM(p_comm_get_async_error, "ncclCommGetAsyncError");
	SYM(p_comm_abort, "ncclCommAbort");
	SYM(p_comm_destroy, "ncclCommDestroy");
	SYM(p_get_error_string, "ncclGetErrorString");
}

int tg_nccl_load(char *err, size_t errlen) {
	pthread_once(&once, load);
	if (!lib) {
		snprintf(err, errlen, "%s", load_err);
		return TG_NCCL_OTHER;
	}
	return TG_NCCL_OK;
}

static int nccl_fail(ncclResult_t r, const char *what, char *err, size_t errlen) {
	snprintf(err, errlen, "%s: %s (ncclResult %d)", what, p_get_error_string(r), r);
	return (r == ncclRemoteError || r == ncclSystemError) ? TG_NCCL_PEER : TG_NCCL_OTHER;
}

int tg_nccl_unique_id(unsigned char *id, char *err, size_t errlen) {
	ncclUniqueId u;
	ncclResult_t r = p_get_unique_id(&u);
	if (r != ncclSuccess) return nccl_fail(r, "ncclGetUniqueId", err, errlen);
	memcpy(id, u.internal, TG_NCCL_ID_BYTES);
	return TG_NCCL_OK;
}

int tg_nccl_init(uintptr_t *comm, int nranks, const unsigned char *id, int rank, char *err, size_t errlen) {
	ncclUniqueId u;
	memcpy(u.internal, id, TG_NCCL_ID_BYTES);
	ncclComm_t c = NULL;
	ncclResult_t r = p_comm_init_rank(&c, nranks, u, rank);
	if (r != ncclSuccess) return nccl_fail(r, "ncclCommInitRank", err, errlen);
	*comm = (uintptr_t)c;
	return TG_NCCL_OK;
}

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// finish waits for the work enqueued on stream (an event recorded after
// it), watching the communicator's asynchronous error; past timeout_ms it
// aborts the communicator, which makes NCCL's kernels return, as PyTorch's
// watchdog does.
static int finish(ncclComm_t c, CUstream stream, long timeout_ms, const char *what, char *err, size_t errlen) {
	CUevent ev;
	CUresult cr = cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING);
	if (cr != CUDA_SUCCESS) {
		snprintf(err, errlen, "%s: cuEventCreate failed (%d)", what, (int)cr);
		return TG_NCCL_OTHER;
	}
	cuEventRecord(ev, stream);
	double start = now_ms();
	int rc = TG_NCCL_OK;
	for (;;) {
		cr = cuEventQuery(ev);
		if (cr == CUDA_SUCCESS) break;
		if (cr != CUDA_ERROR_NOT_READY) {
			snprintf(err, errlen, "%s: the stream failed (CUresult %d)", what, (int)cr);
			rc = TG_NCCL_OTHER;
			break;
		}
		ncclResult_t ar = ncclSuccess;
		p_comm_get_async_error(c, &ar);
		if (ar != ncclSuccess && ar != ncclInProgress) {
			rc = nccl_fail(ar, what, err, errlen);
			p_comm_abort(c);
			break;
		}
		if (now_ms() - start > (double)timeout_ms) {
			snprintf(err, errlen, "%s: timed out after %ld ms waiting for the other ranks; communicator aborted", what,
			         timeout_ms);
			p_comm_abort(c);
			rc = TG_NCCL_TIMEOUT;
			break;
		}
		struct timespec ts = {0, 50000};
		nanosleep(&ts, NULL);
	}
	cuEventDestroy(ev);
	return rc;
}

static int nccl_type(int dtype) { return dtype == 1 ? ncclFloat64 : ncclFloat32; }

int tg_nccl_allreduce(uintptr_t comm, uintptr_t stream, void *buf, size_t n, int dtype, long timeout_ms, char *err,
                      size_t errlen) {
	ncclComm_t c = (ncclComm_t)comm;
	ncclResult_t r = p_all_reduce(buf, buf, n, nccl_type(dtype), ncclSum, c, (CUstream)stream);
	if (r != ncclSuccess) return nccl_fail(r, "ncclAllReduce", err, errlen);
	return finish(c, (CUstream)stream, timeout_ms, "ncclAllReduce", err, errlen);
}

int tg_nccl_broadcast(uintptr_t comm, uintptr_t stream, void *buf, size_t n, int dtype, int root, long timeout_ms,
                      char *err, size_t errlen) {
	ncclComm_t c = (ncclComm_t)comm;
	ncclResult_t r = p_broadcast(buf, buf, n, nccl_type(dtype), root, c, (CUstream)stream);
	if (r != ncclSuccess) return nccl_fail(r, "ncclBroadcast", err, errlen);
	return finish(c, (CUstream)stream, timeout_ms, "ncclBroadcast", err, errlen);
}

int tg_nccl_allgather(uintptr_t comm, uintptr_t stream, void *in, void *out, size_t n, int dtype, long timeout_ms,
                      char *err, size_t errlen) {
	ncclComm_t c = (ncclComm_t)comm;
	ncclResult_t r = p_all_gather(in, out, n, nccl_type(dtype), c, (CUstream)stream);
	if (r != ncclSuccess) return nccl_fail(r, "ncclAllGather", err, errlen);
	return finish(c, (CUstream)stream, timeout_ms, "ncclAllGather", err, errlen);
}

int tg_nccl_reduce_scatter(uintptr_t comm, uintptr_t stream, void *in, void *out, const long *counts, int nranks,
                           int rank, int dtype, long timeout_ms, char *err, size_t errlen) {
	ncclComm_t c = (ncclComm_t)comm;
	size_t esize = dtype == 1 ? 8 : 4;
	char *base = (char *)in;
	size_t off = 0;
	ncclResult_t r = p_group_start();
	if (r != ncclSuccess) return nccl_fail(r, "ncclGroupStart", err, errlen);
	for (int q = 0; q < nranks; q++) {
		if (counts[q] > 0) {
			void *recv = q == rank ? out : base + off * esize; // significant on the root only
			r = p_reduce(base + off * esize, recv, (size_t)counts[q], nccl_type(dtype), ncclSum, q, c, (CUstream)stream);
			if (r != ncclSuccess) {
				p_group_end();
				return nccl_fail(r, "ncclReduce", err, errlen);
			}
		}
		off += (size_t)counts[q];
	}
	r = p_group_end();
	if (r != ncclSuccess) return nccl_fail(r, "ncclGroupEnd", err, errlen);
	return finish(c, (CUstream)stream, timeout_ms, "ncclReduce (reduce-scatter)", err, errlen);
}

void tg_nccl_destroy(uintptr_t comm, int abort) {
	if (!comm) return;
	if (abort) {
		p_comm_abort((ncclComm_t)comm);
	} else {
		p_comm_destroy((ncclComm_t)comm);
	}
}
