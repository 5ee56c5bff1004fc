// reduce.cu: module "reduce" — deterministic two-pass reductions and the
// index reductions, for float32 (f32) and float64 (f64) data.
//
// Ops (device.ReduceOp order): sum mean max min norm2. Pass 1 accumulates
// in double and writes double partials; pass 2 combines the partials of an
// output and finishes: mean divides by `count`, norm2 takes the square
// root, and the result is rounded to T. max and min propagate NaN with
// Go's max/min rules (tg_max/tg_min). Sums of squares round the square and
// the sum separately (no FMA). No atomics: every partial and every result
// comes from a fixed tree over fixed data, so results are bitwise the same
// from run to run for the same arguments (they depend on chunk/chunks,
// which the host picks from the shape only).
//
// Launch geometry. All kernels need blockDim = (B, 1, 1) with B a multiple
// of 32 (at most 1024); 256 is the intended size. Every kernel loops over
// its work (block-, warp- or grid-stride), so any grid computes the whole
// result; the grids below are the sizes that use the GPU fully.
//
//   tg_reduce_<op>_<dt>_inner (TgReduceInnerArgs). Work item b = r*chunks + c
//     (0 <= b < rows*chunks) is piece c of row r: elements
//     src[off(r) + j], c*chunk <= j < min((c+1)*chunk, run), off(r) from
//     keep/vkeep; its partial goes to part[b].
//     - chunk >= 1024 ("block mode"): one thread block per work item, b =
//       blockIdx.x (+ k*gridDim.x). Grid: rows*chunks blocks.
//     - chunk < 1024 ("warp mode"): one warp per work item, b = global warp
//       index (+ k * warps in the grid). Grid: ceil(rows*chunks / (B/32))
//       blocks; a grid of rows*chunks blocks is correct too, its extra
//       blocks exit at once.
//     In both modes thread t of the group accumulates j = lo+t, lo+t+G, ...
//     in order (G = B or 32), then the group combines its G values with a
//     fixed tree (warp shuffles, then one value per warp through shared
//     memory).
//   tg_reduce_<op>_<dt>_outer (TgReduceOuterArgs). One thread per column j
//     and row piece c: grid (ceil(cols / B), chunks), column j =
//     blockIdx.x*B + threadIdx.x (+ k*gridDim.x*B), piece c = blockIdx.y
//     (+ k*gridDim.y; gridDim.y <= 65535). The thread reduces rows
//     c*chunk .. min((c+1)*chunk, rows)-1 in order, reading
//     src[base + off(r) + j] with off(r) from red/vred (vred.offset
//     included), and writes part[c*cols + j].
//   tg_reduce_<op>_<dt>_final (TgReduceFinalArgs). One warp per output o
//     (global warp index, + k * warps in the grid): lane l combines partials
//     c = l, l+32, ... in order, then the warp combines its 32 values with
//     a fixed shuffle tree; lane 0 writes dst[o]. Partial c of output o is
//     part[o*chunks + c] (transposed == 0, after _inner) or
//     part[c*outputs + o] (transposed == 1, after _outer). Grid:
//     ceil(outputs / (B/32)) blocks. With count == 0, mean, max and min
//     give NaN and sum and norm2 give 0, as the CPU does.
//   tg_argmax_<dt>, tg_argmin_<dt> (TgArgReduceArgs). Output o scans
//     src[off(o) + j*stride], 0 <= j < len, off(o) from keep/vkeep, and
//     writes the index of the first maximum (minimum) as an int64; a NaN counts
//     as the extreme and the first NaN wins; len == 0 gives 0. One thread
//     block per output when len >= 1024 (grid: outputs blocks), one warp per
//     output otherwise (grid: ceil(outputs / (B/32)) blocks). Threads scan
//     strided j in order and combine (value, index) pairs with a tree that
//     breaks ties by the smaller index, so the result is exactly the first
//     extreme whatever the order.
#include "tg_common.cuh"

enum { RSUM, RMEAN, RMAX, RMIN, RNORM2 };

// The reductions' algebra on double accumulators.
template <int OP> struct Red {
    static __device__ __forceinline__ double ident() {
        return OP == RMAX ? -CUDART_INF : OP == RMIN ? CUDART_INF : 0.0;
    }
    // acc combined with one element x.
    template <typename T> static __device__ __forceinline__ double step(double acc, T x) {
        const double v = (double)x;
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
        if (lane == 0) dst[o] = T(Red<OP>::finish(acc, p.count));
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
            const double v = (double)x[j * p.stride];
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

#define TG_KERNEL extern "C" __global__ void

#define TG_REDUCE_DT(name, OP, T, dt)                                                     \
    TG_KERNEL tg_reduce_##name##_##dt##_inner(TgReduceInnerArgs p) { reduce_inner<T, OP>(p); } \
    TG_KERNEL tg_reduce_##name##_##dt##_outer(TgReduceOuterArgs p) { reduce_outer<T, OP>(p); } \
    TG_KERNEL tg_reduce_##name##_##dt##_final(TgReduceFinalArgs p) { reduce_final<T, OP>(p); }
#define TG_REDUCE(name, OP) TG_REDUCE_DT(name, OP, float, f32) TG_REDUCE_DT(name, OP, double, f64)

TG_REDUCE(sum, RSUM)
TG_REDUCE(mean, RMEAN)
TG_REDUCE(max, RMAX)
TG_REDUCE(min, RMIN)
TG_REDUCE(norm2, RNORM2)

TG_KERNEL tg_argmax_f32(TgArgReduceArgs p) { arg_reduce<float, true>(p); }
TG_KERNEL tg_argmax_f64(TgArgReduceArgs p) { arg_reduce<double, true>(p); }
TG_KERNEL tg_argmin_f32(TgArgReduceArgs p) { arg_reduce<float, false>(p); }
TG_KERNEL tg_argmin_f64(TgArgReduceArgs p) { arg_reduce<double, false>(p); }
