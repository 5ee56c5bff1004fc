package tensor_test

import (
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

type T = tensor.Tensor

func rnd(shape ...int) *T {
	return tensor.RandUniform(-1, 1, shape, tensor.WithDType(tensor.Float64))
}

func pos(shape ...int) *T {
	return tensor.RandUniform(0.5, 2, shape, tensor.WithDType(tensor.Float64))
}

// gradCase is one finite-difference check: f applied to inputs.
type gradCase struct {
	name   string
	f      func(x []*T) *T
	inputs func() []*T
}

func one(f func(a *T) *T) func(x []*T) *T { return func(x []*T) *T { return f(x[0]) } }
func two(f func(a, b *T) *T) func(x []*T) *T {
	return func(x []*T) *T { return f(x[0], x[1]) }
}
func ins(ts ...*T) func() []*T { return func() []*T { return ts } }

func TestGradCheckSmoke(t *testing.T) {
	tensor.Seed(42)
	cases := []gradCase{
		{"Add/broadcast", two((*T).Add), ins(rnd(3, 4), rnd(4))},
		{"Mul/broadcast-col", two((*T).Mul), ins(rnd(3, 4), rnd(3, 1))},
		{"Div", two((*T).Div), ins(rnd(3, 4), pos(3, 4))},
		{"Sub/0d", two((*T).Sub), ins(rnd(3), rnd())},
		{"Pow", two((*T).Pow), ins(pos(2, 3), rnd(2, 3))},
		{"Maximum", two((*T).Maximum), ins(rnd(5), rnd(5))},
		{"Exp", one((*T).Exp), ins(rnd(2, 3))},
		{"Log", one((*T).Log), ins(pos(2, 3))},
		{"Tanh/transposed", one(func(a *T) *T { return a.T().Tanh() }), ins(rnd(3, 4))},
		{"Sigmoid", one((*T).Sigmoid), ins(rnd(6))},
		{"ReLU", one((*T).ReLU), ins(rnd(6))},
		{"Sqrt", one((*T).Sqrt), ins(pos(6))},
		{"Sum/axis", one(func(a *T) *T { return a.Sum(-1) }), ins(rnd(2, 3, 4))},
		{"MeanKeep", one(func(a *T) *T { return a.MeanKeepDims(0, 2) }), ins(rnd(2, 3, 4))},
		{"Max", one(func(a *T) *T { return a.Max(1) }), ins(rnd(3, 5))},
		{"Norm", one(func(a *T) *T { return a.Norm() }), ins(rnd(3, 5))},
		{"MatMul", two((*T).MatMul), ins(rnd(3, 4), rnd(4, 5))},
		{"MatMul/batched-bcast", two((*T).MatMul), ins(rnd(2, 3, 4), rnd(4, 5))},
		{"MatMul/vec", two((*T).MatMul), ins(rnd(4), rnd(4, 5))},
		{"MatMul/dot", two((*T).MatMul), ins(rnd(4), rnd(4))},
		{"MatMul/T", two(func(a, b *T) *T { return a.T().MatMul(b) }), ins(rnd(4, 3), rnd(4, 5))},
		{"Index", one(func(a *T) *T { return a.Index(1).MulScalar(3) }), ins(rnd(3, 2))},
		{"Slice", one(func(a *T) *T { return a.Slice(1, 1, 3).Square() }), ins(rnd(3, 4))},
		{"Concat", two(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, 1).Square() }), ins(rnd(2, 3), rnd(2, 2))},
		{"Stack", two(func(a, b *T) *T { return tensor.Stack([]*T{a, b}, 0).Exp() }), ins(rnd(2, 3), rnd(2, 3))},
		{"Reshape/T", one(func(a *T) *T { return a.T().Reshape(-1).Square() }), ins(rnd(3, 4))},
		{"BroadcastTo", one(func(a *T) *T { return a.BroadcastTo(2, 3, 4).Square() }), ins(rnd(3, 1))},
		{"Where", two(func(a, b *T) *T { return tensor.Where(a.GtScalar(0), a, b) }), ins(rnd(4, 4), rnd(4))},
		{"multipath", one(func(a *T) *T { return a.Mul(a).Add(a.Exp()).Mul(a) }), ins(rnd(5))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := autograd.CheckGrad(c.f, c.inputs(), autograd.CheckOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestGradCheckNN(t *testing.T) {
	tensor.Seed(7)
	labels := tensor.Array([]float64{2, 0, 1, 2})
	cases := []gradCase{
		{"Conv2D", func(x []*T) *T { return tensor.Conv2D(x[0], x[1], x[2], 1, 1) }, ins(rnd(2, 3, 5, 4), rnd(4, 3, 3, 3), rnd(4))},
		{"Conv2D/stride2-nobias", func(x []*T) *T { return tensor.Conv2D(x[0], x[1], nil, 2, 0) }, ins(rnd(1, 2, 7, 6), rnd(3, 2, 3, 2))},
		{"Conv2D/transposed-input", func(x []*T) *T { return tensor.Conv2D(x[0].Transpose(0, 1, 3, 2), x[1], nil, 1, 0) }, ins(rnd(2, 2, 4, 5), rnd(2, 2, 2, 2))},
		{"MaxPool2D", one(func(a *T) *T { return tensor.MaxPool2D(a, 2, 2, 0) }), ins(rnd(2, 3, 4, 6))},
		{"MaxPool2D/overlap-pad", one(func(a *T) *T { return tensor.MaxPool2D(a, 3, 2, 1) }), ins(rnd(1, 2, 5, 5))},
		{"SoftmaxCE", one(func(a *T) *T { return tensor.SoftmaxCrossEntropy(a, labels) }), ins(rnd(4, 3))},
		{"SoftmaxCE/mean", one(func(a *T) *T { return tensor.SoftmaxCrossEntropy(a.MulScalar(3), labels).Mean() }), ins(rnd(4, 3))},
		{"LogSoftmax", one(func(a *T) *T { return a.LogSoftmax(-1) }), ins(rnd(3, 4))},
		{"Softmax", one(func(a *T) *T { return a.Softmax(0) }), ins(rnd(3, 4))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := autograd.CheckGrad(c.f, c.inputs(), autograd.CheckOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
