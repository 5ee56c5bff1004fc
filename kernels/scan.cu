// scan.cu: module "scan" — inclusive cumulative sums along one axis, for
// float32 (f32) and float64 (f64) data, forward or reversed (the gradient
// of a cumulative sum is the reversed cumulative sum of its gradient).
//
// Every line is scanned in double and each output is rounded to T once.
// No atomics: the order of the additions depends only on the arguments
// and the block size, so results are bitwise the same from run to run.
// Line r of TgScanArgs starts at src + off(r) and dst + off(r) (shape,
// vs, vd); element j of the scan is at position p = j (reverse == 0) or
// p = len-1-j (reverse != 0) of the line, src[p*sstride], dst[p*dstride].
//
// Launch geometry. Both kernels need blockDim = (B, 1, 1) with B a
// multiple of 32 (at most 1024); 256 is the intended size. Both loop over
// the lines, so any grid computes the whole result.
//
//   tg_cumsum_<dt>_lines (TgScanArgs): one thread block per line, line
//     r = blockIdx.x (+ k*gridDim.x). Grid: lines blocks (at most 2^30).
//     The line is cut into tiles of B*TG_SCAN_ITEMS elements, in order;
//     in a tile, thread t sums its TG_SCAN_ITEMS consecutive elements
//     (of the scan order) sequentially, the block scans the threads' sums
//     (a fixed shuffle tree in each warp, then one over the warps'
//     totals), and thread t writes carry + (prefix_t + its running sum),
//     carry being the sum of the earlier tiles. For lines whose elements
//     are adjacent in memory (a scan along the innermost axis).
//   tg_cumsum_<dt>_cols (TgScanArgs): one thread per line, r = global
//     thread index (+ k * threads in the grid), scanning sequentially:
//     the additions of the CPU backend, in its order (bitwise the same
//     results). For many lines that are adjacent in memory (a scan along
//     an outer axis): neighbouring threads read neighbouring elements.
//     Grid: ceil(lines / B) blocks (capped; the kernel loops).
#include "tg_common.cuh"

// Elements each thread of tg_cumsum_<dt>_lines scans per tile.
#define TG_SCAN_ITEMS 4

// Inclusive scan over the 32 lanes of a warp, in a fixed shuffle tree
// (Hillis-Steele: lane l adds the value of lane l-o for o = 1, 2, ..., 16).
TG_DEV double tg_warp_scan(double v) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const double u = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += u;
    }
    return v;
}

template <typename T> TG_DEV void cumsum_lines(const TgScanArgs &p) {
    __shared__ double sh[32];
    T *dst = (T *)p.dst;
    const T *src = (const T *)p.src;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const tg_i64 tile = (tg_i64)blockDim.x * TG_SCAN_ITEMS;
#pragma unroll 1
    for (tg_i64 r = blockIdx.x; r < p.lines; r += gridDim.x) {
        tg_i64 so, dof;
        tg_off2(p.shape, r, p.vs, so, p.vd, dof);
        const T *x = src + so;
        T *y = dst + dof;
        double carry = 0.0;
#pragma unroll 1
        for (tg_i64 base = 0; base < p.len; base += tile) {
            const tg_i64 j0 = base + (tg_i64)threadIdx.x * TG_SCAN_ITEMS;
            double run[TG_SCAN_ITEMS];
            double s = 0.0;
#pragma unroll
            for (int k = 0; k < TG_SCAN_ITEMS; k++) {
                const tg_i64 j = j0 + k;
                if (j < p.len) s += (double)x[(p.reverse ? p.len - 1 - j : j) * p.sstride];
                run[k] = s;
            }
            // The threads' exclusive prefixes: the warp's inclusive scan
            // shifted by one lane, plus the totals of the earlier warps.
            const double incl = tg_warp_scan(s);
            double excl = __shfl_up_sync(0xffffffffu, incl, 1);
            if (lane == 0) excl = 0.0;
            if (lane == 31) sh[w] = incl;
            __syncthreads();
            if (w == 0) {
                const double t = tg_warp_scan(lane < nw ? sh[lane] : 0.0);
                if (lane < nw) sh[lane] = t;
            }
            __syncthreads();
            const double prefix = carry + ((w > 0 ? sh[w - 1] : 0.0) + excl);
#pragma unroll
            for (int k = 0; k < TG_SCAN_ITEMS; k++) {
                const tg_i64 j = j0 + k;
                if (j < p.len) y[(p.reverse ? p.len - 1 - j : j) * p.dstride] = T(prefix + run[k]);
            }
            carry += sh[nw - 1];
            __syncthreads(); // sh is written again by the next tile
        }
    }
}

template <typename T> TG_DEV void cumsum_cols(const TgScanArgs &p) {
    T *dst = (T *)p.dst;
    const T *src = (const T *)p.src;
    const tg_i64 first = p.reverse ? p.len - 1 : 0;
    const tg_i64 ss = p.reverse ? -p.sstride : p.sstride, ds = p.reverse ? -p.dstride : p.dstride;
#pragma unroll 1
    for (tg_i64 r = tg_tid(); r < p.lines; r += tg_nthreads()) {
        tg_i64 so, dof;
        tg_off2(p.shape, r, p.vs, so, p.vd, dof);
        const T *x = src + so + first * p.sstride;
        T *y = dst + dof + first * p.dstride;
        double acc = 0.0;
#pragma unroll 1
        for (tg_i64 j = 0; j < p.len; j++) {
            acc += (double)x[j * ss];
            y[j * ds] = T(acc);
        }
    }
}

#define TG_KERNEL extern "C" __global__ void

TG_KERNEL tg_cumsum_f32_lines(TgScanArgs p) { cumsum_lines<float>(p); }
TG_KERNEL tg_cumsum_f32_cols(TgScanArgs p) { cumsum_cols<float>(p); }
TG_KERNEL tg_cumsum_f64_lines(TgScanArgs p) { cumsum_lines<double>(p); }
TG_KERNEL tg_cumsum_f64_cols(TgScanArgs p) { cumsum_cols<double>(p); }
