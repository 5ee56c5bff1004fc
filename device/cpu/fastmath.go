package cpu

import (
	"math"
	"unsafe"
)

// Float32 transcendental functions. The standard library's float64 math
// costs 10–20 ns per call here, which makes exp, log and tanh on large
// float32 tensors compute-bound by a factor of ten. Float64 tensors keep
// the standard library.
//
// exp works in float32 arithmetic (expf32), which lets the AVX2 kernel take
// eight lanes at a time. tanh (tanhf32) does too, except the last three
// steps of its exponential branch, which run in float64. Both results are
// the correctly rounded float32 or a neighbour of it (checked over every
// float32 argument by TestFastMathExhaustive: 0.42 % of exp's results and
// about 0.2 % of tanh's are one ulp off, none further). log and sigmoid are
// branch-light float64 evaluations whose relative error (below 1e-9) is far
// under float32's half-ulp (3e-8), so after rounding to float32 they give
// the correctly rounded result nearly always and are never off by more
// than one ulp. sigmoid stays in float64: e/(1+e) from a float32 e reaches
// 1.5 ulp where e's binade and the result's differ.

func isF32[T float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

const (
	log2e      = 1.4426950408889634
	ln2        = 0.6931471805599453
	roundMagic = 6755399441055744.0 // 1.5·2⁵²: adding it rounds to an integer
	// expBias added to bits(r) leaves k+1023 in the low bits (mod 2⁶⁴):
	// 1023 − math.Float64bits(roundMagic).
	expBias = 0xbcc80000000003ff
)

// expPoly returns e^f for f in [−700, 700] with relative error below 1e-12:
// e^f = 2^k · e^y with k = round(f·log2e) and y = f − k·ln2, |y| <= ln2/2,
// e^y from its Taylor series to degree 10 by Estrin's scheme with fused
// multiply-adds (a dependency chain of 5 steps instead of Horner's 10, so
// that the vector kernels are not bound by its latency), and 2^k built in
// the exponent bits. r = f·log2e + 1.5·2⁵²
// holds k in its low mantissa bits, so k's bits are bits(r) − bits(1.5·2⁵²).
//
// Every step is a correctly rounded IEEE operation (math.FMA is exact then
// rounded once, on every machine), so the AVX2 kernels of genasm.go, which
// run the same steps four lanes at a time, give the same bits.
func expPoly(f float64) float64 {
	r := math.FMA(f, log2e, roundMagic)
	y := math.FMA(r-roundMagic, -ln2, f)
	y2 := y * y
	y4 := y2 * y2
	r2 := math.FMA(1.0/3628800, y2, math.FMA(1.0/362880, y, 1.0/40320))
	r1 := math.FMA(math.FMA(1.0/5040, y, 1.0/720), y2, math.FMA(1.0/120, y, 1.0/24))
	r0 := math.FMA(math.FMA(1.0/6, y, 0.5), y2, 1+y)
	p := math.FMA(r2, y4*y4, math.FMA(r1, y4, r0))
	return p * math.Float64frombits((math.Float64bits(r)+expBias)<<52)
}

// The constants of expf32.
const (
	expfLo    float32 = -104
	expfHi    float32 = 89
	expfLog2e float32 = 1.44269504
	expfMagic float32 = 12582912 // 1.5·2²³: adding it rounds to an integer
	// ln 2 = expfC1 − expfC2 with expfC1 exact in 9 bits, so that k·expfC1
	// is exact for |k| < 2¹⁵ (Cody and Waite's reduction).
	expfC1 float32 = 0.693359375
	expfC2 float32 = -2.12194440e-4
	// e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2, P of degree 5 (Cephes' expf).
	expfP0 float32 = 1.9875691500e-4
	expfP1 float32 = 1.3981999507e-3
	expfP2 float32 = 8.3334519073e-3
	expfP3 float32 = 4.1665795894e-2
	expfP4 float32 = 1.6666665459e-1
	expfP5 float32 = 5.0000001201e-1
)

// expf32 is e^x in float32 arithmetic: k = round(x·log2e) by adding and
// subtracting 1.5·2²³, r = x − k·ln2 in two steps, e^r by the polynomial
// of Cephes' expf (by Estrin's scheme in r² = z: ((P0·r+P1)·z + P2·r+P3)·z
// + P4·r+P5, a chain of 6 dependent steps instead of Horner's 10), times 2^k as 2^⌊k/2⌋ · 2^(k−⌊k/2⌋) so that both
// factors are normal numbers and a subnormal result is rounded once. The
// argument is clamped to [−104, 89], outside which the float32 result is 0
// or +Inf anyway. The callers pass a NaN through unchanged without calling
// expf32 (nor tanhf32, sigmoid32), so that its bits are kept.
//
// Every step is one IEEE float32 operation; the explicit float32
// conversions stop the compiler from fusing a product and a sum into one
// FMA (which it may do under GOAMD64=v3, Go spec "Arithmetic operators"), so
// that the AVX2 kernel of genasm.go, which runs the same steps eight lanes
// at a time without FMA, gives the same bits on every build.
func expf32(x float32) float32 {
	if x < expfLo {
		x = expfLo
	}
	if x > expfHi {
		x = expfHi
	}
	t := float32(x*expfLog2e) + expfMagic
	k := t - expfMagic
	r := x - float32(k*expfC1)
	r -= float32(k * expfC2)
	z := float32(r * r)
	a := float32(expfP0*r) + expfP1
	b := float32(expfP2*r) + expfP3
	p := float32(a*z) + b
	c := float32(expfP4*r) + expfP5
	p = float32(p*z) + c
	y := float32(float32(p*z)+r) + 1
	ki := int32(math.Float32bits(t) - math.Float32bits(expfMagic))
	k1 := ki >> 1
	k2 := ki - k1
	y = float32(y * math.Float32frombits(uint32(k1+127)<<23))
	return y * math.Float32frombits(uint32(k2+127)<<23)
}

// log32 is ln x for float32 arguments: x = m·2^e with m in [√½, √2),
// ln m = 2·atanh(s) with s = (m−1)/(m+1), |s| <= 0.172, summed to s¹³.
func log32(x float64) float64 {
	switch {
	case x != x || x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	case x > math.MaxFloat32:
		return math.Inf(1)
	}
	b := math.Float64bits(x) // float32 values are normal as float64
	e := int64(b>>52) - 1023
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52) // in [1, 2)
	if m > math.Sqrt2 {
		m *= 0.5
		e++
	}
	s := (m - 1) / (m + 1)
	s2 := s * s
	p := s * (2 + s2*(2.0/3+s2*(2.0/5+s2*(2.0/7+s2*(2.0/9+s2*(2.0/11+s2*(2.0/13)))))))
	return float64(e)*ln2 + p
}

