// index.cu: module "index" — the integer dtypes (int32 i32, int64 i64) and
// the half dtypes (bfloat16 bf16, float16 f16, stored as their 16 bits):
// copies with conversion to and from every dtype, fills, integer ranges;
// and the index operations: gather and its deterministic adjoint,
// scatter-add.
//
// Launch geometry: 1-D grid-stride loops with 64-bit indices, any grid and
// block size (256 threads per block and ceil(work / 256) blocks suggested,
// where work is the elements, or for scatter-add lines the (o, k) lines).
// No shared memory, no atomics (but the error record's claim, tg_err.cuh, on
// the error path): each output element is written by one
// thread, and scatter-add adds its terms in increasing i, so results are
// the same bits on every run (and the CPU backend's: it adds in the same
// order in the same dtype).
//
// Kernels (it = i32 | i64; ht = bf16 | f16; dt = f32 | f64 | i32 | i64;
// args in tg_args.h):
//   tg_copy_<src>_<dst>_s        TgCopyArgs    the pairs with an integer or a half side
//   tg_fill_<it|ht>_s            TgFillArgs    dst at vd <- cvt(v)
//   tg_arange_<it>               TgArangeArgs  (T)(start + i*step) in int64, wrapping
//   tg_gather_<dt>_<it>          TgGatherArgs  dst[o,i,k] = src[o, idx(o,i,k), k]
//   tg_scatteradd_<ft>_<it>_lines  TgGatherArgs (ft = f32 | f64)
//   tg_scatteradd_<ft>_<it>_owner  TgGatherArgs
//   tg_checkidx_<dt>             TgGatherArgs  records the first of idx[0..m) outside [0, n)
//
// Conversions (tg_cvt): float to integer toward zero, NaN to 0, saturating
// at the type's range (PTX cvt.rzi's rules, written out so that the host
// simulator computes the same); integer to float rounding to nearest even;
// int64 to int32 keeping the low 32 bits. An index outside [0, n) is
// recorded in the error record (TgErrRecord, tg_err.cuh) and gives NaN in
// gather (0 for an integer source) and no term in scatter-add, so memory
// outside the operands is never touched.
//
// The half conversions are device/half.go's, bit for bit, written as
// integer arithmetic on the bits (no cuda_fp16.h, whose rounding of NaN
// payloads differs and which the host simulator cannot compile): to a half
// type, float32 rounds to nearest even (float16: subnormals, overflow from
// 65520 to ±Inf); float64 first rounds to float32 with round-to-odd, so
// that the two steps round once; int32 goes through float64 (exact), int64
// through float64 with round-to-odd. From a half type, the value widens to
// float32 exactly, then converts as a float32 does. bf16 <-> f16 widens and
// rounds once.
#include "tg_common.cuh"
#include "tg_half.cuh"
#include "tg_err.cuh"

// ---- conversions ------------------------------------------------------------

template <typename D, typename S> struct TgCvt {
    static TG_DEV D cvt(S x) { return D(x); }
};
template <typename S> struct TgCvt<tg_i64, S> {
    static TG_DEV tg_i64 cvt(S v) {
        const double x = (double)v;
        if (x != x) return 0;
        if (x >= 9223372036854775808.0) return (tg_i64)0x7fffffffffffffffLL;
        if (x <= -9223372036854775808.0) return (tg_i64)(-0x7fffffffffffffffLL - 1);
        return (tg_i64)x;
    }
};
template <typename S> struct TgCvt<int, S> {
    static TG_DEV int cvt(S v) {
        const double x = (double)v;
        if (x != x) return 0;
        if (x >= 2147483648.0) return 0x7fffffff;
        if (x <= -2147483648.0) return -0x7fffffff - 1;
        return (int)x;
    }
};
// Integer to integer: the same type, int32 to int64 (sign extension), and
// int64 to int32 (the low 32 bits, through unsigned arithmetic).
template <> struct TgCvt<tg_i64, tg_i64> {
    static TG_DEV tg_i64 cvt(tg_i64 x) { return x; }
};
template <> struct TgCvt<tg_i64, int> {
    static TG_DEV tg_i64 cvt(int x) { return (tg_i64)x; }
};
template <> struct TgCvt<int, int> {
    static TG_DEV int cvt(int x) { return x; }
};
template <> struct TgCvt<int, tg_i64> {
    static TG_DEV int cvt(tg_i64 x) {
        const unsigned u = (unsigned)((tg_u64)x & 0xffffffffULL);
        return u >= 0x80000000u ? (int)(u - 0x80000000u) - 0x7fffffff - 1 : (int)u;
    }
};

