package cuda

import (
	"github.com/tapegrad/tapegrad/device"
)

// Reductions and arg-reductions.

// Reduce reduces src over axes in two deterministic passes: partial
// results per chunk (in float64), then a fixed-order combination per
// output.
func (b *Backend) Reduce(op device.ReduceOp, dst, src device.Buffer, sl device.Layout, axes []int) {
	b.reduce(op, kReduce[op][dtIndex(bufOf(dst).dt)], dst, src, sl, axes)
}

// reduce runs reduction op with the kernels ids (the inner, outer and final
// passes of one dtype).
func (b *Backend) reduce(op device.ReduceOp, ids [3]int, dst, src device.Buffer, sl device.Layout, axes []int) {
	d, s := bufOf(dst), bufOf(src)
	keep, red := device.SplitAxes(sl, axes)
	nk, nr := int64(keep.Size()), int64(red.Size())
	if nk == 0 {
		return
	}
	if nr == 0 {
		v := 0.0
		if op != device.Sum && op != device.Norm2 {
			v = nanValue
		}
		b.Fill(dst, device.Contiguous([]int{int(nk)}), v)
		return
	}
	switch {
	case len(red.Shape) == 1 && red.Strides[0] == 1:
		b.reduceInner(ids, d, s, keep, nk, nr)
	case len(keep.Shape) == 1 && keep.Strides[0] == 1 && nk > 1:
		b.reduceOuter(ids, d, s, keep.Offset, red, nk, nr)
	default:
		// Gather kept axes first, reduced axes last, then reduce runs.
		isRed := make([]bool, len(sl.Shape))
		for _, a := range axes {
			isRed[a] = true
		}
		pl := device.Layout{Offset: sl.Offset}
		for i := range sl.Shape {
			if !isRed[i] {
				pl.Shape, pl.Strides = append(pl.Shape, sl.Shape[i]), append(pl.Strides, sl.Strides[i])
			}
		}
		for _, a := range axes {
			pl.Shape, pl.Strides = append(pl.Shape, sl.Shape[a]), append(pl.Strides, sl.Strides[a])
		}
		tmp := b.temp(s.dt, int(nk*nr))
		defer b.Free(tmp)
		b.Copy(tmp, device.Contiguous(pl.Shape), src, pl)
		b.reduceInner(ids, d, tmp, device.Layout{Shape: []int{int(nk)}, Strides: []int{int(nr)}}, nk, nr)
	}
}

var nanValue = func() float64 { var z float64; return z / z }()

func (b *Backend) reduceInner(ids [3]int, d, s *Buffer, keep device.Layout, nk, nr int64) {
	chunks, chunk := reduceSplit(nr)
	shape, v, err := strided(keep)
	if err != nil {
		b.fail(kernelTable[ids[passInner]].name, err)
		return
	}
	part := b.temp(device.Float64, int(nk*chunks))
	defer b.Free(part)
	a := reduceInnerArgs{Part: part.ptr, Src: s.ptr, Rows: nk, Run: nr, Chunks: chunks, Chunk: chunk, Keep: shape, VKeep: v[0]}
	p, sz := argBytes(&a)
	b.launch(ids[passInner], groupGrid(nk*chunks, chunk >= 1024), block1D, p, sz)
	b.reduceFinal(ids, d, part, nk, chunks, nr, 0)
}

func (b *Backend) reduceOuter(ids [3]int, d, s *Buffer, base int, red device.Layout, cols, rows int64) {
	chunks, chunkRows := outerSplit(rows, cols)
	shape, v, err := strided(red)
	if err != nil {
		b.fail(kernelTable[ids[passOuter]].name, err)
		return
	}
	part := b.temp(device.Float64, int(cols*chunks))
	defer b.Free(part)
	a := reduceOuterArgs{Part: part.ptr, Src: s.ptr, Cols: cols, Rows: rows, Chunks: chunks, Chunk: chunkRows, Base: int64(base), Red: shape, VRed: v[0]}
	p, sz := argBytes(&a)
	grid := [3]uint32{uint32((cols + threads - 1) / threads), uint32(chunks), 1}
	b.launch(ids[passOuter], grid, block1D, p, sz)
	b.reduceFinal(ids, d, part, cols, chunks, rows, 1)
}

func (b *Backend) reduceFinal(ids [3]int, d, part *Buffer, outputs, chunks, count, transposed int64) {
	a := reduceFinalArgs{Dst: d.ptr, Part: part.ptr, Outputs: outputs, Chunks: chunks, Count: count, Transposed: transposed}
	p, sz := argBytes(&a)
	b.launch(ids[passFinal], groupGrid(outputs, false), block1D, p, sz)
}

// ArgReduce writes the index of the first extreme along axis.
func (b *Backend) ArgReduce(op device.ArgOp, dst, src device.Buffer, sl device.Layout, axis int) {
	d, s := bufOf(dst), bufOf(src)
	keep, _ := device.SplitAxes(sl, []int{axis})
	nk := int64(keep.Size())
	if nk == 0 {
		return
	}
	id := kArg[op][dtIndex(s.dt)]
	shape, v, err := strided(keep)
	if err != nil {
		b.fail(kernelTable[id].name, err)
		return
	}
	a := argReduceArgs{Dst: d.ptr, Src: s.ptr, Outputs: nk, Len: int64(sl.Shape[axis]), Stride: int64(sl.Strides[axis]), Keep: shape, VKeep: v[0]}
	p, sz := argBytes(&a)
	b.launch(id, groupGrid(nk, a.Len >= 1024), block1D, p, sz)
}
