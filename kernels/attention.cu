// attention.cu: module "attention" — fused scaled-dot-product attention
// (flash-attention style) for float32 (f32) and float64 (f64), forward and
// backward, with an optional causal mask (query i sees the keys j <= i).
// No L×S matrix is written to global memory: the scores of a tile of
// queries against a tile of keys live in shared memory only.
//
// Operands (TgAttnArgs, all dense, `batch` independent (batch, head)
// pairs): q [l, d], k [s, d], v [s, dv], out [l, dv], lse [l] per pair;
// d and dv are at most TG_ATTN_DMAX. Arithmetic, including the softmax
// statistics, is in T (float32 statistics for float32).
//
// Launch geometry. Every kernel needs blockDim = (TG_ATTN_THREADS, 1, 1).
// The tiled kernels take a grid (X, Y) with the (batch, head) pairs
// blockIdx.y, blockIdx.y + Y, ... and the tiles blockIdx.x, blockIdx.x +
// X, ... (any grid computes the whole result; ceil(tiles) × min(batch,
// 65535) is the intended one).
//
//   tg_attn_fwd_<dt>: tiles of FQ queries. The block stages its queries
//     in shared memory and walks the key tiles (FK keys; a causal block
//     stops after the diagonal), staging K and V, computing the FQ×FK
//     scores, and updating each row's running maximum m and sum l (online
//     softmax: the accumulated output is rescaled by exp(m_old − m_new)).
//     It writes out = acc / l and lse = m + log l. With s = 0 the output
//     is 0 and lse −Inf.
//   tg_attn_delta_<dt>: delta[i] = Σ_c dout[i, c]·out[i, c], one thread
//     per row (grid-stride over batch·l rows; a 1-D grid).
//   tg_attn_dkdv_<dt>: tiles of BK keys. The block stages its K and V and
//     walks the query tiles (BQ queries; causal: from the tile holding
//     query j0), recomputing P = exp(scale·q·kᵀ − lse) and
//     dS = P∘(dout·vᵀ − delta), and accumulates dv += Pᵀ·dout and
//     dk += scale·dSᵀ·q in registers.
//   tg_attn_dq_<dt>: tiles of BQ queries, walking the key tiles, with
//     dq += scale·dS·k in registers.
// Each gradient element is written by one thread after a fixed sequence
// of additions: no atomics, the same bits on every run.
//
// Shared memory (static, at most 48 KiB): tiles of rows of 129 elements
// (128 and one of padding): f32 forward 32+16+16 rows, f32 backward
// 4 × 16 rows, f64 forward 16+8+8 rows, f64 backward 4 × 8 rows (32.25
// KiB each), plus the scores (rows of BK+1) and per-row statistics.
#include "tg_common.cuh"

#define TG_ATTN_THREADS 128
#define TG_ATTN_DMAX 128
// The row stride of the staged tiles: one element of padding, so that the
// threads of a warp reading one column of different rows (the scores'
// dot products) hit different banks.
#define TG_ATTN_LD (TG_ATTN_DMAX + 1)

// Tile sizes by dtype: FQ×FK for the forward kernel, BQ×BK for the
// backward kernels.
template <typename T> struct TgAttnTiles;
template <> struct TgAttnTiles<float> {
    enum { FQ = 32, FK = 16, BQ = 16, BK = 16 };
};
template <> struct TgAttnTiles<double> {
    enum { FQ = 16, FK = 8, BQ = 8, BK = 8 };
};

TG_DEV float tg_attn_log(float x) { return logf(x); }
TG_DEV double tg_attn_log(double x) { return log(x); }
TG_DEV float tg_attn_ninf(float) { return -CUDART_INF_F; }
TG_DEV double tg_attn_ninf(double) { return -CUDART_INF; }
// max that propagates NaN (Go's max, as the CPU backend).
template <typename T> TG_DEV T tg_attn_max(T a, T b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }

// Copies rows [0, rows) of the dense matrix src (width w) into the tile
// dst[R][TG_ATTN_LD], zeros for the rows from rows to R.
template <typename T, int R>
TG_DEV void tg_attn_stage(T (*dst)[TG_ATTN_LD], const T *src, int rows, tg_i64 w) {
    const int n = R * (int)w;
#pragma unroll 1
    for (int e = threadIdx.x; e < n; e += TG_ATTN_THREADS) {
        const int r = e / (int)w, c = e % (int)w;
        dst[r][c] = r < rows ? src[(tg_i64)r * w + c] : T(0);
    }
}

// The dot product of the first d elements of two tile rows.
template <typename T> TG_DEV T tg_attn_dot(const T *a, const T *b, tg_i64 d) {
    T s = 0;
#pragma unroll 4
    for (int c = 0; c < (int)d; c++) s += a[c] * b[c];
    return s;
}

