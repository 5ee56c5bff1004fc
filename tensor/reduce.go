package tensor

import (
	"fmt"
	"slices"
	"sort"

	"github.com/tapegrad/tapegrad/device"
)

// normAxes checks axes against t's rank, turns negative axes into positive
// ones and sorts them. No axes means all of them.
func normAxes(op string, t *Tensor, axes []int) []int {
	r := len(t.shape)
	if len(axes) == 0 {
		all := make([]int, r)
		for i := range all {
			all[i] = i
		}
		return all
	}
	out := make([]int, len(axes))
	for i, a := range axes {
		if a < -r || a >= r {
			fail(ErrAxis, op, fmt.Sprintf("axis %d out of range for rank %d", a, r), t)
		}
		if a < 0 {
			a += r
		}
		out[i] = a
	}
	sort.Ints(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			fail(ErrAxis, op, fmt.Sprintf("axis %d repeated in %v", out[i], axes), t)
		}
	}
	return out
}

// reducedShapes returns the output shape without the reduced axes and with
// them kept as length 1, and the number of elements each output reduces.
func reducedShapes(shape, axes []int) (dropped, kept []int, n int) {
	kept = append([]int(nil), shape...)
	n = 1
	j := 0
	for i, d := range shape {
		if j < len(axes) && axes[j] == i {
			kept[i] = 1
			n *= d
			j++
			continue
		}
		dropped = append(dropped, d)
	}
	if dropped == nil {
		dropped = []int{}
	}
	return dropped, kept, n
}

func (t *Tensor) reduce(op string, rop device.ReduceOp, axes []int, keepDims bool) *Tensor {
	if rop != device.Max && rop != device.Min {
		t = autocastUp(t) // Sum, Mean and Norm run in float32 under autocast
	}
	t.live(op)
	t.needFloat(op)
	ax := normAxes(op, t, axes)
	dropped, kept, n := reducedShapes(t.shape, ax)
	if n == 0 && (rop == device.Max || rop == device.Min) {
		fail(ErrShape, op, "reduction over zero elements has no identity", t)
	}
	shape := dropped
	if keepDims {
		shape = kept
	}
	out := empty(op, t.st.be, t.st.dt, shape)
	if len(ax) == 0 {
		// A 0-d tensor: every reduction is the value itself, except the norm.
		if rop == device.Norm2 {
			t.st.be.Unary(device.Abs, out.st.buf, t.st.buf, t.layout())
		} else {
			t.st.be.Copy(out.st.buf, out.layout(), t.st.buf, t.layout())
		}
	} else {
		t.st.be.Reduce(rop, out.st.buf, t.st.buf, t.layout(), ax)
	}
	if !recording(t) {
		return out
	}
	inShape := t.shape
	// grad reshapes the output gradient so it broadcasts against the input.
	grad := func(g *Tensor) *Tensor { return g.Reshape(kept...) }
	switch rop {
	case device.Sum:
		record(out, op, func(c *bctx) { c.set(0, grad(c.g).BroadcastTo(inShape...)) }, t)
	case device.Mean:
		record(out, op, func(c *bctx) { c.set(0, grad(c.g.DivScalar(float64(n))).BroadcastTo(inShape...)) }, t)
	case device.Max, device.Min:
		record(out, op, func(c *bctx) {
			// The gradient is shared evenly by the elements equal to the
			// extreme.
			x := c.in(0)
			mask := rawBinary(op, device.Eq, x, c.use(out).Reshape(kept...))
			count := mask.SumKeepDims(ax...)
			c.set(0, grad(c.g).Div(count).Mul(mask))
		}, t)
	case device.Norm2:
		record(out, op, func(c *bctx) {
			// d‖x‖/dx = x/‖x‖, taken as 0 where ‖x‖ = 0.
			y := c.use(out)
			s := c.g.Div(y)
			s = Where(y.EqScalar(0), zerosLike(s), s)
			c.set(0, c.in(0).Mul(grad(s)))
		}, t)
	}
	return out
}

// Sum returns the sum over the given axes (all axes if none), dropping them.
// Negative axes count from the end. Float32 data is summed in float64.
func (t *Tensor) Sum(axes ...int) *Tensor { return t.reduce("Sum", device.Sum, axes, false) }

