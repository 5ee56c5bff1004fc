package optest

import (
	"fmt"
	"math"
	"strings"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/optable"
	"github.com/tapegrad/tapegrad/tensor"
)

func one(f func(a *T) *T) func(x []*T) *T { return func(x []*T) *T { return f(x[0]) } }
func two(f func(a, b *T) *T) func(x []*T) *T {
	return func(x []*T) *T { return f(x[0], x[1]) }
}
func three(f func(a, b, c *T) *T) func(x []*T) *T {
	return func(x []*T) *T { return f(x[0], x[1], x[2]) }
}

// reductionCases: every reduction over several axes sets, on 0-d, size-1,
// transposed and broadcast inputs, and composed with other operations.
func reductionCases() []Case {
	type red struct {
		name string
		f    func(a *T, axes ...int) *T
	}
	reds := []red{
		{"Sum", (*T).Sum}, {"SumKeepDims", (*T).SumKeepDims},
		{"Mean", (*T).Mean}, {"MeanKeepDims", (*T).MeanKeepDims},
		{"Max", (*T).Max}, {"MaxKeepDims", (*T).MaxKeepDims},
		{"Min", (*T).Min}, {"MinKeepDims", (*T).MinKeepDims},
		{"Norm", (*T).Norm}, {"NormKeepDims", (*T).NormKeepDims},
	}
	axesSets := [][]int{nil, {0}, {1}, {2}, {-1}, {0, 2}, {-1, 0}, {0, 1, 2}}
	var cs []Case
	for _, r := range reds {
		f := r.f
		c := func(name string, g func(x []*T) *T, in ...Gen) Case {
			return Case{Name: r.name + name, Method: r.name, F: g, Inputs: Inputs(in...), RTol32: ReductionRTol32}
		}
		for _, axes := range axesSets {
			name := "/all"
			if axes != nil {
				name = strings.Trim(strings.ReplaceAll(fmt.Sprint(axes), " ", ","), "[]")
				name = "/axes=" + name
			}
			cs = append(cs, c(name, one(func(a *T) *T { return f(a, axes...) }), U(2, 3, 4)))
		}
		cs = append(cs,
			c("/0d", one(func(a *T) *T { return f(a) }), NZ()),
			c("/size1-axis", one(func(a *T) *T { return f(a, 1) }), U(3, 1, 4)),
			c("/transposed", one(func(a *T) *T { return f(a.Transpose(2, 0, 1), 1) }), U(2, 3, 4)),
			c("/broadcast-input", one(func(a *T) *T { return f(a.BroadcastTo(3, 4), 1).Sum().Mul(a) }), U(4)),
			c("/composite", one(func(a *T) *T { return f(a.Exp(), -1).Mul(f(a, 0).Sum()) }), U(3, 4)),
		)
	}
	return cs
}