template <typename T> TG_DEV void attn_fwd(const TgAttnArgs &p) {
    enum { BQ = TgAttnTiles<T>::FQ, BK = TgAttnTiles<T>::FK };
    enum { TPR = TG_ATTN_THREADS / BQ, NC = TG_ATTN_DMAX / TPR };
    __shared__ T qs[BQ][TG_ATTN_LD];
    __shared__ T ks[BK][TG_ATTN_LD];
    __shared__ T vs[BK][TG_ATTN_LD];
    __shared__ T ss[BQ][BK + 1];
    __shared__ T mrow[BQ], lrow[BQ], arow[BQ];
    const int tid = threadIdx.x, r = tid / TPR, c0 = tid % TPR;
    const T scale = (T)p.scale, ninf = tg_attn_ninf(T(0));
    const tg_i64 l = p.l, s = p.s, d = p.d, dv = p.dv;
#pragma unroll 1
    for (tg_i64 bh = blockIdx.y; bh < p.batch; bh += gridDim.y) {
        const T *q = (const T *)p.q + bh * l * d, *k = (const T *)p.k + bh * s * d;
        const T *v = (const T *)p.v + bh * s * dv;
#pragma unroll 1
        for (tg_i64 i0 = (tg_i64)blockIdx.x * BQ; i0 < l; i0 += (tg_i64)gridDim.x * BQ) {
            const int rows = (int)min((tg_i64)BQ, l - i0);
            __syncthreads(); // the previous tile is done with the shared memory
            tg_attn_stage<T, BQ>(qs, q + i0 * d, rows, d);
            if (tid < BQ) {
                mrow[tid] = ninf;
                lrow[tid] = 0;
            }
            T acc[NC];
#pragma unroll
            for (int j = 0; j < NC; j++) acc[j] = 0;
            const tg_i64 kend = p.causal ? min(s, i0 + rows) : s;
#pragma unroll 1
            for (tg_i64 j0 = 0; j0 < kend; j0 += BK) {
                const int cols = (int)min((tg_i64)BK, kend - j0);
                __syncthreads();
                tg_attn_stage<T, BK>(ks, k + j0 * d, cols, d);
                tg_attn_stage<T, BK>(vs, v + j0 * dv, cols, dv);
                __syncthreads();
#pragma unroll 1
                for (int e = tid; e < BQ * BK; e += TG_ATTN_THREADS) {
                    const int rr = e / BK, kk = e % BK;
                    T sc = ninf;
                    if (kk < cols && !(p.causal && j0 + kk > i0 + rr)) sc = tg_attn_dot(qs[rr], ks[kk], d) * scale;
                    ss[rr][kk] = sc;
                }
                __syncthreads();
                if (tid < BQ) {
                    const T mo = mrow[tid];
                    T mx = mo;
#pragma unroll
                    for (int kk = 0; kk < BK; kk++) mx = tg_attn_max(mx, ss[tid][kk]);
                    T sum = 0;
#pragma unroll
                    for (int kk = 0; kk < BK; kk++) {
                        const T e = tg_exp(ss[tid][kk] - mx);
                        ss[tid][kk] = e;
                        sum += e;
                    }
                    const T a = tg_exp(mo - mx);
                    mrow[tid] = mx;
                    lrow[tid] = lrow[tid] * a + sum;
                    arow[tid] = a;
                }
                __syncthreads();
                const T a = arow[r];
#pragma unroll
                for (int j = 0; j < NC; j++) {
                    const int c = c0 + j * TPR;
                    if (c < dv) {
                        T o = acc[j] * a;
#pragma unroll
                        for (int kk = 0; kk < BK; kk++) o += ss[r][kk] * vs[kk][c];
                        acc[j] = o;
                    }
                }
            }
            __syncthreads();
            if (r < rows) {
                T *o = (T *)p.out + (bh * l + i0 + r) * dv;
                const T lr = lrow[r];
#pragma unroll
                for (int j = 0; j < NC; j++) {
                    const int c = c0 + j * TPR;
                    if (c < dv) o[c] = s == 0 ? T(0) : acc[j] / lr;
                }
            }
            if (tid < rows) ((T *)p.lse)[bh * l + i0 + tid] = s == 0 ? ninf : mrow[tid] + tg_attn_log(lrow[tid]);
        }
    }
}

template <typename T> TG_DEV void attn_delta(const TgAttnArgs &p) {
    const T *g = (const T *)p.dout, *o = (const T *)p.out;
    T *delta = (T *)p.delta;
    const tg_i64 n = p.batch * p.l;
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += tg_nthreads()) {
        T acc = 0;
#pragma unroll 4
        for (tg_i64 c = 0; c < p.dv; c++) acc += g[i * p.dv + c] * o[i * p.dv + c];
        delta[i] = acc;
    }
}

