package devicetest

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// reduceRef reduces the values xs; it also returns the magnitude that
// bounds its rounding error, and whether the result is a selection (exact).
type reduceRef func(xs []float64) (v, mag float64, exact bool)

var reduceRefs = map[device.ReduceOp]reduceRef{
	device.Sum: func(xs []float64) (float64, float64, bool) {
		s, m := 0.0, 0.0
		for _, x := range xs {
			s += x
			m += math.Abs(x)
		}
		return s, m, false
	},
	device.Mean: func(xs []float64) (float64, float64, bool) {
		s, m := 0.0, 0.0
		for _, x := range xs {
			s += x
			m += math.Abs(x)
		}
		n := float64(len(xs))
		return s / n, m / n, false
	},
	device.Max: func(xs []float64) (float64, float64, bool) {
		v := math.Inf(-1)
		for _, x := range xs {
			v = fmax(v, x)
		}
		return v, 0, true
	},
	device.Min: func(xs []float64) (float64, float64, bool) {
		v := math.Inf(1)
		for _, x := range xs {
			v = fmin(v, x)
		}
		return v, 0, true
	},
	device.Norm2: func(xs []float64) (float64, float64, bool) {
		s := 0.0
		for _, x := range xs {
			s += x * x
		}
		return math.Sqrt(s), math.Sqrt(s), false
	},
}

// axesSets returns the reduction axes tried for rank nd: every non-empty
// subset for nd <= 3, else leading, trailing, middle, non-adjacent and all.
func axesSets(nd int) [][]int {
	if nd <= 3 {
		var out [][]int
		for m := 1; m < 1<<nd; m++ {
			var a []int
			for i := 0; i < nd; i++ {
				if m&(1<<i) != 0 {
					a = append(a, i)
				}
			}
			out = append(out, a)
		}
		return out
	}
	all := make([]int, nd)
	for i := range all {
		all[i] = i
	}
	return [][]int{{0}, {nd - 1}, {0, 1}, {nd - 2, nd - 1}, {1}, {0, nd - 1}, {1, nd - 2}, {0, 2}, all}
}

// referenceReduce reduces o over axes with f, returning the kept-axes
// results in row-major order and their error magnitudes.
func referenceReduce(o operand, axes []int, f reduceRef) (want, mag []float64, exact bool) {
	isRed := make([]bool, len(o.l.Shape))
	for _, a := range axes {
		isRed[a] = true
	}
	var kshape, rshape []int
	for i, d := range o.l.Shape {
		if isRed[i] {
			rshape = append(rshape, d)
		} else {
			kshape = append(kshape, d)
		}
	}
	idx := make([]int, len(o.l.Shape))
	exact = true
	each(kshape, func(k []int) {
		var xs []float64
		each(rshape, func(r []int) {
			ki, ri := 0, 0
			for i := range idx {
				if isRed[i] {
					idx[i] = r[ri]
					ri++
				} else {
					idx[i] = k[ki]
					ki++
				}
			}
			xs = append(xs, o.at(idx))
		})
		v, m, e := f(xs)
		want, mag, exact = append(want, v), append(mag, m), e
	})
	return want, mag, exact
}

func reduceShapes(c *tc) [][]int {
	s := [][]int{{1}, {6}, {3, 1}, {1, 4}, {3, 4}, {2, 3, 4}, {4, 1, 5}, {2, 3, 2, 3}, {3, 300}, {130, 3}}
	for i := 0; i < 3; i++ {
		s = append(s, c.randShape(1, 4, 1, 5))
	}
	return s
}

