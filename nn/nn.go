// Package nn holds the building blocks of neural networks on top of
// package tensor: parameter initialisation, layers, named parameters and
// state dicts, losses and accuracy.
//
// A layer is a value with a Forward method and the parameters it owns;
// parameters are ordinary tensors with a gradient attached, so any
// optimiser (package optim) or hand-written update can train them:
//
//	model := nn.Sequential{
//		nn.NewDense(784, 256), nn.ReLU{},
//		nn.NewDense(256, 10),
//	}
//	var loss *tensor.Tensor
//	autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(x), y) })
//	loss.Backward()
//	opt.Step()
//
// # Layers
//
// Dense, Conv2D, MaxPool2D, AvgPool2D, Flatten, the activations ReLU,
// Tanh, GELU and SiLU, the normalisations LayerNorm, RMSNorm, BatchNorm1d
// and BatchNorm2d, Dropout, MultiHeadAttention (and its core,
// ScaledDotProductAttention), and Sequential to chain them. Layers with
// parameters have constructors (NewDense, NewLayerNorm, ...) that
// initialise them and attach their gradients; the struct
// fields are exported, so a layer can also be built around existing
// tensors. Weights of Dense (and MultiHeadAttention's projections) are
// [in, out], the transpose of PyTorch's Linear.weight.
//
// # Modules and names
//
// Every layer here is a [Module]: besides Params it has NamedParameters,
// the same tensors under names. Names are dot-separated paths, as in
// PyTorch's state_dict: a layer names its own tensors ("weight", "bias";
// MultiHeadAttention "in_proj_weight", "out_proj.weight", ...), and a
// composite puts each child's name and a dot in front of the child's
// names — Sequential names its children by index, so
//
//	nn.Sequential{nn.NewDense(784, 256), nn.ReLU{}, nn.NewBatchNorm1d(256)}
//
// has the parameters "0.weight", "0.bias", "2.weight", "2.bias" and the
// buffers "2.running_mean" and "2.running_var". Buffers ([BufferOwner]) are
// state that is saved but not trained. [StateDict] gathers parameters and
// buffers into one map, and [LoadStateDict] copies such a map back into a
// model of the same architecture, strictly and all-or-nothing; with package
// checkpoint that is a save and resume:
//
//	ck.Put("model", nn.StateDict(model))   // saved as "model/0.weight", ...
//	...
//	err := nn.LoadStateDict(model, ck.Prefixed("model"))
//
// A model of the caller's own is a [Layer]; it joins in by implementing
// [Container] (Children, its parts under their names), and optionally
// [Module] to name its own tensors. The functions that walk a model
// ([NamedParameters], [NamedBuffers], [StateDict], [LoadStateDict],
// [SetTraining], [Summary]) take any Layer: a Layer that is neither a
// Module nor a Container has its Params named by position ("0", "1", ...).
//
// # Training and prediction
//
// Dropout and the BatchNorm layers behave differently in training and in
// prediction ([Modal]). Their mode is a property of the layer, as in
// PyTorch, and they start in training mode: call nn.SetTraining(model,
// false) before evaluating and nn.SetTraining(model, true) to go back.
// autograd's modes (Record's training mode, autograd.PredictMode) do not
// change how these layers behave. Layers whose mode lives in the layer are
// used through pointers (&nn.Dropout{P: 0.1}, nn.NewBatchNorm2d(c)).
//
// A BatchNorm layer in training mode writes its running statistics in
// every Forward, so it must not run Forward in several goroutines at once;
// the other layers may (concurrent Dropout calls draw their masks from the
// generator in whatever order they happen to run).
package nn

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/tensor"
)

// GlorotUniform returns a tensor of the given shape drawn uniformly from
// ±√(6/(fanIn+fanOut)) (Glorot and Bengio, 2010), suited to tanh and
// sigmoid layers.
func GlorotUniform(fanIn, fanOut int, shape []int, opts ...tensor.Option) *tensor.Tensor {
	a := math.Sqrt(6 / float64(fanIn+fanOut))
	return tensor.RandUniform(-a, a, shape, opts...)
}

