package nn

import (
	"fmt"
	"math"
	"slices"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// Reduction says how a loss combines its per-element (or, for NLL and the
// cross-entropies, per-sample) losses. It is the last, optional argument of
// MSE, L1, Huber, BCEWithLogits, NLL and CrossEntropySmoothed: none means
// [ReduceMean], PyTorch's default. ([CrossEntropy] keeps its signature and
// always averages; CrossEntropySmoothed with eps 0 is it with a reduction.)
type Reduction int

// The reductions, as PyTorch's reduction argument ("mean", "sum", "none").
const (
	// ReduceMean returns the mean as a 0-d tensor: over all elements for
	// the elementwise losses (the batch mean when there is one loss per
	// sample), over the N samples for NLL and the cross-entropies. The mean
	// of no elements is NaN, as in PyTorch.
	ReduceMean Reduction = iota
	// ReduceSum returns the sum as a 0-d tensor (0 for no elements).
	ReduceSum
	// ReduceNone returns the unreduced losses: the operands' shape for the
	// elementwise losses, [N] for NLL and the cross-entropies.
	ReduceNone
)

// String returns PyTorch's name of the reduction: "mean", "sum" or "none".
func (r Reduction) String() string {
	switch r {
	case ReduceMean:
		return "mean"
	case ReduceSum:
		return "sum"
	case ReduceNone:
		return "none"
	}
	return fmt.Sprintf("Reduction(%d)", int(r))
}

// reduction returns the single optional reduction, ReduceMean if there is
// none, and panics with ErrArgument for several or an unknown one.
func reduction(op string, r []Reduction) Reduction {
	switch {
	case len(r) == 0:
		return ReduceMean
	case len(r) > 1:
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("%d reductions %v; pass at most one", len(r), r)})
	case r[0] < ReduceMean || r[0] > ReduceNone:
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("unknown reduction %v", r[0])})
	}
	return r[0]
}

// reduce applies r to the unreduced losses l.
func reduce(l *tensor.Tensor, r Reduction) *tensor.Tensor {
	switch r {
	case ReduceSum:
		return l.Sum()
	case ReduceNone:
		return l
	}
	return l.Mean()
}

// fail panics with a *tensor.Error describing ts.
func fail(kind error, op, detail string, ts ...*tensor.Tensor) {
	e := &tensor.Error{Kind: kind, Op: op, Detail: detail}
	for _, t := range ts {
		e.Shapes = append(e.Shapes, t.Shape())
		e.DTypes = append(e.DTypes, t.DType())
		e.Devices = append(e.Devices, t.Device())
	}
	panic(e)
}

// checkSame panics unless a and b have the same dtype (ErrDType), device
// (ErrDevice) and shape (ErrShape). The elementwise losses do not
// broadcast: a target of another shape is almost always a mistake (an [N]
// target against [N, 1] predictions would broadcast to [N, N]), and
// PyTorch warns about it.
func checkSame(op string, a, b *tensor.Tensor) {
	switch {
	case a.DType() != b.DType():
		fail(tensor.ErrDType, op, "the prediction and the target have different dtypes", a, b)
	case a.Device() != b.Device():
		fail(tensor.ErrDevice, op, "the prediction and the target are on different devices", a, b)
	case !slices.Equal(a.Shape(), b.Shape()):
		fail(tensor.ErrShape, op, "the prediction and the target must have the same shape (losses do not broadcast)", a, b)
	}
}

// scalarLike returns a 0-d tensor holding v with t's dtype and device.
func scalarLike(v float64, t *tensor.Tensor) *tensor.Tensor {
	return tensor.Scalar(v, tensor.On(t.Device()), tensor.WithDType(t.DType()))
}

// MSE returns the mean squared error mean((pred − target)²), PyTorch's
// MSELoss. pred and target must have the same shape, dtype and device
// (ErrShape, ErrDType, ErrDevice otherwise). It is differentiable in both,
// to any order.
func MSE(pred, target *tensor.Tensor, r ...Reduction) *tensor.Tensor {
	const op = "MSE"
	pred, target = autocastUp(pred), autocastUp(target)
	red := reduction(op, r)
	checkSame(op, pred, target)
	return reduce(pred.Sub(target).Square(), red)
}

