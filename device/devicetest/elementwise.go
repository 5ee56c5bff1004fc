package devicetest

import (
	"math"
	"math/rand/v2"

	"github.com/tapegrad/tapegrad/device"
)

// specials are the IEEE special values elementwise checks feed every
// operation whose definition covers them.
var specials = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1, 0.5, 2.5}

type unaryRef struct {
	f     func(x float64) float64
	in    func(*rand.Rand) float64 // random inputs
	trans bool                     // transcendental tolerance
}

var unaryRefs = map[device.UnaryOp]unaryRef{
	device.Neg:    {f: func(x float64) float64 { return -x }, in: uni(-4, 4)},
	device.Abs:    {f: math.Abs, in: uni(-4, 4)},
	device.Sign:   {f: sign, in: mix(uni(-4, 4), pick(0), 5)},
	device.Exp:    {f: math.Exp, in: uni(-10, 10), trans: true},
	device.Log:    {f: math.Log, in: uni(0.01, 100), trans: true},
	device.Sqrt:   {f: math.Sqrt, in: uni(0, 100)},
	device.Square: {f: func(x float64) float64 { return x * x }, in: uni(-4, 4)},
	device.Recip:  {f: func(x float64) float64 { return 1 / x }, in: signed(0.1, 4)},
	device.Tanh:   {f: math.Tanh, in: uni(-5, 5), trans: true},
	device.Sigmoid: {f: func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
		in: uni(-10, 10), trans: true},
	device.ReLU: {f: relu, in: uni(-4, 4)},
	device.Sin:  {f: math.Sin, in: uni(-10, 10), trans: true},
	device.Cos:  {f: math.Cos, in: uni(-10, 10), trans: true},
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x // 0 or NaN
}

