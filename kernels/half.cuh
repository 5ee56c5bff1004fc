// half.cuh: the body of the half modules, half_bf16.cu and half_f16.cu,
// which define TG_HALF_T (tg_bf16 or tg_f16, tg_half.cuh) and TG_HALF_DT
// (bf16 or f16, the kernel name suffix) and include this file: the
// elementwise operations and the reductions on half buffers, read and
// written by the kernels themselves, with float32 arithmetic inside.
//
// Elementwise kernels widen each operand exactly to float32, apply the
// float32 functor of module elementwise (tg_elementwise.cuh,
// elementwise_ops.cuh: the same device math as the tg_*_f32 kernels), and
// round the result once to the half type, to nearest even (tg_half.cuh:
// device/half.go bit for bit, NaN payloads included). So a result is
// exactly what the float32 kernel gives on the widened operands, rounded:
// what device.WithHalf's float32 scratch path gives, without the scratch.
// Scalars (s, alpha, beta) arrive as double and are rounded to float32, as
// the float32 kernels do. Reductions are module reduce's (tg_reduce.cuh):
// double accumulators, the same fixed trees, and the result rounded once
// from double to the half type (round-to-odd to float32, then to nearest
// even: device.HalfFromFloat64).
//
// Launch geometry: as module elementwise (1-D grid-stride loops, any grid;
// 256 threads per block and ceil(n / (256·8)) blocks suggested for the
// dense kernels, ceil(n / 256) for the others) and module reduce (see
// reduce.cu) for the reductions.
//
// Kernels (ht = bf16 | f16, the module's dtype; every operand and the
// destination are of that dtype; argument structs in tg_args.h):
//   tg_unary_<op>_<ht>[_s]      TgMapArgs / TgMapStridedArgs
//   tg_scalar_<op>_<ht>[_s]     same, with s = (float)args.s
//   tg_binary_<op>_<ht>_<v>     TgZipArgs, v = vv vs sv row rowr col colr;
//                               _s: TgZipStridedArgs
//   tg_axpby_<ht>[_s]           TgZipArgs (vv) / TgZipStridedArgs
//   tg_reduce_<op>_<ht>_{inner,outer,final}  as in module reduce; the
//                               partials are double, dst is <ht>
//
// Dense kernels move 16 bytes (8 halves, one uint4) per load and store
// when every pointer they index per element is 16-byte aligned (checked at
// run time), else one element at a time. dst may be the same memory as a
// (or src) in the dense kernels. The loops are not unrolled (the 8 lanes
// of a vector are).
#include "tg_common.cuh"
#include "tg_elementwise.cuh"
#include "tg_half.cuh"
#include "tg_reduce.cuh"

#ifdef __CUDA_ARCH__
#include <cuda_fp16.h>
#endif

#ifndef TG_HALF_T
#error "half.cuh: define TG_HALF_T and TG_HALF_DT first (half_bf16.cu, half_f16.cu)"
#endif

// ---- 16-byte vectors of halves ------------------------------------------------

// Halves per 16-byte vector.
#define TG_HV 8

// th_w widens a half exactly, th_n rounds a float32 to nearest even:
// device/half.go's conversions. bfloat16 with tg_half.cuh's bit arithmetic
// (a shift; an add and a shift), float16 on the device with the hardware
// conversions of cuda_fp16.h (cvt.f32.f16, cvt.rn.f16.f32: exact, and
// IEEE round to nearest even with subnormals and overflow to Inf, as
// device/half.go) for everything but NaN, which keeps its sign and payload
// top here (the hardware gives the canonical NaN). The host simulator,
// which has no cuda_fp16.h, uses the bit arithmetic throughout.
template <typename H> struct TgHW;
template <> struct TgHW<tg_bf16> {
    static TG_DEV float to32(tg_bf16 h) { return tg_bf16_to_f32(h.bits); }
    static TG_DEV tg_bf16 from32(float f) { return tg_bf16{tg_f32_to_bf16(f)}; }
};
template <> struct TgHW<tg_f16> {
    static TG_DEV float to32(tg_f16 x) {
#ifdef __CUDA_ARCH__
        const unsigned h = x.bits;
        const float nan = __uint_as_float(((h & 0x8000u) << 16) | 0x7fc00000u | ((h & 0x03ffu) << 13));
        const float v = __half2float(__ushort_as_half(x.bits));
        return (h & 0x7fffu) > 0x7c00u ? nan : v;
#else
        return tg_f16_to_f32(x.bits);
#endif
    }
    static TG_DEV tg_f16 from32(float f) {
#ifdef __CUDA_ARCH__
        const unsigned b = __float_as_uint(f);
        const unsigned short nan = (unsigned short)(((b >> 16) & 0x8000u) | 0x7e00u | ((b >> 13) & 0x01ffu));
        const unsigned short v = __half_as_ushort(__float2half_rn(f));
        return tg_f16{(b & 0x7fffffffu) > 0x7f800000u ? nan : v};
#else
        return tg_f16{tg_f32_to_f16(f)};
#endif
    }
};

