package nn

import (
	"fmt"
	"slices"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// LayerNorm and RMSNorm run the fused operations of package tensor
// (Tensor.LayerNorm, Tensor.RMSNorm): one kernel for the forward and one
// for the backward on every device, differentiable to any order (a
// recorded backward, under CreateGraph, is composed from tensor
// operations). The batch normalisations are composed from tensor
// operations (means, Rsqrt, broadcasting products).

// LayerNorm normalises over the last len(NormalizedShape) axes of its input
// (PyTorch's LayerNorm): with μ and σ² the mean and the biased variance
// over those axes,
//
//	y = (x − μ)/√(σ² + Eps)·Weight + Bias.
//
// Weight and Bias have shape NormalizedShape; nil leaves them out
// (elementwise_affine=False, bias=False). Its parameters are named
// "weight" and "bias". An input whose trailing axes are not
// NormalizedShape, or of another dtype or device than the parameters,
// panics with a *tensor.Error (ErrShape, ErrDType, ErrDevice).
type LayerNorm struct {
	NormalizedShape []int
	Eps             float64
	Weight, Bias    *tensor.Tensor
}

// NewLayerNorm returns a LayerNorm over the trailing axes normalizedShape
// with Eps 1e-5, Weight ones and Bias zeros, gradients attached (PyTorch's
// defaults). opts choose the dtype and device of the parameters.
func NewLayerNorm(normalizedShape []int, opts ...tensor.Option) *LayerNorm {
	l := &LayerNorm{NormalizedShape: slices.Clone(normalizedShape), Eps: 1e-5,
		Weight: tensor.Ones(normalizedShape, opts...), Bias: tensor.Zeros(normalizedShape, opts...)}
	l.Weight.AttachGrad()
	l.Bias.AttachGrad()
	return l
}

// Forward normalises x.
func (l *LayerNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	axes := trailingAxes("LayerNorm", x, l.NormalizedShape, l.Weight, l.Bias)
	return x.LayerNorm(len(axes), l.Weight, l.Bias, l.Eps)
}

// Params returns Weight and Bias (those that are not nil).
func (l *LayerNorm) Params() []*tensor.Tensor { return tensorsOf(l.NamedParameters()) }

// NamedParameters returns Weight as "weight" and Bias as "bias" (those
// that are not nil).
func (l *LayerNorm) NamedParameters() []NamedTensor {
	return named("weight", l.Weight, "bias", l.Bias)
}

// RMSNorm scales its input by the reciprocal root mean square over the
// last len(NormalizedShape) axes (PyTorch's RMSNorm):
//
//	y = x/√(mean(x²) + Eps)·Weight.
//
// Eps 0 means the machine epsilon of the input's dtype (PyTorch's
// eps=None): 2⁻²³ for float32, 2⁻⁵² for float64. Weight has shape
// NormalizedShape (nil leaves it out) and is named "weight". Errors as for
// [LayerNorm].
type RMSNorm struct {
	NormalizedShape []int
	Eps             float64
	Weight          *tensor.Tensor
}

// NewRMSNorm returns an RMSNorm over the trailing axes normalizedShape
// with the default Eps and Weight ones, gradient attached.
func NewRMSNorm(normalizedShape []int, opts ...tensor.Option) *RMSNorm {
	r := &RMSNorm{NormalizedShape: slices.Clone(normalizedShape), Weight: tensor.Ones(normalizedShape, opts...)}
	r.Weight.AttachGrad()
	return r
}

// Forward normalises x.
func (r *RMSNorm) Forward(x *tensor.Tensor) *tensor.Tensor {
	axes := trailingAxes("RMSNorm", x, r.NormalizedShape, r.Weight)
	eps := r.Eps
	if eps == 0 {
		eps = machineEps(x.DType())
	}
	return x.RMSNorm(len(axes), r.Weight, eps)
}

// Params returns Weight (unless nil).
func (r *RMSNorm) Params() []*tensor.Tensor { return tensorsOf(r.NamedParameters()) }

// NamedParameters returns Weight as "weight" (unless nil).
func (r *RMSNorm) NamedParameters() []NamedTensor { return named("weight", r.Weight) }

// machineEps returns the difference between 1 and the next number of dt.
func machineEps(dt tensor.DType) float64 {
	if dt == tensor.Float32 {
		return 1.0 / (1 << 23)
	}
	return 1.0 / (1 << 52)
}

// trailingAxes checks that x ends with the axes shape and has the dtype and
// device of the non-nil params, and returns the indices of those axes.
func trailingAxes(op string, x *tensor.Tensor, shape []int, params ...*tensor.Tensor) []int {
	xs, k := x.Shape(), len(shape)
	if k == 0 || len(xs) < k || !slices.Equal(xs[len(xs)-k:], shape) {
		fail(tensor.ErrShape, op, fmt.Sprintf("the input's trailing axes must be the normalized shape %v", shape), x)
	}
	checkParams(op, x, params...)
	axes := make([]int, k)
	for i := range axes {
		axes[i] = len(xs) - k + i
	}
	return axes
}

// checkParams panics unless every non-nil param has x's dtype and device.
func checkParams(op string, x *tensor.Tensor, params ...*tensor.Tensor) {
	for _, p := range params {
		switch {
		case p == nil:
		case p.DType() != x.DType():
			fail(tensor.ErrDType, op, "the input and the layer's tensors have different dtypes", x, p)
		case p.Device() != x.Device():
			fail(tensor.ErrDevice, op, "the input and the layer's tensors are on different devices", x, p)
		}
	}
}

// affine returns y·w + b, leaving out a nil w or b.
func affine(y, w, b *tensor.Tensor) *tensor.Tensor {
	if w != nil {
		y = y.Mul(w)
	}
	if b != nil {
		y = y.Add(b)
	}
	return y
}

// BatchNorm is the state and the methods that [BatchNorm1d] and
// [BatchNorm2d] share: the affine parameters, the running statistics, the
// hyper-parameters and the mode. Make it through the layers' constructors.
type BatchNorm struct {
	Weight, Bias            *tensor.Tensor // [C], or nil
	RunningMean, RunningVar *tensor.Tensor // [C]
	Momentum, Eps           float64

	predict bool
}

// Params returns Weight and Bias (those that are not nil).
func (bn *BatchNorm) Params() []*tensor.Tensor { return tensorsOf(bn.NamedParameters()) }

// NamedParameters returns Weight as "weight" and Bias as "bias" (those
// that are not nil).
func (bn *BatchNorm) NamedParameters() []NamedTensor {
	return named("weight", bn.Weight, "bias", bn.Bias)
}

// NamedBuffers returns RunningMean as "running_mean" and RunningVar as
// "running_var".
func (bn *BatchNorm) NamedBuffers() []NamedTensor {
	return named("running_mean", bn.RunningMean, "running_var", bn.RunningVar)
}

// SetTraining switches between batch statistics (training) and running
// statistics (prediction).
func (bn *BatchNorm) SetTraining(on bool) { bn.predict = !on }

// Training reports whether the layer uses batch statistics.
func (bn *BatchNorm) Training() bool { return !bn.predict }

func (bn *BatchNorm) forward(op string, x *tensor.Tensor) *tensor.Tensor {
	return batchNorm(op, x, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar, bn.Momentum, bn.Eps, !bn.predict)
}

// BatchNorm1d normalises each channel of an [N, C] or [N, C, L] input over
// the batch (and length) axes, PyTorch's BatchNorm1d:
//
//	y = (x − μ)/√(σ² + Eps)·Weight + Bias,
//
// per channel. In training mode μ and σ² are the batch's mean and biased
// variance, and the running statistics are updated outside the recorded
// graph (see [BatchNorm2d] for the rule); in prediction mode they are the
// running statistics. Its parameters are "weight" and "bias" (nil leaves
// them out: affine=False) and its buffers "running_mean" and
// "running_var", all of shape [C]. (PyTorch's num_batches_tracked buffer,
// used only when momentum is None, is not kept.)
//
// Its mode lives in the layer; it starts in training mode ([SetTraining]).
// Errors as for [BatchNorm2d], with Op "BatchNorm1d".
type BatchNorm1d struct{ BatchNorm }

// NewBatchNorm1d returns a BatchNorm1d for c channels with PyTorch's
// defaults: Momentum 0.1, Eps 1e-5, Weight ones and Bias zeros (gradients
// attached), running mean zeros and running variance ones.
func NewBatchNorm1d(c int, opts ...tensor.Option) *BatchNorm1d {
	return &BatchNorm1d{newBatchNorm(c, opts)}
}

// Forward normalises x, [N, C] or [N, C, L].
func (bn *BatchNorm1d) Forward(x *tensor.Tensor) *tensor.Tensor {
	const op = "BatchNorm1d"
	if x.Rank() != 2 && x.Rank() != 3 {
		fail(tensor.ErrShape, op, "want input [N, C] or [N, C, L]", x)
	}
	return bn.forward(op, x)
}

// BatchNorm2d normalises each channel of an [N, C, H, W] input over the
// batch and spatial axes, PyTorch's BatchNorm2d:
//
//	y = (x − μ)/√(σ² + Eps)·Weight + Bias,
//
// per channel, with parameters, buffers and modes as for [BatchNorm1d].
//
// In training mode μ and σ² are the batch's mean and biased variance over
// the n = N·H·W values of each channel, and the running statistics become
//
//	running_mean = (1 − Momentum)·running_mean + Momentum·μ
//	running_var  = (1 − Momentum)·running_var + Momentum·σ²·n/(n − 1)
//
// (the unbiased variance, as PyTorch). The update is not part of the
// recorded graph: it is computed from detached statistics and written with
// tensor.AssignAll inside autograd.Pause, since in-place updates must not
// run while the calling goroutine records. Training needs n > 1 (PyTorch's
// rule). In prediction mode the forward uses copies of the running
// statistics, so that a later update of them does not invalidate a
// recorded graph (tensor.ErrModified).
//
// An input that is not 4-d, or whose channels are not C, or of another
// dtype or device than the running statistics, panics with a
// *tensor.Error (ErrShape, ErrDType, ErrDevice).
type BatchNorm2d struct{ BatchNorm }

// NewBatchNorm2d returns a BatchNorm2d for c channels with PyTorch's
// defaults: Momentum 0.1, Eps 1e-5, Weight ones and Bias zeros (gradients
// attached), running mean zeros and running variance ones.
func NewBatchNorm2d(c int, opts ...tensor.Option) *BatchNorm2d {
	return &BatchNorm2d{newBatchNorm(c, opts)}
}

// Forward normalises x, [N, C, H, W].
func (bn *BatchNorm2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	const op = "BatchNorm2d"
	if x.Rank() != 4 {
		fail(tensor.ErrShape, op, "want input [N, C, H, W]", x)
	}
	return bn.forward(op, x)
}

func newBatchNorm(c int, opts []tensor.Option) BatchNorm {
	w, b := tensor.Ones([]int{c}, opts...), tensor.Zeros([]int{c}, opts...)
	w.AttachGrad()
	b.AttachGrad()
	return BatchNorm{Weight: w, Bias: b, RunningMean: tensor.Zeros([]int{c}, opts...), RunningVar: tensor.Ones([]int{c}, opts...),
		Momentum: 0.1, Eps: 1e-5}
}

// batchNorm normalises x ([N, C, ...]) per channel (axis 1).
func batchNorm(op string, x, w, b, rm, rv *tensor.Tensor, momentum, eps float64, training bool) *tensor.Tensor {
	if rm == nil || rv == nil {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: "the running statistics are nil; make the layer with its constructor"})
	}
	// On autocast's float32 list, as LayerNorm: a half input (a
	// convolution's output under amp.Autocast) is normalised in float32
	// with the layer's float32 statistics and parameters.
	x = autocastUp(x)
	xs := x.Shape()
	c := xs[1]
	for _, t := range []*tensor.Tensor{w, b, rm, rv} {
		if t != nil && !slices.Equal(t.Shape(), []int{c}) {
			fail(tensor.ErrShape, op, fmt.Sprintf("the input has %d channels (axis 1); the layer's tensors must be [%d]", c, c), x, t)
		}
	}
	checkParams(op, x, w, b, rm, rv)
	// The axes reduced over, and the shape that broadcasts a [C] tensor
	// along axis 1.
	axes := []int{0}
	bshape := []int{1, c}
	n := xs[0]
	for i := 2; i < len(xs); i++ {
		axes = append(axes, i)
		bshape = append(bshape, 1)
		n *= xs[i]
	}
	per := func(t *tensor.Tensor) *tensor.Tensor {
		if t == nil {
			return nil
		}
		return t.Reshape(bshape...)
	}
	if !training {
		// Copies: the running statistics may be updated in place before
		// a backward pass through this forward reaches them.
		mean, inv := rm.Clone(), rv.AddScalar(eps).Rsqrt()
		return affine(x.Sub(per(mean)).Mul(per(inv)), per(w), per(b))
	}
	if n <= 1 {
		fail(tensor.ErrShape, op, fmt.Sprintf("training needs more than 1 value per channel, got %d", n), x)
	}
	mean := x.MeanKeepDims(axes...)
	xc := x.Sub(mean)
	v := xc.Square().MeanKeepDims(axes...)
	y := affine(xc.Mul(v.AddScalar(eps).Rsqrt()), per(w), per(b))
	autograd.Pause(func() {
		bm, bv := mean.Detach().Reshape(c), v.Detach().Reshape(c)
		newM := rm.MulScalar(1 - momentum).Add(bm.MulScalar(momentum))
		newV := rv.MulScalar(1 - momentum).Add(bv.MulScalar(momentum * float64(n) / float64(n-1)))
		tensor.AssignAll([]*tensor.Tensor{rm, rv}, []*tensor.Tensor{newM, newV})
	})
	return y
}
