// tg_half.cuh: the half dtypes (bfloat16, float16) as stored by the
// kernels: their 16 bits, and the conversions to and from float32 of
// device/half.go, bit for bit, as integer arithmetic on the bits. Shared
// by module index (copies and fills with conversion) and the half modules
// (half_bf16, half_f16: elementwise ops and reductions computing in
// float32 and double).
//
// Why not cuda_bf16.h / cuda_fp16.h alone: their conversions turn every
// NaN into the canonical NaN (device/half.go keeps the sign and the top of
// the payload, quieted), and the host simulator (kernels/internal/sim)
// cannot compile them. The bit arithmetic is a handful of integer
// instructions per element; the half modules use it for bfloat16, and for
// float16 on the device only where the value is a NaN, with cuda_fp16.h's
// hardware conversions (exact, and IEEE round to nearest even) for every
// other value (half.cuh, TgHW).
#ifndef TG_HALF_CUH
#define TG_HALF_CUH

#include "tg_common.cuh"

// Elements of the half dtypes: their bits, in distinct types so that the
// conversion templates tell them apart.
struct tg_bf16 {
    unsigned short bits;
};
struct tg_f16 {
    unsigned short bits;
};

// device.Float32ToBFloat16: NaN keeps its sign and payload top, quieted;
// otherwise round to nearest even on the bits (a carry moves into the
// exponent, up to Inf).
TG_DEV unsigned short tg_f32_to_bf16(float f) {
    unsigned b = __float_as_uint(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((b >> 16) | 0x0040u);
    b += 0x7fffu + ((b >> 16) & 1u);
    return (unsigned short)(b >> 16);
}

TG_DEV float tg_bf16_to_f32(unsigned short h) { return __uint_as_float((unsigned)h << 16); }

// device.Float32ToFloat16.
TG_DEV unsigned short tg_f32_to_f16(float f) {
    const unsigned b = __float_as_uint(f);
    const unsigned sign = (b >> 16) & 0x8000u, a = b & 0x7fffffffu;
    if (a > 0x7f800000u) // NaN: quiet, the top of the payload kept
        return (unsigned short)(sign | 0x7e00u | ((a >> 13) & 0x01ffu));
    if (a >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u); // 65520 and up (and Inf)
    if (a >= 0x38800000u) {                                         // 2^-14 and up: normal
        unsigned m = a - 0x38000000u;                               // exponent rebiased to 15
        m += 0x0fffu + ((m >> 13) & 1u);
        return (unsigned short)(sign | (m >> 13));
    }
    if (a >= 0x33000000u) { // 2^-25 and up: subnormal (or the smallest normal)
        const unsigned e = a >> 23, mant = (a & 0x007fffffu) | 0x00800000u, s = 126u - e;
        unsigned r = mant >> s;
        const unsigned rem = mant & ((1u << s) - 1u), half = 1u << (s - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (unsigned short)(sign | r);
    }
    return (unsigned short)sign; // below 2^-25: ±0
}

// device.Float16ToFloat32 (exact; a NaN quieted).
TG_DEV float tg_f16_to_f32(unsigned short h) {
    const unsigned sign = (unsigned)(h & 0x8000u) << 16, e = ((unsigned)h >> 10) & 0x1fu, m = h & 0x03ffu;
    if (e == 0x1fu) return __uint_as_float(sign | (m ? 0x7fc00000u | (m << 13) : 0x7f800000u));
    if (e == 0) {
        if (m == 0) return __uint_as_float(sign);
        const float v = (float)m * (1.0f / 16777216.0f); // m * 2^-24, exact
        return __uint_as_float(sign | __float_as_uint(v));
    }
    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

// device's roundOdd32: x rounded to float32 with round-to-odd (x itself if
// exact, else the float32 next to x toward zero with its last bit set).
TG_DEV float tg_round_odd32(double x) {
    const float r = __double2float_rn(x);
    if ((double)r == x || x != x) return r;
    unsigned b = __float_as_uint(r);
    if (fabs((double)r) > fabs(x)) b--; // toward zero (sign-magnitude bits)
    return __uint_as_float(b | 1u);
}

// device.Int64ToFloat64Odd: v rounded to float64 with round-to-odd.
TG_DEV double tg_i64_to_f64_odd(tg_i64 v) {
    const tg_u64 u = v < 0 ? (tg_u64)0 - (tg_u64)v : (tg_u64)v;
    if (u <= (1ULL << 53)) return (double)v;
    int s = 0; // bits of u beyond 53
#pragma unroll 1
    for (tg_u64 t = u >> 53; t != 0; t >>= 1) s++;
    tg_u64 m = u >> s;
    if (u & ((1ULL << s) - 1ULL)) m |= 1ULL;
    const double f = (double)m * __longlong_as_double((tg_i64)(1023 + s) << 52); // exact: m < 2^53
    return v < 0 ? -f : f;
}

// TgHalf<H>: a half type's conversions from and to float32.
template <typename H> struct TgHalf;
template <> struct TgHalf<tg_bf16> {
    static TG_DEV tg_bf16 from32(float f) { return tg_bf16{tg_f32_to_bf16(f)}; }
    static TG_DEV float to32(tg_bf16 h) { return tg_bf16_to_f32(h.bits); }
};
template <> struct TgHalf<tg_f16> {
    static TG_DEV tg_f16 from32(float f) { return tg_f16{tg_f32_to_f16(f)}; }
    static TG_DEV float to32(tg_f16 h) { return tg_f16_to_f32(h.bits); }
};

// A double rounded once to the half type H (device.HalfFromFloat64):
// round-to-odd to float32, then to nearest even.
template <typename H> TG_DEV H tg_half_from64(double x) { return TgHalf<H>::from32(tg_round_odd32(x)); }

#endif
