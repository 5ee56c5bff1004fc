package cpu

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// scanCols is the most lines whose running sums cumSum keeps side by side
// (when the lines are adjacent in memory, a scan along an outer axis).
const scanCols = 512

// CumSum writes the inclusive cumulative sums of src along axis to the
// dense dst (reverse: from the end).
func (be *Backend) CumSum(dst, src device.Buffer, sl device.Layout, axis int, reverse bool) {
	if buf(dst).dt == device.Float64 {
		cumSum(buf(dst).f64, buf(src).f64, sl, axis, reverse)
	} else {
		cumSum(buf(dst).f32, buf(src).f32, sl, axis, reverse)
	}
}

// scanLines splits the layout sl of a scan along axis, and the dense
// destination of its shape, into the lines: the layouts of the first
// elements of the lines (the other axes) in the destination and the
// source, the length of a line and the strides along it.
func scanLines(sl device.Layout, axis int) (ld, ls device.Layout, n, dstep, sstep int) {
	dl := device.Contiguous(sl.Shape)
	var shape, ds, ss []int
	for i, d := range sl.Shape {
		if i != axis {
			shape, ds, ss = append(shape, d), append(ds, dl.Strides[i]), append(ss, sl.Strides[i])
		}
	}
	return device.Layout{Shape: shape, Strides: ds}, device.Layout{Shape: shape, Strides: ss, Offset: sl.Offset},
		sl.Shape[axis], dl.Strides[axis], sl.Strides[axis]
}

// cumSum scans each line sequentially in float64, from its first element
// (its last with reverse), rounding each running sum to T. The lines are
// split among goroutines; lines that are adjacent in memory in both
// operands (a scan along an outer axis) are scanned side by side, up to
// scanCols at a time, with the same additions in the same order.
func cumSum[T float](d, x []T, sl device.Layout, axis int, reverse bool) {
	n := sl.Shape[axis]
	total := sl.Size()
	if total == 0 {
		return
	}
	ld, ls, _, dstep, sstep := scanLines(sl, axis)
	nk := total / n
	// The scan visits positions first, first+dir, ... of each line.
	first, dir := 0, 1
	if reverse {
		first, dir = n-1, -1
	}
	w := newWalker(ld, ls)
	parallel.For(total, grain, func(lo, hi int) {
		// Line i belongs to the range holding element i*n.
		i0, i1 := (lo+n-1)/n, min((hi+n-1)/n, nk)
		if i0 >= i1 {
			return
		}
		acc := make([]float64, scanCols)
		w.walk(i0, i1, scanCols, func(_ int, offs []int, m int) {
			do, so, di, si := offs[0], offs[1], w.inner[0], w.inner[1]
			if di == 1 && si == 1 && m > 1 {
				a := acc[:m]
				clear(a)
				for k, j := 0, first; k < n; k, j = k+1, j+dir {
					src := x[so+j*sstep : so+j*sstep+m]
					dst := d[do+j*dstep : do+j*dstep+m]
					for i, v := range src {
						a[i] += float64(v)
						dst[i] = T(a[i])
					}
				}
				return
			}
			ss, ds := dir*sstep, dir*dstep
			for i := 0; i < m; i++ {
				s := 0.0
				so, do := so+i*si+first*sstep, do+i*di+first*dstep
				for range n {
					s += float64(x[so])
					d[do] = T(s)
					so += ss
					do += ds
				}
			}
		})
	})
}