// The probability P[i0+rr, j0+kk] and dS = P·(dP − delta) of one entry of
// a tile (0 for masked and out-of-range entries), from the staged q, dout,
// k, v tiles and the rows' lse and delta.
template <typename T>
TG_DEV void tg_attn_pds(const TgAttnArgs &p, const T *qrow, const T *grow, const T *krow, const T *vrow, T lse,
                        T delta, bool in, T &pv, T &dsv) {
    pv = 0;
    dsv = 0;
    if (!in) return;
    pv = tg_exp(tg_attn_dot(qrow, krow, p.d) * (T)p.scale - lse);
    dsv = pv * (tg_attn_dot(grow, vrow, p.dv) - delta);
}

template <typename T> TG_DEV void attn_dkdv(const TgAttnArgs &p) {
    enum { BQ = TgAttnTiles<T>::BQ, BK = TgAttnTiles<T>::BK };
    enum { TPR = TG_ATTN_THREADS / BK, NC = TG_ATTN_DMAX / TPR };
    __shared__ T ks[BK][TG_ATTN_LD];
    __shared__ T vs[BK][TG_ATTN_LD];
    __shared__ T qs[BQ][TG_ATTN_LD];
    __shared__ T gs[BQ][TG_ATTN_LD];
    __shared__ T ps[BQ][BK + 1], dss[BQ][BK + 1];
    __shared__ T lq[BQ], dl[BQ];
    const int tid = threadIdx.x, r = tid / TPR, c0 = tid % TPR;
    const tg_i64 l = p.l, s = p.s, d = p.d, dv = p.dv;
#pragma unroll 1
    for (tg_i64 bh = blockIdx.y; bh < p.batch; bh += gridDim.y) {
        const T *q = (const T *)p.q + bh * l * d, *k = (const T *)p.k + bh * s * d;
        const T *v = (const T *)p.v + bh * s * dv, *g = (const T *)p.dout + bh * l * dv;
        const T *lse = (const T *)p.lse + bh * l, *delta = (const T *)p.delta + bh * l;
#pragma unroll 1
        for (tg_i64 j0 = (tg_i64)blockIdx.x * BK; j0 < s; j0 += (tg_i64)gridDim.x * BK) {
            const int cols = (int)min((tg_i64)BK, s - j0);
            __syncthreads();
            tg_attn_stage<T, BK>(ks, k + j0 * d, cols, d);
            tg_attn_stage<T, BK>(vs, v + j0 * dv, cols, dv);
            T dka[NC], dva[NC];
#pragma unroll
            for (int j = 0; j < NC; j++) dka[j] = dva[j] = 0;
#pragma unroll 1
            for (tg_i64 i0 = p.causal ? j0 / BQ * BQ : 0; i0 < l; i0 += BQ) {
                const int rows = (int)min((tg_i64)BQ, l - i0);
                __syncthreads();
                tg_attn_stage<T, BQ>(qs, q + i0 * d, rows, d);
                tg_attn_stage<T, BQ>(gs, g + i0 * dv, rows, dv);
                if (tid < BQ) {
                    lq[tid] = tid < rows ? lse[i0 + tid] : T(0);
                    dl[tid] = tid < rows ? delta[i0 + tid] : T(0);
                }
                __syncthreads();
#pragma unroll 1
                for (int e = tid; e < BQ * BK; e += TG_ATTN_THREADS) {
                    const int rr = e / BK, kk = e % BK;
                    const bool in = rr < rows && kk < cols && !(p.causal && j0 + kk > i0 + rr);
                    tg_attn_pds(p, qs[rr], gs[rr], ks[kk], vs[kk], lq[rr], dl[rr], in, ps[rr][kk], dss[rr][kk]);
                }
                __syncthreads();
#pragma unroll
                for (int j = 0; j < NC; j++) {
                    const int c = c0 + j * TPR;
                    if (c < dv) {
                        T a = dva[j];
#pragma unroll
                        for (int rr = 0; rr < BQ; rr++) a += ps[rr][r] * gs[rr][c];
                        dva[j] = a;
                    }
                    if (c < d) {
                        T a = dka[j];
#pragma unroll
                        for (int rr = 0; rr < BQ; rr++) a += dss[rr][r] * qs[rr][c];
                        dka[j] = a;
                    }
                }
            }
            if (r < cols) {
                T *dko = (T *)p.dk + (bh * s + j0 + r) * d, *dvo = (T *)p.dv_ + (bh * s + j0 + r) * dv;
                const T scale = (T)p.scale;
#pragma unroll
                for (int j = 0; j < NC; j++) {
                    const int c = c0 + j * TPR;
                    if (c < d) dko[c] = dka[j] * scale;
                    if (c < dv) dvo[c] = dva[j];
                }
            }
        }
    }
}