// matmulCases: the matrix product on every rank combination, broadcast
// batches, and transposed, sliced and broadcast operands.
func matmulCases() []Case {
	mm := two((*T).MatMul)
	c := func(name string, f func(x []*T) *T, in ...Gen) Case {
		return Case{Name: "MatMul/" + name, Method: "MatMul", F: f, Inputs: Inputs(in...), RTol32: ReductionRTol32}
	}
	return []Case{
		c("2d", mm, U(3, 4), U(4, 5)),
		c("2d-square", mm, U(3, 3), U(3, 3)),
		c("batched", mm, U(2, 3, 4), U(2, 4, 5)),
		c("batch-bcast-right", mm, U(2, 3, 4), U(4, 5)),
		c("batch-bcast-left", mm, U(3, 4), U(2, 4, 5)),
		c("batch-bcast-both", mm, U(2, 1, 3, 4), U(3, 4, 2)),
		c("batch-size1", mm, U(1, 3, 4), U(2, 4, 2)),
		c("vec-left", mm, U(4), U(4, 5)),
		c("vec-right", mm, U(3, 4), U(4)),
		c("vec-left-batched", mm, U(4), U(2, 4, 3)),
		c("vec-right-batched", mm, U(2, 3, 4), U(4)),
		c("dot", mm, U(5), U(5)),
		c("outer-ish", mm, U(3, 1), U(1, 4)),
		c("k=1", mm, U(2, 3, 1), U(2, 1, 2)),
		c("transposed-a", two(func(a, b *T) *T { return a.T().MatMul(b) }), U(4, 3), U(4, 5)),
		c("transposed-b", two(func(a, b *T) *T { return a.MatMul(b.T()) }), U(3, 4), U(5, 4)),
		c("transposed-both", two(func(a, b *T) *T { return a.T().MatMul(b.T()) }), U(4, 3), U(5, 4)),
		c("batched-transposed", two(func(a, b *T) *T { return a.Transpose(0, 2, 1).MatMul(b) }), U(2, 4, 3), U(2, 4, 2)),
		c("batch-axes-permuted", two(func(a, b *T) *T { return a.Transpose(1, 0, 2, 3).MatMul(b) }), U(3, 2, 2, 4), U(2, 3, 4, 2)),
		c("sliced", two(func(a, b *T) *T { return a.Slice(1, 1, 5).MatMul(b.Slice(0, 0, 4)) }), U(3, 6), U(5, 2)),
		c("strided-cols", two(func(a, b *T) *T { return a.T().Slice(0, 1, 3).MatMul(b) }), U(4, 3), U(4, 2)),
		c("broadcastTo-rows", two(func(a, b *T) *T { return a.BroadcastTo(3, 4).MatMul(b) }), U(1, 4), U(4, 2)),
		c("broadcastTo-batch", two(func(a, b *T) *T { return a.BroadcastTo(2, 3, 4).MatMul(b) }), U(3, 4), U(2, 4, 2)),
		c("self", one(func(a *T) *T { return a.MatMul(a.T()) }), U(3, 4)),
		c("chain", three(func(a, b, c *T) *T { return a.MatMul(b).Tanh().MatMul(c) }), U(2, 3), U(3, 4), U(4, 2)),
		// One matrix b for the whole batch: the batch folds into a's rows
		// (one product), unless a's rows do not merge or b is a broadcast
		// view with batch axes of its own.
		c("fold-two-batch-axes", mm, U(2, 3, 3, 4), U(4, 5)),
		c("fold-b-batch-1", mm, U(2, 3, 4), U(1, 4, 5)),
		c("fold-a-rows-transposed", two(func(a, b *T) *T { return a.Transpose(0, 2, 1).MatMul(b) }), U(2, 4, 3), U(4, 5)),
		c("fold-a-sliced-rows", two(func(a, b *T) *T { return a.Slice(1, 1, 3).MatMul(b) }), U(2, 4, 4), U(4, 5)),
		c("fold-a-batch-permuted", two(func(a, b *T) *T { return a.Transpose(1, 0, 2, 3).MatMul(b) }), U(3, 2, 2, 4), U(4, 2)),
		c("fold-b-broadcast-view", two(func(a, b *T) *T { return a.MatMul(b.BroadcastTo(2, 4, 5)) }), U(2, 3, 4), U(4, 5)),
		c("fold-b-transposed", two(func(a, b *T) *T { return a.MatMul(b.T()) }), U(2, 3, 4), U(5, 4)),
	}
}

// otherDType returns the dtype that is not x's.
func otherDType(x *T) tensor.DType {
	if x.DType() == tensor.Float64 {
		return tensor.Float32
	}
	return tensor.Float64
}

