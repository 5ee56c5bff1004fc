package tensor

import (
	"fmt"
	"math"
	"slices"

	"github.com/tapegrad/tapegrad/device"
)

// viewStrides returns strides that let a tensor of oldShape/oldStrides be
// read as newShape without copying, if there are any (NumPy's no-copy
// reshape rule: each group of old axes merged or split must be contiguous
// within itself).
func viewStrides(oldShape, oldStrides, newShape []int) ([]int, bool) {
	if device.NumElements(oldShape) == 0 {
		return contiguousStrides(newShape), true
	}
	var od, os []int
	for i, d := range oldShape {
		if d != 1 {
			od, os = append(od, d), append(os, oldStrides[i])
		}
	}
	ns := make([]int, len(newShape))
	oi, oj, ni, nj := 0, 1, 0, 1
	for ni < len(newShape) && oi < len(od) {
		np, op := newShape[ni], od[oi]
		for np != op {
			if np < op {
				np *= newShape[nj]
				nj++
			} else {
				op *= od[oj]
				oj++
			}
		}
		for k := oi; k < oj-1; k++ {
			if os[k] != od[k+1]*os[k+1] {
				return nil, false
			}
		}
		ns[nj-1] = os[oj-1]
		for k := nj - 1; k > ni; k-- {
			ns[k-1] = ns[k] * newShape[k]
		}
		ni, nj = nj, nj+1
		oi, oj = oj, oj+1
	}
	for ; ni < len(newShape); ni++ {
		ns[ni] = 1
	}
	return ns, true
}

// Reshape returns t with a new shape of the same size. One dimension may be
// -1: it is inferred. The result is a view when t's layout allows (always
// for contiguous tensors), else a copy. It is differentiable.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	const op = "Reshape"
	t.live(op)
	ns := append([]int(nil), shape...)
	infer := -1
	for i, d := range ns {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			fail(ErrShape, op, fmt.Sprintf("invalid target shape %v", shape), t)
		}
	}
	known := 1
	if infer >= 0 {
		known = numElements(op, slices.Delete(slices.Clone(ns), infer, infer+1), t)
	} else {
		known = numElements(op, ns, t)
	}
	n := t.Size()
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			fail(ErrShape, op, fmt.Sprintf("cannot infer -1 in %v for %d elements", shape, n), t)
		}
		ns[infer] = n / known
	} else if known != n {
		fail(ErrShape, op, fmt.Sprintf("cannot reshape %d elements to %v (%d elements)", n, shape, known), t)
	}
	var out *Tensor
	if st, ok := viewStrides(t.shape, t.strides, ns); ok {
		out = t.view(ns, st, t.offset)
	} else {
		out = materialize(op, t)
		out.shape, out.strides = ns, contiguousStrides(ns)
	}
	if recording(t) {
		in := t.shape
		record(out, op, func(c *bctx) { c.set(0, c.g.Reshape(in...)) }, t)
	}
	return out
}

// Flatten returns t reshaped to one dimension.
func (t *Tensor) Flatten() *Tensor { return t.Reshape(-1) }

// ExpandDims returns t with a new axis of length 1 inserted at axis
// (negative counts from the end of the result's axes).
func (t *Tensor) ExpandDims(axis int) *Tensor {
	r := len(t.shape) + 1
	if axis < -r || axis >= r {
		fail(ErrAxis, "ExpandDims", fmt.Sprintf("axis %d out of range for rank %d", axis, r), t)
	}
	if axis < 0 {
		axis += r
	}
	ns := make([]int, 0, r)
	ns = append(ns, t.shape[:axis]...)
	ns = append(ns, 1)
	ns = append(ns, t.shape[axis:]...)
	return t.Reshape(ns...)
}

// Squeeze removes the given axes, which must have length 1 (all axes of
// length 1 if none are given).
func (t *Tensor) Squeeze(axes ...int) *Tensor {
	var ns []int
	if len(axes) == 0 {
		for _, d := range t.shape {
			if d != 1 {
				ns = append(ns, d)
			}
		}
	} else {
		ax := normAxes("Squeeze", t, axes)
		j := 0
		for i, d := range t.shape {
			if j < len(ax) && ax[j] == i {
				if d != 1 {
					fail(ErrShape, "Squeeze", fmt.Sprintf("axis %d has length %d, not 1", i, d), t)
				}
				j++
				continue
			}
			ns = append(ns, d)
		}
	}
	return t.Reshape(ns...)
}

