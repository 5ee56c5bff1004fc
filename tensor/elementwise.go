package tensor

import (
	"fmt"
	"math"
	"slices"

	"github.com/tapegrad/tapegrad/device"
)

// --- broadcasting -------------------------------------------------------

// broadcastShape returns the NumPy broadcast of the operands' shapes.
func broadcastShape(op string, ts ...*Tensor) []int {
	rank := 0
	for _, t := range ts {
		rank = max(rank, len(t.shape))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, t := range ts {
		off := rank - len(t.shape)
		for i, d := range t.shape {
			switch o := out[off+i]; {
			case o == d || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				fail(ErrShape, op, fmt.Sprintf("cannot broadcast: axis %d has lengths %d and %d", i-len(t.shape), o, d), ts...)
			}
		}
	}
	return out
}

// broadcastLayout returns t's layout stretched to shape (which t's shape
// broadcasts to): new leading axes and stretched axes get stride 0.
func (t *Tensor) broadcastLayout(shape []int) device.Layout {
	if slices.Equal(t.shape, shape) {
		return t.layout()
	}
	st := make([]int, len(shape))
	off := len(shape) - len(t.shape)
	for i, d := range t.shape {
		if d == shape[off+i] {
			st[off+i] = t.strides[i]
		}
	}
	return device.Layout{Shape: shape, Strides: st, Offset: t.offset}
}

// sumTo sums g over the axes that broadcasting stretched to reach g's shape
// from shape. It is differentiable (its gradient broadcasts back).
func sumTo(op string, g *Tensor, shape []int) *Tensor {
	if slices.Equal(g.shape, shape) {
		return g
	}
	off := len(g.shape) - len(shape)
	if off < 0 {
		fail(ErrShape, op, fmt.Sprintf("cannot sum gradient of shape %v to %v", g.shape, shape), g)
	}
	var axes []int
	for i, d := range g.shape {
		if i < off {
			axes = append(axes, i)
		} else if shape[i-off] == 1 && d != 1 {
			axes = append(axes, i)
		} else if shape[i-off] != d {
			fail(ErrShape, op, fmt.Sprintf("cannot sum gradient of shape %v to %v", g.shape, shape), g)
		}
	}
	out := empty(op, g.st.be, g.st.dt, shape)
	if len(axes) == 0 {
		g.st.be.Copy(out.st.buf, out.layout(), g.st.buf, g.layout())
	} else {
		g.st.be.Reduce(device.Sum, out.st.buf, g.st.buf, g.layout(), axes)
	}
	if recording(g) {
		from := g.shape
		record(out, "SumTo", func(c *bctx) { c.set(0, c.g.BroadcastTo(from...)) }, g)
	}
	return out
}

// --- binary operations --------------------------------------------------

func checkPair(op string, a, b *Tensor) {
	checkSame(op, a, b)
	a.needFloat(op)
}

// checkSame panics unless a and b are live tensors on one device with one
// dtype (of any kind).
func checkSame(op string, a, b *Tensor) {
	a.live(op)
	b.live(op)
	if a.st.dev != b.st.dev {
		fail(ErrDevice, op, "operands are on different devices; move one with To", a, b)
	}
	if a.st.dt != b.st.dt {
		fail(ErrDType, op, "operands have different dtypes; convert one with AsType", a, b)
	}
}

// rawBinary computes op(a, b) with broadcasting, without recording.
func rawBinary(op string, bop device.BinaryOp, a, b *Tensor) *Tensor {
	checkPair(op, a, b)
	return binaryOf(op, bop, a, b)
}

// binaryOf is rawBinary after the operands' checks.
func binaryOf(op string, bop device.BinaryOp, a, b *Tensor) *Tensor {
	shape := a.shape
	if !slices.Equal(a.shape, b.shape) {
		shape = broadcastShape(op, a, b)
	} else {
		shape = append([]int(nil), shape...)
	}
	out := empty(op, a.st.be, a.st.dt, shape)
	a.st.be.Binary(bop, out.st.buf, a.st.buf, a.broadcastLayout(shape), b.st.buf, b.broadcastLayout(shape))
	return out
}

// Add returns a + b elementwise, with NumPy broadcasting.
func (a *Tensor) Add(b *Tensor) *Tensor {
	a, b = promote(a, b)
	out := rawBinary("Add", device.Add, a, b)
	if recording(a, b) {
		record(out, "Add", func(c *bctx) {
			c.set(0, c.g)
			c.set(1, c.g)
		}, a, b)
	}
	return out
}

// Sub returns a - b elementwise, with NumPy broadcasting.
func (a *Tensor) Sub(b *Tensor) *Tensor {
	a, b = promote(a, b)
	out := rawBinary("Sub", device.Sub, a, b)
	if recording(a, b) {
		record(out, "Sub", func(c *bctx) {
			c.set(0, c.g)
			c.setScaled(1, c.g, -1)
		}, a, b)
	}
	return out
}

// Mul returns a * b elementwise, with NumPy broadcasting.
func (a *Tensor) Mul(b *Tensor) *Tensor {
	a, b = promote(a, b)
	out := rawBinary("Mul", device.Mul, a, b)
	if recording(a, b) {
		record(out, "Mul", func(c *bctx) {
			if c.needs(0) {
				c.set(0, c.g.Mul(c.in(1)))
			}
			if c.needs(1) {
				c.set(1, c.g.Mul(c.in(0)))
			}
		}, a, b)
	}
	return out
}

// Div returns a / b elementwise, with NumPy broadcasting.
func (a *Tensor) Div(b *Tensor) *Tensor {
	a, b = promote(a, b)
	out := rawBinary("Div", device.Div, a, b)
	if recording(a, b) {
		record(out, "Div", func(c *bctx) {
			ga := c.g.Div(c.in(1))
			c.set(0, ga)
			if c.needs(1) {
				// d(a/b)/db = -(a/b)/b: reuse g/b.
				c.set(1, ga.Mul(c.use(out)).Neg())
			}
		}, a, b)
	}
	return out
}

// Pow returns a raised to the power b elementwise, with NumPy broadcasting.
func (a *Tensor) Pow(b *Tensor) *Tensor {
	a, b = promote(autocastUp(a), autocastUp(b))
	out := rawBinary("Pow", device.Pow, a, b)
	if recording(a, b) {
		record(out, "Pow", func(c *bctx) {
			x, p := c.in(0), c.in(1)
			if c.needs(0) {
				// d(a^b)/da = b a^(b-1), taken as 0 where b == 0 (as
				// PowScalar(0) does), also at a == 0 where 0·0^-1 is NaN.
				d := c.g.Mul(p).Mul(x.Pow(p.AddScalar(-1)))
				c.set(0, Where(p.EqScalar(0), zerosLike(d), d))
			}
			if c.needs(1) {
				// d(a^b)/db = a^b ln a, taken as 0 where a == 0.
				d := c.g.Mul(c.use(out)).Mul(x.Log())
				c.set(1, Where(x.EqScalar(0), zerosLike(d), d))
			}
		}, a, b)
	}
	return out
}

// Maximum returns the elementwise maximum of a and b, with NumPy
// broadcasting. NaN propagates. Where a == b the gradient is split evenly.
func (a *Tensor) Maximum(b *Tensor) *Tensor {
	return extremum("Maximum", device.Maximum, device.Gt, a, b)
}

// Minimum returns the elementwise minimum of a and b, with NumPy
// broadcasting. NaN propagates. Where a == b the gradient is split evenly.
func (a *Tensor) Minimum(b *Tensor) *Tensor {
	return extremum("Minimum", device.Minimum, device.Lt, a, b)
}

func extremum(op string, bop, wins device.BinaryOp, a, b *Tensor) *Tensor {
	a, b = promote(a, b)
	out := rawBinary(op, bop, a, b)
	if recording(a, b) {
		record(out, op, func(c *bctx) {
			x, y := c.in(0), c.in(1)
			// Share of the gradient that goes to a: 1 where a wins, 1/2 on ties.
			share := rawBinary(op, wins, x, y)
			tie := rawBinary(op, device.Eq, x, y)
			share = rawBinary(op, device.Add, share, rawScalar(op, device.MulS, tie, 0.5))
			ga := c.g.Mul(share)
			c.set(0, ga)
			if c.needs(1) {
				c.set(1, c.g.Sub(ga))
			}
		}, a, b)
	}
	return out
}

// Comparisons: 1 where the relation holds, else 0, in the operands' dtype,
// with NumPy broadcasting. They are not differentiable: their outputs
// never require gradients. Integer tensors (Int32, Int64) are compared
// exactly, in integer arithmetic on every device (no detour through
// float64, which merges integers beyond 2⁵³), with each other (of one
// dtype) or with a float64 scalar (EqScalar, ...: x < 2.5 holds for x ≤ 2,
// x == 2.5 never, comparisons with NaN never but !=). Convert the 0/1
// result with AsType to count it (sums of integer tensors are not
// defined).

// compare computes the comparison bop of a and b, which have one dtype of
// any kind.
func compare(op string, bop device.BinaryOp, a, b *Tensor) *Tensor {
	a, b = promote(a, b)
	checkSame(op, a, b)
	return binaryOf(op, bop, a, b)
}

// Eq returns a == b elementwise.
func (a *Tensor) Eq(b *Tensor) *Tensor { return compare("Eq", device.Eq, a, b) }

// Ne returns a != b elementwise.
func (a *Tensor) Ne(b *Tensor) *Tensor { return compare("Ne", device.Ne, a, b) }

// Lt returns a < b elementwise.
func (a *Tensor) Lt(b *Tensor) *Tensor { return compare("Lt", device.Lt, a, b) }

// Le returns a <= b elementwise.
func (a *Tensor) Le(b *Tensor) *Tensor { return compare("Le", device.Le, a, b) }

// Gt returns a > b elementwise.
func (a *Tensor) Gt(b *Tensor) *Tensor { return compare("Gt", device.Gt, a, b) }

// Ge returns a >= b elementwise.
func (a *Tensor) Ge(b *Tensor) *Tensor { return compare("Ge", device.Ge, a, b) }

// --- scalar operations --------------------------------------------------

// rawScalar computes op(a, s) without recording.
func rawScalar(op string, sop device.ScalarOp, a *Tensor, s float64) *Tensor {
	a.live(op)
	a.needFloat(op)
	out := empty(op, a.st.be, a.st.dt, a.shape)
	a.st.be.Scalar(sop, out.st.buf, a.st.buf, a.layout(), s)
	return out
}

// AddScalar returns a + s elementwise.
func (a *Tensor) AddScalar(s float64) *Tensor {
	out := rawScalar("AddScalar", device.AddS, a, s)
	if recording(a) {
		record(out, "AddScalar", func(c *bctx) { c.set(0, c.g) }, a)
	}
	return out
}

// SubScalar returns a - s elementwise.
func (a *Tensor) SubScalar(s float64) *Tensor {
	out := rawScalar("SubScalar", device.SubS, a, s)
	if recording(a) {
		record(out, "SubScalar", func(c *bctx) { c.set(0, c.g) }, a)
	}
	return out
}

// RSubScalar returns s - a elementwise.
func (a *Tensor) RSubScalar(s float64) *Tensor {
	out := rawScalar("RSubScalar", device.RSubS, a, s)
	if recording(a) {
		record(out, "RSubScalar", func(c *bctx) { c.setScaled(0, c.g, -1) }, a)
	}
	return out
}

// MulScalar returns a * s elementwise.
func (a *Tensor) MulScalar(s float64) *Tensor {
	out := rawScalar("MulScalar", device.MulS, a, s)
	if recording(a) {
		record(out, "MulScalar", func(c *bctx) { c.setScaled(0, c.g, s) }, a)
	}
	return out
}

// DivScalar returns a / s elementwise.
func (a *Tensor) DivScalar(s float64) *Tensor {
	out := rawScalar("DivScalar", device.DivS, a, s)
	if recording(a) {
		record(out, "DivScalar", func(c *bctx) { c.set(0, c.g.DivScalar(s)) }, a)
	}
	return out
}

// RDivScalar returns s / a elementwise.
func (a *Tensor) RDivScalar(s float64) *Tensor {
	out := rawScalar("RDivScalar", device.RDivS, a, s)
	if recording(a) {
		record(out, "RDivScalar", func(c *bctx) {
			// d(s/a)/da = -(s/a)/a
			c.set(0, c.g.Mul(c.use(out)).Div(c.in(0)).Neg())
		}, a)
	}
	return out
}

// PowScalar returns a raised to the power s elementwise.
func (a *Tensor) PowScalar(s float64) *Tensor {
	a = autocastUp(a)
	out := rawScalar("PowScalar", device.PowS, a, s)
	if recording(a) {
		record(out, "PowScalar", func(c *bctx) {
			switch s {
			case 0:
				c.set(0, zerosLike(c.g))
			case 1:
				c.set(0, c.g)
			case 2:
				c.set(0, c.g.Mul(c.in(0)).MulScalar(2))
			default:
				c.set(0, c.g.Mul(c.in(0).PowScalar(s-1)).MulScalar(s))
			}
		}, a)
	}
	return out
}

// RPowScalar returns s raised to the power a elementwise (PyTorch's
// torch.pow(s, a)). Its gradient is s^a·ln(s); for s = 0 it is 0 where
// a ≥ 0 (as in PyTorch) and −Inf·g where a < 0.
func (a *Tensor) RPowScalar(s float64) *Tensor {
	a = autocastUp(a)
	out := rawScalar("RPowScalar", device.RPowS, a, s)
	if recording(a) {
		record(out, "RPowScalar", func(c *bctx) {
			if s == 0 {
				x := c.in(0)
				c.set(0, Where(x.GeScalar(0), zerosLike(c.g), c.g.MulScalar(math.Inf(-1))))
				return
			}
			c.set(0, c.g.Mul(c.use(out)).MulScalar(math.Log(s)))
		}, a)
	}
	return out
}

// MaximumScalar returns max(a, s) elementwise. NaN propagates; at a == s
// the gradient is halved.
func (a *Tensor) MaximumScalar(s float64) *Tensor {
	return extremumScalar("MaximumScalar", device.MaxS, device.GtS, a, s)
}

// MinimumScalar returns min(a, s) elementwise. NaN propagates; at a == s
// the gradient is halved.
func (a *Tensor) MinimumScalar(s float64) *Tensor {
	return extremumScalar("MinimumScalar", device.MinS, device.LtS, a, s)
}

func extremumScalar(op string, sop, wins device.ScalarOp, a *Tensor, s float64) *Tensor {
	out := rawScalar(op, sop, a, s)
	if recording(a) {
		record(out, op, func(c *bctx) {
			x := c.in(0)
			share := rawBinary(op, device.Add, rawScalar(op, wins, x, s), rawScalar(op, device.MulS, rawScalar(op, device.EqS, x, s), 0.5))
			c.set(0, c.g.Mul(share))
		}, a)
	}
	return out
}

// EqScalar returns a == s elementwise (1 or 0; not differentiable).
func (a *Tensor) EqScalar(s float64) *Tensor {
	return compareScalar("EqScalar", device.Eq, device.EqS, a, s)
}

// NeScalar returns a != s elementwise (1 or 0; not differentiable).
func (a *Tensor) NeScalar(s float64) *Tensor {
	return compareScalar("NeScalar", device.Ne, device.NeS, a, s)
}

// LtScalar returns a < s elementwise (1 or 0; not differentiable).
func (a *Tensor) LtScalar(s float64) *Tensor {
	return compareScalar("LtScalar", device.Lt, device.LtS, a, s)
}

// LeScalar returns a <= s elementwise (1 or 0; not differentiable).
func (a *Tensor) LeScalar(s float64) *Tensor {
	return compareScalar("LeScalar", device.Le, device.LeS, a, s)
}

// GtScalar returns a > s elementwise (1 or 0; not differentiable).
func (a *Tensor) GtScalar(s float64) *Tensor {
	return compareScalar("GtScalar", device.Gt, device.GtS, a, s)
}

// GeScalar returns a >= s elementwise (1 or 0; not differentiable).
func (a *Tensor) GeScalar(s float64) *Tensor {
	return compareScalar("GeScalar", device.Ge, device.GeS, a, s)
}

// compareScalar compares a with s: float tensors through the scalar
// kernels; integer tensors against the integer k for which the comparison
// has the same outcome for every integer x (x < s ⟺ x < ⌈s⌉, x <= s ⟺
// x <= ⌊s⌋, ...), or as a constant where no integer of a's dtype decides
// it (s beyond the dtype's range, NaN, a fraction for == and !=).
func compareScalar(op string, bop device.BinaryOp, sop device.ScalarOp, a *Tensor, s float64) *Tensor {
	a.live(op)
	if !a.st.dt.IsInt() {
		return rawScalar(op, sop, a, s)
	}
	lo, hi := -math.Ldexp(1, 63), math.Ldexp(1, 63) // [lo, hi): the dtype's integers
	if a.st.dt == device.Int32 {
		lo, hi = -math.Ldexp(1, 31), math.Ldexp(1, 31)
	}
	f, c := math.Floor(s), math.Ceil(s)
	k, all := 0.0, -1.0 // all: 0 or 1 when the outcome is constant
	switch {
	case s != s:
		all = 0
		if bop == device.Ne {
			all = 1
		}
	case bop == device.Eq || bop == device.Ne:
		k = s
		if f != s || s < lo || s >= hi {
			all = 0
			if bop == device.Ne {
				all = 1
			}
		}
	case bop == device.Lt || bop == device.Ge: // x < ⌈s⌉, x >= ⌈s⌉
		k = c
		switch {
		case c >= hi:
			all = 1
		case c <= lo:
			all = 0
		}
		if all >= 0 && bop == device.Ge {
			all = 1 - all
		}
	default: // Le, Gt: x <= ⌊s⌋, x > ⌊s⌋
		k = f
		switch {
		case f >= hi:
			all = 1
		case f < lo:
			all = 0
		}
		if all >= 0 && bop == device.Gt {
			all = 1 - all
		}
	}
	if all >= 0 {
		out := empty(op, a.st.be, a.st.dt, append([]int(nil), a.shape...))
		a.st.be.Fill(out.st.buf, out.layout(), all)
		return out
	}
	t := empty(op, a.st.be, a.st.dt, []int{})
	if math.Abs(k) <= 1<<53 { // exact as the float64 Fill takes: no host transfer
		a.st.be.Fill(t.st.buf, t.layout(), k)
	} else {
		a.st.be.Upload(t.st.buf, []int64{int64(k)})
	}
	out := binaryOf(op, bop, a, t)
	t.st.release()
	return out
}

// --- unary operations ---------------------------------------------------

// rawUnary computes op(a) without recording.
func rawUnary(op string, uop device.UnaryOp, a *Tensor) *Tensor {
	a.live(op)
	a.needFloat(op)
	out := empty(op, a.st.be, a.st.dt, a.shape)
	a.st.be.Unary(uop, out.st.buf, a.st.buf, a.layout())
	return out
}

// unary computes op(a) and records rule as its backward.
func unary(op string, uop device.UnaryOp, a *Tensor, rule func(c *bctx, out *Tensor)) *Tensor {
	out := rawUnary(op, uop, a)
	if recording(a) {
		record(out, op, func(c *bctx) { rule(c, out) }, a)
	}
	return out
}

// Neg returns -a.
func (a *Tensor) Neg() *Tensor {
	return unary("Neg", device.Neg, a, func(c *bctx, _ *Tensor) { c.setScaled(0, c.g, -1) })
}

// Abs returns |a|. Its gradient at 0 is 0.
func (a *Tensor) Abs() *Tensor {
	return unary("Abs", device.Abs, a, func(c *bctx, _ *Tensor) { c.set(0, c.g.Mul(c.in(0).Sign())) })
}

// Sign returns -1, 0 or 1 by the sign of a (NaN stays NaN). It is not
// differentiable: its output never requires gradients.
func (a *Tensor) Sign() *Tensor { return rawUnary("Sign", device.Sign, a) }

// Exp returns e^a.
func (a *Tensor) Exp() *Tensor {
	a = autocastUp(a)
	return unary("Exp", device.Exp, a, func(c *bctx, out *Tensor) { c.set(0, c.g.Mul(c.use(out))) })
}

// Log returns the natural logarithm of a.
func (a *Tensor) Log() *Tensor {
	a = autocastUp(a)
	return unary("Log", device.Log, a, func(c *bctx, _ *Tensor) { c.set(0, c.g.Div(c.in(0))) })
}

// Sqrt returns √a.
func (a *Tensor) Sqrt() *Tensor {
	return unary("Sqrt", device.Sqrt, a, func(c *bctx, out *Tensor) {
		c.set(0, c.g.Div(c.use(out)).MulScalar(0.5))
	})
}

// Square returns a².
func (a *Tensor) Square() *Tensor {
	return unary("Square", device.Square, a, func(c *bctx, _ *Tensor) {
		c.set(0, c.g.Mul(c.in(0)).MulScalar(2))
	})
}

// Recip returns 1/a.
func (a *Tensor) Recip() *Tensor {
	a = autocastUp(a)
	return unary("Recip", device.Recip, a, func(c *bctx, out *Tensor) {
		c.set(0, c.g.Mul(c.use(out).Square()).Neg())
	})
}

// Tanh returns the hyperbolic tangent of a.
func (a *Tensor) Tanh() *Tensor {
	return unary("Tanh", device.Tanh, a, func(c *bctx, out *Tensor) { c.set(0, tanhGrad(c.use(out), c.g)) })
}

// Sigmoid returns 1/(1+e^-a).
func (a *Tensor) Sigmoid() *Tensor {
	return unary("Sigmoid", device.Sigmoid, a, func(c *bctx, out *Tensor) { c.set(0, sigmoidGrad(c.use(out), c.g)) })
}

// ReLU returns max(a, 0). Its gradient at 0 is 0.
func (a *Tensor) ReLU() *Tensor {
	return unary("ReLU", device.ReLU, a, func(c *bctx, _ *Tensor) { c.set(0, reluGrad(c.in(0), c.g)) })
}

// Sin returns the sine of a.
func (a *Tensor) Sin() *Tensor {
	return unary("Sin", device.Sin, a, func(c *bctx, _ *Tensor) { c.set(0, c.g.Mul(c.in(0).Cos())) })
}

// Cos returns the cosine of a.
func (a *Tensor) Cos() *Tensor {
	return unary("Cos", device.Cos, a, func(c *bctx, _ *Tensor) { c.set(0, c.g.Mul(c.in(0).Sin()).Neg()) })
}

// Softplus returns log(1 + e^a), computed as max(a, 0) + log1p(e^−|a|), so
// that it neither overflows for large a nor rounds to 0 for very negative
// a (PyTorch's softplus with beta 1, without its threshold: PyTorch returns
// a itself above 20). Its gradient is sigmoid(a).
func (a *Tensor) Softplus() *Tensor {
	a = autocastUp(a)
	return unary("Softplus", device.Softplus, a, func(c *bctx, _ *Tensor) { c.set(0, c.g.Mul(c.in(0).Sigmoid())) })
}

// The fused backward rules below are operations of their own, with their
// own backward rules, so that gradients of gradients work.

// reluGrad returns g where x > 0, else 0.
func reluGrad(x, g *Tensor) *Tensor {
	out := rawBinary("ReLUGrad", device.ReLUGrad, x, g)
	if recording(x, g) {
		record(out, "ReLUGrad", func(c *bctx) {
			// Piecewise constant in x; linear in g.
			if c.needs(1) {
				c.set(1, reluGrad(c.in(0), c.g))
			}
		}, x, g)
	}
	return out
}

// tanhGrad returns g·(1−y²).
func tanhGrad(y, g *Tensor) *Tensor {
	out := rawBinary("TanhGrad", device.TanhGrad, y, g)
	if recording(y, g) {
		record(out, "TanhGrad", func(c *bctx) {
			yy, gg := c.in(0), c.in(1)
			if c.needs(0) {
				c.set(0, c.g.Mul(gg).Mul(yy).MulScalar(-2))
			}
			if c.needs(1) {
				c.set(1, tanhGrad(yy, c.g))
			}
		}, y, g)
	}
	return out
}

// sigmoidGrad returns g·y·(1−y).
func sigmoidGrad(y, g *Tensor) *Tensor {
	out := rawBinary("SigmoidGrad", device.SigmoidGrad, y, g)
	if recording(y, g) {
		record(out, "SigmoidGrad", func(c *bctx) {
			yy, gg := c.in(0), c.in(1)
			if c.needs(0) {
				// d/dy [g·y·(1−y)] = g·(1−2y)
				c.set(0, c.g.Mul(gg).Mul(yy.MulScalar(-2).AddScalar(1)))
			}
			if c.needs(1) {
				c.set(1, sigmoidGrad(yy, c.g))
			}
		}, y, g)
	}
	return out
}

// Where returns a where cond is non-zero and b elsewhere, with NumPy
// broadcasting of all three. It is differentiable in a and b.
func Where(cond, a, b *Tensor) *Tensor {
	const op = "Where"
	cond, a, b = promote3(cond, a, b)
	checkPair(op, a, b)
	checkPair(op, cond, a)
	shape := broadcastShape(op, cond, a, b)
	out := empty(op, a.st.be, a.st.dt, shape)
	a.st.be.Where(out.st.buf, cond.st.buf, cond.broadcastLayout(shape), a.st.buf, a.broadcastLayout(shape), b.st.buf, b.broadcastLayout(shape))
	if recording(a, b) {
		record(out, op, func(c *bctx) {
			z := zerosLike(c.g)
			if c.needs(1) {
				c.set(1, Where(c.in(0), c.g, z))
			}
			if c.needs(2) {
				c.set(2, Where(c.in(0), z, c.g))
			}
		}, cond, a, b)
	}
	return out
}

// zerosLike returns a 0-d zero broadcast to t's shape (a view, no buffer of
// t's size).
func zerosLike(t *Tensor) *Tensor {
	return Full(0, nil, On(t.st.dev), WithDType(t.st.dt)).BroadcastTo(t.shape...)
}
