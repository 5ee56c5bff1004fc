package tensor

import (
	"fmt"
	"math"
)

// Views that cut a tensor along one axis: Split, Chunk and SliceStep.

// axisOf checks that t has at least one axis and returns axis made
// non-negative (ErrAxis otherwise).
func axisOf(op string, t *Tensor, axis int) int {
	t.live(op)
	if len(t.shape) == 0 {
		fail(ErrAxis, op, "a 0-d tensor has no axis", t)
	}
	return normAxes(op, t, []int{axis})[0]
}

// stepView returns the elements start, start+step, ... below end along
// axis ax of t (0 <= start <= end <= t.shape[ax], step >= 1) as a view,
// recorded as op: the gradient is scattered back into zeros.
func stepView(op string, t *Tensor, ax, start, end, step int) *Tensor {
	k := (end - start + step - 1) / step
	ns := append([]int(nil), t.shape...)
	ns[ax] = k
	st := append([]int(nil), t.strides...)
	st[ax] *= step
	out := t.view(ns, st, t.offset+start*t.strides[ax])
	if recording(t) {
		in := t.shape
		record(out, op, func(c *bctx) { c.set(0, stepScatter(c.g, in, ax, start, step)) }, t)
	}
	return out
}

// stepScatter returns a zero tensor of shape with g written at positions
// start, start+step, ... along axis: the gradient of a strided view. It is
// differentiable (its gradient is the strided view of the gradient).
func stepScatter(g *Tensor, shape []int, axis, start, step int) *Tensor {
	const op = "SliceStepGrad"
	out := empty(op, g.st.be, g.st.dt, shape)
	g.st.be.Fill(out.st.buf, out.layout(), 0)
	if g.Size() > 0 {
		dst := out.layout()
		dst.Shape = g.shape
		dst.Strides = append([]int(nil), dst.Strides...)
		dst.Offset = start * dst.Strides[axis]
		dst.Strides[axis] *= step
		g.st.be.Copy(out.st.buf, dst, g.st.buf, g.layout())
	}
	if recording(g) {
		k := g.shape[axis]
		record(out, op, func(c *bctx) { c.set(0, stepView(op, c.g, axis, start, start+(k-1)*step+1, step)) }, g)
	}
	return out
}

// SliceStep returns the elements start, start+step, ... below end along
// axis (Python's a[start:end:step] on that axis), as a view. Negative
// axis, start and end count from the end, and the range must lie inside
// the axis as for [Tensor.Slice] (ErrIndex; there is no clamping), with
// start <= end; step must be positive (ErrArgument). It is
// differentiable: the gradient is written back at the positions taken,
// zeros elsewhere.
func (t *Tensor) SliceStep(axis, start, end, step int) *Tensor {
	const op = "SliceStep"
	ax := axisOf(op, t, axis)
	if step <= 0 {
		fail(ErrArgument, op, fmt.Sprintf("step %d is not positive", step), t)
	}
	n := t.shape[ax]
	s, e := start, end
	if s < 0 {
		s += n
	}
	if e < 0 {
		e += n
	}
	if s < 0 || e > n || s > e {
		fail(ErrIndex, op, fmt.Sprintf("range [%d, %d) out of bounds for axis %d of length %d", start, end, axis, n), t)
	}
	return stepView(op, t, ax, s, e, step)
}

// Split cuts t along axis (negative counts from the end) into consecutive
// views of the given lengths, which must be non-negative (ErrArgument) and
// add up to the length of the axis (ErrShape), as torch.split with a list
// of sizes. Each piece is differentiable on its own; the backward pass of
// each piece that a loss uses writes a gradient of t's full shape (zeros
// outside the piece), so k pieces used cost k passes over t's size.
func (t *Tensor) Split(sizes []int, axis int) []*Tensor {
	return split("Split", t, sizes, axis)
}

func split(op string, t *Tensor, sizes []int, axis int) []*Tensor {
	ax := axisOf(op, t, axis)
	n := t.shape[ax]
	sum := 0
	for _, k := range sizes {
		if k < 0 {
			fail(ErrArgument, op, fmt.Sprintf("negative length in %v", sizes), t)
		}
		if sum > math.MaxInt-k {
			fail(ErrShape, op, fmt.Sprintf("the lengths %v add up to more than an int can count", sizes), t)
		}
		sum += k
	}
	if sum != n {
		fail(ErrShape, op, fmt.Sprintf("lengths %v add up to %d, but axis %d has length %d", sizes, sum, axis, n), t)
	}
	out := make([]*Tensor, len(sizes))
	off := 0
	for i, k := range sizes {
		out[i] = stepView(op, t, ax, off, off+k, 1)
		off += k
	}
	return out
}

// Chunk cuts t along axis (negative counts from the end) into n views of
// equal length, the last one shorter if the length is not a multiple of n,
// as torch.chunk: each piece has ceil(length/n) elements along the axis,
// so that there may be fewer than n pieces (a length of 5 in 4 chunks
// gives pieces of 2, 2 and 1); an axis of length 0 gives n empty pieces.
// n must be positive (ErrArgument). Each piece is differentiable (see
// [Tensor.Split] for the cost of the backward pass).
func (t *Tensor) Chunk(n, axis int) []*Tensor {
	const op = "Chunk"
	ax := axisOf(op, t, axis)
	if n <= 0 {
		fail(ErrArgument, op, fmt.Sprintf("%d chunks", n), t)
	}
	d := t.shape[ax]
	if d == 0 {
		return split(op, t, make([]int, n), axis)
	}
	size := (d-1)/n + 1
	count := (d-1)/size + 1
	sizes := make([]int, count)
	for i := range sizes {
		sizes[i] = size
	}
	sizes[count-1] = d - size*(count-1)
	return split(op, t, sizes, axis)
}
