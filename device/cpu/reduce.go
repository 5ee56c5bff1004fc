package cpu

import (
	"math"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// outerChunk is the number of elements of the fixed row chunks into which
// reduceOuter splits a reduction over many rows shorter than outerRowBytes
// (8 MiB of float32).
const outerChunk = 1 << 21

// outerRowBytes is the row length from which reduceOuter splits a reduction
// by columns however many rows it has.
const outerRowBytes = 64 << 10

// outerStreams is the number of parts of a row chunk whose rows reduceOuter
// interleaves (interleaveRows).
const outerStreams = 8

// chunk is the number of elements one partial result covers when a single
// reduction is split across goroutines. It is fixed, so results do not depend
// on the number of goroutines.
const chunk = 1 << 16

// Reduce reduces src over axes and writes the result densely.
func (be *Backend) Reduce(op device.ReduceOp, dst, src device.Buffer, sl device.Layout, axes []int) {
	if buf(dst).dt == device.Float64 {
		reduce(op, buf(dst).f64, buf(src).f64, sl, axes)
	} else {
		reduce(op, buf(dst).f32, buf(src).f32, sl, axes)
	}
}

func reduce[T float](op device.ReduceOp, d, x []T, sl device.Layout, axes []int) {
	keep, red := device.SplitAxes(sl, axes)
	nk, nr := keep.Size(), red.Size()
	d = d[:nk]
	if nk == 0 {
		return
	}
	if nr == 0 {
		v := 0.0
		switch op {
		case device.Mean, device.Max, device.Min:
			v = math.NaN()
		}
		for i := range d {
			d[i] = T(v)
		}
		return
	}
	switch {
	case len(red.Shape) == 1 && red.Strides[0] == 1:
		reduceInner(op, d, x, keep, nr)
	case len(keep.Shape) == 1 && keep.Strides[0] == 1 && nk > 1:
		reduceOuter(op, d, x, keep.Offset, red, nk)
	default:
		// Gather into a dense copy ordered kept axes first, reduced axes
		// last, then reduce contiguous runs.
		pl := keptFirst(sl, axes)
		tmp := make([]T, nk*nr)
		copyStrided(tmp, device.Contiguous(pl.Shape), x, pl)
		reduceInner(op, d, tmp, device.Layout{Shape: []int{nk}, Strides: []int{nr}}, nr)
	}
}

// reduceInner reduces runs of nr contiguous elements; the run of output i
// starts at the i-th position of keep.
func reduceInner[T float](op device.ReduceOp, d, x []T, keep device.Layout, nr int) {
	nk := len(d)
	starts := func(fn func(i, off int)) {
		w := newWalker(keep)
		w.walk(0, nk, nk, func(pos int, offs []int, m int) {
			o := offs[0]
			for i := 0; i < m; i++ {
				fn(pos+i, o)
				o += w.inner[0]
			}
		})
	}
	if nr >= 2*chunk {
		// Few long runs: split each run into fixed chunks.
		nc := (nr + chunk - 1) / chunk
		starts(func(i, off int) {
			part := make([]float64, nc)
			parallel.Chunks(nc, func(c int) {
				lo, hi := c*chunk, min((c+1)*chunk, nr)
				part[c] = runReduce(op, x[off+lo:off+hi])
			})
			d[i] = T(finish(op, combine(op, part), nr))
		})
		return
	}
	offs := make([]int, nk)
	starts(func(i, off int) { offs[i] = off })
	parallel.For(nk*nr, grain, func(lo, hi int) {
		// Output i belongs to the range holding element i*nr.
		i0, i1 := (lo+nr-1)/nr, min((hi+nr-1)/nr, nk)
		if (op == device.Sum || op == device.Mean || op == device.Norm2) && nr < splitMin {
			// Rows i, i+m, i+2m and i+3m side by side: four streams through
			// memory. Each row's result is runReduce's.
			sq := op == device.Norm2
			row := func(i int) []T { return x[offs[i] : offs[i]+nr] }
			m := (i1 - i0) / 4
			for i := i0; i < i0+m; i++ {
				runs := [4][]T{row(i), row(i + m), row(i + 2*m), row(i + 3*m)}
				s := sumLanes4(&runs, sq)
				for k := range s {
					d[i+k*m] = T(finish(op, s[k], nr))
				}
			}
			if r := i0 + 4*m; r < i1 { // the last rows, fewer than four
				var runs [4][]T
				for k := range i1 - r {
					runs[k] = row(r + k)
				}
				s := sumLanes4(&runs, sq)
				for k := range i1 - r {
					d[r+k] = T(finish(op, s[k], nr))
				}
			}
			return
		}
		for i := i0; i < i1; i++ {
			d[i] = T(finish(op, runReduce(op, x[offs[i]:offs[i]+nr]), nr))
		}
	})
}

// runReduce reduces a contiguous run. Sums and sums of squares accumulate
// in float64 in the fixed order of sumLanes (8 lanes, assembly or Go).
func runReduce[T float](op device.ReduceOp, x []T) float64 {
	switch op {
	case device.Sum, device.Mean:
		return sumLanes(x, false)
	case device.Norm2:
		return sumLanes(x, true)
	case device.Max:
		m := x[0]
		for _, v := range x {
			if v > m || v != v {
				m = v
				if v != v {
					break
				}
			}
		}
		return float64(m)
	case device.Min:
		m := x[0]
		for _, v := range x {
			if v < m || v != v {
				m = v
				if v != v {
					break
				}
			}
		}
		return float64(m)
	}
	panic("cpu: unknown reduction " + op.String())
}

// combine merges partial results in order.
func combine(op device.ReduceOp, part []float64) float64 {
	r := part[0]
	for _, v := range part[1:] {
		switch op {
		case device.Max:
			r = maxT(r, v)
		case device.Min:
			r = minT(r, v)
		default:
			r += v
		}
	}
	return r
}

// finish turns an accumulated value into the result.
func finish(op device.ReduceOp, acc float64, n int) float64 {
	switch op {
	case device.Mean:
		return acc / float64(n)
	case device.Norm2:
		return math.Sqrt(acc)
	}
	return acc
}

// reduceOuter reduces over red for each of nk dense outputs whose inputs
// sit at consecutive positions (the reduced axes are outer): the rows, in
// the order of red, are added into nk accumulators by colSums (Max and Min
// by a loop of their own). The order of the additions depends on the shape
// only, not on the number of goroutines: with few rows, or rows of
// outerRowBytes and more, every output adds all the rows in order, and the
// columns are split among goroutines; with many rows they are cut into
// fixed chunks (of chunk elements for fewer than 256 columns, else of
// outerChunk elements, their rows interleaved in outerStreams parts), each
// chunk is reduced alone and the chunks' results are added in order.
func reduceOuter[T float](op device.ReduceOp, d, x []T, base int, red device.Layout, nk int) {
	rowOffs := outerRows(base, red)
	nr := len(rowOffs)
	cols := func(lo, hi int, rows []int) []float64 {
		acc := make([]float64, hi-lo)
		switch op {
		case device.Max, device.Min:
			first := x[rows[0]+lo : rows[0]+hi]
			for j, v := range first {
				acc[j] = float64(v)
			}
			for _, r := range rows[1:] {
				extremeInto(op, acc, x[r+lo:r+hi])
			}
		default:
			colSums(acc, x, rows, lo, op == device.Norm2)
		}
		return acc
	}
	outerPlan(op, nk, int(unsafe.Sizeof(T(0))), rowOffs, cols, func(lo int, acc []float64) {
		for j, v := range acc {
			d[lo+j] = T(finish(op, v, nr))
		}
	})
}

// extremeInto sets acc[j] to max(acc[j], row[j]) (Min: min) for every j.
func extremeInto[T float](op device.ReduceOp, acc []float64, row []T) {
	row = row[:len(acc)]
	if op == device.Max {
		for j, v := range row {
			acc[j] = maxT(acc[j], float64(v))
		}
		return
	}
	for j, v := range row {
		acc[j] = minT(acc[j], float64(v))
	}
}

// outerRows returns the offsets of the rows of a reduction over the outer
// axes red, in the order of red, the first at base.
func outerRows(base int, red device.Layout) []int {
	nr := red.Size()
	rowOffs := make([]int, nr)
	w := newWalker(red)
	w.walk(0, nr, nr, func(pos int, offs []int, m int) {
		o := offs[0]
		for i := 0; i < m; i++ {
			rowOffs[pos+i] = base + o
			o += w.inner[0]
		}
	})
	return rowOffs
}

// outerPlan runs reduceOuter's plan for nk outputs over the rows at
// rowOffs of elements of size bytes: cols(lo, hi, rows) returns the
// accumulators of the columns [lo, hi) over the given rows, in their order,
// and out(lo, acc) writes the final accumulators of the columns from lo.
// The plan (see reduceOuter) depends on the shape and size only.
func outerPlan(op device.ReduceOp, nk, size int, rowOffs []int, cols func(lo, hi int, rows []int) []float64, out func(lo int, acc []float64)) {
	nr := len(rowOffs)
	rowsPer := 0 // rows per chunk of a row split; 0: split the columns
	streams := 1 // parts of a chunk whose rows are interleaved
	switch {
	case nk < 256 && nr >= 2*chunk/nk:
		// Few columns, many rows.
		rowsPer = max(1, chunk/nk)
	case nk*size < outerRowBytes && nr >= 2*(outerChunk/nk):
		// Many short rows. Split by columns, each goroutine would read
		// short pieces of every row, which the prefetchers serve badly
		// (16384 rows of 1024 float32: 4.8 ms by columns, 3.5 ms in
		// chunks, 3.2 ms with the rows interleaved, here).
		rowsPer, streams = outerChunk/nk, outerStreams
	}
	if rowsPer == 0 {
		// Split the columns: each output is computed by one goroutine.
		parallel.For(nk, max(1, grain/nr), func(lo, hi int) {
			out(lo, cols(lo, hi, rowOffs))
		})
		return
	}
	// Fixed row chunks, each reduced over all the columns, then combined
	// in order, column by column.
	nc := (nr + rowsPer - 1) / rowsPer
	parts := make([][]float64, nc)
	parallel.Chunks(nc, func(c int) {
		rows := rowOffs[c*rowsPer : min((c+1)*rowsPer, nr)]
		if streams > 1 {
			rows = interleaveRows(rows, streams)
		}
		parts[c] = cols(0, nk, rows)
	})
	parallel.For(nk, max(1, grain/nc), func(lo, hi int) {
		acc := parts[0][lo:hi]
		for _, p := range parts[1:] {
			p = p[lo:hi:hi]
			switch op {
			case device.Max:
				for j, v := range p {
					acc[j] = maxT(acc[j], v)
				}
			case device.Min:
				for j, v := range p {
					acc[j] = minT(acc[j], v)
				}
			default:
				for j, v := range p {
					acc[j] += v
				}
			}
		}
		out(lo, acc)
	})
}

// interleaveRows returns rows reordered as s parts side by side: the first
// rows of s equal parts, then their second rows and so on, then the rows
// left over. colSums reads the rows it adds together side by side; in this
// order they come from s long runs of memory, in which the hardware keeps
// streaming, rather than from s adjacent rows, a new stream every row.
func interleaveRows(rows []int, s int) []int {
	q := len(rows) / s
	out := make([]int, 0, len(rows))
	for i := 0; i < q; i++ {
		for k := 0; k < s; k++ {
			out = append(out, rows[k*q+i])
		}
	}
	return append(out, rows[s*q:]...)
}

// colSums adds the columns lo..lo+len(acc) of the rows of x that start at
// the offsets rows (or the squares of their elements, with sq) into acc:
// four rows at a time, acc[j] + ((r0[j]+r1[j]) + (r2[j]+r3[j])), then the
// last len(rows) mod 4 rows one at a time, acc[j] + r[j]. Adding four rows
// at once reads and writes the accumulators once per four elements. The
// grouping depends only on the rows, so results do not depend on how the
// columns are split across goroutines. The assembly version (colSum32 and
// the like, read a batch of rows side by side) adds in the same order and
// gives the same bits. Squares are rounded before they are added (no fused
// multiply-add).
func colSums[T float](acc []float64, x []T, rows []int, lo int, sq bool) {
	if useSIMD && simdColSums(acc, x, rows, lo, sq) {
		return
	}
	n := len(acc)
	k := 0
	for ; k+4 <= len(rows); k += 4 {
		r0, r1 := x[rows[k]+lo:rows[k]+lo+n], x[rows[k+1]+lo:rows[k+1]+lo+n]
		r2, r3 := x[rows[k+2]+lo:rows[k+2]+lo+n], x[rows[k+3]+lo:rows[k+3]+lo+n]
		if sq {
			for j := range acc {
				v0, v1, v2, v3 := float64(r0[j]), float64(r1[j]), float64(r2[j]), float64(r3[j])
				acc[j] += (float64(v0*v0) + float64(v1*v1)) + (float64(v2*v2) + float64(v3*v3))
			}
			continue
		}
		for j := range acc {
			acc[j] += (float64(r0[j]) + float64(r1[j])) + (float64(r2[j]) + float64(r3[j]))
		}
	}
	for ; k < len(rows); k++ {
		row := x[rows[k]+lo : rows[k]+lo+n]
		for j, v := range row {
			f := float64(v)
			if sq {
				f = float64(f * f)
			}
			acc[j] += f
		}
	}
}

// ArgReduce writes the index of the first extreme along axis.
func (be *Backend) ArgReduce(op device.ArgOp, dst, src device.Buffer, sl device.Layout, axis int) {
	if buf(src).dt == device.Float64 {
		argReduce(op, buf(dst).i64, buf(src).f64, sl, axis)
	} else {
		argReduce(op, buf(dst).i64, buf(src).f32, sl, axis)
	}
}

func argReduce[T float](op device.ArgOp, d []int64, x []T, sl device.Layout, axis int) {
	keep, _ := device.SplitAxes(sl, []int{axis})
	nk, n, st := keep.Size(), sl.Shape[axis], sl.Strides[axis]
	d = d[:nk]
	if nk == 0 {
		return
	}
	offs := make([]int, nk)
	w := newWalker(keep)
	w.walk(0, nk, nk, func(pos int, o []int, m int) {
		off := o[0]
		for i := 0; i < m; i++ {
			offs[pos+i] = off
			off += w.inner[0]
		}
	})
	parallel.For(nk*n, grain, func(lo, hi int) {
		for i := (lo + n - 1) / n; i*n < hi && i < nk; i++ {
			o := offs[i]
			best, bi := x[o], 0
			for j := 1; j < n && best == best; j++ {
				o += st
				v := x[o]
				if v != v || (op == device.ArgMax && v > best) || (op == device.ArgMin && v < best) {
					best, bi = v, j
				}
			}
			d[i] = int64(bi)
		}
	})
}

// keptFirst returns sl with its axes permuted: the kept axes first, in
// order, then the reduced axes (axes, in their order), so that a dense
// copy in that layout holds each kept position's reduced elements in one
// contiguous run.
func keptFirst(sl device.Layout, axes []int) device.Layout {
	perm := make([]int, 0, len(sl.Shape))
	isRed := make([]bool, len(sl.Shape))
	for _, a := range axes {
		isRed[a] = true
	}
	for i := range sl.Shape {
		if !isRed[i] {
			perm = append(perm, i)
		}
	}
	perm = append(perm, axes...)
	pl := device.Layout{Shape: make([]int, len(perm)), Strides: make([]int, len(perm)), Offset: sl.Offset}
	for i, p := range perm {
		pl.Shape[i], pl.Strides[i] = sl.Shape[p], sl.Strides[p]
	}
	return pl
}
