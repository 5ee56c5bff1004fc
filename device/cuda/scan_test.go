package cuda

import (
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// TestCumSumPlans checks, on the fake driver, which scan kernel CumSum
// launches for each kind of layout and the arguments it packs: lines,
// their length, the strides along them, the reverse flag, and the offsets
// of the lines in the source and the dense destination.
func TestCumSumPlans(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		x := alloc(t, b, dt, 1<<16)
		out := alloc(t, b, dt, 1<<16)
		for _, c := range []struct {
			what    string
			l       device.Layout
			axis    int
			reverse bool
			mode    kernels.ScanMode
			lines   int64
			sst     int64
			dst     int64
			grid    uint32
		}{
			// Along the innermost axis: one block per line.
			{"inner", device.Contiguous([]int{3, 5, 70}), 2, false, kernels.ScanLines, 15, 1, 1, 15},
			// Along an outer axis with few lines: still one block per line.
			{"outer-few", device.Contiguous([]int{70, 8}), 0, true, kernels.ScanLines, 8, 8, 8, 8},
			// Along an outer axis with many lines adjacent in memory: one
			// thread per line.
			{"outer-many", device.Contiguous([]int{16, 2048}), 0, false, kernels.ScanCols, 2048, 2048, 2048, 8},
			{"middle-many", device.Contiguous([]int{4, 9, 1024}), 1, true, kernels.ScanCols, 4096, 1024, 1024, 16},
			// Transposed: the scan axis has stride 1 in memory, the lines
			// do not: one block per line, whatever their number.
			{"transposed", device.Layout{Shape: []int{2048, 16}, Strides: []int{1, 2048}}, 0, false, kernels.ScanLines, 16, 1, 16, 16},
			{"transposed-many", device.Layout{Shape: []int{4096, 1024}, Strides: []int{1, 4096}}, 0, false, kernels.ScanLines, 1024, 1, 1024, 1024},
			// Transposed the other way: the lines are adjacent in memory.
			{"transposed-cols", device.Layout{Shape: []int{2048, 16}, Strides: []int{1, 2048}}, 1, false, kernels.ScanCols, 2048, 2048, 1, 8},
			// 1-d: one line.
			{"1d", device.Contiguous([]int{5000}), 0, true, kernels.ScanLines, 1, 1, 1, 1},
		} {
			b.CumSum(out, x, c.l, c.axis, c.reverse)
			l := lastLaunch(t, ctx)
			a := decode[scanArgs](l)
			want := kernels.CumSumName(dt, c.mode)
			rev := int64(0)
			if c.reverse {
				rev = 1
			}
			if l.name != want || a.Lines != c.lines || a.Len != int64(c.l.Shape[c.axis]) || a.SStride != c.sst || a.DStride != c.dst ||
				a.Reverse != rev || a.Shape.N != c.lines || a.Src != x.ptr || a.Dst != out.ptr || l.grid[0] != c.grid || l.block != block1D {
				t.Errorf("%s %v: launched %s grid %v with %+v, want %s, %d lines, strides %d/%d, grid %d", c.what, dt, l.name, l.grid, a, want, c.lines, c.sst, c.dst, c.grid)
			}
		}
		// The line offsets: lines of [4, 9, 1024] along axis 1 are the
		// merged [4, 1024] positions, at strides 9·1024 and 1 in both.
		b.CumSum(out, x, device.Layout{Shape: []int{4, 9, 1024}, Strides: []int{9 * 1024, 1024, 1}, Offset: 7}, 1, false)
		a := decode[scanArgs](lastLaunch(t, ctx))
		if a.Shape.NDim != 2 || a.Shape.Shape[0] != 4 || a.Shape.Shape[1] != 1024 || a.VS.Offset != 7 || a.VD.Offset != 0 ||
			a.VS.Strides[0] != 9*1024 || a.VS.Strides[1] != 1 || a.VD.Strides[0] != 9*1024 || a.VD.Strides[1] != 1 {
			t.Errorf("line layout %+v", a)
		}
		// Nothing to scan: no launch.
		k := len(ctx.launches)
		b.CumSum(out, x, device.Contiguous([]int{3, 0}), 1, false)
		b.CumSum(out, x, device.Contiguous([]int{0, 3}), 1, false)
		if len(ctx.launches) != k {
			t.Errorf("empty scans launched %d kernels", len(ctx.launches)-k)
		}
	}
	// Too many axes after merging: the error surfaces at the next
	// synchronisation, naming the kernel.
	x := alloc(t, b, device.Float32, 1<<12)
	shape := []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}
	strides := make([]int, len(shape))
	for i := range strides {
		strides[i] = 1 << (2 * (len(shape) - i)) // gaps between the elements: nothing merges
	}
	b.CumSum(x, x, device.Layout{Shape: shape, Strides: strides}, 0, false)
	if err := b.Synchronize(); err == nil {
		t.Error("a scan over 9 unmergeable line axes reported no error")
	}
}
