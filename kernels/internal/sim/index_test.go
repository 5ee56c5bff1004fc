//go:build kernelsim

package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
	"github.com/tapegrad/tapegrad/kernels"
)

// The integer dtypes and the index kernels (module index), bitwise against
// the CPU backend.

var allDTs = []device.DType{device.Float32, device.Float64, device.Int32, device.Int64}

// anyDev is an operand of any dtype in simulated memory, set from and read
// back into a CPU buffer of that dtype.
type anyDev struct {
	*Mem
	dt device.DType
}

func newAny(b device.Buffer) anyDev {
	d := anyDev{Alloc(max(b.Len(), 1) * b.DType().Size()), b.DType()}
	raw := hostBytes(b)
	copy(d.Bytes(), raw)
	return d
}

func (d anyDev) at(i int) uintptr { return d.Addr(i * d.dt.Size()) }

// hostBytes returns the memory of a CPU buffer.
func hostBytes(b device.Buffer) []byte {
	hb := b.(device.HostBuffer)
	n := b.Len() * b.DType().Size()
	if n == 0 {
		return nil
	}
	switch b.DType() {
	case device.Float32:
		return unsafe.Slice((*byte)(unsafe.Pointer(&hb.Float32s()[0])), n)
	case device.Float64:
		return unsafe.Slice((*byte)(unsafe.Pointer(&hb.Float64s()[0])), n)
	case device.Int32:
		return unsafe.Slice((*byte)(unsafe.Pointer(&hb.Int32s()[0])), n)
	case device.BFloat16, device.Float16:
		return unsafe.Slice((*byte)(unsafe.Pointer(&hb.Uint16s()[0])), n)
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&hb.Int64s()[0])), n)
}

// hostOf returns a CPU buffer of dt holding vals converted by Copy's rules.
func hostOf(dt device.DType, vals []float64) device.Buffer {
	b, err := be.Alloc(dt, len(vals))
	if err != nil {
		panic(err)
	}
	be.Upload(b, vals)
	return b
}

// sameBytes compares the simulated memory with the CPU buffer bitwise
// (NaNs included: the conversions are the same code on both sides).
func sameBytes(t *testing.T, what string, got anyDev, want device.Buffer) {
	t.Helper()
	g, w := got.Bytes()[:len(hostBytes(want))], hostBytes(want)
	if !slices.Equal(g, w) {
		gb, wb := cpu.Wrap(make([]float64, want.Len())), cpu.Wrap(make([]float64, want.Len()))
		l := device.Contiguous([]int{want.Len()})
		gbuf, _ := be.Alloc(want.DType(), want.Len())
		copy(hostBytes(gbuf), g)
		be.Copy(gb, l, gbuf, l)
		be.Copy(wb, l, want, l)
		t.Errorf("%s: got %v, want %v", what, gb.Float64s(), wb.Float64s())
	}
}

func TestIntCopyFillArange(t *testing.T) {
	vals := []float64{2.9, -2.9, math.NaN(), math.Inf(1), math.Inf(-1), 3e9, -3e9, 1e19, -1e19, -0.5, 0,
		16777217, 4.5, 1 << 53, -(1 << 62), 7, -1, 2147483647, -2147483648}
	for len(vals) < 300 {
		vals = append(vals, math.Round(rand.NormFloat64()*1e6)/7)
	}
	dl := device.Layout{Shape: []int{3, 100}, Strides: []int{1, 3}, Offset: 2} // transposed, offset
	sl := device.Contiguous([]int{3, 100})
	for _, s := range allDTs {
		for _, d := range allDTs {
			if !s.IsInt() && !d.IsInt() {
				continue
			}
			name := kernels.CopyName(s, d)
			src := hostOf(s, vals)
			init := make([]float64, 302)
			for i := range init {
				init[i] = 5
			}
			want := hostOf(d, init)
			got := newAny(want)
			gs := newAny(src)
			launch(t, name, &CopyArgs{Dst: got.at(0), Src: gs.at(0), Shape: shapeOf(sl), VD: viewOf(dl), VS: viewOf(sl)}, ewGrid, ewBlock)
			be.Copy(want, dl, src, sl)
			sameBytes(t, name, got, want)
			got.Free()
			gs.Free()
		}
	}
	for _, dt := range []device.DType{device.Int32, device.Int64} {
		for _, v := range []float64{-3.7, 5, 1e30, -1e30, math.NaN()} {
			want := hostOf(dt, make([]float64, 302))
			got := newAny(want)
			launch(t, kernels.FillName(dt, true), &FillArgs{Dst: got.at(0), V: v, Shape: shapeOf(dl), VD: viewOf(dl)}, ewGrid, ewBlock)
			be.Fill(want, dl, v)
			sameBytes(t, fmt.Sprintf("%s %v", kernels.FillName(dt, true), v), got, want)
			got.Free()
		}
		for _, c := range [][2]float64{{5, -3}, {-1000, 7}, {1 << 53, 1}, {1 << 40, 1 << 40}} {
			const n = 1001
			want := hostOf(dt, make([]float64, n))
			got := newAny(want)
			launch(t, kernels.ArangeName(dt), &ArangeArgs{Dst: got.at(0), N: n, Start: c[0], Step: c[1]}, ewGrid, ewBlock)
			be.Arange(want, n, c[0], c[1])
			sameBytes(t, fmt.Sprintf("%s %v", kernels.ArangeName(dt), c), got, want)
			got.Free()
		}
	}
}

