// tg_common.cuh: helpers shared by tapegrad's kernel modules.
//
// - grid-stride loop helpers with 64-bit indices;
// - strided offsets of element i (TgShape + TgView), 64-bit math;
// - 16-byte vector loads and stores (float4 / double2);
// - the math of one element: NaN-propagating max/min with Go's signed-zero
//   rules, and the per-dtype wrappers of the accurate CUDA math library.
//
// Everything here must agree with the CPU backend (device/cpu): see
// mathfuncs.go (abs, sign, relu, pow, max, min) and gen.go (the formulas).
// The modules are compiled with --fmad=false, so a*b+c is rounded twice,
// as the CPU does.
#ifndef TG_COMMON_CUH
#define TG_COMMON_CUH

#include <math_constants.h>

#include "tg_args.h"

// Device helpers are inline with external linkage, never static: nvcc
// names internal-linkage entities (static functions, their __shared__
// variables) with a hash of the source file's absolute path, which would
// make the PTX depend on where the repository is checked out.
#define TG_DEV __device__ __forceinline__

// ---- indices --------------------------------------------------------------

// Index of this thread in a 1-D grid, and the number of threads in it.
TG_DEV tg_i64 tg_tid() { return (tg_i64)blockIdx.x * blockDim.x + threadIdx.x; }
TG_DEV tg_i64 tg_nthreads() { return (tg_i64)gridDim.x * blockDim.x; }

// Offset of element i of a strided operand: the row-major index of i in
// sh, dotted with the view's strides, plus its offset. The innermost axis
// is sh.shape[ndim-1]; axis 0 takes what is left of i, without a division.
// The loop is unrolled so that every shape and stride is read from the
// kernel's parameter space with a constant offset. Unsigned 64-bit
// division: the compiler adds a 32-bit fast path when both operands fit.
TG_DEV tg_i64 tg_off1(const TgShape &sh, tg_i64 i, const TgView &v0) {
    tg_u64 r = (tg_u64)i, o0 = (tg_u64)v0.offset;
    const int nd = (int)sh.ndim;
#pragma unroll
    for (int d = TG_MAX_DIMS - 1; d > 0; --d) {
        if (d < nd) {
            tg_u64 s = (tg_u64)sh.shape[d], q = r / s, x = r - q * s;
            o0 += x * (tg_u64)v0.strides[d];
            r = q;
        }
    }
    return (tg_i64)(o0 + r * (tg_u64)v0.strides[0]);
}

TG_DEV void tg_off2(const TgShape &sh, tg_i64 i, const TgView &v0, tg_i64 &out0,
                    const TgView &v1, tg_i64 &out1) {
    tg_u64 r = (tg_u64)i, o0 = (tg_u64)v0.offset, o1 = (tg_u64)v1.offset;
    const int nd = (int)sh.ndim;
#pragma unroll
    for (int d = TG_MAX_DIMS - 1; d > 0; --d) {
        if (d < nd) {
            tg_u64 s = (tg_u64)sh.shape[d], q = r / s, x = r - q * s;
            o0 += x * (tg_u64)v0.strides[d];
            o1 += x * (tg_u64)v1.strides[d];
            r = q;
        }
    }
    out0 = (tg_i64)(o0 + r * (tg_u64)v0.strides[0]);
    out1 = (tg_i64)(o1 + r * (tg_u64)v1.strides[0]);
}

TG_DEV void tg_off3(const TgShape &sh, tg_i64 i, const TgView &v0, tg_i64 &out0,
                    const TgView &v1, tg_i64 &out1, const TgView &v2, tg_i64 &out2) {
    tg_u64 r = (tg_u64)i, o0 = (tg_u64)v0.offset, o1 = (tg_u64)v1.offset,
           o2 = (tg_u64)v2.offset;
    const int nd = (int)sh.ndim;
#pragma unroll
    for (int d = TG_MAX_DIMS - 1; d > 0; --d) {
        if (d < nd) {
            tg_u64 s = (tg_u64)sh.shape[d], q = r / s, x = r - q * s;
            o0 += x * (tg_u64)v0.strides[d];
            o1 += x * (tg_u64)v1.strides[d];
            o2 += x * (tg_u64)v2.strides[d];
            r = q;
        }
    }
    out0 = (tg_i64)(o0 + r * (tg_u64)v0.strides[0]);
    out1 = (tg_i64)(o1 + r * (tg_u64)v1.strides[0]);
    out2 = (tg_i64)(o2 + r * (tg_u64)v2.strides[0]);
}

// A row-major walker over a TgShape/TgView pair: start at element i (one
// round of divisions), then step to i+1 with a carry, no division. idx[]
// is indexed with constants only (unrolled loops), so it stays in
// registers.
struct TgWalk {
    tg_i64 idx[TG_MAX_DIMS];
    tg_i64 off;
};

