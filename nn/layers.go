package nn

import (
	"fmt"

	"github.com/tapegrad/tapegrad/tensor"
)

// Dropout zeroes each element of its input with probability P in training
// mode and scales the others by 1/(1 − P), so that the expected output is
// the input (PyTorch's Dropout). In prediction mode, and for P = 0, it
// returns its input unchanged; P = 1 gives zeros (x·0, so NaN and ±Inf
// give NaN, as in PyTorch). A P outside [0, 1] (or NaN) makes Forward
// panic with a *tensor.Error of kind tensor.ErrArgument.
//
// The mask is RandUniform(0, 1) ≥ P, drawn with x's dtype on x's device
// from Generator (the process-wide generator of tensor.Seed when nil).
// tapegrad's generator is counter-based (Philox) and gives the same
// numbers on every device, so the same seed gives the same mask on the CPU
// and on a GPU. Every Forward in training mode draws a new mask.
//
// Dropout's mode lives in the layer, so use a pointer (&nn.Dropout{P:
// 0.1}); it starts in training mode ([SetTraining]).
type Dropout struct {
	P         float64
	Generator *tensor.Generator // nil: the default generator

	predict bool
}

// Forward applies dropout in training mode and returns x in prediction
// mode.
func (d *Dropout) Forward(x *tensor.Tensor) *tensor.Tensor {
	const op = "Dropout"
	p := d.P
	if !(p >= 0 && p <= 1) {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("probability %v; it must be in [0, 1]", p)})
	}
	switch {
	case d.predict || p == 0:
		return x
	case p == 1:
		return x.Mul(scalarLike(0, x))
	}
	opts := []tensor.Option{tensor.On(x.Device()), tensor.WithDType(x.DType())}
	if d.Generator != nil {
		opts = append(opts, tensor.WithGenerator(d.Generator))
	}
	mask := tensor.RandUniform(0, 1, x.Shape(), opts...).GeScalar(p)
	return x.Mul(mask.MulScalar(1 / (1 - p)))
}

// Params returns nil.
func (*Dropout) Params() []*tensor.Tensor { return nil }

// NamedParameters returns nil.
func (*Dropout) NamedParameters() []NamedTensor { return nil }

// SetTraining switches dropout on (training) or off (prediction).
func (d *Dropout) SetTraining(on bool) { d.predict = !on }

// Training reports whether dropout is on.
func (d *Dropout) Training() bool { return !d.predict }

// GELU applies the Gaussian error linear unit: the exact x·Φ(x)
// (tensor.GELU) or, with Approximate, its tanh approximation
// (tensor.GELUTanh), PyTorch's GELU(approximate="tanh").
type GELU struct{ Approximate bool }

// Forward applies GELU.
func (g GELU) Forward(x *tensor.Tensor) *tensor.Tensor {
	if g.Approximate {
		return x.GELUTanh()
	}
	return x.GELU()
}

// Params returns nil.
func (GELU) Params() []*tensor.Tensor { return nil }

// NamedParameters returns nil.
func (GELU) NamedParameters() []NamedTensor { return nil }

// SiLU applies x·sigmoid(x) (swish).
type SiLU struct{}

// Forward applies SiLU.
func (SiLU) Forward(x *tensor.Tensor) *tensor.Tensor { return x.SiLU() }

// Params returns nil.
func (SiLU) Params() []*tensor.Tensor { return nil }

// NamedParameters returns nil.
func (SiLU) NamedParameters() []NamedTensor { return nil }

// AvgPool2D averages each Kernel×Kernel window of an [N, C, H, W] input,
// taken every Stride positions (Stride 0 means Kernel, PyTorch's default),
// with Padding zeros on every side counted in the average: PyTorch's
// AvgPool2d with count_include_pad=True and ceil_mode=False, so every
// window holds Kernel² elements and the divisor is always Kernel². The
// output is [N, C, (H + 2·Padding − Kernel)/Stride + 1, likewise for W].
//
// Kernel must be positive, Stride non-negative and Padding at most
// Kernel/2 (PyTorch's rule); otherwise, or for an input that is not 4-d,
// Forward panics with a *tensor.Error (ErrArgument, ErrShape) with Op
// "AvgPool2D".
//
// It is composed from tensor operations: a convolution of the channels,
// taken as a batch of one-channel images, with a constant Kernel×Kernel
// filter of 1/Kernel².
type AvgPool2D struct{ Kernel, Stride, Padding int }

// Forward pools x.
func (p AvgPool2D) Forward(x *tensor.Tensor) *tensor.Tensor {
	const op = "AvgPool2D"
	k, s, pad := p.Kernel, p.Stride, p.Padding
	if s == 0 {
		s = k
	}
	switch {
	case k <= 0:
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("kernel %d; it must be positive", k)})
	case s < 0:
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("stride %d; it must be positive (0 means the kernel size)", s)})
	case pad < 0 || pad > k/2:
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("padding %d; it must be in [0, kernel/2] = [0, %d]", pad, k/2)})
	case x.Rank() != 4:
		fail(tensor.ErrShape, op, "want input [N, C, H, W]", x)
	}
	sh := x.Shape()
	n, c, h, w := sh[0], sh[1], sh[2], sh[3]
	if h+2*pad < k || w+2*pad < k {
		fail(tensor.ErrShape, op, fmt.Sprintf("the padded input %d×%d is smaller than the kernel %d×%d", h+2*pad, w+2*pad, k, k), x)
	}
	filter := tensor.Full(1/float64(k*k), []int{1, 1, k, k}, tensor.On(x.Device()), tensor.WithDType(x.DType()))
	y := tensor.Conv2D(x.Reshape(n*c, 1, h, w), filter, nil, s, pad)
	ys := y.Shape()
	return y.Reshape(n, c, ys[2], ys[3])
}

// Params returns nil.
func (AvgPool2D) Params() []*tensor.Tensor { return nil }

// NamedParameters returns nil.
func (AvgPool2D) NamedParameters() []NamedTensor { return nil }