template <typename H> TG_DEV float th_w(H h) { return TgHW<H>::to32(h); }
template <typename H> TG_DEV H th_n(float f) { return TgHW<H>::from32(f); }

// The reductions read half elements into double and store the double
// result rounded once (round-to-odd to float32, then to nearest
// even: device.HalfFromFloat64).
template <> struct TgRedIO<tg_bf16> {
    static TG_DEV double load(tg_bf16 x) { return (double)TgHW<tg_bf16>::to32(x); }
    static TG_DEV tg_bf16 store(double x) { return TgHW<tg_bf16>::from32(tg_round_odd32(x)); }
};
template <> struct TgRedIO<tg_f16> {
    static TG_DEV double load(tg_f16 x) { return (double)TgHW<tg_f16>::to32(x); }
    static TG_DEV tg_f16 store(double x) { return TgHW<tg_f16>::from32(tg_round_odd32(x)); }
};

// v[0..7] = the 8 halves at p (16-byte aligned), widened. Element 2k is the
// low half of word k (little-endian).
template <typename H> TG_DEV void th_vload(const H *p, float (&v)[TG_HV]) {
    const uint4 t = *reinterpret_cast<const uint4 *>(p);
    const unsigned w[4] = {t.x, t.y, t.z, t.w};
#pragma unroll
    for (int k = 0; k < 4; k++) {
        v[2 * k] = th_w(H{(unsigned short)(w[k] & 0xffffu)});
        v[2 * k + 1] = th_w(H{(unsigned short)(w[k] >> 16)});
    }
}

// The 8 values v rounded to H and stored at p (16-byte aligned).
template <typename H> TG_DEV void th_vstore(H *p, const float (&v)[TG_HV]) {
    unsigned w[4];
#pragma unroll
    for (int k = 0; k < 4; k++)
        w[k] = (unsigned)th_n<H>(v[2 * k]).bits | ((unsigned)th_n<H>(v[2 * k + 1]).bits << 16);
    *reinterpret_cast<uint4 *>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}

// ---- bodies ---------------------------------------------------------------------

// Map: dst[i] = op(src[i], s), dense.
template <typename H, typename Op> TG_DEV void hmap_dense(const TgMapArgs &p, Op op) {
    H *d = (H *)p.dst;
    const H *x = (const H *)p.src;
    const float s = float(p.s);
    const tg_i64 n = p.n, tid = tg_tid(), nt = tg_nthreads();
    tg_i64 i0 = 0;
    if (tg_aligned16(d) && tg_aligned16(x)) {
        const tg_i64 nv = n / TG_HV;
#pragma unroll 1
        for (tg_i64 k = tid; k < nv; k += nt) {
            float v[TG_HV];
            th_vload(x + k * TG_HV, v);
#pragma unroll
            for (int j = 0; j < TG_HV; j++) v[j] = op(v[j], s);
            th_vstore(d + k * TG_HV, v);
        }
        i0 = nv * TG_HV;
    }
#pragma unroll 1
    for (tg_i64 i = i0 + tid; i < n; i += nt) d[i] = th_n<H>(op(th_w(x[i]), s));
}