// L1 returns the mean absolute error mean(|pred − target|), PyTorch's
// L1Loss. Its gradient where pred = target is 0 (PyTorch's sign(0)).
// Operands as for [MSE].
func L1(pred, target *tensor.Tensor, r ...Reduction) *tensor.Tensor {
	const op = "L1"
	pred, target = autocastUp(pred), autocastUp(target)
	red := reduction(op, r)
	checkSame(op, pred, target)
	return reduce(pred.Sub(target).Abs(), red)
}

// Huber returns the Huber loss of PyTorch's HuberLoss: with d = pred −
// target, ½d² where |d| < delta and delta·(|d| − ½delta) elsewhere,
// averaged. It is quadratic near 0 and linear beyond delta, with a
// continuous first derivative (d, clipped to ±delta). delta must be
// positive and finite (ErrArgument otherwise); operands as for [MSE].
// (SmoothL1Loss with beta = delta is this loss divided by delta.)
func Huber(pred, target *tensor.Tensor, delta float64, r ...Reduction) *tensor.Tensor {
	const op = "Huber"
	pred, target = autocastUp(pred), autocastUp(target)
	red := reduction(op, r)
	if !(delta > 0) || math.IsInf(delta, 1) {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("delta %v; it must be positive and finite", delta)})
	}
	checkSame(op, pred, target)
	d := pred.Sub(target)
	a := d.Abs()
	// Both branches have finite derivatives everywhere, so Where's zero
	// gradient for the branch not taken stays zero (no 0·∞). The quadratic
	// branch is d² rather than |d|², so that the second derivative at
	// d = 0 is 1, not Abs's 0.
	quad := d.Square().MulScalar(0.5)
	lin := a.SubScalar(0.5 * delta).MulScalar(delta)
	return reduce(tensor.Where(a.LtScalar(delta), quad, lin), red)
}

// BCEWithLogits returns the binary cross-entropy of sigmoid(logits) against
// target (probabilities in [0, 1], usually 0 or 1), PyTorch's
// BCEWithLogitsLoss without weights:
//
//	−[t·log σ(x) + (1 − t)·log(1 − σ(x))] = max(x, 0) − x·t + log1p(e^−|x|),
//
// computed in that stable form (tensor.Softplus is max(x, 0) +
// log1p(e^−|x|)), so that it neither overflows nor loses the loss of a
// confidently wrong logit. Its gradient in the logits is σ(x) − t, in the
// target −x; differentiable to any order. Operands as for [MSE].
func BCEWithLogits(logits, target *tensor.Tensor, r ...Reduction) *tensor.Tensor {
	const op = "BCEWithLogits"
	logits, target = autocastUp(logits), autocastUp(target)
	red := reduction(op, r)
	checkSame(op, logits, target)
	return reduce(logits.Softplus().Sub(logits.Mul(target)), red)
}

// NLL returns the negative log-likelihood loss of PyTorch's nll_loss
// (without class weights or an ignored index): for log-probabilities
// logProbs of shape [N, C] (from LogSoftmax, say) and labels of shape [N]
// holding class indices as floats of logProbs' dtype, the mean over the
// samples of −logProbs[i, labels[i]]. Only the labelled entry of each row
// is read, so −Inf log-probabilities of other classes are harmless.
//
// Bad input panics as tensor.SoftmaxCrossEntropy does, with Op "NLL":
// ErrShape unless the shapes are [N, C] and [N], ErrDType or ErrDevice
// for labels of another dtype or device, ErrIndex for a label outside
// [0, C) and ErrArgument for one that is not an integer (fractional, NaN,
// infinite). Labels are checked on the CPU only; on other devices (where a
// check would wait for the device) a bad label gives a NaN loss for its
// sample. Differentiable in logProbs, to any order.
func NLL(logProbs, labels *tensor.Tensor, r ...Reduction) *tensor.Tensor {
	const op = "NLL"
	logProbs, labels = autocastUp(logProbs), autocastUp(labels)
	red := reduction(op, r)
	labels = checkLabelled(op, logProbs, labels)
	return reduce(nll(logProbs, labels), red)
}

