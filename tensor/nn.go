package tensor

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// The operations of neural networks: convolution, pooling, softmax and the
// fused softmax cross-entropy loss. Convolution is im2col followed by one
// batched MatMul; im2col and its adjoint col2im are operations of their own,
// each the other's backward rule, so gradients of every order work.

// convGeom checks a convolution or pooling window against an input of
// shape [N, C, H, W] and returns the geometry.
func convGeom(op string, x *Tensor, kh, kw, stride, pad int) device.ConvGeom {
	if len(x.shape) != 4 {
		fail(ErrShape, op, "input must have shape [N, C, H, W]", x)
	}
	if kh < 1 || kw < 1 || stride < 1 || pad < 0 {
		fail(ErrArgument, op, fmt.Sprintf("window %dx%d, stride %d, padding %d", kh, kw, stride, pad), x)
	}
	g := device.ConvGeom{N: x.shape[0], C: x.shape[1], H: x.shape[2], W: x.shape[3],
		KH: kh, KW: kw, SH: stride, SW: stride, PH: pad, PW: pad}
	if pad > (math.MaxInt/2-max(g.H, g.W))/2 {
		fail(ErrArgument, op, fmt.Sprintf("padding %d: the padded input's size does not fit in an int", pad), x)
	}
	if g.H+2*pad < kh || g.W+2*pad < kw {
		fail(ErrShape, op, fmt.Sprintf("window %dx%d larger than the padded input %dx%d", kh, kw, g.H+2*pad, g.W+2*pad), x)
	}
	g.OH = (g.H+2*pad-kh)/stride + 1
	g.OW = (g.W+2*pad-kw)/stride + 1
	return g
}

// dense returns t if it is dense from offset 0, else a dense copy (not
// recorded).
func (t *Tensor) denseCopy(op string) *Tensor {
	if t.dense() {
		return t
	}
	return materialize(op, t)
}

// im2col returns the windows of x as [C·KH·KW, N·OH·OW].
func im2col(x *Tensor, g device.ConvGeom) *Tensor {
	const op = "Im2Col"
	out := empty(op, x.st.be, x.st.dt, []int{g.C * g.KH * g.KW, g.N * g.OH * g.OW})
	x.st.be.Im2Col(out.st.buf, x.st.buf, x.layout(), g)
	if recording(x) {
		record(out, op, func(c *bctx) { c.set(0, col2im(c.g, g)) }, x)
	}
	return out
}

// col2im sums windows [C·KH·KW, N·OH·OW] back into [N, C, H, W].
func col2im(col *Tensor, g device.ConvGeom) *Tensor {
	const op = "Col2Im"
	src := col.denseCopy(op)
	out := empty(op, col.st.be, col.st.dt, []int{g.N, g.C, g.H, g.W})
	col.st.be.Col2Im(out.st.buf, src.st.buf, g)
	if recording(col) {
		record(out, op, func(c *bctx) { c.set(0, im2col(c.g, g)) }, col)
	}
	return out
}

// Conv2D returns the 2-D convolution (cross-correlation, as in PyTorch and
// MXNet) of x, of shape [N, C, H, W], with the filters w, of shape
// [O, C, KH, KW], plus the bias b (shape [O], or nil), with the given stride
// and zero padding on every side. The result has shape [N, O, OH, OW] with
// OH = (H + 2·padding − KH)/stride + 1, likewise OW. It is differentiable
// in x, w and b.
func Conv2D(x, w, b *Tensor, stride, padding int) *Tensor {
	const op = "Conv2D"
	if h, ok := Autocasting(); ok {
		x, w, b = castLow(x, h), castLow(w, h), castLow(b, h)
	}
	checkPair(op, x, w)
	if len(w.shape) != 4 || len(x.shape) != 4 || w.shape[1] != x.shape[1] {
		fail(ErrShape, op, "want input [N, C, H, W] and filters [O, C, KH, KW]", x, w)
	}
	g := convGeom(op, x, w.shape[2], w.shape[3], stride, padding)
	o := w.shape[0]
	if b != nil {
		checkPair(op, x, b)
		if len(b.shape) != 1 || b.shape[0] != o {
			fail(ErrShape, op, fmt.Sprintf("bias must have shape [%d]", o), w, b)
		}
	}
	// One matrix product for the whole batch: [O, C·KH·KW]·[C·KH·KW, N·OH·OW]
	// gives [O, N, OH, OW]; the NCHW result is a transposed view of it, made
	// dense by the bias addition when there is a bias.
	col := im2col(x, g)
	out := w.Reshape(o, g.C*g.KH*g.KW).MatMul(col).Reshape(o, g.N, g.OH, g.OW).Transpose(1, 0, 2, 3)
	if b != nil {
		out = out.Add(b.Reshape(1, o, 1, 1))
	}
	return out
}