// Map: dst[i] = op(src at view x, s), strided source.
template <typename H, typename Op> TG_DEV void hmap_strided(const TgMapStridedArgs &p, Op op) {
    H *d = (H *)p.dst;
    const H *x = (const H *)p.src;
    const float s = float(p.s);
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) d[i] = th_n<H>(op(th_w(x[tg_off1(p.shape, i, p.x)]), s));
}

// The dense binary variants (as module elementwise's).
enum { HZVV, HZVS, HZSV, HZROW, HZROWR, HZCOL, HZCOLR };

// Zip: dst[i] = op(a[ia(i)], b[ib(i)]), dense operands, variant Z.
template <typename H, int Z, typename Op> TG_DEV void hzip_dense(const TgZipArgs &p, Op op) {
    constexpr bool aFull = Z == HZVV || Z == HZVS || Z == HZROW || Z == HZCOL;
    constexpr bool bFull = Z == HZVV || Z == HZSV || Z == HZROWR || Z == HZCOLR;
    constexpr bool scalar = Z == HZVS || Z == HZSV;
    H *d = (H *)p.dst;
    const H *a = (const H *)p.a, *b = (const H *)p.b;
    const tg_i64 n = p.n, cols = p.cols, tid = tg_tid(), nt = tg_nthreads();
    // The broadcast operand's element for index i = q*cols + r, widened.
    auto bcast = [&](const H *y, tg_i64 q, tg_i64 r) -> float {
        if (scalar) return th_w(y[0]);
        if (Z == HZROW || Z == HZROWR) return th_w(y[r]);
        return th_w(y[q]);
    };
    tg_i64 i0 = 0;
    if (tg_aligned16(d) && (!aFull || tg_aligned16(a)) && (!bFull || tg_aligned16(b))) {
        const tg_i64 nv = n / TG_HV;
#pragma unroll 1
        for (tg_i64 k = tid; k < nv; k += nt) {
            float va[TG_HV], vb[TG_HV];
            const tg_i64 i = k * TG_HV;
            if (aFull) th_vload(a + i, va);
            if (bFull) th_vload(b + i, vb);
            if (Z != HZVV) {
                tg_i64 q = 0, r = 0;
                if (!scalar) q = i / cols, r = i - q * cols;
#pragma unroll
                for (int j = 0; j < TG_HV; j++) {
                    if (aFull) vb[j] = bcast(b, q, r);
                    else va[j] = bcast(a, q, r);
                    if (!scalar && ++r == cols) r = 0, q++;
                }
            }
#pragma unroll
            for (int j = 0; j < TG_HV; j++) va[j] = op(va[j], vb[j]);
            th_vstore(d + i, va);
        }
        i0 = nv * TG_HV;
    }
#pragma unroll 1
    for (tg_i64 i = i0 + tid; i < n; i += nt) {
        tg_i64 q = 0, r = 0;
        if (Z != HZVV && !scalar) q = i / cols, r = i - q * cols;
        const float x = aFull ? th_w(a[i]) : bcast(a, q, r);
        const float y = bFull ? th_w(b[i]) : bcast(b, q, r);
        d[i] = th_n<H>(op(x, y));
    }
}

// Zip: dst[i] = op(a at va, b at vb), strided operands.
template <typename H, typename Op> TG_DEV void hzip_strided(const TgZipStridedArgs &p, Op op) {
    H *d = (H *)p.dst;
    const H *a = (const H *)p.a, *b = (const H *)p.b;
    const tg_i64 n = p.shape.n, nt = tg_nthreads();
#pragma unroll 1
    for (tg_i64 i = tg_tid(); i < n; i += nt) {
        tg_i64 oa, ob;
        tg_off2(p.shape, i, p.va, oa, p.vb, ob);
        d[i] = th_n<H>(op(th_w(a[oa]), th_w(b[ob])));
    }
}

// ---- kernels ----------------------------------------------------------------------

#define TG_KERNEL extern "C" __global__ void

