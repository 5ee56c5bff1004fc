// tg_args.h: the argument structs of tapegrad's CUDA kernels.
//
// Every kernel takes exactly one parameter: one of these structs, by value.
// The host (package device/cuda, args.go) packs a Go struct of identical
// layout and passes its bytes with CU_LAUNCH_PARAM_BUFFER_POINTER, so shape
// and stride metadata travel in the launch itself: no host-to-device copy of
// metadata per launch. All fields are 8 bytes wide; the layout has no
// padding. Changing a struct here means changing args.go in the same commit
// (TestArgLayout checks the sizes and offsets).
//
// Conventions:
//   - Element offsets and strides count elements, not bytes, and are 64-bit.
//   - Pointers in the contiguous ("dense") argument structs are already
//     advanced to element 0 by the host.
//   - Shapes are row-major; ndim is 1..TG_MAX_DIMS after the host has merged
//     axes that can be walked as one (device.Coalesce).
//   - Element i (0 <= i < n) of a strided operand is at
//     offset + sum_d idx_d(i) * strides[d], idx from the row-major shape.
#ifndef TG_ARGS_H
#define TG_ARGS_H

#define TG_MAX_DIMS 8

typedef long long tg_i64;
typedef unsigned long long tg_u64;

// The iteration space of a strided kernel.
typedef struct {
    tg_i64 n;                   // number of elements (product of shape)
    tg_i64 ndim;                // axes used, 1..TG_MAX_DIMS
    tg_i64 shape[TG_MAX_DIMS];  // unused entries are 1
} TgShape;                      // 80 bytes

// Where the elements of one strided operand are.
typedef struct {
    tg_i64 offset;
    tg_i64 strides[TG_MAX_DIMS]; // unused entries are 0
} TgView;                        // 72 bytes

// Unary and scalar ops on dense operands: dst[i] = f(src[i], s).
// Kernels tg_unary_<op>_<dt>, tg_scalar_<op>_<dt>.
typedef struct {
    void *dst;
    const void *src;
    tg_i64 n;
    double s;
} TgMapArgs;                     // 32 bytes

// Unary and scalar ops on a strided source, dense dst.
// Kernels tg_unary_<op>_<dt>_s, tg_scalar_<op>_<dt>_s.
typedef struct {
    void *dst;
    const void *src;
    double s;
    TgShape shape;
    TgView x;
} TgMapStridedArgs;              // 176 bytes

// Binary ops on dense operands (variants below), and tg_axpby_<dt>:
// dst[i] = alpha*a[i] + beta*b[i].
//   _vv:  a[i], b[i]                       (n elements)
//   _vs:  a[i], b[0]
//   _sv:  a[0], b[i]
//   _row: a[i], b[i % cols]                (b is one row repeated)
//   _rowr: a[i % cols], b[i]               (a is one row repeated)
//   _col: a[i], b[i / cols]                (b is one column repeated)
//   _colr: a[i / cols], b[i]               (a is one column repeated)
// Kernels tg_binary_<op>_<dt>_<variant>.
typedef struct {
    void *dst;
    const void *a;
    const void *b;
    tg_i64 n;
    tg_i64 cols;
    double alpha;
    double beta;
} TgZipArgs;                     // 56 bytes

// Binary ops on strided operands, dense dst; also tg_axpby_<dt>_s.
// Kernels tg_binary_<op>_<dt>_s.
typedef struct {
    void *dst;
    const void *a;
    const void *b;
    double alpha;
    double beta;
    TgShape shape;
    TgView va;
    TgView vb;
} TgZipStridedArgs;              // 264 bytes

// dst[i] = c[i] != 0 ? a[i] : b[i], all strided, dst dense.
// Kernel tg_where_<dt>_s.
typedef struct {
    void *dst;
    const void *c;
    const void *a;
    const void *b;
    TgShape shape;
    TgView vc;
    TgView va;
    TgView vb;
} TgWhereArgs;                   // 328 bytes

// Strided copy with conversion: dst at vd <- src at vs, same shape.
// Kernel tg_copy_<srcdt>_<dstdt>_s. Dense conversion: tg_convert_<src>_<dst>
// with TgMapArgs (s unused).
typedef struct {
    void *dst;
    const void *src;
    TgShape shape;
    TgView vd;
    TgView vs;
} TgCopyArgs;                    // 240 bytes

// dst at vd <- v. Kernel tg_fill_<dt>_s; dense fill tg_fill_<dt> uses
// TgMapArgs with s = v (src unused).
typedef struct {
    void *dst;
    double v;
    TgShape shape;
    TgView vd;
} TgFillArgs;                    // 168 bytes

