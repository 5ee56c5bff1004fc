package tensor

import "github.com/tapegrad/tapegrad/internal/mode"

// Autocast (package amp's Autocast scope) changes the dtypes that some
// operations compute in, for the goroutine inside the scope only, as
// PyTorch's autocast op lists do:
//
//   - Half operations: MatMul, Conv2D and ScaledDotProductAttention cast
//     their Float32 operands (and those of the other half type) to the
//     scope's half type with AsType and compute in it; their results are
//     half tensors. Float64 operands are not cast.
//   - Float32 operations: Softmax, LogSoftmax, SoftmaxCrossEntropy,
//     LayerNorm, RMSNorm (and package nn's BatchNorm layers and losses),
//     the reductions Sum, Mean and Norm (and their KeepDims forms),
//     CumSum, and the precision-sensitive pointwise operations Exp, Log,
//     Log1p, Expm1, Pow, PowScalar, RPowScalar, Recip, Rsqrt, Softplus,
//     Sinh, Cosh, Tan, Arcsin and Arccos cast their half operands up to
//     Float32; their results are Float32.
//   - Promotion: the binary elementwise operations (Add, Sub, Mul, Div,
//     Pow, Maximum, Minimum, the comparisons), Where, Concat and Stack
//     accept operands of different floating-point dtypes and cast them to
//     the wider one (Float64 over Float32 over the half types; BFloat16
//     with Float16 gives Float32), as PyTorch's type promotion. Outside
//     autocast mixed dtypes remain ErrDType.
//   - Every other operation computes in its operands' dtype, as always.
//
// The casts are AsType operations, recorded like any other: a gradient
// flows back through them in each operand's own dtype, so Float32
// parameters get Float32 gradients. A parameter (a Float32 tensor with a
// gradient attached) is cast once per autocast region (see castCache). Backward passes (Tensor.Backward,
// RunBackward) run with autocast off, in the dtypes the forward pass
// chose, even when called inside the scope.
//
// Outside any autocast scope the only cost is one atomic load in the half
// operations (while no goroutine anywhere autocasts) and none in the
// others: they test their operands' dtypes first.

// Autocasting reports the half dtype (BFloat16 or Float16) that the
// calling goroutine's operations autocast to, and whether the goroutine
// is inside an autocast scope (package amp's Autocast) at all.
func Autocasting() (DType, bool) {
	switch mode.Autocast() {
	case mode.AutocastBF16:
		return BFloat16, true
	case mode.AutocastF16:
		return Float16, true
	}
	return Float32, false
}

// castLow returns t cast to the half type h if it is a Float32 tensor or
// one of the other half type (a half operation's operand under autocast);
// anything else, nil included, is returned as it is.
func castLow(t *Tensor, h DType) *Tensor {
	if t == nil || t.st == nil || t.st.buf == nil {
		return t // for the operation's own checks
	}
	if dt := t.st.dt; dt != h && (dt == Float32 || dt.IsHalf()) {
		if t.leaf != nil && t.node == nil && dt == Float32 {
			return cachedCast(t, h)
		}
		return t.AsType(h)
	}
	return t
}

// The cast cache: as PyTorch's autocast, an autocast scope casts each
// parameter (a Float32 tensor with a gradient attached) to the half type
// once, however many of its half operations use it (a weight shared by
// several layers, or used at every step of a recurrent loop), and the
// uses share the cast's recorded AsType, so one gradient flows back
// through it. The cache lives in the calling goroutine's mode slot, which
// package amp's outermost Autocast empties on entry and restores on exit,
// so it holds what one autocast region cast. Recorded and unrecorded uses
// have entries of their own, and an entry is reused only while it is
// still what a new cast would be: the parameter not written since (its
// storage version) and, for a recorded cast, its recorded operation not
// freed by a backward pass (a backward pass inside the region frees it;
// the next use casts again).
type castCache map[castKey]castEntry