// shapeCases: views and shape operations, joins, Where, conversions and
// copies. Most square their result so that the gradient depends on the
// values.
func shapeCases() []Case {
	sq := func(f func(a *T) *T) func(x []*T) *T {
		return one(func(a *T) *T { return f(a).Square() })
	}
	c := func(name, method string, f func(x []*T) *T, in ...Gen) Case {
		return Case{Name: name, Method: method, F: f, Inputs: Inputs(in...)}
	}
	return []Case{
		c("Reshape/view", "Reshape", sq(func(a *T) *T { return a.Reshape(4, 3) }), U(3, 4)),
		c("Reshape/infer", "Reshape", sq(func(a *T) *T { return a.Reshape(2, -1, 3) }), U(3, 4)),
		c("Reshape/copy", "Reshape", sq(func(a *T) *T { return a.T().Reshape(-1) }), U(3, 4)),
		c("Reshape/copy-3d", "Reshape", sq(func(a *T) *T { return a.Transpose(1, 0, 2).Reshape(3, 8) }), U(2, 3, 4)),
		c("Reshape/0d", "Reshape", sq(func(a *T) *T { return a.Reshape(1, 1) }), U()),
		c("Reshape/to-0d", "Reshape", sq(func(a *T) *T { return a.Reshape() }), U(1, 1)),
		c("Flatten", "Flatten", sq((*T).Flatten), U(2, 3, 2)),
		c("Flatten/transposed", "Flatten", sq(func(a *T) *T { return a.T().Flatten() }), U(2, 3)),
		c("ExpandDims/0", "ExpandDims", sq(func(a *T) *T { return a.ExpandDims(0) }), U(2, 3)),
		c("ExpandDims/-1", "ExpandDims", sq(func(a *T) *T { return a.ExpandDims(-1) }), U(2, 3)),
		c("ExpandDims/middle-transposed", "ExpandDims", sq(func(a *T) *T { return a.T().ExpandDims(1) }), U(2, 3)),
		c("Squeeze/all", "Squeeze", sq(func(a *T) *T { return a.Squeeze() }), U(1, 3, 1, 2)),
		c("Squeeze/axis", "Squeeze", sq(func(a *T) *T { return a.Squeeze(-2) }), U(1, 3, 1, 2)),
		c("Transpose/reverse", "Transpose", sq(func(a *T) *T { return a.Transpose().MulScalar(2) }), U(2, 3, 4)),
		c("Transpose/perm", "Transpose", sq(func(a *T) *T { return a.Transpose(1, 2, 0).Reshape(-1) }), U(2, 3, 4)),
		c("Transpose/negative", "Transpose", sq(func(a *T) *T { return a.Transpose(-1, 0, 1) }), U(2, 3, 4)),
		c("T", "T", sq((*T).T), U(2, 3)),
		c("T/twice", "T", sq(func(a *T) *T { return a.T().T() }), U(2, 3)),
		c("Index", "Index", sq(func(a *T) *T { return a.Index(1) }), U(3, 2)),
		c("Index/negative", "Index", sq(func(a *T) *T { return a.Index(-1) }), U(3, 2)),
		c("Index/3d", "Index", sq(func(a *T) *T { return a.Index(0).Index(2) }), U(2, 3, 4)),
		c("Index/to-0d", "Index", sq(func(a *T) *T { return a.Index(2) }), U(4)),
		c("Index/transposed", "Index", sq(func(a *T) *T { return a.T().Index(1) }), U(2, 3)),
		c("Slice", "Slice", sq(func(a *T) *T { return a.Slice(0, 1, 3) }), U(4, 3)),
		c("Slice/axis1", "Slice", sq(func(a *T) *T { return a.Slice(1, 1, 3) }), U(3, 4)),
		c("Slice/negative", "Slice", sq(func(a *T) *T { return a.Slice(1, -3, -1) }), U(2, 5)),
		c("Slice/axis-negative", "Slice", sq(func(a *T) *T { return a.Slice(-1, 0, 2) }), U(2, 3, 4)),
		c("Slice/empty", "Slice", one(func(a *T) *T { return a.Slice(0, 1, 1).Sum().Add(a.Sum()) }), U(3, 2)),
		c("Slice/twice", "Slice", sq(func(a *T) *T { return a.Slice(0, 1, 4).Slice(1, 1, 3) }), U(5, 4)),
		c("Concat/axis0", "Concat", two(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, 0).Square() }), U(2, 3), U(1, 3)),
		c("Concat/axis-1", "Concat", two(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, -1).Square() }), U(2, 3), U(2, 2)),
		c("Concat/three", "Concat", three(func(a, b, c *T) *T { return tensor.Concat([]*T{a, b, c}, 1).Exp() }), U(2, 1, 2), U(2, 3, 2), U(2, 2, 2)),
		c("Concat/same-twice", "Concat", one(func(a *T) *T { return tensor.Concat([]*T{a, a.T(), a}, 0).Square() }), U(2, 2)),
		c("Concat/1d", "Concat", two(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, 0).Square() }), U(3), U(2)),
		c("Stack/0", "Stack", two(func(a, b *T) *T { return tensor.Stack([]*T{a, b}, 0).Square() }), U(2, 3), U(2, 3)),
		c("Stack/1", "Stack", two(func(a, b *T) *T { return tensor.Stack([]*T{a, b}, 1).Square() }), U(2, 3), U(2, 3)),
		c("Stack/-1", "Stack", three(func(a, b, c *T) *T { return tensor.Stack([]*T{a, b, c}, -1).Square() }), U(2, 3), U(2, 3), U(2, 3)),
		c("Stack/0d", "Stack", two(func(a, b *T) *T { return tensor.Stack([]*T{a, b}, 0).Square() }), U(), U()),
		c("BroadcastTo", "BroadcastTo", sq(func(a *T) *T { return a.BroadcastTo(2, 3, 4) }), U(3, 1)),
		c("BroadcastTo/0d", "BroadcastTo", sq(func(a *T) *T { return a.BroadcastTo(2, 2) }), U()),
		c("BroadcastTo/same", "BroadcastTo", sq(func(a *T) *T { return a.BroadcastTo(2, 3) }), U(2, 3)),
		c("BroadcastTo/transposed", "BroadcastTo", sq(func(a *T) *T { return a.T().BroadcastTo(2, 3, 2) }), U(2, 3)),
		c("Where", "Where", two(func(a, b *T) *T {
			return tensor.Where(Like(a, []float64{1, 0, 1, 0, 0, 1}, 2, 3), a, b).Square()
		}), U(2, 3), U(2, 3)),
		c("Where/broadcast", "Where", three(func(c, a, b *T) *T {
			return tensor.Where(c.Detach().GtScalar(0), a, b).Square()
		}), U(3, 1), U(4), U(3, 4)),
		c("Where/0d", "Where", two(func(a, b *T) *T {
			return tensor.Where(Like(a, []float64{0}), a, b).Square()
		}), U(2), U()),
		c("Where/same", "Where", one(func(a *T) *T { return tensor.Where(a.Detach().GtScalar(0), a.Exp(), a.Square()) }), U(6)),
		// The condition computed from a recorded input (no gradient flows
		// through the comparison).
		c("Where/cond-from-input", "Where", two(func(a, b *T) *T { return tensor.Where(a.GtScalar(0), a, b) }), U(4, 4), U(4)),
		c("AsType/same", "AsType", sq(func(a *T) *T { return a.AsType(a.DType()) }), U(2, 3)),
		// Through the other dtype and back: through float32, the finite
		// differences need a larger step; the function is linear, so the
		// step costs no accuracy.
		{Name: "AsType/roundtrip", Method: "AsType",
			F: one(func(a *T) *T {
				return a.AsType(otherDType(a)).MulScalar(3).AsType(a.DType()).Add(a)
			}), Inputs: Inputs(U(2, 3)),
			GradOpts:   autograd.CheckOptions{Eps: 1e-2, ATol: 1e-4, RTol: 1e-4},
			SecondOpts: autograd.CheckOptions{Eps: 1e-3, ATol: 1e-3, RTol: 1e-2}},
		{Name: "AsType/roundtrip-exp", Method: "AsType",
			F:      one(func(a *T) *T { return a.AsType(otherDType(a)).AsType(a.DType()).Exp() }),
			Inputs: Inputs(U(3)),
			// A float32 round trip: coarser differences.
			GradOpts:   autograd.CheckOptions{Eps: 1e-3, ATol: 1e-3, RTol: 1e-2},
			SecondOpts: autograd.CheckOptions{Eps: 1e-3, ATol: 1e-3, RTol: 1e-2}},
		c("Clone", "Clone", sq((*T).Clone), U(2, 3)),
		c("Clone/transposed", "Clone", sq(func(a *T) *T { return a.T().Clone() }), U(2, 3)),
		c("Contiguous/copy", "Contiguous", sq(func(a *T) *T { return a.T().Contiguous() }), U(2, 3)),
		c("Contiguous/noop", "Contiguous", sq((*T).Contiguous), U(2, 3)),
		c("To/cpu", "To", sq(func(a *T) *T { return a.To(device.CPU()) }), U(2, 3)),
		c("To/cpu-transposed", "To", sq(func(a *T) *T { return a.T().To(device.CPU()) }), U(2, 3)),
	}
}