// dst[i] = (T)(start + (double)i * step), computed in double and rounded.
// Kernel tg_arange_<dt>.
typedef struct {
    void *dst;
    tg_i64 n;
    double start;
    double step;
} TgArangeArgs;                  // 32 bytes

// Philox4x32-10 stream of device/random.go (RandomSpec): elements 0 .. n-1
// of the stream that starts at block `counter`.
// Kernels tg_random_uniform_<dt>, tg_random_normal_<dt>.
typedef struct {
    void *dst;
    tg_i64 n;
    tg_u64 seed;
    tg_u64 counter;
    double a;
    double b;
} TgRandomArgs;                  // 48 bytes

// Reductions, pass 1, "inner": output row r reduces the contiguous run
// src[off(r) + j], 0 <= j < run, where off(r) is the position of element r
// of the kept layout (keep/vkeep; keep.n == rows). The run is split into
// `chunks` pieces of `chunk` elements (the last may be shorter); the block
// for (r, c) writes part[r*chunks + c]. Accumulation is in double.
// Kernel tg_reduce_<op>_<dt>_inner.
typedef struct {
    double *part;
    const void *src;
    tg_i64 rows;
    tg_i64 run;
    tg_i64 chunks;
    tg_i64 chunk;
    TgShape keep;
    TgView vkeep;
} TgReduceInnerArgs;             // 200 bytes

// Reductions, pass 1, "outer": column j (0 <= j < cols) reduces
// src[base + off(r) + j] over the reduced rows r, off(r) from the reduced
// layout (red/vred; red.n == rows). Rows are split into `chunks` pieces of
// `chunk` rows; column j of piece c is written to part[c*cols + j].
// Kernel tg_reduce_<op>_<dt>_outer.
typedef struct {
    double *part;
    const void *src;
    tg_i64 cols;
    tg_i64 rows;
    tg_i64 chunks;
    tg_i64 chunk;
    tg_i64 base;
    TgShape red;
    TgView vred;
} TgReduceOuterArgs;             // 208 bytes

// Reductions, pass 2: output o combines its `chunks` partials in order
// (part[o*chunks + c] when transposed == 0, part[c*outputs + o] when
// transposed == 1) and applies the finish: mean divides by count, norm2
// takes the square root. Writes (T) result to dst[o].
// Kernel tg_reduce_<op>_<dt>_final.
typedef struct {
    void *dst;
    const double *part;
    tg_i64 outputs;
    tg_i64 chunks;
    tg_i64 count;
    tg_i64 transposed;
} TgReduceFinalArgs;             // 48 bytes

// Index of the first extreme along an axis: output o scans
// src[off(o) + j*stride], 0 <= j < len, off(o) from keep/vkeep; NaN counts
// as the extreme (first NaN wins). Writes the index as T to dst[o].
// Kernels tg_argmax_<dt>, tg_argmin_<dt>.
typedef struct {
    void *dst;
    const void *src;
    tg_i64 outputs;
    tg_i64 len;
    tg_i64 stride;
    TgShape keep;
    TgView vkeep;
} TgArgReduceArgs;               // 192 bytes

// Batched GEMM fallback (used when cuBLAS cannot be loaded): for each
// batch entry i, C_i (m×n) = A_i (m×k) · B_i (k×n), with A_i[r][c] at
// a_off + i*a_bs + r*a_rs + c*a_cs (likewise B), C_i[r][c] at
// c_off + i*c_bs + r*c_ld + c. Kernel tg_gemm_<dt>.
typedef struct {
    void *c;
    const void *a;
    const void *b;
    tg_i64 m, n, k, batch;
    tg_i64 a_off, a_bs, a_rs, a_cs;
    tg_i64 b_off, b_bs, b_rs, b_cs;
    tg_i64 c_off, c_bs, c_ld;
} TgGemmArgs;                    // 144 bytes

// --- training (module nn) ---------------------------------------------------

// The windows of a 2-D convolution or pooling over NCHW data
// (device.ConvGeom): oh = (h + 2*ph - kh)/sh + 1, likewise ow.
typedef struct {
    tg_i64 n, c, h, w;
    tg_i64 kh, kw, sh, sw, ph, pw, oh, ow;
} TgConvGeom;                    // 96 bytes