type castKey struct {
	t        *Tensor
	dt       DType
	recorded bool
}

type castEntry struct {
	cast    *Tensor
	version uint64
}

// cachedCast returns the parameter t cast to h, from the calling
// goroutine's cast cache when its entry is still valid.
func cachedCast(t *Tensor, h DType) *Tensor {
	c, _ := mode.Slot().(castCache)
	if c == nil {
		c = castCache{}
		mode.SetSlot(c)
	}
	v, rec := t.st.version.Load(), recording(t)
	k := castKey{t, h, rec}
	if e, ok := c[k]; ok && e.version == v && e.cast.st.buf != nil &&
		(!rec || (e.cast.node != nil && !e.cast.node.freed)) {
		return e.cast
	}
	cast := t.AsType(h)
	c[k] = castEntry{cast: cast, version: v}
	return cast
}

// autocastUp returns t cast to Float32 if it is a half tensor and the
// calling goroutine autocasts (a Float32 operation's operand); else t.
// Tensors of other dtypes cost no mode read.
func autocastUp(t *Tensor) *Tensor {
	if t == nil || t.st == nil || t.st.buf == nil || !t.st.dt.IsHalf() {
		return t
	}
	if _, ok := Autocasting(); ok {
		return t.AsType(Float32)
	}
	return t
}

// wider returns the dtype that operands of dtypes a and b (both floating
// point) promote to.
func wider(a, b DType) DType {
	switch {
	case a == b:
		return a
	case a == Float64 || b == Float64:
		return Float64
	}
	return Float32 // float32 with a half type, or bfloat16 with float16
}

// promote returns the operands of an elementwise operation cast to a
// common floating-point dtype if their dtypes differ and the calling
// goroutine autocasts; else (the usual case: equal dtypes, no mode read)
// as they are, for the operation's checks to judge.
func promote(a, b *Tensor) (*Tensor, *Tensor) {
	if a == nil || b == nil || a.st == nil || b.st == nil || a.st.dt == b.st.dt || a.st.buf == nil || b.st.buf == nil {
		return a, b
	}
	if !a.st.dt.IsFloat() || !b.st.dt.IsFloat() {
		return a, b
	}
	if _, ok := Autocasting(); !ok {
		return a, b
	}
	dt := wider(a.st.dt, b.st.dt)
	return a.AsType(dt), b.AsType(dt)
}

// promoteAll is promote for the tensors of Concat and Stack: under
// autocast, tensors of different floating-point dtypes are cast to the
// widest (a new slice; ts itself is not changed).
func promoteAll(ts []*Tensor) []*Tensor {
	var dt DType
	mixed := false
	for i, t := range ts {
		if t == nil || t.st == nil || t.st.buf == nil || !t.st.dt.IsFloat() {
			return ts
		}
		if i == 0 {
			dt = t.st.dt
		} else if t.st.dt != dt {
			mixed = true
			dt = wider(dt, t.st.dt)
		}
	}
	if !mixed {
		return ts
	}
	if _, ok := Autocasting(); !ok {
		return ts
	}
	out := make([]*Tensor, len(ts))
	for i, t := range ts {
		out[i] = t.AsType(dt)
	}
	return out
}

// promote3 is promote for Where's three operands.
func promote3(a, b, c *Tensor) (*Tensor, *Tensor, *Tensor) {
	for _, t := range []*Tensor{a, b, c} {
		if t == nil || t.st == nil || t.st.buf == nil || !t.st.dt.IsFloat() {
			return a, b, c
		}
	}
	if a.st.dt == b.st.dt && b.st.dt == c.st.dt {
		return a, b, c
	}
	if _, ok := Autocasting(); !ok {
		return a, b, c
	}
	dt := wider(wider(a.st.dt, b.st.dt), c.st.dt)
	return a.AsType(dt), b.AsType(dt), c.AsType(dt)
}
