package tensor

import (
	"fmt"
	"slices"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/mode"
)

// In-place updates. Operations never modify their operands; the functions
// here are the exceptions, for optimisers and for loading values into
// existing tensors. They are not recorded and must not be called while the
// calling goroutine records (other goroutines' scopes do not matter). Each
// write bumps the tensor's version: a backward pass through an operation
// whose input was modified after it was recorded panics with ErrModified
// instead of silently using the new values.
//
// The functions that update several tensors (SGDSteps, AdamSteps,
// AssignAll) are all-or-nothing: every argument is checked, and every
// temporary they need (a dense copy of a strided gradient, a source moved
// to the destination's device) is made, before the first tensor is
// written; a failure panics with a typed *Error and changes nothing.

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

// checkLists panics unless every list has n entries (a nil list counts as
// having them when it may be nil).
func checkLists(op string, n int, lists ...[]*Tensor) {
	for _, l := range lists {
		if len(l) != n {
			fail(ErrArgument, op, fmt.Sprintf("%d tensors to update, but a list of %d", n, len(l)))
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
	SGDSteps([]*Tensor{w}, []*Tensor{grad}, []*Tensor{velocity}, p)
}

// SGDSteps is [SGDStep] for several tensors, all-or-nothing: ws[i] is
// updated with grads[i] and velocity[i]. velocity may be nil when
// p.Momentum is 0.
func SGDSteps(ws, grads, velocity []*Tensor, p device.SGDParams) {
	const op = "SGDStep"
	if velocity == nil && p.Momentum == 0 {
		velocity = make([]*Tensor, len(ws))
	}
	checkLists(op, len(ws), grads, velocity)
	for i, w := range ws {
		checkUpdate(op, w, grads[i], velocity[i])
		if p.Momentum != 0 {
			if velocity[i] == nil {
				fail(ErrArgument, op, "momentum needs a velocity tensor", w)
			}
			checkUpdate(op, velocity[i])
		}
	}
	gs := make([]device.Buffer, len(ws))
	for i, g := range grads {
		gs[i] = denseOf(op, g)
	}
	for i, w := range ws {
		var v device.Buffer
		if p.Momentum != 0 {
			v = velocity[i].st.buf
			velocity[i].st.version.Add(1)
		}
		w.st.be.SGDStep(w.st.buf, v, gs[i], w.Size(), p)
		w.st.version.Add(1)
	}
}

// AdamStep updates w in place by one step of Adam or AdamW with grad (see
// device.AdamParams); m and v are the moment buffers, updated in place.
func AdamStep(w, grad, m, v *Tensor, p device.AdamParams) {
	AdamSteps([]*Tensor{w}, []*Tensor{grad}, []*Tensor{m}, []*Tensor{v}, p)
}

// AdamSteps is [AdamStep] for several tensors, all-or-nothing: ws[i] is
// updated with grads[i] and the moments m[i] and v[i].
func AdamSteps(ws, grads, m, v []*Tensor, p device.AdamParams) {
	const op = "AdamStep"
	checkLists(op, len(ws), grads, m, v)
	if p.Step < 1 && len(ws) > 0 {
		fail(ErrArgument, op, fmt.Sprintf("step %d: steps count from 1", p.Step), ws[0])
	}
	for i, w := range ws {
		if m[i] == nil || v[i] == nil {
			fail(ErrArgument, op, "Adam needs both moment tensors", w)
		}
		checkUpdate(op, w, grads[i], m[i], v[i])
		checkUpdate(op, m[i])
		checkUpdate(op, v[i])
	}
	gs := make([]device.Buffer, len(ws))
	for i, g := range grads {
		gs[i] = denseOf(op, g)
	}
	for i, w := range ws {
		w.st.be.AdamStep(w.st.buf, m[i].st.buf, v[i].st.buf, gs[i], w.Size(), p)
		for _, t := range []*Tensor{w, m[i], v[i]} {
			t.st.version.Add(1)
		}
	}
}

// Assign copies src's values into t in place (converting dtype and moving
// between devices as needed). t and src must have the same shape. Views of
// t see the new values.
func (t *Tensor) Assign(src *Tensor) { AssignAll([]*Tensor{t}, []*Tensor{src}) }

// AssignAll is [Tensor.Assign] for several tensors, all-or-nothing: dst[i]
// gets src[i]'s values. A source that shares memory with a destination
// (dst[0] and dst[1] swapped, say) is copied first, so every destination
// gets the values its source had before the call.
func AssignAll(dst, src []*Tensor) {
	const op = "Assign"
	checkLists(op, len(dst), src)
	rec := mode.Recording()
	for i, t := range dst {
		t.live(op)
		src[i].live(op)
		if rec {
			fail(ErrArgument, op, "in-place updates are not recorded; call outside autograd.Record", t)
		}
		if !slices.Equal(t.shape, src[i].shape) {
			fail(ErrShape, op, "shapes differ", t, src[i])
		}
	}
	staged := make([]*Tensor, len(src))
	for i, s := range src {
		switch {
		case s.st.dev != dst[i].st.dev:
			s = s.Detach().To(dst[i].st.dev)
		case clobbered(i, s, dst):
			s = s.Detach().Clone()
		}
		staged[i] = s
	}
	for i, t := range dst {
		s := staged[i]
		t.st.be.Copy(t.st.buf, t.layout(), s.st.buf, s.layout())
		t.st.version.Add(1)
	}
}

// clobbered reports whether writing the destinations may change s, the
// source of dst[i], before it is read: another destination shares its
// memory, or its own does with another layout.
func clobbered(i int, s *Tensor, dst []*Tensor) bool {
	for j, d := range dst {
		if d.st != s.st {
			continue
		}
		if j != i || d.offset != s.offset || !slices.Equal(d.strides, s.strides) {
			return true
		}
	}
	return false
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
