package tensor

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// The unary math functions of the op table (internal/optable) beyond the
// basic ones of elementwise.go, each with its gradient rule. Every rule is
// written with recorded operations, so gradients can be differentiated
// again.

// Log1p returns log(1 + a), accurate for small a.
func (a *Tensor) Log1p() *Tensor {
	a = autocastUp(a)
	return unary("Log1p", device.Log1p, a, func(c *bctx, _ *Tensor) { c.set(0, c.g.Div(c.in(0).AddScalar(1))) })
}

// Expm1 returns e^a − 1, accurate for small a.
func (a *Tensor) Expm1() *Tensor {
	a = autocastUp(a)
	return unary("Expm1", device.Expm1, a, func(c *bctx, out *Tensor) { c.set(0, c.g.Mul(c.use(out).AddScalar(1))) })
}

// Rsqrt returns 1/√a.
func (a *Tensor) Rsqrt() *Tensor {
	a = autocastUp(a)
	return unary("Rsqrt", device.Rsqrt, a, func(c *bctx, out *Tensor) {
		y := c.use(out)
		c.set(0, c.g.Mul(y.Mul(y).Mul(y)).MulScalar(-0.5)) // d/dx x^-½ = −½·x^-3/2
	})
}

// Tan returns the tangent of a.
func (a *Tensor) Tan() *Tensor {
	a = autocastUp(a)
	return unary("Tan", device.Tan, a, func(c *bctx, out *Tensor) { c.set(0, c.g.Mul(c.use(out).Square().AddScalar(1))) })
}

// Sinh returns the hyperbolic sine of a.
func (a *Tensor) Sinh() *Tensor {
	a = autocastUp(a)
	return unary("Sinh", device.Sinh, a, func(c *bctx, _ *Tensor) { c.set(0, c.g.Mul(c.in(0).Cosh())) })
}

// Cosh returns the hyperbolic cosine of a.
func (a *Tensor) Cosh() *Tensor {
	a = autocastUp(a)
	return unary("Cosh", device.Cosh, a, func(c *bctx, _ *Tensor) { c.set(0, c.g.Mul(c.in(0).Sinh())) })
}

// Arcsin returns the inverse sine of a (NaN outside [−1, 1]). Its gradient
// is 1/√(1 − a²).
func (a *Tensor) Arcsin() *Tensor {
	a = autocastUp(a)
	return unary("Arcsin", device.Arcsin, a, func(c *bctx, _ *Tensor) {
		c.set(0, c.g.Mul(c.in(0).Square().RSubScalar(1).Rsqrt()))
	})
}

// Arccos returns the inverse cosine of a (NaN outside [−1, 1]). Its
// gradient is −1/√(1 − a²).
func (a *Tensor) Arccos() *Tensor {
	a = autocastUp(a)
	return unary("Arccos", device.Arccos, a, func(c *bctx, _ *Tensor) {
		c.set(0, c.g.Mul(c.in(0).Square().RSubScalar(1).Rsqrt()).Neg())
	})
}

// Arctan returns the inverse tangent of a. Its gradient is 1/(1 + a²).
func (a *Tensor) Arctan() *Tensor {
	return unary("Arctan", device.Arctan, a, func(c *bctx, _ *Tensor) {
		c.set(0, c.g.Div(c.in(0).Square().AddScalar(1)))
	})
}

// Arcsinh returns the inverse hyperbolic sine of a. Its gradient is
// 1/√(a² + 1).
func (a *Tensor) Arcsinh() *Tensor {
	return unary("Arcsinh", device.Arcsinh, a, func(c *bctx, _ *Tensor) {
		c.set(0, c.g.Mul(c.in(0).Square().AddScalar(1).Rsqrt()))
	})
}

// Arccosh returns the inverse hyperbolic cosine of a (NaN below 1). Its
// gradient is 1/√(a² − 1).
func (a *Tensor) Arccosh() *Tensor {
	return unary("Arccosh", device.Arccosh, a, func(c *bctx, _ *Tensor) {
		c.set(0, c.g.Mul(c.in(0).Square().SubScalar(1).Rsqrt()))
	})
}

// Arctanh returns the inverse hyperbolic tangent of a (±Inf at ±1, NaN
// outside [−1, 1]). Its gradient is 1/(1 − a²).
func (a *Tensor) Arctanh() *Tensor {
	return unary("Arctanh", device.Arctanh, a, func(c *bctx, _ *Tensor) {
		c.set(0, c.g.Div(c.in(0).Square().RSubScalar(1)))
	})
}

