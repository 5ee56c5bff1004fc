package cpu

import (
	"math"
	"unsafe"
)

// Float32 transcendental functions. The standard library's float64 math
// costs 10–20 ns per call here, which makes exp, log and tanh on large
// float32 tensors compute-bound by a factor of ten. The functions below are
// branch-light float64 evaluations whose relative error (below 1e-8) is far
// under float32's half-ulp (3e-8), so after rounding to float32 they give
// the correctly rounded result nearly always and are never off by more than
// one ulp (checked against math in fastmath_test.go). Float64 tensors keep
// the standard library.

func isF32[T float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

const (
	log2e      = 1.4426950408889634
	ln2        = 0.6931471805599453
	roundMagic = 6755399441055744.0 // 1.5·2⁵²: adding it rounds to an integer
)

// expCore returns e^x for |x| <= 700 with relative error below 1e-12:
// e^x = 2^(k/64) · e^y with k = round(x·64·log2e) and |y| <= ln2/128, 2^(k/64)
// from a table of the 64 fractional powers and e^y from its Taylor series
// to degree 4, evaluated in two short chains so that the processor can
// overlap neighbouring elements.
func expCore(x float64) float64 {
	t := x * (64 * log2e)
	k := (t + roundMagic) - roundMagic
	y := (t - k) * (ln2 / 64)
	y2 := y * y
	p := (1 + y) + y2*(0.5+y*(1.0/6)+y2*(1.0/24))
	ki := int64(k)
	return p * exp2Frac[ki&63] * math.Float64frombits(uint64((ki>>6)+1023)<<52)
}

// exp2Frac[j] = 2^(j/64).
var exp2Frac = func() (t [64]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 64)
	}
	return t
}()

// exp32 is e^x for values bound for float32. The argument is clamped to
// [−104, 89], outside which the float32 result is 0 or +Inf anyway, so the
// evaluation has no branch (NaN passes through the clamp and the
// arithmetic).
func exp32(x float64) float64 { return expCore(min(max(x, -104), 89)) }

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

// tanh32 is tanh x for float32 arguments, as (1−t)/(1+t) with
// t = e^(−2|x|). |x| is clamped at 9.1, beyond which tanh rounds to ±1 in
// float32. Below 2.4e-4 the subtraction would cancel, but there tanh x = x
// to float32 precision (x³/3 is below half an ulp); that branch is rarely
// taken, so it is predicted.
func tanh32(x float64) float64 {
	a := min(math.Abs(x), 9.1)
	t := expCore(-2 * a)
	r := (1 - t) / (1 + t)
	if a < 2.4e-4 {
		r = a
	}
	return math.Copysign(r, x)
}

// sigmoid32 is 1/(1+e^−x) for float32 arguments, e^−x evaluated with the
// argument clamped to [−40, 700]: beyond 40 the result is 1 in float32 and
// beyond −700 it is 0, and the clamp keeps expCore in its range.
func sigmoid32(x float64) float64 {
	return 1 / (1 + expCore(min(max(-x, -40), 700)))
}

func expT[T float](x T) T {
	if isF32[T]() {
		return T(exp32(float64(x)))
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
		return T(tanh32(float64(x)))
	}
	return T(math.Tanh(float64(x)))
}

func sigmoidT[T float](x T) T {
	if isF32[T]() {
		return T(sigmoid32(float64(x)))
	}
	// 1/(1+e^-x) overflows gracefully: e^-x = +Inf gives 0.
	return T(1 / (1 + math.Exp(-float64(x))))
}

// The loops of the hot transcendental functions, with the float32
// evaluation written out in the loop body so that expCore is inlined: a
// call per element would cost as much as the arithmetic.

func expSlice[T float](d, x []T) {
	x = x[:len(d)]
	if !isF32[T]() {
		for i, v := range x {
			d[i] = T(math.Exp(float64(v)))
		}
		return
	}
	for i, v := range x {
		d[i] = T(expCore(min(max(float64(v), -104), 89)))
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
		f := float64(v)
		a := min(math.Abs(f), 9.1)
		t := expCore(-2 * a)
		r := (1 - t) / (1 + t)
		if a < 2.4e-4 {
			r = a
		}
		d[i] = T(math.Copysign(r, f))
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
		d[i] = T(1 / (1 + expCore(min(max(-float64(v), -40), 700))))
	}
}