// MaxPool2D returns the maximum of each kernel×kernel window of x (shape
// [N, C, H, W]) taken every stride positions, with padding positions on
// each side that never win. NaN counts as the maximum. The gradient goes to
// the first maximum of each window. padding must be at most kernel/2.
func MaxPool2D(x *Tensor, kernel, stride, padding int) *Tensor {
	const op = "MaxPool2D"
	x.live(op)
	x.needFloat(op)
	g := convGeom(op, x, kernel, kernel, stride, padding)
	if 2*padding > kernel {
		fail(ErrArgument, op, fmt.Sprintf("padding %d is more than half the window %d", padding, kernel), x)
	}
	shape := []int{g.N, g.C, g.OH, g.OW}
	out := empty(op, x.st.be, x.st.dt, shape)
	// Window indices in float32 for half tensors: bfloat16 holds integers
	// exactly only up to 256.
	idx := empty(op, x.st.be, x.st.dt.Compute(), append([]int(nil), shape...))
	x.st.be.MaxPool(out.st.buf, idx.st.buf, x.st.buf, x.layout(), g)
	if recording(x) {
		record(out, op, func(c *bctx) { c.set(0, poolScatter(c.g, idx, g)) }, x)
	}
	return out
}

// poolScatter sums dy back to the positions idx names (the gradient of a
// max-pool). It is linear in dy, with poolGather as its adjoint.
func poolScatter(dy, idx *Tensor, g device.ConvGeom) *Tensor {
	const op = "PoolScatter"
	src := dy.denseCopy(op)
	out := empty(op, dy.st.be, dy.st.dt, []int{g.N, g.C, g.H, g.W})
	dy.st.be.PoolScatter(out.st.buf, src.st.buf, idx.st.buf, g)
	if recording(dy) {
		record(out, op, func(c *bctx) { c.set(0, poolGather(c.g, idx, g)) }, dy)
	}
	return out
}

// poolGather reads x at the positions idx names.
func poolGather(x, idx *Tensor, g device.ConvGeom) *Tensor {
	const op = "PoolGather"
	src := x.denseCopy(op)
	out := empty(op, x.st.be, x.st.dt, []int{g.N, g.C, g.OH, g.OW})
	x.st.be.PoolGather(out.st.buf, src.st.buf, idx.st.buf, g)
	if recording(x) {
		record(out, op, func(c *bctx) { c.set(0, poolScatter(c.g, idx, g)) }, x)
	}
	return out
}

// LogSoftmax returns x − log Σ exp(x) along axis (negative counts from the
// end), computed stably by subtracting the maximum first. It is
// differentiable.
func (t *Tensor) LogSoftmax(axis int) *Tensor {
	t = autocastUp(t)
	t.live("LogSoftmax")
	t.needFloat("LogSoftmax")
	ax := normAxes("LogSoftmax", t, []int{axis})[0]
	if t.shape[ax] == 0 {
		return t.Clone() // empty, as NumPy and PyTorch
	}
	m := t.Detach().MaxKeepDims(ax)
	shifted := t.Sub(m)
	return shifted.Sub(shifted.Exp().SumKeepDims(ax).Log())
}

// Softmax returns exp(x) / Σ exp(x) along axis, computed stably. It is
// differentiable.
func (t *Tensor) Softmax(axis int) *Tensor {
	t = autocastUp(t)
	t.live("Softmax")
	t.needFloat("Softmax")
	ax := normAxes("Softmax", t, []int{axis})[0]
	if t.shape[ax] == 0 {
		return t.Clone() // empty, as NumPy and PyTorch
	}
	e := t.Sub(t.Detach().MaxKeepDims(ax)).Exp()
	return e.Div(e.SumKeepDims(ax))
}

