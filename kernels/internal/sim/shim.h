// shim.h: just enough of CUDA C++ to compile tapegrad's kernel sources
// with the host C++ compiler, for the kernelsim tests (see sim.go). Each
// CUDA thread runs as one host thread; blocks run one after another, so a
// function-local static is the block's shared memory.
#ifndef TG_SIM_SHIM_H
#define TG_SIM_SHIM_H

// Round every operation: no contraction into FMA (the kernels are compiled
// with --fmad=false).
#pragma GCC optimize("fp-contract=off")
#pragma STDC FP_CONTRACT OFF

#include <math.h>
#include <stdint.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static

struct sim_dim3 {
    unsigned x, y, z;
};
extern thread_local sim_dim3 threadIdx, blockIdx, blockDim, gridDim;

struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(16) double2 {
    double x, y;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline double2 make_double2(double x, double y) { return {x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

template <typename T> static inline T min(T a, T b) { return b < a ? b : a; }
template <typename T> static inline T max(T a, T b) { return a < b ? b : a; }

// Rounding intrinsics: host arithmetic is IEEE round-to-nearest, and the
// simulator is compiled with -ffp-contract=off.
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline float __uint2float_rn(unsigned x) { return (float)x; }
static inline double __ull2double_rn(unsigned long long x) { return (double)x; }
static inline float __double2float_rn(double x) { return (float)x; }

// Bit casts.
static inline unsigned __float_as_uint(float x) {
    unsigned b;
    memcpy(&b, &x, 4);
    return b;
}
static inline float __uint_as_float(unsigned b) {
    float x;
    memcpy(&x, &b, 4);
    return x;
}
static inline long long __double_as_longlong(double x) {
    long long b;
    memcpy(&b, &x, 8);
    return b;
}
static inline double __longlong_as_double(long long b) {
    double x;
    memcpy(&x, &b, 8);
    return x;
}

// Atomics: the host's, sequentially consistent.
static inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v) {
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp; // the old value: cmp on success, the value found on failure
}

void __syncthreads();
uint64_t sim_shfl_down(uint64_t bits, int delta);
template <typename T> static inline T __shfl_down_sync(unsigned, T v, int delta) {
    static_assert(sizeof(T) == 8, "64-bit shuffles only");
    uint64_t b;
    memcpy(&b, &v, 8);
    b = sim_shfl_down(b, delta);
    memcpy(&v, &b, 8);
    return v;
}

uint64_t sim_shfl_up(uint64_t bits, int delta);
template <typename T> static inline T __shfl_up_sync(unsigned, T v, int delta) {
    static_assert(sizeof(T) == 8, "64-bit shuffles only");
    uint64_t b;
    memcpy(&b, &v, 8);
    b = sim_shfl_up(b, delta);
    memcpy(&v, &b, 8);
    return v;
}

#endif