// HeNormal returns a tensor of the given shape drawn from a normal
// distribution with standard deviation √(2/fanIn) (He et al., 2015), suited
// to ReLU layers.
func HeNormal(fanIn int, shape []int, opts ...tensor.Option) *tensor.Tensor {
	return tensor.RandNormal(0, math.Sqrt(2/float64(fanIn)), shape, opts...)
}

// HeUniform returns a tensor drawn uniformly from ±√(6/fanIn).
func HeUniform(fanIn int, shape []int, opts ...tensor.Option) *tensor.Tensor {
	a := math.Sqrt(6 / float64(fanIn))
	return tensor.RandUniform(-a, a, shape, opts...)
}

// Layer is a step of a network.
type Layer interface {
	// Forward applies the layer to a batch.
	Forward(x *tensor.Tensor) *tensor.Tensor
	// Params returns the layer's trainable tensors (none for stateless
	// layers), in a fixed order.
	Params() []*tensor.Tensor
}

// Sequential applies layers in order.
type Sequential []Layer

// Forward applies every layer in turn.
func (s Sequential) Forward(x *tensor.Tensor) *tensor.Tensor {
	for _, l := range s {
		x = l.Forward(x)
	}
	return x
}

// Params returns the parameters of all layers, in order.
func (s Sequential) Params() []*tensor.Tensor {
	var ps []*tensor.Tensor
	for _, l := range s {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Dense is a fully connected layer: y = x·W + B for x of shape [batch, in]
// (or [..., in]: leading axes are batch axes). W is [in, out], the
// transpose of PyTorch's Linear.weight; a nil B means no bias. Its
// parameters are named "weight" and "bias".
type Dense struct {
	W *tensor.Tensor // [in, out]
	B *tensor.Tensor // [out], or nil
}

// NewDense returns a dense layer with He-uniform weights (for ReLU
// networks) and zero bias, gradients attached.
func NewDense(in, out int, opts ...tensor.Option) *Dense {
	d := &Dense{W: HeUniform(in, []int{in, out}, opts...), B: tensor.Zeros([]int{out}, opts...)}
	d.W.AttachGrad()
	d.B.AttachGrad()
	return d
}

// Forward returns x·W + B (x·W when B is nil). Under autocast
// (amp.Autocast) the product and the bias addition both run in the
// scope's half type, as PyTorch's linear does.
func (d *Dense) Forward(x *tensor.Tensor) *tensor.Tensor {
	if d.B == nil {
		return x.MatMul(d.W)
	}
	y := x.MatMul(d.W)
	b := d.B
	if _, ok := tensor.Autocasting(); ok && b.DType() != y.DType() && b.DType().IsFloat() && y.DType().IsFloat() {
		// As PyTorch's linear, one operation under autocast: the bias is
		// added in the product's (half) dtype.
		b = b.AsType(y.DType())
	}
	return y.Add(b)
}

// Params returns W and B (W alone when B is nil).
func (d *Dense) Params() []*tensor.Tensor { return tensorsOf(d.NamedParameters()) }

// Conv2D is a 2-D convolution layer over [N, C, H, W] batches. A nil B
// means no bias. Its parameters are named "weight" and "bias".
type Conv2D struct {
	W               *tensor.Tensor // [out, in, k, k]
	B               *tensor.Tensor // [out], or nil
	Stride, Padding int
}

// NewConv2D returns a convolution layer with k×k filters, He-uniform
// weights and zero bias, gradients attached.
func NewConv2D(in, out, k, stride, padding int, opts ...tensor.Option) *Conv2D {
	c := &Conv2D{W: HeUniform(in*k*k, []int{out, in, k, k}, opts...), B: tensor.Zeros([]int{out}, opts...),
		Stride: stride, Padding: padding}
	c.W.AttachGrad()
	c.B.AttachGrad()
	return c
}

// Forward convolves x with the layer's filters and adds the bias.
func (c *Conv2D) Forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.Conv2D(x, c.W, c.B, c.Stride, c.Padding)
}

// Params returns W and B (W alone when B is nil).
func (c *Conv2D) Params() []*tensor.Tensor { return tensorsOf(c.NamedParameters()) }

// MaxPool2D is a max-pooling layer.
type MaxPool2D struct{ Kernel, Stride, Padding int }

// Forward pools x.
func (p MaxPool2D) Forward(x *tensor.Tensor) *tensor.Tensor {
	return tensor.MaxPool2D(x, p.Kernel, p.Stride, p.Padding)
}

// Params returns nil.
func (MaxPool2D) Params() []*tensor.Tensor { return nil }

// ReLU applies max(x, 0).
type ReLU struct{}

// Forward applies the rectifier.
func (ReLU) Forward(x *tensor.Tensor) *tensor.Tensor { return x.ReLU() }

// Params returns nil.
func (ReLU) Params() []*tensor.Tensor { return nil }

// Tanh applies the hyperbolic tangent.
type Tanh struct{}

// Forward applies tanh.
func (Tanh) Forward(x *tensor.Tensor) *tensor.Tensor { return x.Tanh() }

// Params returns nil.
func (Tanh) Params() []*tensor.Tensor { return nil }

// Flatten reshapes [N, ...] to [N, rest].
type Flatten struct{}

// Forward flattens all axes after the first.
func (Flatten) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Rank() == 0 {
		panic(&tensor.Error{Kind: tensor.ErrShape, Op: "Flatten", Shapes: [][]int{x.Shape()},
			Detail: "a 0-d tensor has no batch axis to keep"})
	}
	return x.Reshape(x.Shape()[0], -1)
}