func relu(x float64) float64 {
	if x > 0 || math.IsNaN(x) {
		return x
	}
	return 0
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func testUnary(c *tc) {
	for op := range device.UnaryOp(device.NumUnaryOps) {
		ref, ok := unaryRefs[op]
		if !ok {
			continue // reported by Coverage
		}
		c.run(op.String(), func(c *tc) {
			tol := c.tol.Elementwise
			if ref.trans {
				tol = c.tol.Transcendental
			}
			try := func(o operand) {
				n := o.l.Size()
				out := c.output(n)
				c.be.Unary(op, out, o.buf, o.l)
				want := make([]float64, 0, n)
				each(o.l.Shape, func(idx []int) { want = append(want, ref.f(o.at(idx))) })
				c.check(fmtf("%v at %v", op, o.l), c.result(op.String(), out, n), want, nil, tol)
			}
			for _, shape := range c.shapes() {
				for _, kind := range viewKinds {
					try(c.operand(shape, kind, ref.in))
				}
			}
			s := make([]float64, len(specials))
			for i, v := range specials {
				s[i] = c.round(v)
			}
			try(operand{vals: s, l: device.Contiguous([]int{len(s)}), buf: c.buffer(s)})
		})
	}
}

type scalarRef struct {
	f     func(x, s float64) float64
	in    func(*rand.Rand) float64
	ss    []float64 // scalars tried
	trans bool
	sum   bool // error relative to |x| + |s|
}

var cmpIn = mix(pick(-1, 0, 0.5, 1, 2), uni(-2, 2), 3)
var cmpS = []float64{0, 1, 0.5, -1.5, math.NaN(), math.Inf(1)}

var scalarRefs = map[device.ScalarOp]scalarRef{
	device.AddS:  {f: func(x, s float64) float64 { return x + s }, in: uni(-4, 4), ss: []float64{0, 1.5, -2.25, 0.1}, sum: true},
	device.SubS:  {f: func(x, s float64) float64 { return x - s }, in: uni(-4, 4), ss: []float64{0, 1.5, -2.25, 0.1}, sum: true},
	device.RSubS: {f: func(x, s float64) float64 { return s - x }, in: uni(-4, 4), ss: []float64{0, 1.5, -2.25, 0.1}, sum: true},
	device.MulS:  {f: func(x, s float64) float64 { return x * s }, in: uni(-4, 4), ss: []float64{0, -1, 2.5, 1e-3, 0.1}},
	device.DivS:  {f: func(x, s float64) float64 { return x / s }, in: uni(-4, 4), ss: []float64{1, -3, 0.1, 0}},
	device.RDivS: {f: func(x, s float64) float64 { return s / x }, in: signed(0.1, 4), ss: []float64{1, -2, 0, 0.1}},
	device.PowS: {f: math.Pow, in: mix(uni(0.1, 3), uni(-3, -0.1), 4),
		ss: []float64{2, 0.5, 3, -1, 0, 1, -2.5, 1.7}, trans: true},
	device.RPowS: {f: func(x, s float64) float64 { return math.Pow(s, x) }, in: uni(-3, 3),
		ss: []float64{2, 0.5, 10, math.E, 0, 1, -2}, trans: true},
	device.MaxS: {f: fmax, in: uni(-4, 4), ss: []float64{0, 1, -1, math.NaN(), math.Inf(-1)}},
	device.MinS: {f: fmin, in: uni(-4, 4), ss: []float64{0, 1, -1, math.NaN(), math.Inf(1)}},
	device.EqS:  {f: func(x, s float64) float64 { return b2f(x == s) }, in: cmpIn, ss: cmpS},
	device.NeS:  {f: func(x, s float64) float64 { return b2f(x != s) }, in: cmpIn, ss: cmpS},
	device.LtS:  {f: func(x, s float64) float64 { return b2f(x < s) }, in: cmpIn, ss: cmpS},
	device.LeS:  {f: func(x, s float64) float64 { return b2f(x <= s) }, in: cmpIn, ss: cmpS},
	device.GtS:  {f: func(x, s float64) float64 { return b2f(x > s) }, in: cmpIn, ss: cmpS},
	device.GeS:  {f: func(x, s float64) float64 { return b2f(x >= s) }, in: cmpIn, ss: cmpS},
}

// fmax and fmin propagate NaN from either side.
func fmax(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Max(a, b)
}

func fmin(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return math.Min(a, b)
}

func testScalar(c *tc) {
	for op := range device.ScalarOp(device.NumScalarOps) {
		ref, ok := scalarRefs[op]
		if !ok {
			continue
		}
		c.run(op.String(), func(c *tc) {
			tol := c.tol.Elementwise
			if ref.trans {
				tol = c.tol.Transcendental
			}
			try := func(o operand, s float64) {
				n := o.l.Size()
				out := c.output(n)
				c.be.Scalar(op, out, o.buf, o.l, s)
				sr := c.round(s)
				var want, mag []float64
				each(o.l.Shape, func(idx []int) {
					x := o.at(idx)
					w := ref.f(x, sr)
					want = append(want, w)
					if ref.sum {
						mag = append(mag, math.Abs(x)+math.Abs(sr))
					} else {
						mag = append(mag, math.Abs(w))
					}
				})
				c.check(fmtf("%v(s=%v) at %v", op, s, o.l), c.result(op.String(), out, n), want, mag, tol)
			}
			for _, s := range ref.ss {
				for _, shape := range c.shapes() {
					try(c.operand(shape, viewKinds[c.rng.IntN(len(viewKinds))], ref.in), s)
				}
				x := make([]float64, len(specials))
				for i, v := range specials {
					x[i] = c.round(v)
				}
				try(operand{vals: x, l: device.Contiguous([]int{len(x)}), buf: c.buffer(x)}, s)
			}
		})
	}
}

type binaryRef struct {
	f      func(a, b float64) float64
	a, b   func(*rand.Rand) float64
	trans  bool
	sum    bool // error relative to |a| + |b|
	mag    func(a, b float64) float64
	noSpec bool // the specials grid is outside the op's domain
}

var binaryRefs = map[device.BinaryOp]binaryRef{
	device.Add: {f: func(a, b float64) float64 { return a + b }, a: uni(-4, 4), b: uni(-4, 4), sum: true},
	device.Sub: {f: func(a, b float64) float64 { return a - b }, a: uni(-4, 4), b: uni(-4, 4), sum: true},
	device.Mul: {f: func(a, b float64) float64 { return a * b }, a: uni(-4, 4), b: uni(-4, 4)},
	device.Div: {f: func(a, b float64) float64 { return a / b }, a: uni(-4, 4), b: signed(0.25, 4)},
	device.Pow: {f: math.Pow, a: mix(uni(0.1, 3), uni(-3, -0.1), 4),
		b: mix(uni(-3, 3), pick(-2, -1, 0, 1, 2, 3), 2), trans: true},
	device.Maximum: {f: fmax, a: mix(uni(-4, 4), pick(0, 1), 4), b: mix(uni(-4, 4), pick(0, 1), 4)},
	device.Minimum: {f: fmin, a: mix(uni(-4, 4), pick(0, 1), 4), b: mix(uni(-4, 4), pick(0, 1), 4)},
	device.Eq:      {f: func(a, b float64) float64 { return b2f(a == b) }, a: cmpIn, b: cmpIn},
	device.Ne:      {f: func(a, b float64) float64 { return b2f(a != b) }, a: cmpIn, b: cmpIn},
	device.Lt:      {f: func(a, b float64) float64 { return b2f(a < b) }, a: cmpIn, b: cmpIn},
	device.Le:      {f: func(a, b float64) float64 { return b2f(a <= b) }, a: cmpIn, b: cmpIn},
	device.Gt:      {f: func(a, b float64) float64 { return b2f(a > b) }, a: cmpIn, b: cmpIn},
	device.Ge:      {f: func(a, b float64) float64 { return b2f(a >= b) }, a: cmpIn, b: cmpIn},
	device.ReLUGrad: {f: func(a, b float64) float64 {
		if a > 0 {
			return b
		}
		return 0
	}, a: mix(uni(-4, 4), pick(0), 4), b: uni(-4, 4)},
	device.TanhGrad: {f: func(a, b float64) float64 { return b * (1 - a*a) }, a: uni(-0.95, 0.95), b: uni(-4, 4),
		mag: func(a, b float64) float64 { return math.Abs(b) * (1 + a*a) }, noSpec: true},
	device.SigmoidGrad: {f: func(a, b float64) float64 { return b * a * (1 - a) }, a: uni(0.01, 0.99), b: uni(-4, 4),
		mag: func(a, b float64) float64 { return math.Abs(b) * a * (1 + a) }, noSpec: true},
}

// pairKinds are the layout pairs Binary, AddScaled and Where are tried
// with: the fast paths a backend is likely to have (dense, one scalar
// operand, row and column broadcasts) and general strided views.
var pairKinds = [][2]string{
	{"dense", "dense"}, {"dense", "scalar"}, {"scalar", "dense"}, {"dense", "row"}, {"row", "dense"},
	{"dense", "col"}, {"col", "dense"}, {"offset", "permuted"}, {"strided", "broadcast"}, {"broadcast", "strided"},
}

// pairView is [tc.view] with three more kinds: "scalar" (every stride 0),
// "row" (a row broadcast down the first axis) and "col" (a column
// broadcast along the last axis).
func (c *tc) pairView(shape []int, kind string) (device.Layout, int) {
	nd := len(shape)
	switch kind {
	case "scalar":
		return device.Layout{Shape: append([]int(nil), shape...), Strides: make([]int, nd), Offset: c.rng.IntN(3)}, 3
	case "row", "col":
		if nd == 0 {
			return c.view(shape, "dense")
		}
		l := device.Contiguous(append([]int(nil), shape...))
		st := append([]int(nil), l.Strides...)
		n := max(device.NumElements(shape), 1)
		if kind == "row" {
			st[0] = 0
			n = max(n/max(shape[0], 1), 1)
		} else {
			st[nd-1] = 0
			for i := 0; i < nd-1; i++ {
				st[i] /= max(shape[nd-1], 1)
			}
			n = max(n/max(shape[nd-1], 1), 1)
		}
		l.Strides = st
		return l, n
	}
	return c.view(shape, kind)
}

func (c *tc) pairOperand(shape []int, kind string, f func(*rand.Rand) float64) operand {
	l, n := c.pairView(shape, kind)
	v := c.gen(n, f)
	return operand{vals: v, l: l, buf: c.buffer(v)}
}

// grid returns operands of shape [k, k] holding every pair of vals.
func (c *tc) grid(vals []float64) (operand, operand) {
	k := len(vals)
	v := make([]float64, k)
	for i, x := range vals {
		v[i] = c.round(x)
	}
	a := operand{vals: v, l: device.Layout{Shape: []int{k, k}, Strides: []int{1, 0}}, buf: c.buffer(v)}
	b := operand{vals: v, l: device.Layout{Shape: []int{k, k}, Strides: []int{0, 1}}, buf: c.buffer(v)}
	return a, b
}

func testBinary(c *tc) {
	for op := range device.BinaryOp(device.NumBinaryOps) {
		ref, ok := binaryRefs[op]
		if !ok {
			continue
		}
		c.run(op.String(), func(c *tc) {
			tol := c.tol.Elementwise
			if ref.trans {
				tol = c.tol.Transcendental
			}
			reference := func(a, b operand) (want, mag []float64) {
				each(a.l.Shape, func(idx []int) {
					x, y := a.at(idx), b.at(idx)
					w := ref.f(x, y)
					want = append(want, w)
					switch {
					case ref.sum:
						mag = append(mag, math.Abs(x)+math.Abs(y))
					case ref.mag != nil:
						mag = append(mag, ref.mag(x, y))
					default:
						mag = append(mag, math.Abs(w))
					}
				})
				return want, mag
			}
			try := func(a, b operand) {
				n := a.l.Size()
				out := c.output(n)
				c.be.Binary(op, out, a.buf, a.l, b.buf, b.l)
				want, mag := reference(a, b)
				c.check(fmtf("%v at %v and %v", op, a.l, b.l), c.result(op.String(), out, n), want, mag, tol)
			}
			for _, shape := range c.shapes() {
				for _, k := range pairKinds {
					try(c.pairOperand(shape, k[0], ref.a), c.pairOperand(shape, k[1], ref.b))
				}
			}
			if !ref.noSpec {
				try(c.grid(specials))
			}
			// Past the sizes at which a backend splits its work (a few ops,
			// to keep the suite fast under the race detector).
			switch op {
			case device.Add, device.Div, device.Maximum, device.Ge, device.ReLUGrad:
				large := []int{3, 11000}
				try(c.pairOperand(large, "row", ref.a), c.pairOperand(large, "dense", ref.b))
			}
			// In place: dst is a's buffer.
			for _, shape := range [][]int{{}, {7}, {3, 5}, {2, 3, 4}} {
				for _, bk := range []string{"dense", "scalar", "row", "strided"} {
					a := c.pairOperand(shape, "dense", ref.a)
					b := c.pairOperand(shape, bk, ref.b)
					c.be.Binary(op, a.buf, a.buf, a.l, b.buf, b.l)
					want, mag := reference(a, b)
					got := c.all(a.buf)[:a.l.Size()]
					c.check(fmtf("%v in place (dst == a) at %v and %v", op, a.l, b.l), got, want, mag, tol)
				}
			}
		})
	}
}

func testAddScaled(c *tc) {
	coefs := [][2]float64{{1, 1}, {1, -1}, {0.5, 2}, {-1.25, 0.1}, {0, 3}}
	reference := func(a, b operand, alpha, beta float64) (want, mag []float64) {
		each(a.l.Shape, func(idx []int) {
			x, y := a.at(idx), b.at(idx)
			want = append(want, alpha*x+beta*y)
			mag = append(mag, math.Abs(alpha*x)+math.Abs(beta*y))
		})
		return want, mag
	}
	for _, ab := range coefs {
		alpha, beta := ab[0], ab[1]
		c.run(fmtf("%v,%v", alpha, beta), func(c *tc) {
			for _, shape := range c.shapes() {
				for _, k := range pairKinds {
					a, b := c.pairOperand(shape, k[0], uni(-4, 4)), c.pairOperand(shape, k[1], uni(-4, 4))
					n := a.l.Size()
					out := c.output(n)
					c.be.AddScaled(out, a.buf, a.l, alpha, b.buf, b.l, beta)
					want, mag := reference(a, b, alpha, beta)
					c.check(fmtf("AddScaled(%v, %v) at %v and %v", alpha, beta, a.l, b.l), c.result("AddScaled", out, n), want, mag, c.tol.Elementwise)
				}
			}
			for _, shape := range [][]int{{}, {7}, {3, 5}, {2, 3, 40}} {
				for _, bk := range []string{"dense", "scalar", "col", "permuted"} {
					a, b := c.pairOperand(shape, "dense", uni(-4, 4)), c.pairOperand(shape, bk, uni(-4, 4))
					c.be.AddScaled(a.buf, a.buf, a.l, alpha, b.buf, b.l, beta)
					want, mag := reference(a, b, alpha, beta)
					c.check(fmtf("AddScaled(%v, %v) in place (dst == a) at %v and %v", alpha, beta, a.l, b.l),
						c.all(a.buf)[:a.l.Size()], want, mag, c.tol.Elementwise)
				}
			}
		})
	}
}

func testWhere(c *tc) {
	conds := pick(0, math.Copysign(0, -1), 1, -2, 0.5, math.NaN(), math.Inf(-1))
	kinds := [][3]string{
		{"dense", "dense", "dense"}, {"dense", "scalar", "dense"}, {"row", "dense", "col"},
		{"col", "row", "scalar"}, {"strided", "permuted", "broadcast"}, {"broadcast", "offset", "strided"},
	}
	for _, shape := range c.shapes() {
		for _, k := range kinds {
			cd := c.pairOperand(shape, k[0], conds)
			a := c.pairOperand(shape, k[1], mix(uni(-4, 4), pick(math.NaN()), 8))
			b := c.pairOperand(shape, k[2], uni(-4, 4))
			n := cd.l.Size()
			out := c.output(n)
			c.be.Where(out, cd.buf, cd.l, a.buf, a.l, b.buf, b.l)
			var want []float64
			each(shape, func(idx []int) {
				if cd.at(idx) != 0 {
					want = append(want, a.at(idx))
				} else {
					want = append(want, b.at(idx))
				}
			})
			c.exact(fmtf("Where at %v, %v, %v", cd.l, a.l, b.l), c.result("Where", out, n), want)
		}
	}
}