// clipCases: Clip, across its range, on views, and with an empty range
// (lo > hi: every element is hi, no gradient passes).
func clipCases() []Case {
	c := func(name string, f func(a *T) *T, in Gen) Case {
		return Case{Name: "Clip/" + name, Method: "Clip", F: one(f), Inputs: Inputs(in)}
	}
	return []Case{
		c("2d", func(a *T) *T { return a.Clip(-0.5, 0.5) }, U(3, 4)),
		c("0d", func(a *T) *T { return a.Clip(-0.1, 0.3).Square() }, U()),
		c("transposed", func(a *T) *T { return a.T().Clip(0, 0.7).Exp() }, U(3, 4)),
		c("broadcast", func(a *T) *T { return a.BroadcastTo(2, 3, 4).Clip(-0.3, 0.2) }, U(3, 1)),
		c("empty-range", func(a *T) *T { return a.Clip(0.5, -0.5) }, U(2, 3)),
	}
}

// nnCases: the neural-network operations.
func nnCases() []Case {
	labels := []float64{2, 0, 1, 2}
	lab := func(a *T) *T { return Like(a, labels, len(labels)) }
	c := func(name, method string, f func(x []*T) *T, in ...Gen) Case {
		return Case{Name: name, Method: method, F: f, Inputs: Inputs(in...), RTol32: ReductionRTol32}
	}
	return []Case{
		c("Conv2D", "Conv2D", func(x []*T) *T { return tensor.Conv2D(x[0], x[1], x[2], 1, 1) }, U(2, 3, 5, 4), U(4, 3, 3, 3), U(4)),
		c("Conv2D/stride2-nobias", "Conv2D", func(x []*T) *T { return tensor.Conv2D(x[0], x[1], nil, 2, 0) }, U(1, 2, 7, 6), U(3, 2, 3, 2)),
		c("Conv2D/transposed-input", "Conv2D", func(x []*T) *T { return tensor.Conv2D(x[0].Transpose(0, 1, 3, 2), x[1], nil, 1, 0) }, U(2, 2, 4, 5), U(2, 2, 2, 2)),
		c("MaxPool2D", "MaxPool2D", one(func(a *T) *T { return tensor.MaxPool2D(a, 2, 2, 0) }), U(2, 3, 4, 6)),
		c("MaxPool2D/overlap-pad", "MaxPool2D", one(func(a *T) *T { return tensor.MaxPool2D(a, 3, 2, 1) }), U(1, 2, 5, 5)),
		c("SoftmaxCrossEntropy", "SoftmaxCrossEntropy", one(func(a *T) *T { return tensor.SoftmaxCrossEntropy(a, lab(a)) }), U(4, 3)),
		c("SoftmaxCrossEntropy/mean", "SoftmaxCrossEntropy", one(func(a *T) *T { return tensor.SoftmaxCrossEntropy(a.MulScalar(3), lab(a)).Mean() }), U(4, 3)),
		// The fused normalisations: affine or not, one or two trailing
		// axes, a transposed (non-contiguous) input.
		c("LayerNorm", "LayerNorm", func(x []*T) *T { return x[0].LayerNorm(1, x[1], x[2], 1e-5) }, U(4, 6), U(6), U(6)),
		c("LayerNorm/2axes-transposed", "LayerNorm", func(x []*T) *T { return x[0].Transpose(0, 2, 1).LayerNorm(2, x[1], nil, 1e-3) }, U(2, 3, 4), U(4, 3)),
		c("LayerNorm/plain", "LayerNorm", func(x []*T) *T { return x[0].LayerNorm(1, nil, nil, 0.1) }, U(5, 7)),
		c("LayerNorm/bias-only", "LayerNorm", func(x []*T) *T { return x[0].LayerNorm(1, nil, x[1], 1e-5) }, U(3, 5), U(5)),
		c("RMSNorm", "RMSNorm", func(x []*T) *T { return x[0].RMSNorm(1, x[1], 1e-6) }, U(4, 6), U(6)),
		c("RMSNorm/plain-2axes", "RMSNorm", func(x []*T) *T { return x[0].RMSNorm(2, nil, 1e-5) }, U(2, 3, 4)),
		c("LogSoftmax", "LogSoftmax", one(func(a *T) *T { return a.LogSoftmax(-1) }), U(3, 4)),
		c("LogSoftmax/axis0", "LogSoftmax", one(func(a *T) *T { return a.LogSoftmax(0) }), U(3, 4)),
		c("Softmax", "Softmax", one(func(a *T) *T { return a.Softmax(0) }), U(3, 4)),
		c("Softmax/last", "Softmax", one(func(a *T) *T { return a.Softmax(-1) }), U(3, 4)),
		c("ScaledDotProductAttention", "ScaledDotProductAttention", sdpa(0.5, false), U(2, 3, 5, 4), U(2, 3, 6, 4), U(2, 3, 6, 3)),
		c("ScaledDotProductAttention/causal", "ScaledDotProductAttention", sdpa(0.7, true), U(2, 4, 3), U(2, 4, 3), U(2, 4, 3)),
		c("ScaledDotProductAttention/causal-L>S", "ScaledDotProductAttention", sdpa(1, true), U(1, 6, 3), U(1, 4, 3), U(1, 4, 2)),
		c("ScaledDotProductAttention/causal-D8-rows", "ScaledDotProductAttention", sdpa(1/math.Sqrt(8), true), U(3, 7, 8), U(3, 9, 8), U(3, 9, 8)),
		c("ScaledDotProductAttention/broadcast", "ScaledDotProductAttention", sdpa(0.5, false), U(2, 2, 5, 4), U(5, 4), U(1, 5, 3)),
		c("ScaledDotProductAttention/transposed", "ScaledDotProductAttention", func(x []*T) *T {
			return tensor.ScaledDotProductAttention(x[0].Transpose(1, 0, 2), x[1].Transpose(1, 0, 2), x[2], 0.6, true)
		}, U(5, 2, 4), U(5, 2, 4), U(2, 5, 3)),
	}
}