// Erf returns the error function of a. Its gradient is 2/√π·e^(−a²).
func (a *Tensor) Erf() *Tensor {
	return unary("Erf", device.Erf, a, func(c *bctx, _ *Tensor) {
		c.set(0, c.g.Mul(c.in(0).Square().Neg().Exp()).MulScalar(2/math.SqrtPi))
	})
}

// GELU returns a·Φ(a) = a/2·(1 + erf(a/√2)), the exact Gaussian error
// linear unit (PyTorch's gelu with approximate="none"). Its gradient is
// Φ(a) + a·φ(a), φ the standard normal density. GELU(−Inf) is NaN, as in
// PyTorch.
func (a *Tensor) GELU() *Tensor {
	return unary("GELU", device.GELU, a, func(c *bctx, _ *Tensor) {
		c.set(0, geluGrad(c.in(0), c.g))
	})
}

// geluGrad returns g·(Φ(x) + x·φ(x)), GELU's backward rule in one pass
// (the fused operation GELUGrad), itself differentiable:
// d/dx = g·φ(x)·(2 − x²), d/dg = Φ(x) + x·φ(x).
func geluGrad(x, g *Tensor) *Tensor {
	out := rawBinary("GELUGrad", device.GELUGrad, x, g)
	if recording(x, g) {
		record(out, "GELUGrad", func(c *bctx) {
			xx, gg := c.in(0), c.in(1)
			if c.needs(0) {
				x2 := xx.Square()
				pdf := x2.MulScalar(-0.5).Exp().MulScalar(1 / math.Sqrt(2*math.Pi))
				c.set(0, c.g.Mul(gg).Mul(pdf.Mul(x2.RSubScalar(2))))
			}
			if c.needs(1) {
				c.set(1, geluGrad(xx, c.g))
			}
		}, x, g)
	}
	return out
}

// GELUTanh returns GELU's tanh approximation
// a/2·(1 + tanh(√(2/π)·(a + 0.044715·a³))) (PyTorch's gelu with
// approximate="tanh").
func (a *Tensor) GELUTanh() *Tensor {
	return unary("GELUTanh", device.GELUTanh, a, func(c *bctx, _ *Tensor) {
		const k, b = 0.7978845608028654, 0.044715
		x := c.in(0)
		t := x.Square().MulScalar(b).AddScalar(1).Mul(x).MulScalar(k).Tanh() // tanh(k·(x + b·x³))
		du := x.Square().MulScalar(3 * b * k).AddScalar(k)                   // d/dx k·(x + b·x³)
		d := t.AddScalar(1).MulScalar(0.5).Add(x.Mul(t.Square().RSubScalar(1)).Mul(du).MulScalar(0.5))
		c.set(0, c.g.Mul(d))
	})
}

// SiLU returns a·sigmoid(a) = a/(1 + e^−a), the sigmoid linear unit (also
// called swish). Its gradient is σ(a)·(1 + a·(1 − σ(a))). SiLU(−Inf) is
// NaN, as in PyTorch.
func (a *Tensor) SiLU() *Tensor {
	return unary("SiLU", device.SiLU, a, func(c *bctx, _ *Tensor) {
		x := c.in(0)
		s := x.Sigmoid()
		c.set(0, c.g.Mul(s.Mul(x.Mul(s.RSubScalar(1)).AddScalar(1))))
	})
}

// Clip returns a limited to [lo, hi]: min(max(a, lo), hi), as PyTorch's
// clamp: NaN elements (and NaN bounds) give NaN, and with lo > hi every
// element is hi. Its gradient passes where lo ≤ a ≤ hi and is 0 elsewhere.
func (a *Tensor) Clip(lo, hi float64) *Tensor {
	const op = "Clip"
	out := rawScalar(op, device.MinS, rawScalar(op, device.MaxS, a, lo), hi)
	if recording(a) {
		record(out, op, func(c *bctx) {
			x := c.in(0)
			inside := rawBinary(op, device.Mul, rawScalar(op, device.GeS, x, lo), rawScalar(op, device.LeS, x, hi))
			c.set(0, c.g.Mul(inside))
		}, a)
	}
	return out
}