// Every conversion with a half side, as full specializations (which the
// integer partial specializations above do not then match).
#define TG_HALF_CVT(H)                                                                           \
    template <> struct TgCvt<H, float> {                                                         \
        static TG_DEV H cvt(float x) { return TgHalf<H>::from32(x); }                            \
    };                                                                                           \
    template <> struct TgCvt<H, double> {                                                        \
        static TG_DEV H cvt(double x) { return TgHalf<H>::from32(tg_round_odd32(x)); }           \
    };                                                                                           \
    template <> struct TgCvt<H, int> {                                                           \
        static TG_DEV H cvt(int x) { return TgHalf<H>::from32(tg_round_odd32((double)x)); }      \
    };                                                                                           \
    template <> struct TgCvt<H, tg_i64> {                                                        \
        static TG_DEV H cvt(tg_i64 x) {                                                          \
            return TgHalf<H>::from32(tg_round_odd32(tg_i64_to_f64_odd(x)));                      \
        }                                                                                        \
    };                                                                                           \
    template <> struct TgCvt<H, H> {                                                             \
        static TG_DEV H cvt(H x) { return x; }                                                   \
    };                                                                                           \
    template <> struct TgCvt<float, H> {                                                         \
        static TG_DEV float cvt(H x) { return TgHalf<H>::to32(x); }                              \
    };                                                                                           \
    template <> struct TgCvt<double, H> {                                                        \
        static TG_DEV double cvt(H x) { return (double)TgHalf<H>::to32(x); }                     \
    };                                                                                           \
    template <> struct TgCvt<int, H> {                                                           \
        static TG_DEV int cvt(H x) { return TgCvt<int, float>::cvt(TgHalf<H>::to32(x)); }        \
    };                                                                                           \
    template <> struct TgCvt<tg_i64, H> {                                                        \
        static TG_DEV tg_i64 cvt(H x) { return TgCvt<tg_i64, float>::cvt(TgHalf<H>::to32(x)); } \
    };
TG_HALF_CVT(tg_bf16)
TG_HALF_CVT(tg_f16)
template <> struct TgCvt<tg_bf16, tg_f16> {
    static TG_DEV tg_bf16 cvt(tg_f16 x) { return TgHalf<tg_bf16>::from32(TgHalf<tg_f16>::to32(x)); }
};
template <> struct TgCvt<tg_f16, tg_bf16> {
    static TG_DEV tg_f16 cvt(tg_bf16 x) { return TgHalf<tg_f16>::from32(TgHalf<tg_bf16>::to32(x)); }
};

template <typename S, typename D> TG_DEV void copy_cvt(const TgCopyArgs &p) {
    D *d = (D *)p.dst;
    const S *s = (const S *)p.src;
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) {
        tg_i64 od, os;
        tg_off2(p.shape, i, p.vd, od, p.vs, os);
        d[od] = TgCvt<D, S>::cvt(s[os]);
    }
}

template <typename T> TG_DEV void fill_cvt(const TgFillArgs &p) {
    T *d = (T *)p.dst;
    const T v = TgCvt<T, double>::cvt(p.v);
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) d[tg_off1(p.shape, i, p.vd)] = v;
}

// start and step are integers (the host checks); the products and sums
// wrap as Go's int64 arithmetic does.
template <typename T> TG_DEV void arange_int(const TgArangeArgs &p) {
    T *d = (T *)p.dst;
    const tg_u64 s0 = (tg_u64)(tg_i64)p.start, st = (tg_u64)(tg_i64)p.step;
    const tg_i64 nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < p.n; i += nt) d[i] = TgCvt<T, tg_i64>::cvt((tg_i64)(s0 + (tg_u64)i * st));
}

// ---- gather and scatter-add ---------------------------------------------------

// What a gather writes for a bad index: NaN, or 0 in an integer dtype.
template <typename T> struct TgIsInt { static constexpr bool value = false; };
template <> struct TgIsInt<int> { static constexpr bool value = true; };
template <> struct TgIsInt<tg_i64> { static constexpr bool value = true; };
template <typename T> TG_DEV T tg_bad_value() {
    if constexpr (TgIsInt<T>::value) {
        return T(0);
    } else {
        return T(CUDART_NAN);
    }
}

template <typename T, typename I> TG_DEV void gather(const TgGatherArgs &p) {
    T *d = (T *)p.dst;
    const T *s = (const T *)p.src;
    const I *x = (const I *)p.idx;
    const tg_i64 total = p.outer * p.m * p.inner, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 e = tg_tid(); e < total; e += nt) {
        const tg_i64 k = e % p.inner, r = e / p.inner, i = r % p.m, o = r / p.m;
        const tg_i64 at = o * p.is0 + i * p.is1 + k * p.is2, j = (tg_i64)x[at];
        if (j >= 0 && j < p.n) {
            d[e] = s[(o * p.n + j) * p.inner + k];
        } else {
            d[e] = tg_bad_value<T>();
            tg_err_report(p.err, p.err_op, TG_ERR_RANGE, at, p.n, 1, j, (double)j);
        }
    }
}

