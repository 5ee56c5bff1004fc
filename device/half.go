package device

import (
	"math"
	"math/bits"
)

// The 16-bit floating-point formats of mixed precision, as bits: bfloat16
// (1 sign, 8 exponent and 7 fraction bits: float32's range, 2-3 decimal
// digits) and IEEE 754 binary16, "float16" (1, 5 and 10 bits: ±65504,
// 3-4 digits, subnormals down to 2⁻²⁴). These conversions are the
// reference that every backend's kernels follow: float32 to a 16-bit
// format rounds to nearest, ties to even; ±0, ±Inf and NaN are kept
// (a NaN stays a quiet NaN of the same sign, with the top bits of its
// payload); magnitudes beyond a format's range become ±Inf (for float16,
// from 65520 up: 65504 plus half a unit in the last place, rounded to even)
// and those below its smallest subnormal half become ±0. Conversions to
// float32 are exact.

// Float32ToBFloat16 returns the bfloat16 nearest to f, as bits.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep the sign and payload top, quiet
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1 // round to nearest even; a carry moves into the exponent (up to Inf)
	return uint16(b >> 16)
}

// BFloat16ToFloat32 returns the value of the bfloat16 bits h.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToFloat16 returns the float16 nearest to f, as bits.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	a := b & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN: quiet, the top of the payload kept
		return sign | 0x7e00 | uint16(a>>13)&0x01ff
	case a >= 0x477ff000: // 65520 and up (and Inf): Inf
		return sign | 0x7c00
	case a >= 0x38800000: // 2⁻¹⁴ and up: a normal float16
		m := a - 0x38000000 // exponent rebiased from 127 to 15
		m += 0x0fff + (m>>13)&1
		return sign | uint16(m>>13)
	case a >= 0x33000000: // 2⁻²⁵ and up: a subnormal (or the smallest normal)
		e := a >> 23
		mant := a&0x007fffff | 0x00800000
		s := 126 - e // mant·2^(e−150) in units of 2⁻²⁴: mant >> s
		r := mant >> s
		rem, half := mant&(1<<s-1), uint32(1)<<(s-1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	return sign // below 2⁻²⁵: ±0
}

// Float16ToFloat32 returns the value of the float16 bits h (a NaN quieted).
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e, m := uint32(h>>10)&0x1f, uint32(h&0x03ff)
	switch {
	case e == 0x1f && m == 0:
		return math.Float32frombits(sign | 0x7f800000)
	case e == 0x1f:
		return math.Float32frombits(sign | 0x7fc00000 | m<<13)
	case e == 0 && m == 0:
		return math.Float32frombits(sign)
	case e == 0: // subnormal: m·2⁻²⁴, exact in float32
		v := float32(m) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(v))
	}
	return math.Float32frombits(sign | (e+112)<<23 | m<<13)
}

// roundOdd32 returns x rounded to float32 with round-to-odd: x itself when
// it is exact in float32, else the float32 next to x toward zero with its
// last bit set. Rounding that result to a format of at most 22 significant
// bits rounds x to nearest even with a single rounding, which float64 →
// float32 → 16 bits with two roundings to nearest would not.
func roundOdd32(x float64) float32 {
	r := float32(x)
	if float64(r) == x || x != x {
		return r
	}
	b := math.Float32bits(r)
	if math.Abs(float64(r)) > math.Abs(x) {
		b-- // toward zero (sign-magnitude bits)
	}
	return math.Float32frombits(b | 1)
}

// Float64ToBFloat16 returns the bfloat16 nearest to f (ties to even, one
// rounding), as bits.
func Float64ToBFloat16(f float64) uint16 { return Float32ToBFloat16(roundOdd32(f)) }

// Float64ToFloat16 returns the float16 nearest to f (ties to even, one
// rounding), as bits.
func Float64ToFloat16(f float64) uint16 { return Float32ToFloat16(roundOdd32(f)) }

// Int64ToFloat64Odd returns v rounded to float64 with round-to-odd (exact
// for |v| <= 2⁵³), so that [Float64ToBFloat16] and [Float64ToFloat16] of
// the result round v to nearest even with a single rounding.
func Int64ToFloat64Odd(v int64) float64 {
	u := uint64(v)
	if v < 0 {
		u = -u
	}
	if u <= 1<<53 {
		return float64(v)
	}
	s := bits.Len64(u) - 53
	m := u >> s
	if u&(1<<s-1) != 0 {
		m |= 1
	}
	f := math.Ldexp(float64(m), s)
	if v < 0 {
		f = -f
	}
	return f
}

// HalfFromFloat32 rounds f to the half dtype dt (BFloat16 or Float16), as
// bits.
func HalfFromFloat32(dt DType, f float32) uint16 {
	if dt == BFloat16 {
		return Float32ToBFloat16(f)
	}
	return Float32ToFloat16(f)
}

// HalfFromFloat64 rounds f to the half dtype dt (BFloat16 or Float16), as
// bits, with a single rounding.
func HalfFromFloat64(dt DType, f float64) uint16 {
	if dt == BFloat16 {
		return Float64ToBFloat16(f)
	}
	return Float64ToFloat16(f)
}

// HalfToFloat32 returns the value of the bits h of the half dtype dt
// (BFloat16 or Float16), exactly.
func HalfToFloat32(dt DType, h uint16) float32 {
	if dt == BFloat16 {
		return BFloat16ToFloat32(h)
	}
	return Float16ToFloat32(h)
}