TG_DEV void tg_walk_start(TgWalk &w, const TgShape &sh, const TgView &v, tg_i64 i) {
    tg_u64 r = (tg_u64)i, o = (tg_u64)v.offset;
    const int nd = (int)sh.ndim;
#pragma unroll
    for (int d = TG_MAX_DIMS - 1; d > 0; --d) {
        w.idx[d] = 0;
        if (d < nd) {
            tg_u64 s = (tg_u64)sh.shape[d], q = r / s, x = r - q * s;
            w.idx[d] = (tg_i64)x;
            o += x * (tg_u64)v.strides[d];
            r = q;
        }
    }
    w.idx[0] = (tg_i64)r;
    w.off = (tg_i64)(o + r * (tg_u64)v.strides[0]);
}

TG_DEV void tg_walk_next(TgWalk &w, const TgShape &sh, const TgView &v) {
    const int nd = (int)sh.ndim;
    // Increment the innermost used axis, then carry outwards.
    bool carry = true;
#pragma unroll
    for (int d = TG_MAX_DIMS - 1; d >= 0; --d) {
        if (carry && d < nd) {
            w.idx[d]++;
            w.off += v.strides[d];
            if (d > 0 && w.idx[d] == sh.shape[d]) {
                w.off -= sh.shape[d] * v.strides[d];
                w.idx[d] = 0;
            } else {
                carry = false;
            }
        }
    }
}

// ---- 16-byte vectors ------------------------------------------------------

// TG_VEC<T>: elements per 16-byte vector (4 floats, 2 doubles).
template <typename T> struct TgVec { static constexpr int N = 16 / (int)sizeof(T); };

TG_DEV bool tg_aligned16(const void *p) { return ((unsigned long long)p & 15) == 0; }

// Load and store W consecutive elements at p (16-byte aligned) with
// W*sizeof(T)/16 vector instructions.
template <int W> TG_DEV void tg_vload(const float *p, float (&v)[W]) {
    static_assert(W % 4 == 0, "W floats must fill whole float4s");
#pragma unroll
    for (int k = 0; k < W; k += 4) {
        float4 t = *reinterpret_cast<const float4 *>(p + k);
        v[k] = t.x, v[k + 1] = t.y, v[k + 2] = t.z, v[k + 3] = t.w;
    }
}
template <int W> TG_DEV void tg_vload(const double *p, double (&v)[W]) {
    static_assert(W % 2 == 0, "W doubles must fill whole double2s");
#pragma unroll
    for (int k = 0; k < W; k += 2) {
        double2 t = *reinterpret_cast<const double2 *>(p + k);
        v[k] = t.x, v[k + 1] = t.y;
    }
}
template <int W> TG_DEV void tg_vstore(float *p, const float (&v)[W]) {
    static_assert(W % 4 == 0, "W floats must fill whole float4s");
#pragma unroll
    for (int k = 0; k < W; k += 4)
        *reinterpret_cast<float4 *>(p + k) = make_float4(v[k], v[k + 1], v[k + 2], v[k + 3]);
}
template <int W> TG_DEV void tg_vstore(double *p, const double (&v)[W]) {
    static_assert(W % 2 == 0, "W doubles must fill whole double2s");
#pragma unroll
    for (int k = 0; k < W; k += 2)
        *reinterpret_cast<double2 *>(p + k) = make_double2(v[k], v[k + 1]);
}

// ---- element math ---------------------------------------------------------

template <typename T> TG_DEV bool tg_isnan(T x) { return x != x; }

// Go's built-in max and min (device/cpu maxT, minT): NaN from either side
// propagates; max(-0, +0) = +0 and min(-0, +0) = -0. (CUDA's fmax/fmin
// return the other operand when one is NaN, so they are not used.)
template <typename T> TG_DEV T tg_max(T a, T b) {
    if (a != a) return a;
    if (b != b) return b;
    if (a == b) return signbit(a) ? b : a;
    return a > b ? a : b;
}
template <typename T> TG_DEV T tg_min(T a, T b) {
    if (a != a) return a;
    if (b != b) return b;
    if (a == b) return signbit(a) ? a : b;
    return a < b ? a : b;
}

// The accurate CUDA math functions (no fast-math intrinsics), by dtype.
TG_DEV float tg_exp(float x) { return expf(x); }
TG_DEV double tg_exp(double x) { return exp(x); }
TG_DEV float tg_log(float x) { return logf(x); }
TG_DEV double tg_log(double x) { return log(x); }
TG_DEV float tg_sqrt(float x) { return sqrtf(x); }
TG_DEV double tg_sqrt(double x) { return sqrt(x); }
TG_DEV float tg_tanh(float x) { return tanhf(x); }
TG_DEV double tg_tanh(double x) { return tanh(x); }

// sin, cos and pow are large (argument reduction, extended-precision
// logarithm): called, not inlined, so that each module holds one copy.
#define TG_CALLED inline __device__ __noinline__
TG_CALLED float tg_sin(float x) { return sinf(x); }
TG_CALLED double tg_sin(double x) { return sin(x); }
TG_CALLED float tg_cos(float x) { return cosf(x); }
TG_CALLED double tg_cos(double x) { return cos(x); }
TG_CALLED float tg_powf_call(float x, float y) { return powf(x, y); }
TG_CALLED double tg_pow_call(double x, double y) { return pow(x, y); }