// One thread per line (o, k): it zeroes the line's n outputs, then adds
// the m terms in increasing i. Neighbouring threads take neighbouring k.
template <typename T, typename I> TG_DEV void scatter_lines(const TgGatherArgs &p) {
    T *d = (T *)p.dst;
    const T *s = (const T *)p.src;
    const I *x = (const I *)p.idx;
    const tg_i64 lines = p.outer * p.inner, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 l = tg_tid(); l < lines; l += nt) {
        const tg_i64 o = l / p.inner, k = l - o * p.inner;
        T *dl = d + o * p.n * p.inner + k;
#pragma unroll 1
        for (tg_i64 j = 0; j < p.n; j++) dl[j * p.inner] = T(0);
        const T *sl = s + o * p.m * p.inner + k;
#pragma unroll 1
        for (tg_i64 i = 0; i < p.m; i++) {
            const tg_i64 at = o * p.is0 + i * p.is1 + k * p.is2, j = (tg_i64)x[at];
            if (j >= 0 && j < p.n) {
                dl[j * p.inner] += sl[i * p.inner];
            } else {
                tg_err_report(p.err, p.err_op, TG_ERR_RANGE, at, p.n, 1, j, (double)j);
            }
        }
    }
}

// One thread per output element (o, j, k), for indices that depend on i
// only (index-select, embedding): it adds, in increasing i, the terms
// whose index is j. More parallel than scatter_lines when the lines are
// few (an embedding table's columns); each thread reads all m indices.
template <typename T, typename I> TG_DEV void scatter_owner(const TgGatherArgs &p) {
    T *d = (T *)p.dst;
    const T *s = (const T *)p.src;
    const I *x = (const I *)p.idx;
    const tg_i64 total = p.outer * p.n * p.inner, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 e = tg_tid(); e < total; e += nt) {
        const tg_i64 k = e % p.inner, r = e / p.inner, j = r % p.n, o = r / p.n;
        const T *sl = s + o * p.m * p.inner + k;
        T acc = T(0);
#pragma unroll 1
        for (tg_i64 i = 0; i < p.m; i++) {
            const tg_i64 v = (tg_i64)x[i * p.is1];
            if (v == j) {
                acc += sl[i * p.inner];
            } else if (e == 0 && (v < 0 || v >= p.n)) {
                // Thread 0 reads every index: it alone reports.
                tg_err_report(p.err, p.err_op, TG_ERR_RANGE, i * p.is1, p.n, 1, v, (double)v);
            }
        }
        d[e] = acc;
    }
}

// Checks that idx[0..m) (dense, of dtype T) are integers in [0, n),
// recording the first bad one; writes nothing. The labels of OneHot.
template <typename T> TG_DEV void check_idx(const TgGatherArgs &p) {
    const T *x = (const T *)p.idx;
    const tg_i64 nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < p.m; i += nt) {
        const T v = x[i];
        if constexpr (TgIsInt<T>::value) {
            const tg_i64 iv = (tg_i64)v;
            if (iv < 0 || iv >= p.n) tg_err_report(p.err, p.err_op, TG_ERR_RANGE, i, p.n, 1, iv, (double)iv);
        } else {
            const tg_u64 code = tg_label_code((double)v, p.n);
            if (code != 0) tg_err_report(p.err, p.err_op, code, i, p.n, 0, 0, (double)v);
        }
    }
}

// ---- integer comparisons ----------------------------------------------------

// dst[i] = a[i] OP b[i] ? 1 : 0, a and b strided (broadcast), dst dense,
// all of one integer dtype: the comparisons of integer tensors (the float
// dtypes' are the elementwise module's). OP: 0 eq, 1 ne, 2 lt, 3 le, 4 gt,
// 5 ge.
template <typename T, int OP> TG_DEV void compare_int(const TgZipStridedArgs &p) {
    T *d = (T *)p.dst;
    const T *a = (const T *)p.a, *b = (const T *)p.b;
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) {
        tg_i64 oa, ob;
        tg_off2(p.shape, i, p.va, oa, p.vb, ob);
        const T x = a[oa], y = b[ob];
        bool r;
        switch (OP) {
        case 0: r = x == y; break;
        case 1: r = x != y; break;
        case 2: r = x < y; break;
        case 3: r = x <= y; break;
        case 4: r = x > y; break;
        default: r = x >= y; break;
        }
        d[i] = r ? T(1) : T(0);
    }
}

// ---- kernels ---------------------------------------------------------------

#define TG_KERNEL extern "C" __global__ void

#define TG_COPY(S, sdt, D, ddt) \
    TG_KERNEL tg_copy_##sdt##_##ddt##_s(TgCopyArgs p) { copy_cvt<S, D>(p); }
