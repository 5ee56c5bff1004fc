package cuda

import (
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// TestIndexPlans checks, on the fake driver, the kernels of the integer
// dtypes and the index operations and the arguments they pack.
func TestIndexPlans(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	dts := []device.DType{device.Float32, device.Float64, device.Int32, device.Int64}
	// Copies with an integer side go through module index's strided
	// kernels, dense or not; same-dtype dense copies are memcpys.
	for _, s := range dts {
		for _, d := range dts {
			if !s.IsInt() && !d.IsInt() {
				continue
			}
			src, dst := alloc(t, b, s, 64), alloc(t, b, d, 64)
			k := len(ctx.launches)
			b.Copy(dst, device.Contiguous([]int{8, 8}), src, device.Layout{Shape: []int{8, 8}, Strides: []int{1, 8}})
			l := lastLaunch(t, ctx)
			if l.name != kernels.CopyName(s, d) {
				t.Errorf("strided copy %v to %v launched %s", s, d, l.name)
			}
			b.Copy(dst, device.Contiguous([]int{64}), src, device.Contiguous([]int{64}))
			switch {
			case s == d && len(ctx.launches) != k+1:
				t.Errorf("dense %v copy launched a kernel", s)
			case s != d && lastLaunch(t, ctx).name != kernels.CopyName(s, d):
				t.Errorf("dense copy %v to %v launched %s", s, d, lastLaunch(t, ctx).name)
			}
		}
	}
	for _, it := range []device.DType{device.Int32, device.Int64} {
		x := alloc(t, b, it, 100)
		b.Fill(x, device.Contiguous([]int{100}), -3.5)
		l := lastLaunch(t, ctx)
		if a := decode[fillArgs](l); l.name != kernels.FillName(it, true) || a.V != -3.5 || a.Shape.N != 100 {
			t.Errorf("Fill %v: %s %+v", it, l.name, a)
		}
		b.Arange(x, 100, 5, -2)
		l = lastLaunch(t, ctx)
		if a := decode[arangeArgs](l); l.name != kernels.ArangeName(it) || a.N != 100 || a.Start != 5 || a.Step != -2 {
			t.Errorf("Arange %v: %s %+v", it, l.name, a)
		}
		// Uploads of every host type convert on the host: the device
		// memory holds the dtype's bytes (the fake driver runs no
		// kernels, so read back in the buffer's own dtype).
		b.Upload(x, []float64{1.9, -2.9, 7})
		var got []int64
		if it == device.Int32 {
			g := make([]int32, 3)
			if err := b.Download(g, x, device.Contiguous([]int{3})); err != nil {
				t.Fatal(err)
			}
			got = []int64{int64(g[0]), int64(g[1]), int64(g[2])}
		} else {
			got = make([]int64, 3)
			if err := b.Download(got, x, device.Contiguous([]int{3})); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(got, []int64{1, -2, 7}) {
			t.Errorf("%v upload of floats: %v", it, got)
		}
	}
	// Integer comparisons: module index's strided kernel, whatever the
	// layouts; other binary ops on integers fail.
	for _, it := range []device.DType{device.Int32, device.Int64} {
		x, y, d := alloc(t, b, it, 12), alloc(t, b, it, 4), alloc(t, b, it, 12)
		for _, op := range kernels.CompareOps {
			b.Binary(op, d, x, device.Contiguous([]int{3, 4}), y, device.Layout{Shape: []int{3, 4}, Strides: []int{0, 1}})
			l := lastLaunch(t, ctx)
			if a := decode[zipStridedArgs](l); l.name != kernels.CompareName(op, it) || a.Shape.N != 12 || a.VB.Strides[0] != 0 {
				t.Errorf("Binary %v %v: %s %+v", op, it, l.name, a)
			}
		}
		k := len(ctx.launches)
		b.Binary(device.Add, d, x, device.Contiguous([]int{4}), x, device.Contiguous([]int{4}))
		if len(ctx.launches) != k || b.Synchronize() == nil {
			t.Errorf("Add on %v: launched a kernel or no error", it)
		}
	}
	// Gather: one thread per output element, offsets applied to the
	// pointers.
	for _, dt := range dts {
		for _, it := range []device.DType{device.Int32, device.Int64} {
			src, idx, dst := alloc(t, b, dt, 1000), alloc(t, b, it, 100), alloc(t, b, dt, 1000)
			g := device.GatherGeom{Outer: 2, N: 10, M: 7, Inner: 3, IdxStrides: [3]int{0, 1, 0}, SrcOffset: 5, IdxOffset: 2}
			b.Gather(dst, src, idx, g)
			l := lastLaunch(t, ctx)
			a := decode[gatherArgs](l)
			if l.name != kernels.GatherName(dt, it) || a.Src != src.at(5) || a.Idx != idx.at(2) || a.Dst != dst.ptr ||
				a.Outer != 2 || a.N != 10 || a.M != 7 || a.Inner != 3 || a.IS1 != 1 || a.IS0 != 0 || l.grid[0] != 1 {
				t.Errorf("Gather %v/%v: %s grid %v %+v", dt, it, l.name, l.grid, a)
			}
		}
	}
	// ScatterAdd: the owner plan for index-select geometries with few
	// lines, the line plan otherwise.
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		src, idx, dst := alloc(t, b, dt, 1<<16), alloc(t, b, device.Int64, 1<<16), alloc(t, b, dt, 1<<16)
		for _, c := range []struct {
			g     device.GatherGeom
			owner bool
		}{
			{device.GatherGeom{Outer: 1, N: 114, M: 4096, Inner: 128, IdxStrides: [3]int{0, 1, 0}}, true},
			{device.GatherGeom{Outer: 4, N: 5, M: 6, Inner: 7, IdxStrides: [3]int{42, 7, 1}}, false},
			{device.GatherGeom{Outer: 1, N: 50000, M: 8192, Inner: 768, IdxStrides: [3]int{0, 1, 0}}, false},
		} {
			b.ScatterAdd(dst, src, idx, c.g)
			l := lastLaunch(t, ctx)
			if want := kernels.ScatterAddName(dt, device.Int64, c.owner); l.name != want {
				t.Errorf("ScatterAdd %+v: launched %s, want %s", c.g, l.name, want)
			}
		}
		k := len(ctx.launches)
		b.ScatterAdd(dst, src, idx, device.GatherGeom{Outer: 3, N: 0, M: 5, Inner: 2})
		b.Gather(dst, src, idx, device.GatherGeom{Outer: 3, N: 4, M: 0, Inner: 2})
		if len(ctx.launches) != k {
			t.Errorf("empty index operations launched %d kernels", len(ctx.launches)-k)
		}
	}
	// ArgReduce writes int64 through the kernel of the source's dtype.
	src, dst := alloc(t, b, device.Float64, 100), alloc(t, b, device.Int64, 10)
	b.ArgReduce(device.ArgMax, dst, src, device.Contiguous([]int{10, 10}), 1)
	if l := lastLaunch(t, ctx); l.name != kernels.ArgReduceName(device.ArgMax, device.Float64) {
		t.Errorf("ArgReduce of float64 launched %s", l.name)
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}
