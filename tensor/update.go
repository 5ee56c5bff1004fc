package tensor

import (
	"fmt"
	"slices"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/mode"
)

// In-place updates. Operations never modify their operands; the functions
// here are the exceptions, for optimisers and for loading values into
// existing tensors. They are not recorded and must not be called while
// recording. Each write bumps the tensor's version: a backward pass through
// an operation whose input was modified after it was recorded panics with
// ErrModified instead of silently using the new values.

func checkUpdate(op string, w *Tensor, others ...*Tensor) {
	w.live(op)
	if mode.Recording() {
		fail(ErrArgument, op, "in-place updates are not recorded; call outside autograd.Record", w)
	}
	if !w.dense() {
		fail(ErrArgument, op, "the updated tensor must be dense (not a view)", w)
	}
	for _, t := range others {
		if t == nil {
			continue
		}
		checkPair(op, w, t)
		if !slices.Equal(w.shape, t.shape) {
			fail(ErrShape, op, "shapes differ", w, t)
		}
	}
}

// denseOf returns t's buffer, gathering a view into a dense copy first.
func denseOf(op string, t *Tensor) device.Buffer {
	return t.denseCopy(op).st.buf
}

// SGDStep updates w in place by one step of SGD with grad (see
// device.SGDParams); velocity holds the momentum (it may be nil when
// p.Momentum is 0) and is updated in place. All tensors must have w's
// shape, dtype and device; w and velocity must be dense.
func SGDStep(w, grad, velocity *Tensor, p device.SGDParams) {
	const op = "SGDStep"
	checkUpdate(op, w, grad, velocity)
	var v device.Buffer
	if p.Momentum != 0 {
		if velocity == nil {
			fail(ErrArgument, op, "momentum needs a velocity tensor", w)
		}
		checkUpdate(op, velocity)
		v = velocity.st.buf
		velocity.st.version.Add(1)
	}
	w.st.be.SGDStep(w.st.buf, v, denseOf(op, grad), w.Size(), p)
	w.st.version.Add(1)
}

// AdamStep updates w in place by one step of Adam or AdamW with grad (see
// device.AdamParams); m and v are the moment buffers, updated in place.
func AdamStep(w, grad, m, v *Tensor, p device.AdamParams) {
	const op = "AdamStep"
	checkUpdate(op, w, grad, m, v)
	checkUpdate(op, m)
	checkUpdate(op, v)
	if p.Step < 1 {
		fail(ErrArgument, op, fmt.Sprintf("step %d: steps count from 1", p.Step), w)
	}
	w.st.be.AdamStep(w.st.buf, m.st.buf, v.st.buf, denseOf(op, grad), w.Size(), p)
	for _, t := range []*Tensor{w, m, v} {
		t.st.version.Add(1)
	}
}

// Assign copies src's values into t in place (converting dtype and moving
// between devices as needed). t and src must have the same shape. Views of
// t see the new values.
func (t *Tensor) Assign(src *Tensor) {
	const op = "Assign"
	t.live(op)
	src.live(op)
	if mode.Recording() {
		fail(ErrArgument, op, "in-place updates are not recorded; call outside autograd.Record", t)
	}
	if !slices.Equal(t.shape, src.shape) {
		fail(ErrShape, op, "shapes differ", t, src)
	}
	if src.st.dev != t.st.dev {
		src = src.Detach().To(t.st.dev)
	}
	t.st.be.Copy(t.st.buf, t.layout(), src.st.buf, src.layout())
	t.st.version.Add(1)
}

// Backend returns the backend of the tensor's device. With Buffer and
// Layout it gives extension packages (custom kernels, optimisers) direct
// access to the tensor's memory. Writes through it bypass autograd and the
// in-place-modification check.
func (t *Tensor) Backend() device.Backend { return t.st.be }

// Buffer returns the buffer holding the tensor's elements.
func (t *Tensor) Buffer() device.Buffer { return t.st.buf }

// Layout returns where the tensor's elements are in its buffer.
func (t *Tensor) Layout() device.Layout {
	return device.Layout{Shape: append([]int(nil), t.shape...), Strides: append([]int(nil), t.strides...), Offset: t.offset}
}