// CrossEntropySmoothed returns the softmax cross-entropy of logits [N, C]
// against labels [N] with label smoothing eps, PyTorch's CrossEntropyLoss
// with label_smoothing = eps: the target distribution puts 1 − eps + eps/C
// on the label and eps/C on every other class, so each sample's loss is
//
//	(1 − eps)·(−log p[label]) + eps·mean over the C classes of −log p[c],
//
// with p = softmax(logits). eps must be in [0, 1] (ErrArgument otherwise);
// with eps = 0 it is [CrossEntropy] (with a reduction). Labels and errors
// as for [NLL], with Op "CrossEntropySmoothed". Differentiable in the
// logits, to any order.
func CrossEntropySmoothed(logits, labels *tensor.Tensor, eps float64, r ...Reduction) *tensor.Tensor {
	const op = "CrossEntropySmoothed"
	logits, labels = autocastUp(logits), autocastUp(labels)
	red := reduction(op, r)
	if !(eps >= 0 && eps <= 1) {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("eps %v; label smoothing must be in [0, 1]", eps)})
	}
	labels = checkLabelled(op, logits, labels)
	if eps == 0 {
		// The fused operation; the smoothing term would turn a −Inf logit
		// (a masked class) into 0·∞ = NaN.
		return reduce(tensor.SoftmaxCrossEntropy(logits, labels), red)
	}
	logp := logits.LogSoftmax(1)
	l := nll(logp, labels).MulScalar(1 - eps).Sub(logp.Mean(1).MulScalar(eps))
	return reduce(l, red)
}

// checkLabelled checks the operands of NLL and the cross-entropies:
// x [N, C] and labels [N] (integers, or floats of x's dtype; Float32 for
// a half x) on x's device, and on the CPU every label a class index in
// [0, C). It returns the labels as floats of x's dtype, or of Float32 for
// a half x (see [tensor.LabelsAs]).
func checkLabelled(op string, x, labels *tensor.Tensor) *tensor.Tensor {
	if labels.DType().IsInt() && x.DType().IsFloat() && x.Device() == labels.Device() {
		labels = tensor.LabelsAs(op, labels, x)
	}
	halfX := x.DType().IsHalf() && labels.DType() == tensor.Float32
	switch {
	case x.DType() != labels.DType() && !halfX:
		fail(tensor.ErrDType, op, "labels must be class indices of the input's dtype", x, labels)
	case x.Device() != labels.Device():
		fail(tensor.ErrDevice, op, "the input and the labels are on different devices", x, labels)
	case x.Rank() != 2 || labels.Rank() != 1 || labels.Shape()[0] != x.Shape()[0]:
		fail(tensor.ErrShape, op, "want input [N, C] and labels [N]", x, labels)
	}
	// On the CPU the labels are read here; on CUDA a check kernel is
	// enqueued and a bad label reported at the next read.
	tensor.CheckLabels(op, labels, x.Shape()[1])
	return labels
}

// nll returns the per-sample losses −logProbs[i, labels[i]], shape [N],
// for checked operands. The labelled entries are selected with Where
// rather than multiplied by a one-hot mask, so that −Inf in other classes
// does not give 0·∞ = NaN.
func nll(logProbs, labels *tensor.Tensor) *tensor.Tensor {
	classes := logProbs.Shape()[1]
	cls := tensor.Arange(0, float64(classes), 1, tensor.On(labels.Device()), tensor.WithDType(labels.DType()))
	mask := labels.Detach().ExpandDims(1).Eq(cls) // [N, C], one-hot for a valid label
	if mask.DType() != logProbs.DType() {
		mask = mask.AsType(logProbs.DType()) // Float32 labels of half log-probabilities
	}
	zero := scalarLike(0, logProbs)
	l := tensor.Where(mask, logProbs, zero).Sum(1).Neg()
	if labels.Device().Kind() != device.KindCPU {
		// Unchecked labels: a row of the mask without a 1 (a label outside
		// [0, C), fractional or NaN) gives NaN, as SoftmaxCrossEntropy's
		// kernel does, rather than a silent 0.
		l = tensor.Where(mask.Sum(1), l, scalarLike(math.NaN(), logProbs))
	}
	return l
}

// autocastUp returns t cast to float32 if it is a half tensor and the
// calling goroutine autocasts (amp.Autocast), else t: the losses are on
// autocast's float32 list, as PyTorch's are.
func autocastUp(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || !t.DType().IsHalf() {
		return t
	}
	if _, ok := tensor.Autocasting(); ok {
		return t.AsType(tensor.Float32)
	}
	return t
}