// SumKeepDims is Sum keeping the reduced axes with length 1.
func (t *Tensor) SumKeepDims(axes ...int) *Tensor { return t.reduce("Sum", device.Sum, axes, true) }

// Mean returns the arithmetic mean over the given axes (all if none).
func (t *Tensor) Mean(axes ...int) *Tensor { return t.reduce("Mean", device.Mean, axes, false) }

// MeanKeepDims is Mean keeping the reduced axes with length 1.
func (t *Tensor) MeanKeepDims(axes ...int) *Tensor { return t.reduce("Mean", device.Mean, axes, true) }

// Max returns the maximum over the given axes (all if none). NaN
// propagates. The gradient is shared evenly by tied maxima.
func (t *Tensor) Max(axes ...int) *Tensor { return t.reduce("Max", device.Max, axes, false) }

// MaxKeepDims is Max keeping the reduced axes with length 1.
func (t *Tensor) MaxKeepDims(axes ...int) *Tensor { return t.reduce("Max", device.Max, axes, true) }

// Min returns the minimum over the given axes (all if none). NaN
// propagates. The gradient is shared evenly by tied minima.
func (t *Tensor) Min(axes ...int) *Tensor { return t.reduce("Min", device.Min, axes, false) }

// MinKeepDims is Min keeping the reduced axes with length 1.
func (t *Tensor) MinKeepDims(axes ...int) *Tensor { return t.reduce("Min", device.Min, axes, true) }

// Norm returns the L2 norm (square root of the sum of squares) over the
// given axes, by default over all elements (a 0-d tensor), computed in one
// pass. Its gradient at a zero norm is taken as 0.
func (t *Tensor) Norm(axes ...int) *Tensor { return t.reduce("Norm", device.Norm2, axes, false) }

// NormKeepDims is Norm keeping the reduced axes with length 1.
func (t *Tensor) NormKeepDims(axes ...int) *Tensor { return t.reduce("Norm", device.Norm2, axes, true) }

// ArgMax returns the index of the first maximum along the given axes, as
// an Int64 tensor without them (as PyTorch's argmax along one axis). Over
// several axes (none: all of them, as NumPy's argmax without an axis) the
// index is the row-major position within the block those axes span, in
// the order of t's axes: NumPy's unravel_index of it gives the
// coordinates. NaN counts as the maximum. Not differentiable.
func (t *Tensor) ArgMax(axes ...int) *Tensor { return t.argReduce("ArgMax", device.ArgMax, axes) }

// ArgMin returns the index of the first minimum along the given axes (see
// ArgMax).
func (t *Tensor) ArgMin(axes ...int) *Tensor { return t.argReduce("ArgMin", device.ArgMin, axes) }

func (t *Tensor) argReduce(op string, aop device.ArgOp, axes []int) *Tensor {
	t.live(op)
	t.needFloat(op)
	if len(t.shape) == 0 {
		if len(axes) == 0 {
			return Full(0, nil, On(t.st.dev), WithDType(Int64))
		}
		fail(ErrAxis, op, "a 0-d tensor has no axis", t)
	}
	ax := normAxes(op, t, axes)
	if len(ax) > 1 {
		// Move the reduced axes last, in order, and merge them into one.
		var perm, shape []int
		for i, n := range t.shape {
			if !slices.Contains(ax, i) {
				perm, shape = append(perm, i), append(shape, n)
			}
		}
		m := 1
		for _, a := range ax {
			m *= t.shape[a]
		}
		perm = append(perm, ax...)
		return t.Detach().Transpose(perm...).Reshape(append(shape, m)...).argReduce(op, aop, []int{-1})
	}
	if t.shape[ax[0]] == 0 {
		fail(ErrShape, op, fmt.Sprintf("axis %d has length 0", ax[0]), t)
	}
	dropped, _, _ := reducedShapes(t.shape, ax)
	out := empty(op, t.st.be, Int64, dropped)
	t.st.be.ArgReduce(aop, out.st.buf, t.st.buf, t.layout(), ax[0])
	return out
}