// The constants of tanhf32.
const (
	tanhfMax   float32 = 9.1   // tanh rounds to ±1 in float32 beyond
	tanhfSmall float32 = 0.625 // the polynomial below, the exponential above
	// tanh a ≈ a + a·z·Q(z), z = a², Q of degree 4 (Cephes' tanhf).
	tanhfQ0 float32 = -5.70498872745e-3
	tanhfQ1 float32 = 2.06390887954e-2
	tanhfQ2 float32 = -5.37397155531e-2
	tanhfQ3 float32 = 1.33314422036e-1
	tanhfQ4 float32 = -3.33332819422e-1
)

// tanhf32 is tanh x for float32 arguments, with a = min(|x|, 9.1): below
// 0.625, a + a·z·Q(z) with z = a² in float32 arithmetic (Cephes' tanhf);
// from 0.625, 1 − 2/(e+1) with e = expf32(2a), the last three steps in
// float64. That split keeps the result within one ulp of the correctly
// rounded value (TestFastMathExhaustive): expf32's error in e reaches the
// result damped by 2e/(e+1)²/tanh a ≤ 0.62, and float64 adds none of its
// own, where float32 steps there would reach 1.3 ulp. Every step is one IEEE
// operation (explicit conversions: no fused multiply-add on any build), so
// the AVX2 kernel, which runs the same steps, gives the same bits.
func tanhf32(x float32) float32 {
	a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	if a > tanhfMax {
		a = tanhfMax
	}
	var r float32
	if a < tanhfSmall {
		z := float32(a * a)
		q := float32(tanhfQ0*z) + tanhfQ1
		q = float32(q*z) + tanhfQ2
		q = float32(q*z) + tanhfQ3
		q = float32(q*z) + tanhfQ4
		r = float32(float32(q*z)*a) + a
	} else {
		e := float64(expf32(a + a))
		r = float32(1 - 2/(e+1))
	}
	return math.Float32frombits(math.Float32bits(r) | math.Float32bits(x)&(1<<31))
}

