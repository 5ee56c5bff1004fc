package devicetest

import (
	"math"
	"math/rand/v2"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/optable"
)

// specials are the IEEE special values elementwise checks feed every
// operation whose definition covers them.
var specials = optable.Specials

type unaryRef struct {
	f     func(x float64) float64
	in    func(*rand.Rand) float64 // random inputs
	trans bool                     // transcendental tolerance
}

// The references, input domains and tolerance classes of the elementwise
// operations come from their rows in the op table (internal/optable), so
// a new row is checked here without another list to edit.
var unaryRefs = func() map[device.UnaryOp]unaryRef {
	m := map[device.UnaryOp]unaryRef{}
	for op := range device.UnaryOp(device.NumUnaryOps) {
		if r := optable.Find(optable.Unary, op.String()); r != nil && r.Ref1 != nil {
			m[op] = unaryRef{f: r.Ref1, in: r.Test.InX(), trans: r.Test.Trans}
		}
	}
	return m
}()

// elementTol is the backend's tolerance for an elementwise result: the
// transcendental one for results from a math library.
func (c *tc) elementTol(trans bool) float64 {
	if trans {
		return c.tol.Transcendental
	}
	return c.tol.Elementwise
}

func testUnary(c *tc) {
	for op := range device.UnaryOp(device.NumUnaryOps) {
		ref, ok := unaryRefs[op]
		if !ok {
			continue // reported by Coverage
		}
		c.run(op.String(), func(c *tc) {
			tol := c.elementTol(ref.trans)
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

var scalarRefs = func() map[device.ScalarOp]scalarRef {
	m := map[device.ScalarOp]scalarRef{}
	for op := range device.ScalarOp(device.NumScalarOps) {
		if r := optable.Find(optable.Scalar, op.String()); r != nil && r.Ref2 != nil {
			m[op] = scalarRef{f: r.Ref2, in: r.Test.InX(), ss: r.Test.Scalars, trans: r.Test.Trans, sum: r.Test.Sum}
		}
	}
	return m
}()

func testScalar(c *tc) {
	for op := range device.ScalarOp(device.NumScalarOps) {
		ref, ok := scalarRefs[op]
		if !ok {
			continue
		}
		c.run(op.String(), func(c *tc) {
			tol := c.elementTol(ref.trans)
			try := func(o operand, s float64) {
				n := o.l.Size()
				out := c.output(n)
				c.be.Scalar(op, out, o.buf, o.l, s)
				sr := c.computeRound(s)
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

var binaryRefs = func() map[device.BinaryOp]binaryRef {
	m := map[device.BinaryOp]binaryRef{}
	for op := range device.BinaryOp(device.NumBinaryOps) {
		if r := optable.Find(optable.Binary, op.String()); r != nil && r.Ref2 != nil {
			t := r.Test
			m[op] = binaryRef{f: r.Ref2, a: t.InX(), b: t.InB(), trans: t.Trans, sum: t.Sum, mag: t.Mag, noSpec: t.NoSpecials}
		}
	}
	return m
}()

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
			tol := c.elementTol(ref.trans)
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

// fmax and fmin propagate NaN from either side (the op table's
// references of Maximum and Minimum).
var fmax, fmin = optable.Maximum, optable.Minimum
