package cpu

import (
	"math"
	"sync"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// The half kernels: Backend implements device.HalfKernels, so that
// device.WithHalf hands it the elementwise methods and Reduce on bfloat16
// and float16 buffers rather than widening whole operands into float32
// scratch buffers. The work is cut into blocks of halfBlock elements that
// stay in the L1 cache: each operand's block is widened into a float32
// block (halfconv.go), the float32 kernel of the operation (the same
// functions, assembly or Go, that the float32 methods run, on the same
// kernel variant: dense, or one operand a broadcast value) computes a
// float32 block, and that is rounded into the destination, to nearest
// even. So every result is bit for bit the scratch path's, reading 2 bytes
// and writing 2 bytes an element. Blocks are split across goroutines as
// the float32 methods split their elements; each goroutine takes its
// blocks from a pool (no allocation per call once warm).

// halfBlock is the number of elements of a block (4 KiB of float32).
const halfBlock = 1024

// halfBlocks are the float32 blocks of one goroutine.
type halfBlocks struct{ a, b, c [halfBlock]float32 }

var halfBlockPool = sync.Pool{New: func() any { return new(halfBlocks) }}

// sameHalf returns the half dtype of the buffers if they all have that
// one dtype.
func sameHalf(bs ...device.Buffer) (device.DType, bool) {
	dt := bs[0].DType()
	if !dt.IsHalf() {
		return dt, false
	}
	for _, b := range bs[1:] {
		if b.DType() != dt {
			return dt, false
		}
	}
	return dt, true
}

// forBlocks calls fn for consecutive blocks [lo, hi) of at most halfBlock
// elements covering [0, n), split across goroutines as the float32
// methods split n elements, with the goroutine's float32 blocks.
func forBlocks(n int, fn func(lo, hi int, s *halfBlocks)) {
	run := func(lo, hi int) {
		s := halfBlockPool.Get().(*halfBlocks)
		for b := lo; b < hi; b += halfBlock {
			fn(b, min(b+halfBlock, hi), s)
		}
		halfBlockPool.Put(s)
	}
	if n < 2*grain {
		if n > 0 {
			run(0, n)
		}
		return
	}
	parallel.For(n, grain, run)
}

// halfMap1 writes f(widened src) to the dense d, rounded, for the source
// layout sl: f maps a float32 block to a float32 block of the same length.
func halfMap1(dt device.DType, d, x []uint16, sl device.Layout, f func(out, in []float32)) {
	n := sl.Size()
	d = d[:n]
	if sl.IsContiguous() {
		x = x[sl.Offset : sl.Offset+n]
		forBlocks(n, func(lo, hi int, s *halfBlocks) {
			in, out := s.a[:hi-lo], s.b[:hi-lo]
			widenHalf(dt, in, x[lo:hi])
			f(out, in)
			narrowHalf(dt, d[lo:hi], out)
		})
		return
	}
	w := newWalker(sl)
	forBlocks(n, func(lo, hi int, s *halfBlocks) {
		in, out := s.a[:hi-lo], s.b[:hi-lo]
		w.walk(lo, hi, halfBlock, func(pos int, offs []int, m int) {
			widenStrided(dt, in[pos-lo:pos-lo+m], x, offs[0], w.inner[0])
		})
		f(out, in)
		narrowHalf(dt, d[lo:hi], out)
	})
}

// HalfUnary writes op(src) to dst for half buffers of one dtype (see
// device.HalfKernels): the float32 kernel on blocks widened from src,
// rounded into dst.
func (be *Backend) HalfUnary(op device.UnaryOp, dst, src device.Buffer, sl device.Layout) bool {
	dt, ok := sameHalf(dst, src)
	if !ok || int(op) >= device.NumUnaryOps {
		return false
	}
	halfMap1(dt, buf(dst).u16, buf(src).u16, sl, func(out, in []float32) { unaryKernel(op, out, in, cached) })
	return true
}

// HalfScalar writes op(src, v) to dst for half buffers of one dtype, v
// rounded to float32 as the float32 Scalar rounds it.
func (be *Backend) HalfScalar(op device.ScalarOp, dst, src device.Buffer, sl device.Layout, v float64) bool {
	dt, ok := sameHalf(dst, src)
	if !ok || int(op) >= device.NumScalarOps {
		return false
	}
	s := float32(v)
	halfMap1(dt, buf(dst).u16, buf(src).u16, sl, func(out, in []float32) { scalarKernel(op, out, in, s, cached) })
	return true
}

// The kernel variants of a binary operation, chosen as the float32 binary
// chooses them: both operands runs (VV), or one of them a single value
// for a whole run (VS: the second, SV: the first).
const (
	kindVV = iota
	kindVS
	kindSV
)

// HalfBinary writes op(a, b) to dst for half buffers of one dtype. Each
// element goes through the kernel variant (both operands runs, or one a
// broadcast value) that the float32 Binary uses for the same layouts.
func (be *Backend) HalfBinary(op device.BinaryOp, dst, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout) bool {
	dt, ok := sameHalf(dst, a, b)
	if !ok || int(op) >= device.NumBinaryOps {
		return false
	}
	d, x, y := buf(dst).u16, buf(a).u16, buf(b).u16
	n := al.Size()
	d = d[:n]
	aC, bC := al.IsContiguous(), bl.IsContiguous()
	switch {
	case aC && bC:
		x, y = x[al.Offset:al.Offset+n], y[bl.Offset:bl.Offset+n]
		forBlocks(n, func(lo, hi int, s *halfBlocks) {
			m := hi - lo
			av, bv, out := s.a[:m], s.b[:m], s.c[:m]
			widenHalf(dt, av, x[lo:hi])
			widenHalf(dt, bv, y[lo:hi])
			binaryVV(op, out, av, bv, cached)
			narrowHalf(dt, d[lo:hi], out)
		})
		return true
	case aC && bl.IsScalarBroadcast():
		x, v := x[al.Offset:al.Offset+n], device.HalfToFloat32(dt, y[bl.Offset])
		forBlocks(n, func(lo, hi int, s *halfBlocks) {
			m := hi - lo
			av, out := s.a[:m], s.c[:m]
			widenHalf(dt, av, x[lo:hi])
			binaryVS(op, out, av, v, cached)
			narrowHalf(dt, d[lo:hi], out)
		})
		return true
	case bC && al.IsScalarBroadcast():
		v, y := device.HalfToFloat32(dt, x[al.Offset]), y[bl.Offset:bl.Offset+n]
		forBlocks(n, func(lo, hi int, s *halfBlocks) {
			m := hi - lo
			bv, out := s.b[:m], s.c[:m]
			widenHalf(dt, bv, y[lo:hi])
			binarySV(op, out, v, bv, cached)
			narrowHalf(dt, d[lo:hi], out)
		})
		return true
	}
	w := newWalker(al, bl)
	sa, sb := w.inner[0], w.inner[1]
	kind := kindVV
	switch {
	case sa == 1 && sb == 1:
	case sb == 0:
		kind = kindVS
	case sa == 0:
		kind = kindSV
	}
	forBlocks(n, func(lo, hi int, s *halfBlocks) {
		m := hi - lo
		av, bv, out := s.a[:m], s.b[:m], s.c[:m]
		w.walk(lo, hi, halfBlock, func(pos int, offs []int, m int) {
			i := pos - lo
			switch kind {
			case kindVV:
				widenStrided(dt, av[i:i+m], x, offs[0], sa)
				widenStrided(dt, bv[i:i+m], y, offs[1], sb)
			case kindVS:
				widenStrided(dt, av[i:i+m], x, offs[0], sa)
				binaryVS(op, out[i:i+m], av[i:i+m], device.HalfToFloat32(dt, y[offs[1]]), cached)
			default:
				widenStrided(dt, bv[i:i+m], y, offs[1], sb)
				binarySV(op, out[i:i+m], device.HalfToFloat32(dt, x[offs[0]]), bv[i:i+m], cached)
			}
		})
		if kind == kindVV {
			binaryVV(op, out, av, bv, cached)
		}
		narrowHalf(dt, d[lo:hi], out)
	})
	return true
}

// HalfAddScaled writes alpha·a + beta·b to dst for half buffers of one
// dtype, alpha and beta rounded to float32 as the float32 AddScaled
// rounds them.
func (be *Backend) HalfAddScaled(dst, a device.Buffer, al device.Layout, alpha float64, b device.Buffer, bl device.Layout, beta float64) bool {
	dt, ok := sameHalf(dst, a, b)
	if !ok {
		return false
	}
	d, x, y := buf(dst).u16, buf(a).u16, buf(b).u16
	n := al.Size()
	d = d[:n]
	al32, be32 := float32(alpha), float32(beta)
	if al.IsContiguous() && bl.IsContiguous() {
		x, y = x[al.Offset:al.Offset+n], y[bl.Offset:bl.Offset+n]
		forBlocks(n, func(lo, hi int, s *halfBlocks) {
			m := hi - lo
			av, bv, out := s.a[:m], s.b[:m], s.c[:m]
			widenHalf(dt, av, x[lo:hi])
			widenHalf(dt, bv, y[lo:hi])
			addScaledKernel(out, av, bv, al32, be32, cached)
			narrowHalf(dt, d[lo:hi], out)
		})
		return true
	}
	w := newWalker(al, bl)
	forBlocks(n, func(lo, hi int, s *halfBlocks) {
		m := hi - lo
		av, bv, out := s.a[:m], s.b[:m], s.c[:m]
		w.walk(lo, hi, halfBlock, func(pos int, offs []int, m int) {
			i := pos - lo
			widenStrided(dt, av[i:i+m], x, offs[0], w.inner[0])
			widenStrided(dt, bv[i:i+m], y, offs[1], w.inner[1])
		})
		addScaledKernel(out, av, bv, al32, be32, cached)
		narrowHalf(dt, d[lo:hi], out)
	})
	return true
}

// halfRows is a goroutine's float32 copy of the rows of a half reduction:
// up to 2·chunk elements, the longest row reduced in one piece.
type halfRows struct{ v [2 * chunk]float32 }

var halfRowsPool = sync.Pool{New: func() any { return new(halfRows) }}

// HalfReduce reduces src over axes into dst for half buffers of one
// dtype. It follows the float32 Reduce step by step (the same split into
// runs, chunks and row batches, the same float64 accumulators in the same
// order) on float32 copies of pieces of src that fit in the caches, and
// rounds each result as the scratch path does: the float64 accumulator
// to float32 (the float32 Reduce's result), that to dst's dtype. So the
// bits are the scratch path's (a double rounding, which differs from
// rounding the accumulator once only where the float32 value falls
// exactly halfway between two half values).
func (be *Backend) HalfReduce(op device.ReduceOp, dst, src device.Buffer, sl device.Layout, axes []int) bool {
	dt, ok := sameHalf(dst, src)
	if !ok || op >= device.ReduceOp(device.NumReduceOps) {
		return false
	}
	d, x := buf(dst).u16, buf(src).u16
	keep, red := device.SplitAxes(sl, axes)
	nk, nr := keep.Size(), red.Size()
	d = d[:nk]
	if nk == 0 {
		return true
	}
	if nr == 0 {
		v := float32(0)
		switch op {
		case device.Mean, device.Max, device.Min:
			v = float32(math.NaN())
		}
		h := device.HalfFromFloat32(dt, v)
		for i := range d {
			d[i] = h
		}
		return true
	}
	switch {
	case len(red.Shape) == 1 && red.Strides[0] == 1:
		halfReduceInner(op, dt, d, x, keep, nr)
	case len(keep.Shape) == 1 && keep.Strides[0] == 1 && nk > 1:
		halfReduceOuter(op, dt, d, x, keep.Offset, red, nk)
	default:
		// As reduce: a dense copy, kept axes first, reduced axes last
		// (of the half bits, unconverted), then contiguous runs.
		pl := keptFirst(sl, axes)
		tmp := make([]uint16, nk*nr)
		walkHalf(device.Contiguous(pl.Shape), pl, func(do, ds, so, ss, m int) { halfToHalf(dt, tmp, do, ds, dt, x, so, ss, m) })
		halfReduceInner(op, dt, d, tmp, device.Layout{Shape: []int{nk}, Strides: []int{nr}}, nr)
	}
	return true
}

// halfResult rounds the float32 result of a reduction from its
// accumulator to the half dtype dt, as the scratch path does.
func halfResult(op device.ReduceOp, dt device.DType, acc float64, n int) uint16 {
	return device.HalfFromFloat32(dt, float32(finish(op, acc, n)))
}

// halfReduceInner is reduceInner for half data: every run's accumulator
// is runReduce's of the run widened (for long runs, of each fixed chunk
// widened, combined in order).
func halfReduceInner(op device.ReduceOp, dt device.DType, d, x []uint16, keep device.Layout, nr int) {
	nk := len(d)
	offs := make([]int, nk)
	w := newWalker(keep)
	w.walk(0, nk, nk, func(pos int, o []int, m int) {
		off := o[0]
		for i := 0; i < m; i++ {
			offs[pos+i] = off
			off += w.inner[0]
		}
	})
	if nr >= 2*chunk {
		// Few long runs: split each run into fixed chunks.
		nc := (nr + chunk - 1) / chunk
		part := make([]float64, nc)
		for i, off := range offs {
			parallel.Chunks(nc, func(c int) {
				lo, hi := c*chunk, min((c+1)*chunk, nr)
				t := halfRowsPool.Get().(*halfRows)
				v := t.v[:hi-lo]
				widenHalf(dt, v, x[off+lo:off+hi])
				part[c] = runReduce(op, v)
				halfRowsPool.Put(t)
			})
			d[i] = halfResult(op, dt, combine(op, part), nr)
		}
		return
	}
	parallel.For(nk*nr, grain, func(lo, hi int) {
		i0, i1 := (lo+nr-1)/nr, min((hi+nr-1)/nr, nk)
		t := halfRowsPool.Get().(*halfRows)
		defer halfRowsPool.Put(t)
		if (op == device.Sum || op == device.Mean || op == device.Norm2) && nr < splitMin {
			// Four rows side by side, as reduceInner reads them; each
			// row's result is runReduce's.
			sq := op == device.Norm2
			for i := i0; i < i1; i += 4 {
				var runs [4][]float32
				k := min(4, i1-i)
				for j := range k {
					v := t.v[j*nr : (j+1)*nr]
					widenHalf(dt, v, x[offs[i+j]:offs[i+j]+nr])
					runs[j] = v
				}
				s := sumLanes4(&runs, sq)
				for j := range k {
					d[i+j] = halfResult(op, dt, s[j], nr)
				}
			}
			return
		}
		for i := i0; i < i1; i++ {
			v := t.v[:nr]
			widenHalf(dt, v, x[offs[i]:offs[i]+nr])
			d[i] = halfResult(op, dt, runReduce(op, v), nr)
		}
	})
}

// Row batches of halfReduceOuter: halfColRows rows (a multiple of four,
// so that colSums groups them as it groups all the rows) of halfColWidth
// columns widened at a time, 16 KiB of float32.
const (
	halfColRows  = 16
	halfColWidth = 256
)

// halfReduceOuter is reduceOuter for half data, with the plan of float32
// data: the columns of a batch of rows are widened into a float32 block,
// which colSums (Max, Min: their loop) adds into the accumulators in the
// order in which it adds all the rows.
func halfReduceOuter(op device.ReduceOp, dt device.DType, d, x []uint16, base int, red device.Layout, nk int) {
	rowOffs := outerRows(base, red)
	nr := len(rowOffs)
	cols := func(lo, hi int, rows []int) []float64 {
		acc := make([]float64, hi-lo)
		t := halfRowsPool.Get().(*halfRows)
		defer halfRowsPool.Put(t)
		var boff [halfColRows]int
		for c0 := lo; c0 < hi; c0 += halfColWidth {
			c1 := min(c0+halfColWidth, hi)
			a, w := acc[c0-lo:c1-lo], c1-c0
			switch op {
			case device.Max, device.Min:
				v := t.v[:w]
				for k, r := range rows {
					widenHalf(dt, v, x[r+c0:r+c1])
					if k == 0 {
						for j, f := range v {
							a[j] = float64(f)
						}
						continue
					}
					extremeInto(op, a, v)
				}
			default:
				for r0 := 0; r0 < len(rows); r0 += halfColRows {
					batch := rows[r0:min(r0+halfColRows, len(rows))]
					for k, r := range batch {
						widenHalf(dt, t.v[k*w:(k+1)*w], x[r+c0:r+c1])
						boff[k] = k * w
					}
					colSums(a, t.v[:len(batch)*w], boff[:len(batch)], 0, op == device.Norm2)
				}
			}
		}
		return acc
	}
	outerPlan(op, nk, 4, rowOffs, cols, func(lo int, acc []float64) {
		for j, v := range acc {
			d[lo+j] = halfResult(op, dt, v, nr)
		}
	})
}