// Transpose permutes the axes: axis i of the result is axis axes[i] of t.
// With no axes it reverses them. The result is a view. It is
// differentiable.
func (t *Tensor) Transpose(axes ...int) *Tensor {
	const op = "Transpose"
	t.live(op)
	r := len(t.shape)
	perm := make([]int, r)
	if len(axes) == 0 {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	} else {
		if len(axes) != r {
			fail(ErrAxis, op, fmt.Sprintf("%d axes %v for rank %d", len(axes), axes, r), t)
		}
		seen := make([]bool, r)
		for i, a := range axes {
			if a < -r || a >= r {
				fail(ErrAxis, op, fmt.Sprintf("axis %d out of range for rank %d", a, r), t)
			}
			if a < 0 {
				a += r
			}
			if seen[a] {
				fail(ErrAxis, op, fmt.Sprintf("axes %v are not a permutation", axes), t)
			}
			seen[a] = true
			perm[i] = a
		}
	}
	ns, st := make([]int, r), make([]int, r)
	for i, p := range perm {
		ns[i], st[i] = t.shape[p], t.strides[p]
	}
	out := t.view(ns, st, t.offset)
	if recording(t) {
		inv := make([]int, r)
		for i, p := range perm {
			inv[p] = i
		}
		record(out, op, func(c *bctx) { c.set(0, c.g.Transpose(inv...)) }, t)
	}
	return out
}

// T returns the transpose of a 2-d tensor (Transpose with no axes).
func (t *Tensor) T() *Tensor { return t.Transpose() }

// Index returns element i along axis 0, dropping that axis (MXNet's
// slice('i')); negative i counts from the end. The result is a view. It is
// differentiable.
func (t *Tensor) Index(i int) *Tensor {
	const op = "Index"
	t.live(op)
	if len(t.shape) == 0 {
		fail(ErrAxis, op, "a 0-d tensor has no axis to index", t)
	}
	n := t.shape[0]
	if i < -n || i >= n {
		fail(ErrIndex, op, fmt.Sprintf("index %d out of range for axis 0 of length %d", i, n), t)
	}
	if i < 0 {
		i += n
	}
	out := t.view(append([]int(nil), t.shape[1:]...), append([]int(nil), t.strides[1:]...), t.offset+i*t.strides[0])
	if recording(t) {
		in := t.shape
		record(out, op, func(c *bctx) { c.setSlice(c.g.ExpandDims(0), in, 0, i) }, t)
	}
	return out
}

// Slice returns elements start <= j < end along axis (negative values count
// from the end), as a view. It is differentiable.
func (t *Tensor) Slice(axis, start, end int) *Tensor {
	const op = "Slice"
	t.live(op)
	ax := normAxes(op, t, []int{axis})[0]
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
	ns := append([]int(nil), t.shape...)
	ns[ax] = e - s
	out := t.view(ns, append([]int(nil), t.strides...), t.offset+s*t.strides[ax])
	if recording(t) {
		in := t.shape
		record(out, op, func(c *bctx) { c.setSlice(c.g, in, ax, s) }, t)
	}
	return out
}

// sliceGrad returns a zero tensor of shape with g written at offset start
// along axis: the gradient of a slice. It is differentiable.
func sliceGrad(g *Tensor, shape []int, axis, start int) *Tensor {
	const op = "SliceGrad"
	out := empty(op, g.st.be, g.st.dt, shape)
	g.st.be.Fill(out.st.buf, out.layout(), 0)
	dst := out.layout()
	dst.Shape = g.shape
	dst.Offset = start * dst.Strides[axis]
	g.st.be.Copy(out.st.buf, dst, g.st.buf, g.layout())
	if recording(g) {
		k := g.shape[axis]
		record(out, op, func(c *bctx) { c.set(0, c.g.Slice(axis, start, start+k)) }, g)
	}
	return out
}