// tg_im2col_<dt>: dense src [n, c, h, w] -> dense dst [c*kh*kw, n*oh*ow]
// (row (c, ky, kx), column (n, oy, ox)), zero outside the input; one thread
// per dst element.
// tg_col2im_<dt>: dense src [c*kh*kw, n*oh*ow] -> dense dst [n, c, h, w],
// each dst element gathering its (ky, kx) contributions in order (no
// atomics); one thread per dst element.
typedef struct {
    void *dst;
    const void *src;
    TgConvGeom g;
} TgConvArgs;                    // 112 bytes

// tg_maxpool_<dt>: dense src [n, c, h, w] -> dense dst [n, c, oh, ow] and
// idx (y*w + x of the window's first maximum, as T; NaN counts as the
// maximum); one thread per output.
// tg_poolscatter_<dt>: dst = dx [n, c, h, w], src = dy [n, c, oh, ow]:
// each dx element sums, over the windows covering it in (oy, ox) order, the
// dy entries whose idx names it; one thread per dx element.
// tg_poolgather_<dt>: dst [n, c, oh, ow] = src [n, c, h, w] at idx.
typedef struct {
    void *dst;
    void *idx;
    const void *src;
    TgConvGeom g;
} TgPoolArgs;                    // 120 bytes

// --- the device-side error record (sticky error) ---------------------------

// A kernel that reads labels or indices and finds one that is not an
// integer in [0, bound) records it here (kernels get the record's device
// address as the `err` field of their argument struct, and the host's code
// for the operation as `err_op`; a null `err` records nothing) and writes
// NaN (float outputs) or skips the write, never reading out of bounds. The
// first error wins: a kernel claims the record with atomicCAS on code
// (0 -> TG_ERR_*) and only the claimant writes the other fields. The host
// (device/cuda, sticky.go) reads the record at its synchronisation points
// and clears it. With several bad values in one launch, which one is
// recorded is unspecified.
#define TG_ERR_RANGE 1  // an integer outside [0, bound)
#define TG_ERR_NOTINT 2 // fractional, NaN or infinite (float labels)

typedef struct {
    tg_u64 code;    // 0 while clear, else TG_ERR_*
    tg_i64 op;      // the launching operation's err_op
    tg_i64 pos;     // flat position of the value in its dense operand
    tg_i64 bound;   // valid values are the integers in [0, bound)
    tg_i64 is_int;  // 1: an integer operand (ivalue exact), 0: float (fvalue exact)
    tg_i64 ivalue;  // the value (integer operands; 0 for floats)
    double fvalue;  // the value as a double
    tg_i64 reserved;
} TgErrRecord;                   // 64 bytes

// tg_softmaxce_<dt>: for each row i of the dense logits [n, c]:
// loss[i] = log sum_j exp(x_ij - m) + m - x[i, label_i] (m the row max,
// accumulated in double; NaN, recorded in err, for a label outside [0, c)
// or not integral) and prob[i, :] = softmax of the row. One block of 256 threads per row
// (grid-stride over rows), fixed-order tree reductions.
typedef struct {
    void *loss;
    void *prob;
    const void *logits;
    const void *labels;
    tg_i64 n, c;
    TgErrRecord *err;            // may be null
    tg_i64 err_op;
} TgSoftmaxArgs;                 // 64 bytes

// tg_softmaxcegrad_<dt>: dlogits[i, j] = g_i * (prob[i, j] - [j == label_i])
// with g_i = g[g_off + i*g_stride]; one thread per element. A bad label
// makes its row NaN and is recorded in err (by the row's thread j = 0).
typedef struct {
    void *dlogits;
    const void *prob;
    const void *labels;
    const void *g;
    tg_i64 n, c;
    tg_i64 g_off, g_stride;
    TgErrRecord *err;            // may be null
    tg_i64 err_op;
} TgSoftmaxGradArgs;             // 80 bytes

// tg_sgd_<dt>: one SGD step on n dense parameters, as device.SGDParams
// (each line rounded in T, in order); v unused when momentum == 0.
typedef struct {
    void *w;
    void *v;
    const void *g;
    tg_i64 n;
    double lr, momentum, wd;
    tg_i64 nesterov, first;
} TgSGDArgs;                     // 72 bytes

// tg_adam_<dt>: one Adam/AdamW step on n dense parameters, as
// device.AdamParams; c1 = 1 - beta1^step and c2 = 1 - beta2^step are computed
// by the host in double and rounded to T.
typedef struct {
    void *w;
    void *m;
    void *v;
    const void *g;
    tg_i64 n;
    double lr, beta1, beta2, eps, wd, c1, c2;
    tg_i64 decoupled;
} TgAdamArgs;                    // 104 bytes

