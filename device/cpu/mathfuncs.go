package cpu

import "math"

// float is the element types the CPU kernels are instantiated for.
type float interface{ ~float32 | ~float64 }

func absT[T float](x T) T {
	if x < 0 {
		return -x
	}
	if x == 0 {
		return 0 // |-0| = +0
	}
	return x
}

func signT[T float](x T) T {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x // ±0 and NaN stay as they are
}

func reluT[T float](x T) T {
	return max(x, 0) // branch-free; NaN propagates
}

func reluGradT[T float](x, g T) T {
	if x > 0 {
		return g
	}
	return 0
}

// softplusT is log(1 + e^x) without overflow, in float64:
// max(x, 0) + log1p(e^-|x|) (NaN propagates through the second term).
func softplusT[T float](x T) T {
	v := float64(x)
	return T(max(v, 0) + math.Log1p(math.Exp(-math.Abs(v))))
}

// geluTanhT is GELU's tanh approximation x/2·(1 + tanh(u/2)), in float64,
// as x/(1 + e^−u) with u = 2·√(2/π)·(x + 0.044715·x³) (no cancellation for
// negative x). The conversions keep the compiler from fusing multiply-adds.
func geluTanhT[T float](x T) T {
	v := float64(x)
	u := 1.5957691216057308 * (v + float64(0.044715*v*v*v))
	return T(v / (1 + math.Exp(-u)))
}

// siluT is x·sigmoid(x) = x/(1 + e^−x), in float64.
func siluT[T float](x T) T {
	v := float64(x)
	return T(v / (1 + math.Exp(-v)))
}

func powT[T float](x, y T) T {
	if y == 2 {
		return x * x
	}
	return T(math.Pow(float64(x), float64(y)))
}

// maxT and minT propagate NaN from either side, as NumPy's maximum does
// (so do Go's built-in max and min, which compile without branches).
func maxT[T float](a, b T) T { return max(a, b) }

func minT[T float](a, b T) T { return min(a, b) }

func b2f[T float](c bool) T {
	if c {
		return 1
	}
	return 0
}