// sdpa returns the case function of ScaledDotProductAttention(q, k, v).
func sdpa(scale float64, causal bool) func(x []*T) *T {
	return func(x []*T) *T { return tensor.ScaledDotProductAttention(x[0], x[1], x[2], scale, causal) }
}

// nonDifferentiableCases: the operations that record no gradient (the
// elementwise ones, comparisons and Sign, come from the op table).
func nonDifferentiableCases() []Case {
	c := func(name, method string, f func(x []*T) *T, in ...Gen) Case {
		return Case{Name: name, Method: method, F: f, Inputs: Inputs(in...), NotDifferentiable: true}
	}
	return []Case{
		c("ArgMax", "ArgMax", one(func(a *T) *T { return a.ArgMax(1) }), U(3, 4)),
		c("ArgMax/axis0", "ArgMax", one(func(a *T) *T { return a.ArgMax(0) }), U(3, 4)),
		c("ArgMin", "ArgMin", one(func(a *T) *T { return a.ArgMin(-1) }), U(2, 3, 4)),
		c("ArgMax/axes", "ArgMax", one(func(a *T) *T { return a.ArgMax(2, 0) }), U(2, 3, 4)),
		c("ArgMin/all", "ArgMin", one(func(a *T) *T { return a.ArgMin() }), U(3, 4)),
		c("OneHot", "OneHot", one(func(a *T) *T { return tensor.OneHot(a, 3) }), Rand(optable.Pick(0, 1, 2), 5)),
		c("Detach", "Detach", one((*T).Detach), U(2, 3)),
	}
}

