package devicetest

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// referenceCumSum returns the inclusive cumulative sums of o along axis
// (from the end with reverse), in float64, in the row-major order of o's
// shape, with the sums of the magnitudes of their terms.
func referenceCumSum(o operand, axis int, reverse bool) (want, mag []float64) {
	shape := o.l.Shape
	n := device.NumElements(shape)
	want, mag = make([]float64, n), make([]float64, n)
	dense := device.Contiguous(shape)
	var kshape []int
	for i, d := range shape {
		if i != axis {
			kshape = append(kshape, d)
		}
	}
	idx := make([]int, len(shape))
	each(kshape, func(k []int) {
		copy(idx[:axis], k[:axis])
		copy(idx[axis+1:], k[axis:])
		s, m := 0.0, 0.0
		for jj := 0; jj < shape[axis]; jj++ {
			j := jj
			if reverse {
				j = shape[axis] - 1 - jj
			}
			idx[axis] = j
			x := o.at(idx)
			s += x
			m += math.Abs(x)
			p := pos(dense, idx)
			want[p], mag[p] = s, m
		}
	})
	return want, mag
}

func testCumSum(c *tc) {
	for _, reverse := range []bool{false, true} {
		name := "forward"
		if reverse {
			name = "reverse"
		}
		c.run(name, func(c *tc) {
			try := func(o operand, axis int, what string) {
				want, mag := referenceCumSum(o, axis, reverse)
				n := len(want)
				out := c.output(n)
				c.be.CumSum(out, o.buf, o.l, axis, reverse)
				got := c.result("CumSum", out, n)
				what = fmtf("CumSum along %d (reverse %v) of %v%s", axis, reverse, o.l, what)
				if !c.check(what, got, want, mag, c.tol.Reduction) {
					return
				}
				out2 := c.output(n)
				c.be.CumSum(out2, o.buf, o.l, axis, reverse)
				again := c.result("CumSum", out2, n)
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(again[i]) && !(math.IsNaN(got[i]) && math.IsNaN(again[i])) {
						c.t.Errorf("%s: element %d is %v, then %v on a second run", what, i, got[i], again[i])
						break
					}
				}
			}
			for _, shape := range append(reduceShapes(c), []int{0, 3}, []int{3, 0}, []int{2, 0, 4}) {
				for axis := range shape {
					kind := viewKinds[c.rng.IntN(len(viewKinds))]
					try(c.operand(shape, kind, uni(-3, 3)), axis, "")
				}
			}
			// Long lines, many lines, and many lines adjacent in memory,
			// past the sizes at which a backend changes its plan; a line
			// longer than the tiles a block scans at once.
			for _, tc := range []struct {
				shape []int
				axis  int
			}{{[]int{140000}, 0}, {[]int{2, 20000}, 1}, {[]int{20000, 2}, 0}, {[]int{7, 3000}, 0}, {[]int{3, 5, 1100}, 1}, {[]int{1100, 9}, 1}} {
				for _, kind := range []string{"dense", "permuted"} {
					try(c.operand(tc.shape, kind, uni(-3, 3)), tc.axis, " (large)")
				}
			}
			// NaN and infinities propagate to the sums after them.
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				for axis := range 2 {
					o := c.operand([]int{3, 5}, "dense", uni(-3, 3))
					o.vals[c.rng.IntN(15)] = bad
					c.upload(o.buf, o.vals)
					try(o, axis, fmtf(" holding %v", bad))
				}
			}
		})
	}
}