func testReduce(c *tc) {
	for op := range device.ReduceOp(device.NumReduceOps) {
		ref, ok := reduceRefs[op]
		if !ok {
			continue
		}
		c.run(op.String(), func(c *tc) {
			try := func(o operand, axes []int, what string) {
				want, mag, exact := referenceReduce(o, axes, ref)
				n := len(want)
				out := c.output(n)
				c.be.Reduce(op, out, o.buf, o.l, axes)
				got := c.result(op.String(), out, n)
				what = fmtf("%v over %v of %v%s", op, axes, o.l, what)
				tol := c.tol.Reduction
				if exact {
					tol = 0
				}
				if !c.check(what, got, want, mag, tol) {
					return
				}
				// Bitwise reproducible.
				out2 := c.output(n)
				c.be.Reduce(op, out2, o.buf, o.l, axes)
				again := c.result(op.String(), out2, n)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(again[i]) && !(math.IsNaN(got[i]) && math.IsNaN(again[i])) {
						c.t.Errorf("%s: element %d is %v, then %v on a second run", what, i, got[i], again[i])
						break
					}
				}
			}
			for _, shape := range reduceShapes(c) {
				for _, axes := range axesSets(len(shape)) {
					kind := viewKinds[c.rng.IntN(len(viewKinds))]
					try(c.operand(shape, kind, uni(-3, 3)), axes, "")
				}
			}
			// Long runs and many rows, past the sizes at which a backend
			// splits its work.
			for _, tc := range []struct {
				shape []int
				axes  []int
			}{{[]int{140000}, []int{0}}, {[]int{2, 20000}, []int{1}}, {[]int{20000, 2}, []int{0}}} {
				if tc.shape[0] == 140000 && (op == device.Max || op == device.Min) {
					continue
				}
				try(c.operand(tc.shape, "dense", uni(-3, 3)), tc.axes, " (large)")
			}
			// NaN and infinities.
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				for _, axes := range [][]int{{0}, {1}, {0, 1}} {
					o := c.operand([]int{3, 5}, "dense", uni(-3, 3))
					o.vals[c.rng.IntN(15)] = bad
					c.upload(o.buf, o.vals)
					try(o, axes, fmtf(" holding %v", bad))
				}
			}
			// Reduced axes of length 0: Sum and Norm2 are 0, Mean is 0/0.
			// Max and Min of nothing are not defined by the interface.
			if op == device.Sum || op == device.Norm2 || op == device.Mean {
				for _, tc := range []struct {
					shape []int
					axes  []int
				}{{[]int{3, 0}, []int{1}}, {[]int{0, 4}, []int{0}}, {[]int{2, 0, 3}, []int{1}}, {[]int{2, 0, 3}, []int{0, 1}}} {
					try(c.operand(tc.shape, "dense", uni(-3, 3)), tc.axes, " (empty)")
				}
			}
			// Kept axes of length 0: nothing is written.
			try(c.operand([]int{0, 3}, "dense", uni(-3, 3)), []int{1}, "")
		})
	}
}

func testArgReduce(c *tc) {
	for _, op := range []device.ArgOp{device.ArgMax, device.ArgMin} {
		c.run(op.String(), func(c *tc) {
			better := func(x, best float64) bool {
				if math.IsNaN(best) {
					return false
				}
				if math.IsNaN(x) {
					return true
				}
				if op == device.ArgMax {
					return x > best
				}
				return x < best
			}
			try := func(o operand, axis int, what string) {
				var want []float64
				var kshape []int
				for i, d := range o.l.Shape {
					if i != axis {
						kshape = append(kshape, d)
					}
				}
				idx := make([]int, len(o.l.Shape))
				each(kshape, func(k []int) {
					copy(idx[:axis], k[:axis])
					copy(idx[axis+1:], k[axis:])
					at := 0
					for j := 0; j < o.l.Shape[axis]; j++ {
						idx[axis] = j
						x := o.at(idx)
						idx[axis] = at
						if j > 0 && better(x, o.at(idx)) {
							at = j
						}
					}
					want = append(want, float64(at))
				})
				n := len(want)
				out := c.outputOf(device.Int64, n)
				c.be.ArgReduce(op, out, o.buf, o.l, axis)
				c.exact(fmtf("%v along %d of %v%s", op, axis, o.l, what), c.result(op.String(), out, n), want)
			}
			shapes := append(reduceShapes(c), []int{0, 3})
			for _, shape := range shapes {
				for axis := range shape {
					if shape[axis] == 0 {
						continue
					}
					kind := viewKinds[c.rng.IntN(len(viewKinds))]
					// Few distinct values, so that ties are common.
					try(c.operand(shape, kind, mix(uni(-3, 3), pick(-3, 3, 1), 3)), axis, "")
				}
			}
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				for axis := range 2 {
					o := c.operand([]int{4, 5}, "dense", pick(-1, 0, 1))
					for range 2 {
						o.vals[c.rng.IntN(20)] = bad
					}
					c.upload(o.buf, o.vals)
					try(o, axis, fmtf(" holding %v", bad))
				}
			}
		})
	}
}
