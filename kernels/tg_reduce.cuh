// tg_reduce.cuh: the two-pass reductions and the index reductions of
// module reduce (see reduce.cu for the launch geometry), templated on the
// element type T, which TgRedIO<T> widens to the double accumulators and
// rounds the results back to: float and double here, the half types in
// the half modules (tg_half.cuh specializes it).
#ifndef TG_REDUCE_CUH
#define TG_REDUCE_CUH

#include "tg_common.cuh"

// How elements of T are read into the double accumulators and how a
// result is stored as T (one rounding).
template <typename T> struct TgRedIO {
    static TG_DEV double load(T x) { return (double)x; }
    static TG_DEV T store(double x) { return T(x); }
};

enum { RSUM, RMEAN, RMAX, RMIN, RNORM2 };

// The reductions' algebra on double accumulators.
template <int OP> struct Red {
    static __device__ __forceinline__ double ident() {
        return OP == RMAX ? -CUDART_INF : OP == RMIN ? CUDART_INF : 0.0;
    }
    // acc combined with one element x.
    template <typename T> static __device__ __forceinline__ double step(double acc, T x) {
        const double v = TgRedIO<T>::load(x);
        if (OP == RMAX) return tg_max(acc, v);
        if (OP == RMIN) return tg_min(acc, v);
        if (OP == RNORM2) return __dadd_rn(acc, __dmul_rn(v, v));
        return acc + v;
    }
    // Two partial results combined.
    static __device__ __forceinline__ double comb(double a, double b) {
        if (OP == RMAX) return tg_max(a, b);
        if (OP == RMIN) return tg_min(a, b);
        return a + b;
    }
    static __device__ __forceinline__ double finish(double acc, tg_i64 count) {
        if (OP == RMEAN) return acc / (double)count;
        if (OP == RNORM2) return sqrt(acc);
        if ((OP == RMAX || OP == RMIN) && count == 0) return CUDART_NAN;
        return acc;
    }
};

// Fixed shuffle tree over a warp; lane 0 gets the result.
template <int OP> TG_DEV double warp_comb(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = Red<OP>::comb(v, __shfl_down_sync(0xffffffffu, v, o));
    return v;
}

// Fixed tree over the block (warp trees, then a tree over the warps'
// results); thread 0 gets the result. All threads must call it.
template <int OP> TG_DEV double block_comb(double v, double *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_comb<OP>(v);
    if (lane == 0) sh[w] = v;
    __syncthreads();
    if (w == 0) v = warp_comb<OP>(lane < nw ? sh[lane] : Red<OP>::ident());
    __syncthreads(); // sh may be written again
    return v;
}

// Below this chunk length the inner pass gives each work item one warp.
#define TG_BLOCK_MODE_MIN 1024

template <typename T, int OP> TG_DEV void reduce_inner(const TgReduceInnerArgs &p) {
    __shared__ double sh[32];
    const T *src = (const T *)p.src;
    const tg_i64 items = p.rows * p.chunks;
    const bool blockMode = p.chunk >= TG_BLOCK_MODE_MIN;
    // The group of threads that handles one work item.
    const int gsize = blockMode ? (int)blockDim.x : 32;
    const int t = blockMode ? (int)threadIdx.x : (int)(threadIdx.x & 31);
    tg_i64 b = blockMode ? (tg_i64)blockIdx.x : tg_tid() >> 5;
    const tg_i64 bstep = blockMode ? (tg_i64)gridDim.x : tg_nthreads() >> 5;
#pragma unroll 1
    for (; b < items; b += bstep) {
        const tg_i64 r = b / p.chunks, c = b - r * p.chunks;
        const tg_i64 lo = c * p.chunk, hi = min(lo + p.chunk, p.run);
        const T *x = src + tg_off1(p.keep, r, p.vkeep);
        double acc = Red<OP>::ident();
        for (tg_i64 j = lo + t; j < hi; j += gsize) acc = Red<OP>::step(acc, x[j]);
        acc = blockMode ? block_comb<OP>(acc, sh) : warp_comb<OP>(acc);
        if (t == 0) p.part[b] = acc;
    }
}