// The kernel macros of elementwise_ops.cuh, for this module's dtype. (The
// extra level expands TG_HALF_DT before it is pasted.)
#define TG_HMAP_KERNELS(fam, name, Op, H, dt)                                                  \
    TG_KERNEL tg_##fam##_##name##_##dt(TgMapArgs p) { hmap_dense<H>(p, Op()); }                \
    TG_KERNEL tg_##fam##_##name##_##dt##_s(TgMapStridedArgs p) { hmap_strided<H>(p, Op()); }
#define TG_HMAP_KERNELS_(fam, name, Op, H, dt) TG_HMAP_KERNELS(fam, name, Op, H, dt)
#define TG_MAP_KERNELS(fam, name, Op) TG_HMAP_KERNELS_(fam, name, Op, TG_HALF_T, TG_HALF_DT)

#define TG_HZIP_KERNELS(name, Op, H, dt)                                                         \
    TG_KERNEL tg_binary_##name##_##dt##_vv(TgZipArgs p) { hzip_dense<H, HZVV>(p, Op()); }        \
    TG_KERNEL tg_binary_##name##_##dt##_vs(TgZipArgs p) { hzip_dense<H, HZVS>(p, Op()); }        \
    TG_KERNEL tg_binary_##name##_##dt##_sv(TgZipArgs p) { hzip_dense<H, HZSV>(p, Op()); }        \
    TG_KERNEL tg_binary_##name##_##dt##_row(TgZipArgs p) { hzip_dense<H, HZROW>(p, Op()); }      \
    TG_KERNEL tg_binary_##name##_##dt##_rowr(TgZipArgs p) { hzip_dense<H, HZROWR>(p, Op()); }    \
    TG_KERNEL tg_binary_##name##_##dt##_col(TgZipArgs p) { hzip_dense<H, HZCOL>(p, Op()); }      \
    TG_KERNEL tg_binary_##name##_##dt##_colr(TgZipArgs p) { hzip_dense<H, HZCOLR>(p, Op()); }    \
    TG_KERNEL tg_binary_##name##_##dt##_s(TgZipStridedArgs p) { hzip_strided<H>(p, Op()); }
#define TG_HZIP_KERNELS_(name, Op, H, dt) TG_HZIP_KERNELS(name, Op, H, dt)
#define TG_ZIP_KERNELS(name, Op) TG_HZIP_KERNELS_(name, Op, TG_HALF_T, TG_HALF_DT)

#define TG_HAXPBY_KERNELS(H, dt)                                                                 \
    TG_KERNEL tg_axpby_##dt(TgZipArgs p) { hzip_dense<H, HZVV>(p, Axpby{p.alpha, p.beta}); }     \
    TG_KERNEL tg_axpby_##dt##_s(TgZipStridedArgs p) { hzip_strided<H>(p, Axpby{p.alpha, p.beta}); }
#define TG_HREDUCE_KERNELS(name, OP, H, dt)                                                      \
    TG_KERNEL tg_reduce_##name##_##dt##_inner(TgReduceInnerArgs p) { reduce_inner<H, OP>(p); }   \
    TG_KERNEL tg_reduce_##name##_##dt##_outer(TgReduceOuterArgs p) { reduce_outer<H, OP>(p); }   \
    TG_KERNEL tg_reduce_##name##_##dt##_final(TgReduceFinalArgs p) { reduce_final<H, OP>(p); }
#define TG_HALF_KERNELS(H, dt)                       \
    TG_HAXPBY_KERNELS(H, dt)                         \
    TG_HREDUCE_KERNELS(sum, RSUM, H, dt)             \
    TG_HREDUCE_KERNELS(mean, RMEAN, H, dt)           \
    TG_HREDUCE_KERNELS(max, RMAX, H, dt)             \
    TG_HREDUCE_KERNELS(min, RMIN, H, dt)             \
    TG_HREDUCE_KERNELS(norm2, RNORM2, H, dt)
#define TG_HALF_KERNELS_(H, dt) TG_HALF_KERNELS(H, dt)
TG_HALF_KERNELS_(TG_HALF_T, TG_HALF_DT)

// The op table's kernels, in row order, last (as in module elementwise).
#include "elementwise_ops.cuh"