// axisCases: the operations that cut a tensor along an axis (Split, Chunk,
// SliceStep), the triangles and masks (Tril, Triu, MaskedFill,
// CausalMask) and CumSum, on negative axes, views and broadcast operands.
// Each combines its pieces or transforms its result nonlinearly, so that
// the gradients depend on the values.
func axisCases() []Case {
	c := func(name, method string, f func(x []*T) *T, in ...Gen) Case {
		return Case{Name: name, Method: method, F: f, Inputs: Inputs(in...)}
	}
	sum := func(name string, f func(a *T) *T, in Gen) Case {
		return Case{Name: name, Method: "CumSum", F: one(f), Inputs: Inputs(in), RTol32: ReductionRTol32}
	}
	cat := func(axis int, ts ...*T) *T { return tensor.Concat(ts, axis) }
	mask := func(a *T, vals []float64, shape ...int) *T { return Like(a, vals, shape...) }
	causal := func(a *T, n int) *T { return tensor.CausalMask(n, tensor.On(a.Device()), tensor.WithDType(a.DType())) }
	return []Case{
		c("Split/axis0", "Split", one(func(a *T) *T {
			p := a.Split([]int{2, 0, 3}, 0)
			return cat(0, p[0].Square(), p[1], p[2].Exp())
		}), U(5, 3)),
		c("Split/negative-axis-broadcast", "Split", one(func(a *T) *T {
			p := a.Split([]int{1, 3}, -1)
			return p[0].Mul(p[1]) // [2, 3, 1] · [2, 3, 3]
		}), U(2, 3, 4)),
		c("Split/transposed", "Split", one(func(a *T) *T {
			p := a.T().Split([]int{1, 3}, 1)
			return p[1].Sub(p[0]).Square()
		}), U(4, 3)),
		c("Split/one-used", "Split", one(func(a *T) *T { return a.Split([]int{2, 1}, 0)[0].Square() }), U(3, 2)),
		c("Chunk/even", "Chunk", one(func(a *T) *T {
			p := a.Chunk(3, 1)
			return p[0].Mul(p[1]).Add(p[2].Square())
		}), U(4, 6)),
		c("Chunk/uneven", "Chunk", one(func(a *T) *T {
			p := a.Chunk(4, 0) // lengths 2, 2, 1
			return cat(0, p[2], p[1].Exp(), p[0].Square())
		}), U(5, 2)),
		c("Chunk/negative-axis", "Chunk", one(func(a *T) *T {
			p := a.Chunk(2, -1) // lengths 4, 3
			return p[0].Sum(-1).Mul(p[1].Sum(-1))
		}), U(2, 7)),
		c("SliceStep/step2", "SliceStep", one(func(a *T) *T { return a.SliceStep(0, 1, 7, 2).Square() }), U(7, 3)),
		c("SliceStep/negative", "SliceStep", one(func(a *T) *T { return a.SliceStep(-1, -7, -1, 3).Exp() }), U(3, 8)),
		c("SliceStep/step1", "SliceStep", one(func(a *T) *T { return a.SliceStep(1, 0, 4, 1).Square() }), U(2, 5)),
		c("SliceStep/step-past-end", "SliceStep", one(func(a *T) *T { return a.SliceStep(0, 1, 3, 5).Square() }), U(3, 2)),
		c("SliceStep/empty", "SliceStep", one(func(a *T) *T { return a.SliceStep(0, 2, 2, 3).Sum().Add(a.Square().Sum()) }), U(3, 2)),
		c("SliceStep/transposed-twice", "SliceStep", one(func(a *T) *T {
			return a.T().SliceStep(0, 0, 5, 2).SliceStep(1, 1, 4, 2).Square()
		}), U(4, 5)),
		c("SliceStep/broadcast", "SliceStep", one(func(a *T) *T { return a.BroadcastTo(3, 6).SliceStep(1, 1, 6, 2).Square() }), U(6)),
		c("Tril", "Tril", one(func(a *T) *T { return a.Tril(0).Square() }), U(4, 4)),
		c("Tril/k1-wide", "Tril", one(func(a *T) *T { return a.Tril(1).Exp() }), U(3, 5)),
		c("Tril/k-negative-batched", "Tril", one(func(a *T) *T { return a.Tril(-1).Square() }), U(2, 4, 3)),
		c("Tril/transposed", "Tril", one(func(a *T) *T { return a.Transpose(0, 2, 1).Tril(0).Exp() }), U(2, 3, 5)),
		c("Triu", "Triu", one(func(a *T) *T { return a.Triu(0).Square() }), U(4, 4)),
		c("Triu/k-negative-tall", "Triu", one(func(a *T) *T { return a.Triu(-1).Exp() }), U(5, 3)),
		c("Triu/k-large", "Triu", one(func(a *T) *T { return a.Triu(9).Add(a.Square()) }), U(2, 3, 3)),
		c("MaskedFill", "MaskedFill", one(func(a *T) *T {
			return a.MaskedFill(mask(a, []float64{1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0}, 3, 4), 0.5).Square()
		}), U(3, 4)),
		c("MaskedFill/broadcast-mask", "MaskedFill", one(func(a *T) *T {
			return a.MaskedFill(mask(a, []float64{0, 1, 0, 1}, 4), -2).Exp()
		}), U(2, 3, 4)),
		c("MaskedFill/mask-from-input", "MaskedFill", one(func(a *T) *T { return a.MaskedFill(a.GtScalar(0), 0).Square() }), NZ(3, 4)),
		c("MaskedFill/transposed", "MaskedFill", one(func(a *T) *T {
			return a.T().MaskedFill(mask(a, []float64{1, 0, 0, 0, 1, 1}, 3, 2), 3).Square()
		}), U(2, 3)),
		// A softmax and a matrix product: the float32 tolerance of the
		// reductions, as the Softmax and MatMul cases have.
		{Name: "CausalMask/softmax", Method: "CausalMask", F: one(func(a *T) *T {
			return a.MaskedFill(causal(a, 4), math.Inf(-1)).Softmax(-1).MatMul(a) // attention with a as the values
		}), Inputs: Inputs(U(2, 4, 4)), RTol32: ReductionRTol32},
		c("CausalMask/1", "CausalMask", one(func(a *T) *T { return a.MaskedFill(causal(a, 1), 7).Square() }), U(3, 1, 1)),
		sum("CumSum/axis0", func(a *T) *T { return a.CumSum(0).Square() }, U(4, 3)),
		sum("CumSum/axis-1", func(a *T) *T { return a.CumSum(-1).Exp() }, U(2, 3, 5)),
		sum("CumSum/middle-transposed", func(a *T) *T { return a.Transpose(2, 0, 1).CumSum(1).Square() }, U(3, 4, 2)),
		sum("CumSum/broadcast", func(a *T) *T { return a.BroadcastTo(3, 4).CumSum(1).Square() }, U(3, 1)),
		sum("CumSum/1d", func(a *T) *T { return a.CumSum(0).Square() }, U(6)),
		sum("CumSum/size1-axis", func(a *T) *T { return a.CumSum(1).Exp() }, U(3, 1, 2)),
		sum("CumSum/twice", func(a *T) *T { return a.CumSum(0).CumSum(-1).Square() }, U(3, 4)),
		sum("CumSum/empty-axis", func(a *T) *T { return a.Slice(1, 0, 0).CumSum(1).Sum().Add(a.Square().Sum()) }, U(2, 3)),
	}
}