func TestGatherScatterAdd(t *testing.T) {
	type geom struct {
		outer, n, m, inner int
		along              bool
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, gm := range []geom{{3, 5, 7, 4, false}, {1, 40, 300, 33, false}, {40, 9, 11, 1, false},
		{3, 5, 4, 6, true}, {17, 12, 13, 9, true}, {2, 3, 0, 4, false}, {1, 3, 2000, 2, false}} {
		g := device.GatherGeom{Outer: gm.outer, N: gm.n, M: gm.m, Inner: gm.inner, IdxStrides: [3]int{0, 1, 0}}
		nidx := gm.m
		if gm.along {
			g.IdxStrides = [3]int{gm.m * gm.inner, gm.inner, 1}
			nidx = gm.outer * gm.m * gm.inner
		}
		for _, it := range []device.DType{device.Int32, device.Int64} {
			iv := make([]float64, nidx)
			for i := range iv {
				iv[i] = float64(r.IntN(gm.n))
			}
			idx := hostOf(it, iv)
			gi := newAny(idx)
			ns, nd := gm.outer*gm.n*gm.inner, gm.outer*gm.m*gm.inner
			args := func(dst, src uintptr) *GatherArgs {
				return &GatherArgs{Dst: dst, Src: src, Idx: gi.at(0), Outer: int64(gm.outer), N: int64(gm.n), M: int64(gm.m),
					Inner: int64(gm.inner), IS0: int64(g.IdxStrides[0]), IS1: int64(g.IdxStrides[1]), IS2: int64(g.IdxStrides[2])}
			}
			for _, dt := range allDTs {
				name := kernels.GatherName(dt, it) + fmt.Sprintf(" %v", gm)
				src := hostOf(dt, data(ns, uint64(ns)))
				want := hostOf(dt, make([]float64, nd))
				got, gs := newAny(want), newAny(src)
				launch(t, kernels.GatherName(dt, it), args(got.at(0), gs.at(0)), ewGrid, ewBlock)
				be.Gather(want, src, idx, g)
				sameBytes(t, name, got, want)
				got.Free()
				gs.Free()
			}
			for _, dt := range dts {
				for _, owner := range []bool{false, true} {
					if owner && gm.along {
						continue
					}
					kname := kernels.ScatterAddName(dt, it, owner)
					src := hostOf(dt, data(nd, uint64(nd)+1))
					want := hostOf(dt, make([]float64, ns))
					init := make([]float64, ns)
					for i := range init {
						init[i] = 9 // overwritten
					}
					got, gs := newAny(hostOf(dt, init)), newAny(src)
					launch(t, kname, args(got.at(0), gs.at(0)), ewGrid, ewBlock)
					be.ScatterAdd(want, src, idx, g)
					sameBytes(t, kname+fmt.Sprintf(" %v", gm), got, want)
					got.Free()
					gs.Free()
				}
			}
			gi.Free()
		}
	}
}

// TestCompareInt runs the integer comparisons on a column against a
// transposed, offset matrix (both broadcast), values close to each other
// at 2⁵³ where float64 would merge them.
func TestCompareInt(t *testing.T) {
	const n = 23
	for _, dt := range []device.DType{device.Int32, device.Int64} {
		var a, b []int64
		for i := range n {
			a = append(a, int64(i%5)-2)
			b = append(b, int64(i%3)-1)
		}
		if dt == device.Int64 {
			a[3], a[4], b[5] = 1<<53, 1<<53+1, 1<<53+1
		}
		ha, err := be.Alloc(dt, n)
		if err != nil {
			t.Fatal(err)
		}
		hb, _ := be.Alloc(dt, 2*n)
		be.Upload(ha, a)
		be.Upload(hb, append(slices.Clone(b), b...))
		al := device.Layout{Shape: []int{n, n}, Strides: []int{1, 0}}
		bl := device.Layout{Shape: []int{n, n}, Strides: []int{0, 2}, Offset: 1}
		da, db := newAny(ha), newAny(hb)
		for _, op := range kernels.CompareOps {
			name := kernels.CompareName(op, dt)
			want, _ := be.Alloc(dt, n*n)
			got := newAny(want)
			launch(t, name, &ZipStridedArgs{Dst: got.at(0), A: da.at(0), B: db.at(0), Shape: shapeOf(al), VA: viewOf(al), VB: viewOf(bl)}, ewGrid, ewBlock)
			be.Binary(op, want, ha, al, hb, bl)
			sameBytes(t, name, got, want)
			got.Free()
		}
		da.Free()
		db.Free()
	}
}