// sigmoid32 is 1/(1+e^−x) for float32 arguments, e^−x evaluated with the
// argument clamped to [−40, 700]: beyond 40 the result is 1 in float32 and
// beyond −700 it is 0, and the clamp keeps expPoly in its range.
func sigmoid32(x float64) float64 {
	z := -x
	if z < -40 {
		z = -40
	}
	if z > 700 {
		z = 700
	}
	return 1 / (1 + expPoly(z))
}

func expT[T float](x T) T {
	if isF32[T]() {
		if x != x {
			return x
		}
		return T(expf32(float32(x)))
	}
	return T(math.Exp(float64(x)))
}

func logT[T float](x T) T {
	if isF32[T]() {
		return T(log32(float64(x)))
	}
	return T(math.Log(float64(x)))
}

func tanhT[T float](x T) T {
	if isF32[T]() {
		if x != x {
			return x
		}
		return T(tanhf32(float32(x)))
	}
	return T(math.Tanh(float64(x)))
}

func sigmoidT[T float](x T) T {
	if isF32[T]() {
		if x != x {
			return x
		}
		return T(sigmoid32(float64(x)))
	}
	// 1/(1+e^-x) overflows gracefully: e^-x = +Inf gives 0.
	return T(1 / (1 + math.Exp(-float64(x))))
}

// The loops of the hot transcendental functions. The float32 functions are
// small enough to be inlined into the loops; the AVX2 kernels (simdUnary)
// replace these loops for contiguous float32 runs and give the same bits.

func expSlice[T float](d, x []T) {
	x = x[:len(d)]
	if !isF32[T]() {
		for i, v := range x {
			d[i] = T(math.Exp(float64(v)))
		}
		return
	}
	for i, v := range x {
		if v != v {
			d[i] = v
			continue
		}
		d[i] = T(expf32(float32(v)))
	}
}

func tanhSlice[T float](d, x []T) {
	x = x[:len(d)]
	if !isF32[T]() {
		for i, v := range x {
			d[i] = T(math.Tanh(float64(v)))
		}
		return
	}
	for i, v := range x {
		if v != v {
			d[i] = v
			continue
		}
		d[i] = T(tanhf32(float32(v)))
	}
}

func sigmoidSlice[T float](d, x []T) {
	x = x[:len(d)]
	if !isF32[T]() {
		for i, v := range x {
			d[i] = T(1 / (1 + math.Exp(-float64(v))))
		}
		return
	}
	for i, v := range x {
		if v != v {
			d[i] = v
			continue
		}
		d[i] = T(sigmoid32(float64(v)))
	}
}

// The exact GELU x·Φ(x) and its derivative Φ(x) + x·φ(x) for float32
// arguments, in float64 (Go's math.Erfc costs 20–60 ns per call, growing
// with |x|, which made GELU the costliest operation of a transformer's
// step). With z = |x|/√2 and t = 1/(1 + z/2),
//
//	erfc(z) = t·e^(−z²)·Q(t),
//
// Q smooth and bounded on t ∈ (0, 1] (Q(1) = 1, Q → 1/(2√π)·(1+z/2)/z as
// z → ∞), fitted by a degree-14 polynomial in s = t·geluA + geluB, which
// maps t's range for |x| ≤ 20 onto [−1, 1] (least squares on Chebyshev
// nodes against mpmath's erfc; the relative error of Q, and so of erfc, is
// below 2.1e-11 on that range). Then Φ(−|x|) = erfc(z)/2 and
// Φ(|x|) = 1 − erfc(z)/2, and φ(x) = e^(−x²/2)/√(2π) shares the
// exponential. x² and −x²/2 are exact for a float32 x, so the exponential's
// argument carries no rounding error; e^(−x²/2) is set to 0 below −700
// (|x| > 37.4, where GELU is −0 in float32), which also makes GELU(−Inf)
// = −Inf·0 = NaN and its derivative NaN there, as PyTorch's formulas give.
// Beyond |x| = 20 Q is extrapolated, but t·Q·e^(−x²/2) < 1e-86 there.
//
// The relative error of the float64 results is a few 1e-11, far under
// float32's half ulp, so rounding them to float32 gives the correctly
// rounded result nearly always and never one more than an ulp off
// (TestGELUFast32). The AVX2 kernels gelu32x8 and geluGrad32x8 of genasm.go
// run the same steps four float64 lanes at a time and give the same bits.
const (
	geluP       = 0.35355339059327373 // 1/(2√2): t = 1/(1 + |x|·geluP)
	geluA       = 2.2816901408450705  // s = t·geluA + geluB ∈ [−1, 1] for |x| ≤ 20
	geluB       = -1.2816901408450705
	geluLim     = -700.0             // e^(−x²/2) is taken as 0 below this argument
	invSqrt2Pi  = 0.3989422804014327 // 1/√(2π)
	geluQDegree = 14
)