// --- scan (module scan) -----------------------------------------------------

// Inclusive cumulative sums along one axis: `lines` lines of `len` elements.
// Line r starts at src + off(r, vs) and dst + off(r, vd) (shape/vs/vd: the
// other axes, shape.n == lines); its element j is at j*sstride (src) and
// j*dstride (dst). With reverse != 0 element j receives the sum of
// elements j..len-1, else of 0..j. Accumulation is in double.
// Kernels tg_cumsum_<dt>_lines (one block per line) and tg_cumsum_<dt>_cols
// (one thread per line).
typedef struct {
    void *dst;
    const void *src;
    tg_i64 lines;
    tg_i64 len;
    tg_i64 sstride;
    tg_i64 dstride;
    tg_i64 reverse;
    TgShape shape;
    TgView vs;
    TgView vd;
} TgScanArgs;                    // 280 bytes

// --- index (module index) -------------------------------------------------

// Gather and scatter-add over a dense source [outer, n, inner] and a dense
// result [outer, m, inner] (scatter-add: the other way round). The index of
// position (o, i, k) is idx[o*is0 + i*is1 + k*is2] (idx already offset).
// Kernels tg_gather_<dt>_<it>, tg_scatteradd_<dt>_<it>_lines (one thread
// per (o, k)) and tg_scatteradd_<dt>_<it>_owner (one thread per output
// element, for is0 == is2 == 0). An index outside [0, n) is recorded in
// err: gather writes NaN (0 for integer sources) at its position,
// scatter-add skips its term. Kernel tg_checkidx_<dt> (dt = f32 | f64 |
// i32 | i64) only checks: idx[0..m) must be integers in [0, n); it records
// the first bad one in err and writes nothing (dst and src unused).
typedef struct {
    void *dst;
    const void *src;
    const void *idx;
    tg_i64 outer;
    tg_i64 n;
    tg_i64 m;
    tg_i64 inner;
    tg_i64 is0;
    tg_i64 is1;
    tg_i64 is2;
    TgErrRecord *err;            // may be null
    tg_i64 err_op;
} TgGatherArgs;                  // 96 bytes

// --- layernorm (module layernorm) -------------------------------------------

// The LayerNorm/RMSNorm forward over rows dense rows of cols elements:
// y = (x - mean)*rstd*w + b (rms != 0: mean 0, b unused), writing mean
// (not with rms) and rstd per row, as doubles. w and b may be null (left
// out).
// Kernels tg_layernorm_<dt>_{warp,block}.
typedef struct {
    void *y;
    void *mean;
    void *rstd;
    const void *x;
    const void *w;
    const void *b;
    tg_i64 rows, cols;
    double eps;
    tg_i64 rms;
} TgNormArgs;                    // 80 bytes

// Its backward: dx from dy, x, the saved mean (null with rms) and rstd
// (doubles), and w (may be null); dw and db (either may be null) through part, a
// double buffer of 2*chunks*cols partial sums over chunks of chunk_rows
// rows. Kernels tg_layernormgrad_<dt>_{warp,block,part,final}.
typedef struct {
    void *dx;
    void *dw;
    void *db;
    void *part;
    const void *dy;
    const void *x;
    const void *mean;
    const void *rstd;
    const void *w;
    tg_i64 rows, cols;
    tg_i64 chunk_rows, chunks;
    tg_i64 rms;
} TgNormGradArgs;                // 112 bytes
// --- attention (module attention) -----------------------------------------

// Scaled-dot-product attention over `batch` (batch, head) pairs, all
// operands dense: q [batch, l, d], k [batch, s, d], v [batch, s, dv],
// out and dout [batch, l, dv], lse and delta [batch, l], dq [batch, l, d],
// dk [batch, s, d], dv_ [batch, s, dv]. Query i sees key j unless
// causal != 0 and j > i. Kernels tg_attn_fwd_<dt> (writes out, lse),
// tg_attn_delta_<dt> (delta = rowsum(dout*out)), tg_attn_dkdv_<dt>
// (dk, dv_) and tg_attn_dq_<dt> (dq); see attention.cu.
typedef struct {
    void *out;
    void *lse;
    const void *q;
    const void *k;
    const void *v;
    const void *dout;
    void *delta;
    void *dq;
    void *dk;
    void *dv_;
    tg_i64 batch;
    tg_i64 l;
    tg_i64 s;
    tg_i64 d;
    tg_i64 dv;
    tg_i64 causal;
    double scale;
} TgAttnArgs;                    // 136 bytes

#endif