template <typename T, int OP> TG_DEV void reduce_outer(const TgReduceOuterArgs &p) {
    const T *src = (const T *)p.src + p.base;
    const tg_i64 cstep = (tg_i64)gridDim.x * blockDim.x;
#pragma unroll 1
    for (tg_i64 c = blockIdx.y; c < p.chunks; c += gridDim.y) {
        const tg_i64 r0 = c * p.chunk, r1 = min(r0 + p.chunk, p.rows);
#pragma unroll 1
        for (tg_i64 j = (tg_i64)blockIdx.x * blockDim.x + threadIdx.x; j < p.cols; j += cstep) {
            double acc = Red<OP>::ident();
            if (r0 < r1) {
                TgWalk w;
                tg_walk_start(w, p.red, p.vred, r0);
#pragma unroll 1
                for (tg_i64 r = r0;;) {
                    acc = Red<OP>::step(acc, src[w.off + j]);
                    if (++r == r1) break;
                    tg_walk_next(w, p.red, p.vred);
                }
            }
            p.part[c * p.cols + j] = acc;
        }
    }
}

template <typename T, int OP> TG_DEV void reduce_final(const TgReduceFinalArgs &p) {
    T *dst = (T *)p.dst;
    const int lane = threadIdx.x & 31;
    const tg_i64 ostep = tg_nthreads() >> 5;
    // Partial c of output o is part[o*cs + c*ps].
    const tg_i64 cs = p.transposed ? 1 : p.chunks, ps = p.transposed ? p.outputs : 1;
#pragma unroll 1
    for (tg_i64 o = tg_tid() >> 5; o < p.outputs; o += ostep) {
        double acc = Red<OP>::ident();
        for (tg_i64 c = lane; c < p.chunks; c += 32) acc = Red<OP>::comb(acc, p.part[o * cs + c * ps]);
        acc = warp_comb<OP>(acc);
        if (lane == 0) dst[o] = TgRedIO<T>::store(Red<OP>::finish(acc, p.count));
    }
}

// Is (v, i) a better candidate than (bv, bi) for the first maximum (Max)
// or minimum? Index -1 is "none yet"; NaN beats numbers; equal values
// (NaNs included, and -0 == +0) go to the smaller index.
template <bool Max> TG_DEV bool arg_better(double v, tg_i64 i, double bv, tg_i64 bi) {
    if (i < 0) return false;
    if (bi < 0) return true;
    const bool vn = v != v, bn = bv != bv;
    if (vn || bn) return vn && (!bn || i < bi);
    if (v == bv) return i < bi;
    return Max ? v > bv : v < bv;
}

template <bool Max> TG_DEV void arg_warp(double &v, tg_i64 &i) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const double ov = __shfl_down_sync(0xffffffffu, v, o);
        const tg_i64 oi = __shfl_down_sync(0xffffffffu, i, o);
        if (arg_better<Max>(ov, oi, v, i)) v = ov, i = oi;
    }
}

template <typename T, bool Max> TG_DEV void arg_reduce(const TgArgReduceArgs &p) {
    __shared__ double shv[32];
    __shared__ tg_i64 shi[32];
    tg_i64 *dst = (tg_i64 *)p.dst;
    const T *src = (const T *)p.src;
    const bool blockMode = p.len >= TG_BLOCK_MODE_MIN;
    const int gsize = blockMode ? (int)blockDim.x : 32;
    const int t = blockMode ? (int)threadIdx.x : (int)(threadIdx.x & 31);
    tg_i64 o = blockMode ? (tg_i64)blockIdx.x : tg_tid() >> 5;
    const tg_i64 ostep = blockMode ? (tg_i64)gridDim.x : tg_nthreads() >> 5;
#pragma unroll 1
    for (; o < p.outputs; o += ostep) {
        const T *x = src + tg_off1(p.keep, o, p.vkeep);
        double bv = 0;
        tg_i64 bi = -1;
        for (tg_i64 j = t; j < p.len; j += gsize) {
            const double v = TgRedIO<T>::load(x[j * p.stride]);
            if (arg_better<Max>(v, j, bv, bi)) bv = v, bi = j;
        }
        arg_warp<Max>(bv, bi);
        if (blockMode) {
            const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
            if (lane == 0) shv[w] = bv, shi[w] = bi;
            __syncthreads();
            if (w == 0) {
                bv = lane < nw ? shv[lane] : 0.0;
                bi = lane < nw ? shi[lane] : -1;
                arg_warp<Max>(bv, bi);
            }
            __syncthreads();
        }
        if (t == 0) dst[o] = bi < 0 ? 0 : bi;
    }
}

#endif