template <typename T> TG_DEV void attn_dq(const TgAttnArgs &p) {
    enum { BQ = TgAttnTiles<T>::BQ, BK = TgAttnTiles<T>::BK };
    enum { TPR = TG_ATTN_THREADS / BQ, NC = TG_ATTN_DMAX / TPR };
    __shared__ T qs[BQ][TG_ATTN_LD];
    __shared__ T gs[BQ][TG_ATTN_LD];
    __shared__ T ks[BK][TG_ATTN_LD];
    __shared__ T vs[BK][TG_ATTN_LD];
    __shared__ T ps[BQ][BK + 1], dss[BQ][BK + 1];
    __shared__ T lq[BQ], dl[BQ];
    const int tid = threadIdx.x, r = tid / TPR, c0 = tid % TPR;
    const tg_i64 l = p.l, s = p.s, d = p.d, dv = p.dv;
#pragma unroll 1
    for (tg_i64 bh = blockIdx.y; bh < p.batch; bh += gridDim.y) {
        const T *q = (const T *)p.q + bh * l * d, *k = (const T *)p.k + bh * s * d;
        const T *v = (const T *)p.v + bh * s * dv, *g = (const T *)p.dout + bh * l * dv;
        const T *lse = (const T *)p.lse + bh * l, *delta = (const T *)p.delta + bh * l;
#pragma unroll 1
        for (tg_i64 i0 = (tg_i64)blockIdx.x * BQ; i0 < l; i0 += (tg_i64)gridDim.x * BQ) {
            const int rows = (int)min((tg_i64)BQ, l - i0);
            __syncthreads();
            tg_attn_stage<T, BQ>(qs, q + i0 * d, rows, d);
            tg_attn_stage<T, BQ>(gs, g + i0 * dv, rows, dv);
            if (tid < BQ) {
                lq[tid] = tid < rows ? lse[i0 + tid] : T(0);
                dl[tid] = tid < rows ? delta[i0 + tid] : T(0);
            }
            T dqa[NC];
#pragma unroll
            for (int j = 0; j < NC; j++) dqa[j] = 0;
            const tg_i64 kend = p.causal ? min(s, i0 + rows) : s;
#pragma unroll 1
            for (tg_i64 j0 = 0; j0 < kend; j0 += BK) {
                const int cols = (int)min((tg_i64)BK, kend - j0);
                __syncthreads();
                tg_attn_stage<T, BK>(ks, k + j0 * d, cols, d);
                tg_attn_stage<T, BK>(vs, v + j0 * dv, cols, dv);
                __syncthreads();
#pragma unroll 1
                for (int e = tid; e < BQ * BK; e += TG_ATTN_THREADS) {
                    const int rr = e / BK, kk = e % BK;
                    const bool in = rr < rows && kk < cols && !(p.causal && j0 + kk > i0 + rr);
                    tg_attn_pds(p, qs[rr], gs[rr], ks[kk], vs[kk], lq[rr], dl[rr], in, ps[rr][kk], dss[rr][kk]);
                }
                __syncthreads();
#pragma unroll
                for (int j = 0; j < NC; j++) {
                    const int c = c0 + j * TPR;
                    if (c < d) {
                        T a = dqa[j];
#pragma unroll
                        for (int kk = 0; kk < BK; kk++) a += dss[r][kk] * ks[kk][c];
                        dqa[j] = a;
                    }
                }
            }
            if (r < rows) {
                T *o = (T *)p.dq + (bh * l + i0 + r) * d;
                const T scale = (T)p.scale;
#pragma unroll
                for (int j = 0; j < NC; j++) {
                    const int c = c0 + j * TPR;
                    if (c < d) o[c] = dqa[j] * scale;
                }
            }
        }
    }
}

#define TG_KERNEL extern "C" __global__ void __launch_bounds__(TG_ATTN_THREADS)

TG_KERNEL tg_attn_fwd_f32(TgAttnArgs p) { attn_fwd<float>(p); }
TG_KERNEL tg_attn_delta_f32(TgAttnArgs p) { attn_delta<float>(p); }
TG_KERNEL tg_attn_dkdv_f32(TgAttnArgs p) { attn_dkdv<float>(p); }
TG_KERNEL tg_attn_dq_f32(TgAttnArgs p) { attn_dq<float>(p); }
TG_KERNEL tg_attn_fwd_f64(TgAttnArgs p) { attn_fwd<double>(p); }
TG_KERNEL tg_attn_delta_f64(TgAttnArgs p) { attn_delta<double>(p); }
TG_KERNEL tg_attn_dkdv_f64(TgAttnArgs p) { attn_dkdv<double>(p); }
TG_KERNEL tg_attn_dq_f64(TgAttnArgs p) { attn_dq<double>(p); }