// ints returns an integer tensor of dtype dt on a's device.
func ints(a *T, dt tensor.DType, shape []int, v ...int) *T {
	return tensor.Array(v, tensor.WithDType(dt), tensor.On(a.Device())).Reshape(shape...)
}

// indexCases: IndexSelect, Take and Gather with int32 and int64 indices,
// repeated indices (their gradients add up), every axis, views as
// operands, and composed so that second derivatives are not zero.
func indexCases() []Case {
	c := func(name, method string, f func(x []*T) *T, in ...Gen) Case {
		return Case{Name: name, Method: method, F: f, Inputs: Inputs(in...), RTol32: ReductionRTol32}
	}
	var cs []Case
	for _, dt := range []tensor.DType{tensor.Int64, tensor.Int32} {
		sfx := "/" + dt.String()
		cs = append(cs,
			c("IndexSelect/axis0"+sfx, "IndexSelect", one(func(a *T) *T { return a.IndexSelect(0, ints(a, dt, []int{4}, 2, 0, 2, 1)) }), U(3, 4)),
			c("IndexSelect/axis1"+sfx, "IndexSelect", one(func(a *T) *T { return a.IndexSelect(1, ints(a, dt, []int{2, 2}, 3, 3, 0, 1)) }), U(2, 4, 3)),
			c("IndexSelect/last"+sfx, "IndexSelect", one(func(a *T) *T { return a.IndexSelect(-1, ints(a, dt, []int{3}, 2, 2, 2)) }), U(2, 3, 3)),
			c("IndexSelect/embedding"+sfx, "IndexSelect", one(func(a *T) *T {
				return a.IndexSelect(0, ints(a, dt, []int{2, 3}, 4, 1, 1, 0, 4, 2)).Square()
			}), U(5, 3)),
			c("IndexSelect/transposed"+sfx, "IndexSelect", one(func(a *T) *T { return a.Transpose().IndexSelect(0, ints(a, dt, []int{2}, 1, 1)) }), U(3, 2)),
			c("IndexSelect/0d-index"+sfx, "IndexSelect", one(func(a *T) *T { return a.IndexSelect(1, ints(a, dt, nil, 2)) }), U(3, 4)),
			c("Take"+sfx, "Take", one(func(a *T) *T {
				return a.Take(ints(a, dt, []int{2, 2}, 5, 0, 5, 11)).Mul(a.Take(ints(a, dt, []int{2, 2}, 1, 1, 2, 3)))
			}), U(3, 4)),
			c("Gather/axis1"+sfx, "Gather", one(func(a *T) *T { return a.Gather(1, ints(a, dt, []int{3, 2}, 0, 3, 2, 2, 1, 0)) }), U(3, 4)),
			c("Gather/axis0-narrow"+sfx, "Gather", one(func(a *T) *T { return a.Gather(0, ints(a, dt, []int{2, 2}, 2, 0, 1, 1)).Exp() }), U(3, 4)),
			c("Gather/3d"+sfx, "Gather", one(func(a *T) *T {
				return a.Gather(-1, ints(a, dt, []int{2, 2, 1}, 1, 0, 2, 2)).Mul(a.Slice(2, 0, 1))
			}), U(2, 2, 3)),
		)
	}
	labels := []int{2, 0, 1, 2}
	cs = append(cs, c("SoftmaxCrossEntropy/int64-labels", "SoftmaxCrossEntropy", one(func(a *T) *T {
		return tensor.SoftmaxCrossEntropy(a.MulScalar(2), ints(a, tensor.Int64, []int{4}, labels...)).Sum()
	}), U(4, 3)))
	return cs
}