// OneHot returns a tensor of shape [n, classes] with a 1 at (i, labels[i])
// and 0 elsewhere, for labels of shape [n] holding class indices (integers,
// or floats). The result has the labels' dtype when they are floats and
// Float32 when they are integers, unless [WithDType] gives a float dtype
// (other options are ignored). A label that is not a class index panics
// with ErrIndex or ErrArgument, as in [SoftmaxCrossEntropy]: on CUDA at the
// next read of a tensor on that device, the row being all zeros. Not
// differentiable.
func OneHot(labels *Tensor, classes int, opts ...Option) *Tensor {
	labels.live("OneHot")
	if len(labels.shape) != 1 {
		fail(ErrShape, "OneHot", "labels must be 1-d", labels)
	}
	if classes < 0 {
		fail(ErrArgument, "OneHot", fmt.Sprintf("%d classes", classes), labels)
	}
	dt := labels.st.dt
	if dt.IsInt() {
		dt = Float32
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.dtOK {
		floatOnly("OneHot", o.dt)
		dt = o.dt
	}
	checkLabels("OneHot", labels, classes, device.IndexOneHot)
	// Half dtypes compare in float32 (bfloat16 holds integers exactly only
	// up to 256), then convert the zeros and ones.
	cdt := dt.Compute()
	if labels.st.dt != cdt && !(labels.st.dt == dt && classes <= halfExact(dt)) {
		labels = labelsAs("OneHot", labels, cdt, classes)
	}
	cls := Arange(0, float64(classes), 1, On(labels.st.dev), WithDType(labels.st.dt))
	return labels.ExpandDims(1).Detach().Eq(cls).AsType(dt)
}

// LabelsAs returns labels (class indices, as Int64, Int32 or floats of
// logits' dtype) as floats of logits' dtype, for the losses that take
// labels: integer labels are converted, float ones returned as they are.
// Half logits (BFloat16, Float16) take their labels in Float32, which
// holds every class index up to 2^24 exactly (bfloat16 only up to 256):
// integer labels are converted to Float32, and Float32 labels are
// accepted as they are, as are labels of the logits' own dtype. It
// panics with ErrDevice, ErrDType or ErrArgument naming op when the
// labels are on another device, are floats of another dtype, or are
// integers that the dtype cannot hold exactly (more than 2^24 classes in
// float32 and the half dtypes, 2^53 in float64). Exported for package
// nn's losses.
func LabelsAs(op string, labels, logits *Tensor) *Tensor {
	logits.live(op)
	labels.live(op)
	logits.needFloat(op)
	if labels.st.dev != logits.st.dev {
		fail(ErrDevice, op, "logits and labels are on different devices; move one with To", logits, labels)
	}
	if !labels.st.dt.IsInt() {
		if logits.st.dt.IsHalf() && labels.st.dt == Float32 {
			return labels
		}
		checkPair(op, logits, labels)
		return labels
	}
	classes := 0
	if len(logits.shape) > 0 {
		classes = logits.shape[len(logits.shape)-1]
	}
	if len(logits.shape) >= 2 {
		classes = logits.shape[1]
	}
	return labelsAs(op, labels, logits.st.dt.Compute(), classes)
}

// labelsAs converts integer labels to the float dtype dt, refusing class
// counts whose indices dt cannot represent exactly.
func labelsAs(op string, labels *Tensor, dt DType, classes int) *Tensor {
	if exact := halfExact(dt); classes > exact {
		fail(ErrArgument, op, fmt.Sprintf("%d classes: %v cannot hold every class index exactly (only up to %d); use float32 or float64", classes, dt, exact), labels)
	}
	// Out-of-range integers must stay out of range after the conversion
	// (the conversion saturates, and the check after it refuses them).
	return labels.Detach().AsType(dt)
}

// SoftmaxCrossEntropy returns, for logits of shape [N, C] and labels of
// shape [N] holding class indices (Int64 or Int32, or floats of the
// logits' dtype), the
// per-sample losses −log softmax(logits)[i, labels[i]], shape [N]. Forward
// and backward are one fused operation each (the softmax is computed once,
// with the row maximum subtracted, and saved). A bad label panics with
// ErrIndex (outside [0, C)) or ErrArgument (not an integer: fractional, NaN
// or infinite), on the CPU checked before anything is computed. On CUDA the
// kernels check the labels without the host waiting: a bad label gives a
// NaN loss (and a NaN gradient row), and the panic, the same *Error, comes
// at the next read of a tensor on that device (Item, Float32s, To, ...);
// the device stays usable. Differentiable in the logits, to any order.
func SoftmaxCrossEntropy(logits, labels *Tensor) *Tensor {
	const op = "SoftmaxCrossEntropy"
	logits, labels = autocastUp(logits), autocastUp(labels)
	logits.live(op)
	labels.live(op)
	if logits.st.dt.IsHalf() && labels.st.dt.IsInt() && labels.st.dev == logits.st.dev && len(logits.shape) == 2 {
		// Half logits take their labels in float32, which holds more
		// class indices exactly.
		labels = labelsAs(op, labels, Float32, logits.shape[1])
	} else {
		labels = LabelsAs(op, labels, logits)
	}
	if len(logits.shape) != 2 || len(labels.shape) != 1 || labels.shape[0] != logits.shape[0] {
		fail(ErrShape, op, "want logits [N, C] and labels [N]", logits, labels)
	}
	n, k := logits.shape[0], logits.shape[1]
	checkLabels(op, labels, k, device.IndexSoftmaxCE)
	if logits.st.dt.IsHalf() && labels.st.dt == logits.st.dt {
		// The fused kernels read half labels in float32 anyway; keep
		// them there for the recorded backward's OneHot too.
		labels = labels.Detach().AsType(Float32)
	}
	x := logits.denseCopy(op)
	lab := labels.denseCopy(op)
	loss := empty(op, logits.st.be, logits.st.dt, []int{n})
	prob := empty(op, logits.st.be, logits.st.dt, []int{n, k})
	logits.st.be.SoftmaxCE(loss.st.buf, prob.st.buf, x.st.buf, lab.st.buf, n, k)
	if recording(logits) {
		record(loss, op, func(c *bctx) {
			if !c.needs(0) {
				return
			}
			if c.create {
				// Recorded form, so that the gradient can be differentiated.
				p := c.in(0).Softmax(1)
				c.set(0, p.Sub(OneHot(lab, k, WithDType(p.st.dt))).Mul(c.g.ExpandDims(1)))
				return
			}
			// The labels are not an input of the operation (no version
			// check): they may have been changed in place since.
			checkLabels(op, lab, k, device.IndexSoftmaxCEGrad)
			g := c.g
			d := empty(op, g.st.be, g.st.dt, []int{n, k})
			g.st.be.SoftmaxCEGrad(d.st.buf, prob.st.buf, lab.st.buf, g.st.buf, g.layout(), n, k)
			c.set(0, d)
		}, logits)
	}
	return loss
}

// checkLabels panics unless every element of labels is a class index in
// [0, classes): ErrIndex for an integer outside, ErrArgument for a value
// that is not an integer (fractional, NaN, infinite). It reads the labels
// on the host (in place on the CPU, else a copy, which waits for the
// device).
//
// On a device that checks labels itself ([device.IndexChecker]: CUDA) the
// check is not made here, so that the host neither waits for the device
// nor copies the labels: the kernels of SoftmaxCrossEntropy (iop
// device.IndexSoftmaxCE, device.IndexSoftmaxCEGrad) check the labels they
// read, and for OneHot (device.IndexOneHot) a check kernel is enqueued. A
// bad label then makes the operation's outputs NaN and panics, as the
// same *Error, at the next read of a tensor on that device (Item,
// Float32s, ..., To).
func checkLabels(op string, labels *Tensor, classes int, iop device.IndexOp) {
	if ic := deviceChecker(labels); ic != nil {
		if (iop == device.IndexOneHot || iop == device.IndexLabels) && labels.Size() > 0 {
			lab := labels.Detach()
			if lab.st.dt.IsHalf() {
				lab = lab.AsType(Float32) // exact
			}
			if !lab.isContiguous() {
				lab = materialize(op, lab)
			}
			ic.CheckIndices(iop, lab.st.buf, lab.offset, lab.Size(), classes)
		}
		return
	}
	if labels.st.dt.IsInt() {
		if i, v, ok := firstOutside(labels, int64(classes)); ok {
			fail(ErrIndex, op, fmt.Sprintf("label %d is %d, outside the %d classes [0, %d)", i, v, classes, classes), labels)
		}
		return
	}
	for i, v := range labels.Float64s() {
		switch {
		case v != math.Trunc(v) || math.IsInf(v, 0):
			fail(ErrArgument, op, fmt.Sprintf("label %d is %v, not a class index", i, v), labels)
		case v < 0 || v >= float64(classes):
			fail(ErrIndex, op, fmt.Sprintf("label %d is %v, outside the %d classes [0, %d)", i, v, classes, classes), labels)
		}
	}
}

// CheckLabels checks, for the operation op, that every element of labels
// (Int32, Int64 or a float dtype) is a class index in [0, classes), as
// SoftmaxCrossEntropy and OneHot check theirs: on the CPU it reads them
// and panics with ErrIndex (outside) or ErrArgument (not an integer:
// fractional, NaN or infinite) naming op; on a device that checks on the
// device (CUDA) it enqueues a check kernel and returns, and a bad label
// is reported by the next read of a tensor of that device (Item,
// Float32s, To, ...) as the same kinds of error. Exported for package
// nn's losses.
func CheckLabels(op string, labels *Tensor, classes int) {
	labels.live(op)
	checkLabels(op, labels, classes, device.IndexLabels)
}

// halfExact returns the largest n such that the float dtype dt holds every
// integer in [0, n] exactly.
func halfExact(dt DType) int {
	switch dt {
	case Float64:
		return 1 << 53
	case BFloat16:
		return 1 << 8
	case Float16:
		return 1 << 11
	}
	return 1 << 24
}
