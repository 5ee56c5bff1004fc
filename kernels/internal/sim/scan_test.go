//go:build kernelsim

package sim

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The cumulative sums (module scan) against the CPU backend's CumSum. The
// one-thread-per-line kernel adds in the CPU's order and must give the
// same bits; the block kernel adds in a tree, so its sums may differ: by at
// most 1 ulp in float32 (both accumulate in double and round once) and by
// 1e-12 of the sum of the magnitudes of the terms in float64.

// scanExpect compares the scan results got with want; mag holds the
// running sums of magnitudes (nil: bitwise).
func scanExpect(t *testing.T, what string, dt device.DType, got, want, mag []float64) {
	t.Helper()
	bad := 0
	for i := range got {
		g, w := got[i], want[i]
		if ulps(dt, g, w) == 0 {
			continue
		}
		if mag != nil && (dt == device.Float32 && ulps(dt, g, w) <= 1 || math.Abs(g-w) <= 1e-12*mag[i]) {
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("%s: [%d] = %v, want %v", what, i, g, w)
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

// scanMag returns the running sums of |x| of the scan of l along axis,
// in the dense order of l's shape (l: 3-d).
func scanMag(x []float64, l device.Layout, axis int, reverse bool) []float64 {
	abs := make([]float64, len(x))
	for i, v := range x {
		abs[i] = math.Abs(v)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			abs[i] = 0
		}
	}
	out := host(device.Float64, make([]float64, l.Size()))
	be.CumSum(out, host(device.Float64, abs), l, axis, reverse)
	return hostVals(out)
}

func TestCumSumLines(t *testing.T) {
	// Input [3][2][len] padded and offset: lines of 1100 contiguous
	// elements (three tiles of 128·4, the last partial), the line axes
	// not mergeable.
	const n, pad, off = 1100, 3, 5
	l := device.Layout{Shape: []int{3, 2, n}, Strides: []int{2 * (n + pad), n + pad, 1}, Offset: off}
	x := redData(off+6*(n+pad), 21)
	x[off+1*(n+pad)+700] = math.NaN()    // line 1, second tile
	x[off+2*(n+pad)+5] = math.Inf(1)     // line 2, then -Inf in line 3
	x[off+3*(n+pad)+1000] = math.Inf(-1) // line 3
	lines := device.Layout{Shape: []int{3, 2}, Strides: []int{2 * (n + pad), n + pad}, Offset: off}
	dlines := device.Layout{Shape: []int{3, 2}, Strides: []int{2 * n, n}}
	for _, dt := range dts {
		for _, reverse := range []bool{false, true} {
			want := host(dt, make([]float64, 6*n))
			be.CumSum(want, host(dt, x), l, 2, reverse)
			mag := scanMag(x, l, 2, reverse)
			rev := int64(0)
			if reverse {
				rev = 1
			}
			for _, g := range []struct{ grid, block int }{{6, 128}, {4, 128}, {2, 64}} {
				src, dst := newDev(dt, x), newDev(dt, make([]float64, 6*n))
				name := kernels.CumSumName(dt, kernels.ScanLines)
				launch(t, name, &ScanArgs{Dst: dst.at(0), Src: src.at(0), Lines: 6, Len: n, SStride: 1, DStride: 1, Reverse: rev,
					Shape: shapeOf(lines), VS: viewOf(lines), VD: viewOf(dlines)}, [3]int{g.grid, 1, 1}, g.block)
				scanExpect(t, fmt.Sprintf("%s reverse %v grid %d block %d", name, reverse, g.grid, g.block), dt, dst.get(), hostVals(want), mag)
				src.Free()
				dst.Free()
			}
		}
	}
}

func TestCumSumCols(t *testing.T) {
	// Input [len][300] inside [len][307] at an offset, scanned along axis 0
	// (stride 307): 300 lines adjacent in memory. Also a strided line axis
	// (every other column) and a transposed view.
	const n, cols, ld, off = 40, 300, 307, 2
	x := data(off+n*ld, 31)
	cases := []struct {
		what string
		l    device.Layout
		axis int
	}{
		{"outer", device.Layout{Shape: []int{n, cols}, Strides: []int{ld, 1}, Offset: off}, 0},
		{"every-other", device.Layout{Shape: []int{n, cols / 2}, Strides: []int{ld, 2}, Offset: off}, 0},
		{"transposed", device.Layout{Shape: []int{cols, n}, Strides: []int{1, ld}, Offset: off}, 1},
	}
	for _, c := range cases {
		var lineShape, ls, ds []int
		dl := device.Contiguous(c.l.Shape)
		for i, d := range c.l.Shape {
			if i != c.axis {
				lineShape, ls, ds = append(lineShape, d), append(ls, c.l.Strides[i]), append(ds, dl.Strides[i])
			}
		}
		lines := device.Layout{Shape: lineShape, Strides: ls, Offset: c.l.Offset}
		dlines := device.Layout{Shape: lineShape, Strides: ds}
		size := c.l.Size()
		for _, dt := range dts {
			for _, reverse := range []bool{false, true} {
				want := host(dt, make([]float64, size))
				be.CumSum(want, host(dt, x), c.l, c.axis, reverse)
				rev := int64(0)
				if reverse {
					rev = 1
				}
				for _, grid := range []int{3, 1} { // every line its thread; 128 threads looping
					src, dst := newDev(dt, x), newDev(dt, make([]float64, size))
					name := kernels.CumSumName(dt, kernels.ScanCols)
					launch(t, name, &ScanArgs{Dst: dst.at(0), Src: src.at(0), Lines: int64(lines.Size()), Len: int64(c.l.Shape[c.axis]),
						SStride: int64(c.l.Strides[c.axis]), DStride: int64(dl.Strides[c.axis]), Reverse: rev,
						Shape: shapeOf(lines), VS: viewOf(lines), VD: viewOf(dlines)}, [3]int{grid, 1, 1}, 128)
					scanExpect(t, fmt.Sprintf("%s %s reverse %v grid %d", name, c.what, reverse, grid), dt, dst.get(), hostVals(want), nil)
					src.Free()
					dst.Free()
				}
			}
		}
	}
}
