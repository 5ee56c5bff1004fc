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
	if x < 0 {
		return 0
	}
	return x // NaN propagates
}

func reluGradT[T float](x, g T) T {
	if x > 0 {
		return g
	}
	return 0
}

func sigmoidT[T float](x T) T {
	// 1/(1+e^-x) overflows gracefully: e^-x = +Inf gives 0.
	return T(1 / (1 + math.Exp(-float64(x))))
}

func powT[T float](x, y T) T {
	if y == 2 {
		return x * x
	}
	return T(math.Pow(float64(x), float64(y)))
}

// maxT and minT propagate NaN from either side, as NumPy's maximum does.
func maxT[T float](a, b T) T {
	if a > b || a != a {
		return a
	}
	return b
}

func minT[T float](a, b T) T {
	if a < b || a != a {
		return a
	}
	return b
}

func b2f[T float](c bool) T {
	if c {
		return 1
	}
	return 0
}
