//go:build gloo

// The C face of the Gloo binding: a few functions with C linkage that the
// Go side (gloo.go) calls through cgo, and the two Go functions that the
// C++ side calls back into for the rendezvous store.
#ifndef TAPEGRAD_GLOO_SHIM_H
#define TAPEGRAD_GLOO_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Result codes of the tg_gloo_* functions.
enum {
	TG_OK = 0,
	TG_TIMEOUT = 1,  // gloo::IoException "Timed out ..."
	TG_IO = 2,       // any other gloo::IoException: a peer's socket failed
	TG_OTHER = 3,    // any other exception
};

// Element types.
enum { TG_F32 = 0, TG_F64 = 1 };

typedef struct tg_gloo tg_gloo;

// tg_gloo_connect makes rank's context of a group of size ranks, its TCP
// device bound to hostname, connected to every other rank through the
// rendezvous store behind store (a cgo.Handle) under prefix. timeout_ms is
// every later operation's timeout. On failure it returns NULL and writes a
// message to err.
tg_gloo *tg_gloo_connect(int rank, int size, const char *hostname, uintptr_t store, const char *prefix,
                         long timeout_ms, int *code, char *err, size_t errlen);
int tg_gloo_allreduce(tg_gloo *g, void *buf, size_t n, int dtype, uint32_t tag, char *err, size_t errlen);
int tg_gloo_broadcast(tg_gloo *g, void *buf, size_t n, int dtype, int root, uint32_t tag, char *err, size_t errlen);
int tg_gloo_allgather(tg_gloo *g, void *in, void *out, size_t n, int dtype, uint32_t tag, char *err, size_t errlen);
// tg_gloo_reduce_scatter sums buf (counts[0] + ... elements) over the
// ranks and writes rank r's counts[r] elements of the sum to out; buf is
// scratch afterwards.
int tg_gloo_reduce_scatter(tg_gloo *g, void *buf, void *out, const int *counts, int dtype, uint32_t tag, char *err,
                           size_t errlen);
int tg_gloo_barrier(tg_gloo *g, uint32_t tag, char *err, size_t errlen);
void tg_gloo_close(tg_gloo *g);

// Implemented in Go (gloo.go): the rendezvous store. They return 0 on
// success; tgStoreGet waits for the key (up to the store's timeout) and
// returns the value in memory from malloc, which the caller frees.
int tgStoreSet(uintptr_t store, char *key, int keylen, char *val, int vallen);
int tgStoreGet(uintptr_t store, char *key, int keylen, char **val, int *vallen);

#ifdef __cplusplus
}
#endif

#endif