TG_COPY(float, f32, int, i32)
TG_COPY(float, f32, tg_i64, i64)
TG_COPY(double, f64, int, i32)
TG_COPY(double, f64, tg_i64, i64)
TG_COPY(int, i32, float, f32)
TG_COPY(int, i32, double, f64)
TG_COPY(int, i32, int, i32)
TG_COPY(int, i32, tg_i64, i64)
TG_COPY(tg_i64, i64, float, f32)
TG_COPY(tg_i64, i64, double, f64)
TG_COPY(tg_i64, i64, int, i32)
TG_COPY(tg_i64, i64, tg_i64, i64)

// Every pair with a half side: TG_COPY_HALF(H, ht) the copies from and to
// the other dtypes and the same-type strided copy; then bf16 <-> f16.
#define TG_COPY_HALF(H, ht)                 \
    TG_COPY(float, f32, H, ht)              \
    TG_COPY(double, f64, H, ht)             \
    TG_COPY(int, i32, H, ht)                \
    TG_COPY(tg_i64, i64, H, ht)             \
    TG_COPY(H, ht, float, f32)              \
    TG_COPY(H, ht, double, f64)             \
    TG_COPY(H, ht, int, i32)                \
    TG_COPY(H, ht, tg_i64, i64)             \
    TG_COPY(H, ht, H, ht)
TG_COPY_HALF(tg_bf16, bf16)
TG_COPY_HALF(tg_f16, f16)
TG_COPY(tg_bf16, bf16, tg_f16, f16)
TG_COPY(tg_f16, f16, tg_bf16, bf16)

TG_KERNEL tg_fill_i32_s(TgFillArgs p) { fill_cvt<int>(p); }
TG_KERNEL tg_fill_i64_s(TgFillArgs p) { fill_cvt<tg_i64>(p); }
TG_KERNEL tg_fill_bf16_s(TgFillArgs p) { fill_cvt<tg_bf16>(p); }
TG_KERNEL tg_fill_f16_s(TgFillArgs p) { fill_cvt<tg_f16>(p); }
TG_KERNEL tg_arange_i32(TgArangeArgs p) { arange_int<int>(p); }
TG_KERNEL tg_arange_i64(TgArangeArgs p) { arange_int<tg_i64>(p); }

#define TG_GATHER(T, dt)                                                                 \
    TG_KERNEL tg_gather_##dt##_i32(TgGatherArgs p) { gather<T, int>(p); }                \
    TG_KERNEL tg_gather_##dt##_i64(TgGatherArgs p) { gather<T, tg_i64>(p); }
TG_GATHER(float, f32)
TG_GATHER(double, f64)
TG_GATHER(int, i32)
TG_GATHER(tg_i64, i64)

TG_KERNEL tg_checkidx_f32(TgGatherArgs p) { check_idx<float>(p); }
TG_KERNEL tg_checkidx_f64(TgGatherArgs p) { check_idx<double>(p); }
TG_KERNEL tg_checkidx_i32(TgGatherArgs p) { check_idx<int>(p); }
TG_KERNEL tg_checkidx_i64(TgGatherArgs p) { check_idx<tg_i64>(p); }

#define TG_SCATTER(T, dt)                                                                          \
    TG_KERNEL tg_scatteradd_##dt##_i32_lines(TgGatherArgs p) { scatter_lines<T, int>(p); }         \
    TG_KERNEL tg_scatteradd_##dt##_i64_lines(TgGatherArgs p) { scatter_lines<T, tg_i64>(p); }      \
    TG_KERNEL tg_scatteradd_##dt##_i32_owner(TgGatherArgs p) { scatter_owner<T, int>(p); }         \
    TG_KERNEL tg_scatteradd_##dt##_i64_owner(TgGatherArgs p) { scatter_owner<T, tg_i64>(p); }
TG_SCATTER(float, f32)
TG_SCATTER(double, f64)

#define TG_COMPARE(T, dt)                                                              \
    TG_KERNEL tg_compare_eq_##dt##_s(TgZipStridedArgs p) { compare_int<T, 0>(p); }     \
    TG_KERNEL tg_compare_ne_##dt##_s(TgZipStridedArgs p) { compare_int<T, 1>(p); }     \
    TG_KERNEL tg_compare_lt_##dt##_s(TgZipStridedArgs p) { compare_int<T, 2>(p); }     \
    TG_KERNEL tg_compare_le_##dt##_s(TgZipStridedArgs p) { compare_int<T, 3>(p); }     \
    TG_KERNEL tg_compare_gt_##dt##_s(TgZipStridedArgs p) { compare_int<T, 4>(p); }     \
    TG_KERNEL tg_compare_ge_##dt##_s(TgZipStridedArgs p) { compare_int<T, 5>(p); }
TG_COMPARE(int, i32)
TG_COMPARE(tg_i64, i64)