// Params returns nil.
func (Flatten) Params() []*tensor.Tensor { return nil }

// CrossEntropy returns the mean softmax cross-entropy of logits [N, C]
// against labels [N] (class indices), computed by one fused operation.
func CrossEntropy(logits, labels *tensor.Tensor) *tensor.Tensor {
	return tensor.SoftmaxCrossEntropy(logits, labels).Mean()
}

// Accuracy returns the fraction of rows of logits [N, C] whose largest entry
// is at the label's index (labels [N]). It reads the predictions and the
// labels back to the host; a label outside [0, C) panics with a
// *tensor.Error of kind tensor.ErrIndex, one that is not an integer
// (fractional, NaN or infinite) with kind tensor.ErrArgument, as the
// losses do.
func Accuracy(logits, labels *tensor.Tensor) float64 {
	const op = "Accuracy"
	if logits.Rank() != 2 || labels.Rank() != 1 || labels.Shape()[0] != logits.Shape()[0] {
		panic(&tensor.Error{Kind: tensor.ErrShape, Op: op, Shapes: [][]int{logits.Shape(), labels.Shape()},
			Detail: "want logits [N, C] and labels [N]"})
	}
	n, classes := labels.Size(), logits.Shape()[1]
	if n == 0 {
		return math.NaN()
	}
	pred, lab := logits.ArgMax(1).Float64s(), labels.Float64s()
	right := 0
	for i, l := range lab {
		if l != math.Trunc(l) || math.IsInf(l, 0) {
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Shapes: [][]int{logits.Shape(), labels.Shape()},
				Detail: fmt.Sprintf("label %d is %v, not a class index", i, l)})
		}
		if l < 0 || l >= float64(classes) {
			panic(&tensor.Error{Kind: tensor.ErrIndex, Op: op, Shapes: [][]int{logits.Shape(), labels.Shape()},
				Detail: fmt.Sprintf("label %d is %v, outside the %d classes [0, %d)", i, l, classes, classes)})
		}
		if pred[i] == l {
			right++
		}
	}
	return float64(right) / float64(n)
}