// BroadcastTo returns t stretched to shape by NumPy's rules (new leading
// axes, axes of length 1 repeated), as a view. It is differentiable: the
// gradient is summed back.
func (t *Tensor) BroadcastTo(shape ...int) *Tensor {
	const op = "BroadcastTo"
	t.live(op)
	ns := append([]int(nil), shape...)
	off := len(ns) - len(t.shape)
	ok := off >= 0
	for i := 0; ok && i < len(t.shape); i++ {
		if t.shape[i] != 1 && t.shape[i] != ns[off+i] {
			ok = false
		}
	}
	for _, d := range ns {
		if d < 0 {
			ok = false
		}
	}
	if !ok {
		fail(ErrShape, op, fmt.Sprintf("cannot broadcast to %v", shape), t)
	}
	numElements(op, ns, t)
	if slices.Equal(t.shape, ns) {
		return t
	}
	l := t.broadcastLayout(ns)
	out := t.view(ns, l.Strides, l.Offset)
	if recording(t) {
		in := t.shape
		record(out, op, func(c *bctx) { c.set(0, sumTo(op, c.g, in)) }, t)
	}
	return out
}

// Concat joins tensors along axis (negative counts from the end). All must
// have the same dtype, device and rank, and equal lengths on the other
// axes. It is differentiable.
func Concat(ts []*Tensor, axis int) *Tensor {
	const op = "Concat"
	if len(ts) == 0 {
		fail(ErrArgument, op, "no tensors")
	}
	ts = promoteAll(ts)
	first := ts[0]
	for _, t := range ts {
		checkSame(op, first, t)
	}
	if len(first.shape) == 0 {
		fail(ErrAxis, op, "cannot concatenate 0-d tensors; use Stack", ts...)
	}
	ax := normAxes(op, first, []int{axis})[0]
	ns := append([]int(nil), first.shape...)
	ns[ax] = 0
	for _, t := range ts {
		if len(t.shape) != len(ns) {
			fail(ErrShape, op, "ranks differ", ts...)
		}
		for i, d := range t.shape {
			if i != ax && d != ns[i] {
				fail(ErrShape, op, fmt.Sprintf("lengths differ on axis %d", i), ts...)
			}
		}
		if ns[ax] > math.MaxInt-t.shape[ax] {
			fail(ErrShape, op, fmt.Sprintf("the lengths along axis %d add up to more than an int can count", ax), ts...)
		}
		ns[ax] += t.shape[ax]
	}
	out := empty(op, first.st.be, first.st.dt, ns)
	dst := out.layout()
	off := 0
	for _, t := range ts {
		d := dst
		d.Shape = t.shape
		d.Offset = off * dst.Strides[ax]
		t.st.be.Copy(out.st.buf, d, t.st.buf, t.layout())
		off += t.shape[ax]
	}
	if recording(ts...) {
		lens := make([]int, len(ts))
		for i, t := range ts {
			lens[i] = t.shape[ax]
		}
		record(out, op, func(c *bctx) {
			off := 0
			for i, k := range lens {
				if c.needs(i) {
					c.set(i, c.g.Slice(ax, off, off+k))
				}
				off += k
			}
		}, append([]*Tensor(nil), ts...)...)
	}
	return out
}

// Stack joins tensors of equal shape along a new axis (negative counts from
// the end of the result's axes). It is differentiable.
func Stack(ts []*Tensor, axis int) *Tensor {
	if len(ts) == 0 {
		fail(ErrArgument, "Stack", "no tensors")
	}
	for _, t := range ts {
		t.live("Stack")
	}
	ts = promoteAll(ts)
	if r := len(ts[0].shape) + 1; axis < -r || axis >= r {
		fail(ErrAxis, "Stack", fmt.Sprintf("axis %d out of range for rank %d", axis, r), ts...)
	}
	ex := make([]*Tensor, len(ts))
	for i, t := range ts {
		checkSame("Stack", ts[0], t)
		if !slices.Equal(t.shape, ts[0].shape) {
			fail(ErrShape, "Stack", "shapes differ", ts...)
		}
		ex[i] = t.ExpandDims(axis)
	}
	r := len(ts[0].shape) + 1
	if axis < 0 {
		axis += r
	}
	return Concat(ex, axis)
}
