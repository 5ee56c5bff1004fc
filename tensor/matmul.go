package tensor

import (
	"fmt"

	"github.com/tapegrad/tapegrad/device"
)

// MatMul returns the matrix product of a and b with NumPy's matmul rules:
// 2-d × 2-d is the matrix product; higher ranks are stacks of matrices in
// the last two axes with the leading (batch) axes broadcast; a 1-d a is a
// row vector and a 1-d b a column vector, their added axis removed from the
// result (1-d × 1-d is the dot product, a 0-d tensor). Transposed views are
// used without copying. It is differentiable.
func (a *Tensor) MatMul(b *Tensor) *Tensor {
	const op = "MatMul"
	if h, ok := Autocasting(); ok {
		a, b = castLow(a, h), castLow(b, h)
	}
	checkPair(op, a, b)
	if len(a.shape) == 0 || len(b.shape) == 0 {
		fail(ErrShape, op, "0-d operands have no matrix product; use Mul", a, b)
	}
	// Check the inner dimensions here, so that the error names the shapes
	// the caller passed rather than those of the expanded 1-d operands.
	if ka, kb := a.shape[len(a.shape)-1], b.shape[max(len(b.shape)-2, 0)]; ka != kb {
		fail(ErrShape, op, fmt.Sprintf("inner dimensions differ: %d and %d", ka, kb), a, b)
	}
	av, bv := a, b
	if len(a.shape) == 1 {
		av = a.ExpandDims(0)
	}
	if len(b.shape) == 1 {
		bv = b.ExpandDims(1)
	}
	out := matmul(av, bv)
	if len(b.shape) == 1 {
		out = out.Squeeze(-1)
	}
	if len(a.shape) == 1 {
		out = out.Squeeze(-1 - boolInt(len(b.shape) != 1))
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// swapLast returns a view of t with its last two axes exchanged.
func swapLast(t *Tensor) *Tensor {
	r := len(t.shape)
	perm := make([]int, r)
	for i := range perm {
		perm[i] = i
	}
	perm[r-1], perm[r-2] = r-2, r-1
	return t.Transpose(perm...)
}

// matmul multiplies stacks of matrices (both operands of rank >= 2).
func matmul(a, b *Tensor) *Tensor {
	const op = "MatMul"
	if h, ok := Autocasting(); ok {
		a, b = castLow(a, h), castLow(b, h)
	}
	ra, rb := len(a.shape), len(b.shape)
	m, k := a.shape[ra-2], a.shape[ra-1]
	k2, n := b.shape[rb-2], b.shape[rb-1]
	if k != k2 {
		fail(ErrShape, op, fmt.Sprintf("inner dimensions differ: %d and %d", k, k2), a, b)
	}
	// Broadcast the batch axes. They are checked here because
	// broadcastShape reports errors with the tensors it is given, and the
	// stand-ins below have no storage.
	for i := 1; i <= min(ra, rb)-2; i++ {
		if da, db := a.shape[ra-2-i], b.shape[rb-2-i]; da != db && da != 1 && db != 1 {
			fail(ErrShape, op, fmt.Sprintf("cannot broadcast batch axes: axis %d has lengths %d and %d", -2-i, da, db), a, b)
		}
	}
	ab := &Tensor{shape: a.shape[:ra-2]}
	bb := &Tensor{shape: b.shape[:rb-2]}
	batchShape := broadcastShape(op, ab, bb)
	outShape := append(append([]int(nil), batchShape...), m, n)
	out := empty(op, a.st.be, a.st.dt, outShape)

	aStr := batchStrides(a, batchShape)
	bStr := batchStrides(b, batchShape)
	cStr := contiguousStrides(batchShape)
	for i := range cStr {
		cStr[i] *= m * n
	}
	// One matrix b for every batch entry (a Dense layer on [B, T, E]): fold
	// a's batch axes into its rows when they merge without a copy, so that
	// the product is one GEMM of B·T rows instead of B small ones, each
	// packing b again. Each row of the result gets the same bits either way.
	folded := foldsInto(a, bStr, batchShape, m, k)
	if folded != nil {
		al := device.MatLayout{Offset: a.offset, RowStride: folded[0], ColStride: folded[1]}
		bl := device.MatLayout{Offset: b.offset, RowStride: b.strides[rb-2], ColStride: b.strides[rb-1]}
		cl := device.MatLayout{RowStride: n, ColStride: 1}
		rows := device.NumElements(batchShape) * m
		a.st.be.MatMul(out.st.buf, cl, a.st.buf, al, b.st.buf, bl, 1, rows, n, k)
		if recording(a, b) {
			bShape := b.shape
			record(out, op, func(c *bctx) {
				x, y := c.in(0), c.in(1)
				if c.needs(0) {
					c.set(0, matmul(c.g, swapLast(y)))
				}
				switch {
				case !c.needs(1):
				case device.NumElements(bShape[:rb-2]) == 1:
					// Σ over the batch of xᵀ·g as one product over K = B·T.
					xr := x.Reshape(-1, k)
					gr := c.g.Reshape(-1, n)
					c.set(1, matmul(swapLast(xr), gr).Reshape(bShape...))
				default:
					// b is a broadcast view with batch axes of its own: one
					// gradient per batch entry.
					c.set(1, matmul(swapLast(x), c.g))
				}
			}, a, b)
		}
		return out
	}
	shape, strides := device.Coalesce(batchShape, aStr, bStr, cStr)
	inner := len(shape) - 1
	nb := shape[inner]
	outer := device.NumElements(shape[:inner])
	idx := make([]int, inner)
	for o := 0; o < outer; o++ {
		ao, bo, co := a.offset, b.offset, 0
		for d := 0; d < inner; d++ {
			ao += idx[d] * strides[0][d]
			bo += idx[d] * strides[1][d]
			co += idx[d] * strides[2][d]
		}
		al := device.MatLayout{Offset: ao, BatchStride: strides[0][inner], RowStride: a.strides[ra-2], ColStride: a.strides[ra-1]}
		bl := device.MatLayout{Offset: bo, BatchStride: strides[1][inner], RowStride: b.strides[rb-2], ColStride: b.strides[rb-1]}
		cl := device.MatLayout{Offset: co, BatchStride: strides[2][inner], RowStride: n, ColStride: 1}
		a.st.be.MatMul(out.st.buf, cl, a.st.buf, al, b.st.buf, bl, nb, m, n, k)
		for d := inner - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	if recording(a, b) {
		record(out, op, func(c *bctx) {
			x, y := c.in(0), c.in(1)
			if c.needs(0) {
				c.set(0, matmul(c.g, swapLast(y)))
			}
			if c.needs(1) {
				c.set(1, matmul(swapLast(x), c.g))
			}
		}, a, b)
	}
	return out
}

// foldsInto returns the row and column strides of a read as one
// (batch·m)×k matrix when b (batch strides bStr) is the same matrix for
// every batch entry, a spans the whole batch, there is a batch, and a's
// batch and row axes merge without a copy; else nil.
func foldsInto(a *Tensor, bStr, batchShape []int, m, k int) []int {
	if len(batchShape) == 0 || device.NumElements(batchShape) <= 1 || m == 0 || k == 0 {
		return nil
	}
	for _, s := range bStr {
		if s != 0 {
			return nil
		}
	}
	ra := len(a.shape)
	if device.NumElements(a.shape[:ra-2]) != device.NumElements(batchShape) {
		return nil
	}
	st, ok := viewStrides(a.shape, a.strides, []int{device.NumElements(batchShape) * m, k})
	if !ok {
		return nil
	}
	return st
}

// batchStrides returns t's strides for the batch axes broadcast to
// batchShape (0 on broadcast axes).
func batchStrides(t *Tensor, batchShape []int) []int {
	r := len(t.shape) - 2
	st := make([]int, len(batchShape))
	off := len(batchShape) - r
	for i := 0; i < r; i++ {
		if t.shape[i] == batchShape[off+i] {
			st[off+i] = t.strides[i]
		}
	}
	return st
}