// powT of device/cpu: an exponent of exactly 2 squares.
TG_DEV float tg_pow(float x, float y) { return y == 2.0f ? x * x : tg_powf_call(x, y); }
TG_DEV double tg_pow(double x, double y) { return y == 2.0 ? x * x : tg_pow_call(x, y); }

// sigmoid(x) = 1/(1+e^-x). Float32: in float, except below -80, where
// 1+e^x rounds to 1 and the result is e^x itself (this keeps the tiny
// and subnormal results the CPU gives instead of flushing them to 0 when
// e^-x overflows). NaN propagates; large |x| saturates to 0 and 1.
// Float64: the CPU's formula as it stands.
TG_DEV float tg_sigmoid(float x) { return x < -80.0f ? expf(x) : 1.0f / (1.0f + expf(-x)); }
TG_DEV double tg_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), which neither
// overflows nor loses the small results of very negative x; NaN
// propagates through the second term.
TG_DEV float tg_softplus(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
TG_DEV double tg_softplus(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

// The op table's other math functions: CUDA's accurate library, inlined.
// (A called helper, as tg_sin, is emitted at the top of the PTX and would
// renumber every kernel after it: helpers of rows appended later must be
// inline so that a new row's PTX diff stays its own kernels.)
TG_DEV float tg_log1p(float x) { return log1pf(x); }
TG_DEV double tg_log1p(double x) { return log1p(x); }
TG_DEV float tg_expm1(float x) { return expm1f(x); }
TG_DEV double tg_expm1(double x) { return expm1(x); }
TG_DEV float tg_rsqrt(float x) { return 1.0f / sqrtf(x); }   // IEEE sqrt and division, not rsqrtf's 2 ulp
TG_DEV double tg_rsqrt(double x) { return 1.0 / sqrt(x); }
TG_DEV float tg_tan(float x) { return tanf(x); }
TG_DEV double tg_tan(double x) { return tan(x); }
TG_DEV float tg_sinh(float x) { return sinhf(x); }
TG_DEV double tg_sinh(double x) { return sinh(x); }
TG_DEV float tg_cosh(float x) { return coshf(x); }
TG_DEV double tg_cosh(double x) { return cosh(x); }
TG_DEV float tg_asin(float x) { return asinf(x); }
TG_DEV double tg_asin(double x) { return asin(x); }
TG_DEV float tg_acos(float x) { return acosf(x); }
TG_DEV double tg_acos(double x) { return acos(x); }
TG_DEV float tg_atan(float x) { return atanf(x); }
TG_DEV double tg_atan(double x) { return atan(x); }
TG_DEV float tg_asinh(float x) { return asinhf(x); }
TG_DEV double tg_asinh(double x) { return asinh(x); }
TG_DEV float tg_acosh(float x) { return acoshf(x); }
TG_DEV double tg_acosh(double x) { return acosh(x); }
TG_DEV float tg_atanh(float x) { return atanhf(x); }
TG_DEV double tg_atanh(double x) { return atanh(x); }
TG_DEV float tg_erf(float x) { return erff(x); }
TG_DEV double tg_erf(double x) { return erf(x); }

TG_DEV float tg_erfc(float x) { return erfcf(x); }
TG_DEV double tg_erfc(double x) { return erfc(x); }

// The activations, in the same formulas and order as device/cpu
// (mathfuncs.go), written to avoid cancellation: gelu(x) = x/2·(1 + erf(x/√2))
// as x/2·erfc(−x/√2); the tanh form x/2·(1 + tanh(u/2)) as x/(1 + e^−u),
// u = 2·√(2/π)·(x + 0.044715·x³); silu(x) = x/(1 + e^−x). In float32, below
// −80 (where e^−u overflows) x·e^u, in double, keeps the tiny (subnormal)
// results the CPU gives.
template <typename T> TG_DEV T tg_gelu(T x) { return T(0.5) * x * tg_erfc(-x / T(1.4142135623730951)); }
// GELU's derivative at x times g: g·(Φ(x) + x·φ(x)), Φ(x) = erfc(−x/√2)/2,
// φ(x) = e^(−x²/2)/√(2π) (device/cpu fastmath.go's geluGrad32 in float64).
template <typename T> TG_DEV T tg_gelu_grad(T x, T g) {
    const T cdf = T(0.5) * tg_erfc(-x / T(1.4142135623730951));
    const T pdf = tg_exp(T(-0.5) * x * x) * T(0.3989422804014327);
    return g * (cdf + x * pdf);
}
TG_DEV float tg_gelu_tanh(float x) {
    const float u = 1.5957691216057308f * (x + 0.044715f * x * x * x);
    return u < -80.0f ? float(double(x) * exp(double(u))) : x / (1.0f + expf(-u));
}
TG_DEV double tg_gelu_tanh(double x) {
    const double u = 1.5957691216057308 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-u));
}
TG_DEV float tg_silu(float x) { return x < -80.0f ? float(double(x) * exp(double(x))) : x / (1.0f + expf(-x)); }
TG_DEV double tg_silu(double x) { return x / (1.0 + exp(-x)); }

#endif