// geluQ are the coefficients of Q in s, constant term first.
var geluQ = [geluQDegree + 1]float64{
	0.555370177254996,
	0.3320624291431405,
	0.11174999120034683,
	0.008402989862782794,
	-0.007308037552313521,
	-0.0010327892046909158,
	0.0008011061088068411,
	3.853702305249379e-05,
	-0.00010724759708728418,
	1.630340975974654e-05,
	1.1611118092474789e-05,
	-5.3127976943121466e-06,
	-3.494051377978181e-07,
	6.953815453989515e-07,
	-1.039418801520702e-07,
}

// geluParts returns Φ(x) and e^(−x²/2) (0 below e^−700) for a float32
// argument x, each step a correctly rounded IEEE operation in the order of
// the AVX2 kernels.
func geluParts(x float64) (phi, e float64) {
	a := x * x * -0.5
	e = expPoly(a)
	if !(a >= geluLim) {
		e = 0
	}
	t := 1 / math.FMA(math.Abs(x), geluP, 1)
	s := math.FMA(t, geluA, geluB)
	q := geluQ[geluQDegree]
	for i := geluQDegree - 1; i >= 0; i-- {
		q = math.FMA(q, s, geluQ[i])
	}
	h := float64(t * q * e * 0.5) // Φ(−|x|); the conversion keeps 1 − h from fusing (GOAMD64=v3)
	phi = 1 - h
	if x < 0 {
		phi = h
	}
	return phi, e
}

// gelu32 is x·Φ(x) for a float32 argument (not NaN: the loops pass NaNs
// through).
func gelu32(x float64) float64 {
	phi, _ := geluParts(x)
	return x * phi
}

// geluGrad32 is g·(Φ(x) + x·φ(x)) for float32 arguments.
func geluGrad32(x, g float64) float64 {
	phi, e := geluParts(x)
	return g * math.FMA(x*invSqrt2Pi, e, phi)
}

// geluSlice writes GELU(x[i]) to d[i]: float32 through gelu32 (NaNs
// passed through), float64 through math.Erfc.
func geluSlice[T float](d, x []T) {
	x = x[:len(d)]
	if !isF32[T]() {
		for i, v := range x {
			w := float64(v)
			d[i] = T(0.5 * w * math.Erfc(-w/math.Sqrt2))
		}
		return
	}
	for i, v := range x {
		if v != v {
			d[i] = v
			continue
		}
		d[i] = T(gelu32(float64(v)))
	}
}

// geluGradT is b·(Φ(a) + a·φ(a)), GELU's derivative at a times b: float32
// through geluGrad32 (a NaN a or, failing that, b passed through, so that
// the kernels' NaNs are defined bit for bit), float64 through math.Erfc
// and math.Exp.
func geluGradT[T float](a, b T) T {
	if isF32[T]() {
		if a != a {
			return a
		}
		if b != b {
			return b
		}
		return T(geluGrad32(float64(a), float64(b)))
	}
	x := float64(a)
	return T(float64(b) * (0.5*math.Erfc(-x/math.Sqrt2) + x*math.Exp(-0.5*x*x)*invSqrt2Pi))
}
