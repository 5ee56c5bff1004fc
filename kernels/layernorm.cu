// layernorm.cu: module "layernorm" — the fused LayerNorm and RMSNorm
// (device.Backend.LayerNorm and LayerNormGrad) over `rows` dense rows of
// `cols` elements, for float32 (f32) and float64 (f64) data.
//
// Every sum is taken in double and every result rounded to T once; the
// row statistics (mean, rstd) are written and read as doubles; the
// element formulas are the CPU backend's (device/cpu/norm.go), operation
// for operation (the module is compiled with --fmad=false). No atomics:
// the order of every addition depends only on the arguments and the block
// size, so results are bitwise the same from run to run.
//
// Launch geometry. Every kernel needs blockDim = (B, 1, 1) with B a
// multiple of 32 (at most 1024); 256 is the intended size. Every kernel
// loops, so any grid computes the whole result.
//
//   tg_layernorm_<dt>_{warp,block} (TgNormArgs): the forward. A group of
//     threads per row: one warp (warp; rows r = 32-thread warp index of the
//     grid, B/32 rows per block, for rows of up to 1024 elements) or the
//     whole block (block; r = blockIdx.x, for longer rows), looping with
//     the grid's stride. Thread t of a group of G threads handles the
//     elements j = t, t+G, ... of its row: the mean (skipped for RMSNorm),
//     then Σ (x − mean)² (two passes: stable for rows far from 0), each a
//     per-thread sum in j order combined by a fixed tree (warp shuffles,
//     then the block's warps in order); then y. Grid: ceil(rows / (B/32))
//     blocks (warp) or rows blocks (block), capped.
//   tg_layernormgrad_<dt>_{warp,block} (TgNormGradArgs): dx, with the
//     groups of the forward: Σ g and Σ g·x̂ for g = dy·w, then
//     dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) (no mean(g) for RMSNorm).
//   tg_layernormgrad_<dt>_part (TgNormGradArgs): the partial sums of dw
//     and db, one thread per (chunk c, column j), item c·cols + j with
//     the grid's stride: the rows c·chunk_rows .. (c+1)·chunk_rows − 1 in
//     order, dy·x̂ into part[c·cols + j] (when dw is wanted) and dy into
//     part[chunks·cols + c·cols + j] (when db is). Neighbouring threads
//     read neighbouring columns. Grid: ceil(chunks·cols / B), capped.
//   tg_layernormgrad_<dt>_final (TgNormGradArgs): one thread per column j
//     (grid stride) adds its chunks' partial sums in chunk order and
//     writes dw[j] and db[j]. Grid: ceil(cols / B), capped.
#include "tg_common.cuh"

// tg_ln_sum returns the sum of v over the thread's group (a warp, or the
// whole block), to every thread of the group: a fixed shuffle tree in each
// warp, then, in block mode, the warps' sums added in warp order. sh holds
// one double per warp. Every thread of the block must call it.
template <bool Warp> TG_DEV double tg_ln_sum(double v, double *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0) sh[w] = v;
    __syncthreads();
    double r;
    if (Warp) {
        r = sh[w];
    } else {
        r = 0.0;
        for (int i = 0; i < nw; i++) r += sh[i];
    }
    __syncthreads(); // sh is written again by the next call
    return r;
}

// The group of the calling thread: its rank in the group, the group's
// size, the number of groups per block, and the group's index in the block.
template <bool Warp> struct TgLnGroup {
    int rank, size, per_block, index;
    TG_DEV TgLnGroup() {
        rank = Warp ? (int)(threadIdx.x & 31) : (int)threadIdx.x;
        size = Warp ? 32 : (int)blockDim.x;
        per_block = Warp ? (int)(blockDim.x >> 5) : 1;
        index = Warp ? (int)(threadIdx.x >> 5) : 0;
    }
};

template <typename T, bool Warp> TG_DEV void layernorm(const TgNormArgs &p) {
    __shared__ double sh[32];
    const TgLnGroup<Warp> g;
    T *y = (T *)p.y;
    double *mean = (double *)p.mean, *rstd = (double *)p.rstd;
    const T *x = (const T *)p.x, *w = (const T *)p.w, *b = (const T *)p.b;
    const tg_i64 cols = p.cols;
    const double n = (double)cols;
    // Every thread of the block runs the same iterations (the group sums
    // synchronise the block); a group past the last row computes nothing.
#pragma unroll 1
    for (tg_i64 base = (tg_i64)blockIdx.x * g.per_block; base < p.rows; base += (tg_i64)gridDim.x * g.per_block) {
        const tg_i64 r = base + g.index;
        const bool live = r < p.rows;
        const T *xr = x + (live ? r : 0) * cols;
        T *yr = y + (live ? r : 0) * cols;
        double mu = 0.0;
        if (!p.rms) {
            double s = 0.0;
            if (live)
                for (tg_i64 j = g.rank; j < cols; j += g.size) s += (double)xr[j];
            mu = tg_ln_sum<Warp>(s, sh) / n;
        }
        double q = 0.0;
        if (live)
            for (tg_i64 j = g.rank; j < cols; j += g.size) {
                const double d = (double)xr[j] - mu;
                q += d * d;
            }
        const double rs = 1.0 / sqrt(tg_ln_sum<Warp>(q, sh) / n + p.eps);
        if (!live) continue;
        if (g.rank == 0) {
            if (!p.rms) mean[r] = mu;
            rstd[r] = rs;
        }
        for (tg_i64 j = g.rank; j < cols; j += g.size) {
            double v = ((double)xr[j] - mu) * rs;
            if (w) v = v * (double)w[j];
            if (b) v = v + (double)b[j];
            yr[j] = (T)v;
        }
    }
}

