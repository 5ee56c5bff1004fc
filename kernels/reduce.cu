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

#include "tg_reduce.cuh"

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
