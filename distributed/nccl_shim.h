//go:build cuda

// The NCCL binding: libnccl.so.2 loaded at run time with dlopen (nothing
// links it at build time, as device/cuda does with cuBLAS), its types
// declared here from NCCL's stable C ABI (nccl.h 2.x) so that building
// needs no NCCL headers.
#ifndef TAPEGRAD_NCCL_SHIM_H
#define TAPEGRAD_NCCL_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define TG_NCCL_ID_BYTES 128 // sizeof(ncclUniqueId)

// Result codes of the tg_nccl_* functions, as the Go side classifies them.
enum {
	TG_NCCL_OK = 0,
	TG_NCCL_TIMEOUT = 1, // the work did not complete in time: the communicator was aborted
	TG_NCCL_PEER = 2,    // NCCL reported a remote or system error (a peer's connection failed)
	TG_NCCL_OTHER = 3,   // any other failure, the library's absence included
};

// tg_nccl_load dlopens libnccl.so.2 once; 0 on success, else a message.
int tg_nccl_load(char *err, size_t errlen);
int tg_nccl_unique_id(unsigned char *id, char *err, size_t errlen);
// tg_nccl_init makes rank's communicator of nranks over id on the device
// whose context is current on the calling thread.
int tg_nccl_init(uintptr_t *comm, int nranks, const unsigned char *id, int rank, char *err, size_t errlen);

// The collectives enqueue on stream and then wait (polling an event, and
// the communicator's asynchronous error) for at most timeout_ms, aborting
// the communicator when the time passes. dtype: 0 float32, 1 float64.
int tg_nccl_allreduce(uintptr_t comm, uintptr_t stream, void *buf, size_t n, int dtype, long timeout_ms, char *err,
                      size_t errlen);
int tg_nccl_broadcast(uintptr_t comm, uintptr_t stream, void *buf, size_t n, int dtype, int root, long timeout_ms,
                      char *err, size_t errlen);
int tg_nccl_allgather(uintptr_t comm, uintptr_t stream, void *in, void *out, size_t n, int dtype, long timeout_ms,
                      char *err, size_t errlen);
// tg_nccl_reduce_scatter: one ncclReduce per rank in a group, rank r's of
// counts[r] elements at its offset of in, into out on rank r (uneven
// shards, which ncclReduceScatter does not take).
int tg_nccl_reduce_scatter(uintptr_t comm, uintptr_t stream, void *in, void *out, const long *counts, int nranks,
                           int rank, int dtype, long timeout_ms, char *err, size_t errlen);
void tg_nccl_destroy(uintptr_t comm, int abort);

#endif