template <typename T, bool Warp> TG_DEV void layernormgrad(const TgNormGradArgs &p) {
    __shared__ double sh[32];
    const TgLnGroup<Warp> g;
    T *dx = (T *)p.dx;
    const T *dy = (const T *)p.dy, *x = (const T *)p.x, *w = (const T *)p.w;
    const double *mean = (const double *)p.mean, *rstd = (const double *)p.rstd;
    const tg_i64 cols = p.cols;
    const double n = (double)cols;
#pragma unroll 1
    for (tg_i64 base = (tg_i64)blockIdx.x * g.per_block; base < p.rows; base += (tg_i64)gridDim.x * g.per_block) {
        const tg_i64 r = base + g.index;
        const bool live = r < p.rows;
        const tg_i64 o = (live ? r : 0) * cols;
        const double mu = (live && !p.rms) ? mean[r] : 0.0;
        const double rs = live ? rstd[r] : 0.0;
        double sg = 0.0, sgx = 0.0;
        if (live)
            for (tg_i64 j = g.rank; j < cols; j += g.size) {
                double gj = (double)dy[o + j];
                if (w) gj = gj * (double)w[j];
                sg += gj;
                sgx += gj * (((double)x[o + j] - mu) * rs);
            }
        sg = tg_ln_sum<Warp>(sg, sh);
        sgx = tg_ln_sum<Warp>(sgx, sh);
        if (!live) continue;
        const double a = p.rms ? 0.0 : sg * (1.0 / n), k = sgx * (1.0 / n);
        for (tg_i64 j = g.rank; j < cols; j += g.size) {
            double gj = (double)dy[o + j];
            if (w) gj = gj * (double)w[j];
            const double xh = ((double)x[o + j] - mu) * rs;
            dx[o + j] = (T)(rs * (gj - a - xh * k));
        }
    }
}

template <typename T> TG_DEV void layernormgrad_part(const TgNormGradArgs &p) {
    double *part = (double *)p.part;
    const T *dy = (const T *)p.dy, *x = (const T *)p.x;
    const double *mean = (const double *)p.mean, *rstd = (const double *)p.rstd;
    const tg_i64 cols = p.cols, items = p.chunks * cols;
    for (tg_i64 it = tg_tid(); it < items; it += tg_nthreads()) {
        const tg_i64 c = it / cols, j = it - c * cols;
        const tg_i64 end = min(p.rows, (c + 1) * p.chunk_rows);
        double aw = 0.0, ab = 0.0;
        for (tg_i64 i = c * p.chunk_rows; i < end; i++) {
            const double d = (double)dy[i * cols + j];
            const double mu = p.rms ? 0.0 : mean[i];
            aw += d * (((double)x[i * cols + j] - mu) * rstd[i]);
            ab += d;
        }
        if (p.dw) part[it] = aw;
        if (p.db) part[items + it] = ab;
    }
}

template <typename T> TG_DEV void layernormgrad_final(const TgNormGradArgs &p) {
    const double *part = (const double *)p.part;
    T *dw = (T *)p.dw, *db = (T *)p.db;
    const tg_i64 cols = p.cols, items = p.chunks * cols;
    for (tg_i64 j = tg_tid(); j < cols; j += tg_nthreads()) {
        double sw = 0.0, sb = 0.0;
        for (tg_i64 c = 0; c < p.chunks; c++) {
            if (dw) sw += part[c * cols + j];
            if (db) sb += part[items + c * cols + j];
        }
        if (dw) dw[j] = (T)sw;
        if (db) db[j] = (T)sb;
    }
}

// ---- entry points ------------------------------------------------------------------

#define TG_LN(dt, T)                                                                                \
    extern "C" __global__ void tg_layernorm_##dt##_warp(const TgNormArgs a) { layernorm<T, true>(a); } \
    extern "C" __global__ void tg_layernorm_##dt##_block(const TgNormArgs a) { layernorm<T, false>(a); } \
    extern "C" __global__ void tg_layernormgrad_##dt##_warp(const TgNormGradArgs a) {                \
        layernormgrad<T, true>(a);                                                                   \
    }                                                                                                \
    extern "C" __global__ void tg_layernormgrad_##dt##_block(const TgNormGradArgs a) {               \
        layernormgrad<T, false>(a);                                                                  \
    }                                                                                                \
    extern "C" __global__ void tg_layernormgrad_##dt##_part(const TgNormGradArgs a) {                \
        layernormgrad_part<T>(a);                                                                    \
    }                                                                                                \
    extern "C" __global__ void tg_layernormgrad_##dt##_final(const TgNormGradArgs a) {               \
        layernormgrad_final<T>(a);                                                                   \
    }

TG_LN(f32, float)
TG_LN(f64, double)
