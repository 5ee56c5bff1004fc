package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// nz returns float64 values whose magnitude is in [0.2, 1] with random
// signs: away from the kinks of Abs, ReLU and comparisons with 0.
func nz(shape ...int) *T {
	u := tensor.RandUniform(0.2, 1, shape, tensor.WithDType(tensor.Float64))
	s := tensor.RandUniform(-1, 1, shape, tensor.WithDType(tensor.Float64)).Sign()
	return u.Mul(s)
}

func three(f func(a, b, c *T) *T) func(x []*T) *T {
	return func(x []*T) *T { return f(x[0], x[1], x[2]) }
}

func runGradCases(t *testing.T, cases []gradCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := autograd.CheckGrad(c.f, c.inputs(), autograd.CheckOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// binaryVariants returns checks of a binary operation on same shapes,
// broadcasting on either side, 0-d operands, size-1 axes and
// non-contiguous operands made inside f. ga and gb make operands.
func binaryVariants(name string, op func(a, b *T) *T, ga, gb func(shape ...int) *T) []gradCase {
	return []gradCase{
		{name + "/same", two(op), ins(ga(2, 3), gb(2, 3))},
		{name + "/bcast-both", two(op), ins(ga(3, 1), gb(1, 4))},
		{name + "/bcast-rank", two(op), ins(ga(2, 3, 4), gb(4))},
		{name + "/bcast-rank-left", two(op), ins(ga(3, 1), gb(2, 1, 4))},
		{name + "/0d-right", two(op), ins(ga(3), gb())},
		{name + "/0d-left", two(op), ins(ga(), gb(2, 2))},
		{name + "/0d-both", two(op), ins(ga(), gb())},
		{name + "/size1", two(op), ins(ga(1, 3, 1), gb(1, 3, 1))},
		{name + "/transposed", two(func(a, b *T) *T { return op(a.T(), b) }), ins(ga(4, 3), gb(3, 4))},
		{name + "/transposed-both", two(func(a, b *T) *T { return op(a.T(), b.Transpose(1, 0)) }), ins(ga(4, 3), gb(4, 3))},
		{name + "/sliced", two(func(a, b *T) *T { return op(a.Slice(1, 1, 4), b.Slice(0, -2, 3)) }), ins(ga(3, 5), gb(4, 3))},
		{name + "/broadcastTo", two(func(a, b *T) *T { return op(a.BroadcastTo(2, 3), b) }), ins(ga(3), gb(2, 3))},
		{name + "/same-tensor", one(func(a *T) *T { return op(a, a) }), ins(ga(2, 3))},
	}
}

func TestGradBinary(t *testing.T) {
	tensor.Seed(101)
	var cases []gradCase
	cases = append(cases, binaryVariants("Add", (*T).Add, rnd, rnd)...)
	cases = append(cases, binaryVariants("Sub", (*T).Sub, rnd, rnd)...)
	cases = append(cases, binaryVariants("Mul", (*T).Mul, rnd, rnd)...)
	cases = append(cases, binaryVariants("Div", (*T).Div, rnd, pos)...)
	cases = append(cases, binaryVariants("Pow", (*T).Pow, pos, rnd)...)
	// Maximum and Minimum of a tensor with itself tie everywhere: tested
	// in TestGradConventions, not here.
	mm := func(name string, op func(a, b *T) *T) []gradCase {
		v := binaryVariants(name, op, rnd, rnd)
		return v[:len(v)-1]
	}
	cases = append(cases, mm("Maximum", (*T).Maximum)...)
	cases = append(cases, mm("Minimum", (*T).Minimum)...)
	// Pow with integer exponents of negative bases.
	cases = append(cases, gradCase{"Pow/negative-base", one(func(a *T) *T {
		return a.Pow(tensor.Array([]float64{2, 3, 1}))
	}), ins(nz(2, 3))})
	runGradCases(t, cases)
}

func TestGradScalar(t *testing.T) {
	tensor.Seed(102)
	type sc struct {
		name string
		f    func(a *T) *T
		in   func(shape ...int) *T
	}
	ops := []sc{
		{"AddScalar", func(a *T) *T { return a.AddScalar(0.7) }, rnd},
		{"SubScalar", func(a *T) *T { return a.SubScalar(-1.3) }, rnd},
		{"RSubScalar", func(a *T) *T { return a.RSubScalar(2.5) }, rnd},
		{"MulScalar", func(a *T) *T { return a.MulScalar(-1.5) }, rnd},
		{"MulScalar0", func(a *T) *T { return a.MulScalar(0) }, rnd},
		{"DivScalar", func(a *T) *T { return a.DivScalar(2.5) }, rnd},
		{"RDivScalar", func(a *T) *T { return a.RDivScalar(1.5) }, nz},
		{"PowScalar0", func(a *T) *T { return a.PowScalar(0) }, rnd},
		{"PowScalar1", func(a *T) *T { return a.PowScalar(1) }, rnd},
		{"PowScalar2", func(a *T) *T { return a.PowScalar(2) }, rnd},
		{"PowScalar3", func(a *T) *T { return a.PowScalar(3) }, rnd},
		{"PowScalar-2", func(a *T) *T { return a.PowScalar(-2) }, nz},
		{"PowScalar0.5", func(a *T) *T { return a.PowScalar(0.5) }, pos},
		{"PowScalar2.5", func(a *T) *T { return a.PowScalar(2.5) }, pos},
		{"PowScalar-1.5", func(a *T) *T { return a.PowScalar(-1.5) }, pos},
		{"MaximumScalar", func(a *T) *T { return a.MaximumScalar(0.05) }, nz},
		{"MinimumScalar", func(a *T) *T { return a.MinimumScalar(-0.05) }, nz},
	}
	var cases []gradCase
	for _, o := range ops {
		f := o.f
		cases = append(cases,
			gradCase{o.name + "/2d", one(f), ins(o.in(2, 3))},
			gradCase{o.name + "/0d", one(f), ins(o.in())},
			gradCase{o.name + "/transposed", one(func(a *T) *T { return f(a.T()) }), ins(o.in(3, 2))},
			gradCase{o.name + "/broadcastTo", one(func(a *T) *T { return f(a.BroadcastTo(2, 3, 4)) }), ins(o.in(3, 1))},
		)
	}
	runGradCases(t, cases)
}

func TestGradUnary(t *testing.T) {
	tensor.Seed(103)
	type uc struct {
		name string
		f    func(a *T) *T
		in   func(shape ...int) *T
	}
	ops := []uc{
		{"Neg", (*T).Neg, rnd},
		{"Abs", (*T).Abs, nz},
		{"Exp", (*T).Exp, rnd},
		{"Log", (*T).Log, pos},
		{"Sqrt", (*T).Sqrt, pos},
		{"Square", (*T).Square, rnd},
		{"Recip", (*T).Recip, nz},
		{"Tanh", (*T).Tanh, rnd},
		{"Sigmoid", (*T).Sigmoid, rnd},
		{"ReLU", (*T).ReLU, nz},
		{"Sin", (*T).Sin, rnd},
		{"Cos", (*T).Cos, rnd},
	}
	var cases []gradCase
	for _, o := range ops {
		f := o.f
		cases = append(cases,
			gradCase{o.name + "/2d", one(f), ins(o.in(2, 3))},
			gradCase{o.name + "/0d", one(f), ins(o.in())},
			gradCase{o.name + "/size1", one(f), ins(o.in(1, 4, 1))},
			gradCase{o.name + "/transposed", one(func(a *T) *T { return f(a.T()) }), ins(o.in(3, 2))},
			gradCase{o.name + "/sliced", one(func(a *T) *T { return f(a.Slice(0, 1, -1)) }), ins(o.in(4, 2))},
			gradCase{o.name + "/broadcastTo", one(func(a *T) *T { return f(a.BroadcastTo(2, 3, 2)) }), ins(o.in(3, 1))},
		)
	}
	runGradCases(t, cases)
}

func TestGradReductions(t *testing.T) {
	tensor.Seed(104)
	type red struct {
		name string
		f    func(a *T, axes ...int) *T
	}
	reds := []red{
		{"Sum", (*T).Sum}, {"SumKeepDims", (*T).SumKeepDims},
		{"Mean", (*T).Mean}, {"MeanKeepDims", (*T).MeanKeepDims},
		{"Max", (*T).Max}, {"MaxKeepDims", (*T).MaxKeepDims},
		{"Min", (*T).Min}, {"MinKeepDims", (*T).MinKeepDims},
		{"Norm", (*T).Norm},
	}
	axesSets := [][]int{nil, {0}, {1}, {2}, {-1}, {0, 2}, {-1, 0}, {0, 1, 2}}
	var cases []gradCase
	for _, r := range reds {
		f := r.f
		for _, axes := range axesSets {
			axes := axes
			cases = append(cases, gradCase{fmt.Sprintf("%s%v", r.name, axes),
				one(func(a *T) *T { return f(a, axes...) }), ins(rnd(2, 3, 4))})
		}
		cases = append(cases,
			gradCase{r.name + "/0d", one(func(a *T) *T { return f(a) }), ins(nz())},
			gradCase{r.name + "/size1-axis", one(func(a *T) *T { return f(a, 1) }), ins(rnd(3, 1, 4))},
			gradCase{r.name + "/transposed", one(func(a *T) *T { return f(a.Transpose(2, 0, 1), 1) }), ins(rnd(2, 3, 4))},
			gradCase{r.name + "/broadcast-input", one(func(a *T) *T { return f(a.BroadcastTo(3, 4), 1).Sum().Mul(a) }), ins(rnd(4))},
			gradCase{r.name + "/composite", one(func(a *T) *T { return f(a.Exp(), -1).Mul(f(a, 0).Sum()) }), ins(rnd(3, 4))},
		)
	}
	runGradCases(t, cases)
}

func TestGradMatMul(t *testing.T) {
	tensor.Seed(105)
	mm := two((*T).MatMul)
	cases := []gradCase{
		{"2d", mm, ins(rnd(3, 4), rnd(4, 5))},
		{"2d-square", mm, ins(rnd(3, 3), rnd(3, 3))},
		{"batched", mm, ins(rnd(2, 3, 4), rnd(2, 4, 5))},
		{"batch-bcast-right", mm, ins(rnd(2, 3, 4), rnd(4, 5))},
		{"batch-bcast-left", mm, ins(rnd(3, 4), rnd(2, 4, 5))},
		{"batch-bcast-both", mm, ins(rnd(2, 1, 3, 4), rnd(3, 4, 2))},
		{"batch-size1", mm, ins(rnd(1, 3, 4), rnd(2, 4, 2))},
		{"vec-left", mm, ins(rnd(4), rnd(4, 5))},
		{"vec-right", mm, ins(rnd(3, 4), rnd(4))},
		{"vec-left-batched", mm, ins(rnd(4), rnd(2, 4, 3))},
		{"vec-right-batched", mm, ins(rnd(2, 3, 4), rnd(4))},
		{"dot", mm, ins(rnd(5), rnd(5))},
		{"outer-ish", mm, ins(rnd(3, 1), rnd(1, 4))},
		{"k=1", mm, ins(rnd(2, 3, 1), rnd(2, 1, 2))},
		{"transposed-a", two(func(a, b *T) *T { return a.T().MatMul(b) }), ins(rnd(4, 3), rnd(4, 5))},
		{"transposed-b", two(func(a, b *T) *T { return a.MatMul(b.T()) }), ins(rnd(3, 4), rnd(5, 4))},
		{"transposed-both", two(func(a, b *T) *T { return a.T().MatMul(b.T()) }), ins(rnd(4, 3), rnd(5, 4))},
		{"batched-transposed", two(func(a, b *T) *T { return a.Transpose(0, 2, 1).MatMul(b) }), ins(rnd(2, 4, 3), rnd(2, 4, 2))},
		{"batch-axes-permuted", two(func(a, b *T) *T { return a.Transpose(1, 0, 2, 3).MatMul(b) }), ins(rnd(3, 2, 2, 4), rnd(2, 3, 4, 2))},
		{"sliced", two(func(a, b *T) *T { return a.Slice(1, 1, 5).MatMul(b.Slice(0, 0, 4)) }), ins(rnd(3, 6), rnd(5, 2))},
		{"strided-cols", two(func(a, b *T) *T { return a.T().Slice(0, 1, 3).MatMul(b) }), ins(rnd(4, 3), rnd(4, 2))},
		{"broadcastTo-rows", two(func(a, b *T) *T { return a.BroadcastTo(3, 4).MatMul(b) }), ins(rnd(1, 4), rnd(4, 2))},
		{"broadcastTo-batch", two(func(a, b *T) *T { return a.BroadcastTo(2, 3, 4).MatMul(b) }), ins(rnd(3, 4), rnd(2, 4, 2))},
		{"self", one(func(a *T) *T { return a.MatMul(a.T()) }), ins(rnd(3, 4))},
		{"chain", three(func(a, b, c *T) *T { return a.MatMul(b).Tanh().MatMul(c) }), ins(rnd(2, 3), rnd(3, 4), rnd(4, 2))},
	}
	runGradCases(t, cases)
}

func TestGradShapeOps(t *testing.T) {
	tensor.Seed(106)
	sq := func(f func(a *T) *T) func(x []*T) *T { // square after f so that the gradient depends on values
		return one(func(a *T) *T { return f(a).Square() })
	}
	cases := []gradCase{
		{"Reshape/view", sq(func(a *T) *T { return a.Reshape(4, 3) }), ins(rnd(3, 4))},
		{"Reshape/infer", sq(func(a *T) *T { return a.Reshape(2, -1, 3) }), ins(rnd(3, 4))},
		{"Reshape/copy", sq(func(a *T) *T { return a.T().Reshape(-1) }), ins(rnd(3, 4))},
		{"Reshape/copy-3d", sq(func(a *T) *T { return a.Transpose(1, 0, 2).Reshape(3, 8) }), ins(rnd(2, 3, 4))},
		{"Reshape/0d", sq(func(a *T) *T { return a.Reshape(1, 1) }), ins(rnd())},
		{"Reshape/to-0d", sq(func(a *T) *T { return a.Reshape() }), ins(rnd(1, 1))},
		{"Flatten", sq((*T).Flatten), ins(rnd(2, 3, 2))},
		{"Flatten/transposed", sq(func(a *T) *T { return a.T().Flatten() }), ins(rnd(2, 3))},
		{"ExpandDims/0", sq(func(a *T) *T { return a.ExpandDims(0) }), ins(rnd(2, 3))},
		{"ExpandDims/-1", sq(func(a *T) *T { return a.ExpandDims(-1) }), ins(rnd(2, 3))},
		{"ExpandDims/middle-transposed", sq(func(a *T) *T { return a.T().ExpandDims(1) }), ins(rnd(2, 3))},
		{"Squeeze/all", sq(func(a *T) *T { return a.Squeeze() }), ins(rnd(1, 3, 1, 2))},
		{"Squeeze/axis", sq(func(a *T) *T { return a.Squeeze(-2) }), ins(rnd(1, 3, 1, 2))},
		{"Transpose/reverse", sq(func(a *T) *T { return a.Transpose().MulScalar(2) }), ins(rnd(2, 3, 4))},
		{"Transpose/perm", sq(func(a *T) *T { return a.Transpose(1, 2, 0).Reshape(-1) }), ins(rnd(2, 3, 4))},
		{"Transpose/negative", sq(func(a *T) *T { return a.Transpose(-1, 0, 1) }), ins(rnd(2, 3, 4))},
		{"T", sq((*T).T), ins(rnd(2, 3))},
		{"T/twice", sq(func(a *T) *T { return a.T().T() }), ins(rnd(2, 3))},
		{"Index", sq(func(a *T) *T { return a.Index(1) }), ins(rnd(3, 2))},
		{"Index/negative", sq(func(a *T) *T { return a.Index(-1) }), ins(rnd(3, 2))},
		{"Index/3d", sq(func(a *T) *T { return a.Index(0).Index(2) }), ins(rnd(2, 3, 4))},
		{"Index/to-0d", sq(func(a *T) *T { return a.Index(2) }), ins(rnd(4))},
		{"Index/transposed", sq(func(a *T) *T { return a.T().Index(1) }), ins(rnd(2, 3))},
		{"Slice", sq(func(a *T) *T { return a.Slice(0, 1, 3) }), ins(rnd(4, 3))},
		{"Slice/negative", sq(func(a *T) *T { return a.Slice(1, -3, -1) }), ins(rnd(2, 5))},
		{"Slice/axis-negative", sq(func(a *T) *T { return a.Slice(-1, 0, 2) }), ins(rnd(2, 3, 4))},
		{"Slice/empty", one(func(a *T) *T { return a.Slice(0, 1, 1).Sum().Add(a.Sum()) }), ins(rnd(3, 2))},
		{"Slice/twice", sq(func(a *T) *T { return a.Slice(0, 1, 4).Slice(1, 1, 3) }), ins(rnd(5, 4))},
		{"Concat/axis0", two(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, 0).Square() }), ins(rnd(2, 3), rnd(1, 3))},
		{"Concat/axis-1", two(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, -1).Square() }), ins(rnd(2, 3), rnd(2, 2))},
		{"Concat/three", three(func(a, b, c *T) *T { return tensor.Concat([]*T{a, b, c}, 1).Exp() }), ins(rnd(2, 1, 2), rnd(2, 3, 2), rnd(2, 2, 2))},
		{"Concat/same-twice", one(func(a *T) *T { return tensor.Concat([]*T{a, a.T(), a}, 0).Square() }), ins(rnd(2, 2))},
		{"Concat/1d", two(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, 0).Square() }), ins(rnd(3), rnd(2))},
		{"Stack/0", two(func(a, b *T) *T { return tensor.Stack([]*T{a, b}, 0).Square() }), ins(rnd(2, 3), rnd(2, 3))},
		{"Stack/1", two(func(a, b *T) *T { return tensor.Stack([]*T{a, b}, 1).Square() }), ins(rnd(2, 3), rnd(2, 3))},
		{"Stack/-1", three(func(a, b, c *T) *T { return tensor.Stack([]*T{a, b, c}, -1).Square() }), ins(rnd(2, 3), rnd(2, 3), rnd(2, 3))},
		{"Stack/0d", two(func(a, b *T) *T { return tensor.Stack([]*T{a, b}, 0).Square() }), ins(rnd(), rnd())},
		{"BroadcastTo", sq(func(a *T) *T { return a.BroadcastTo(2, 3, 4) }), ins(rnd(3, 1))},
		{"BroadcastTo/0d", sq(func(a *T) *T { return a.BroadcastTo(2, 2) }), ins(rnd())},
		{"BroadcastTo/same", sq(func(a *T) *T { return a.BroadcastTo(2, 3) }), ins(rnd(2, 3))},
		{"BroadcastTo/transposed", sq(func(a *T) *T { return a.T().BroadcastTo(2, 3, 2) }), ins(rnd(2, 3))},
		{"Where", two(func(a, b *T) *T {
			return tensor.Where(tensor.Array([][]float64{{1, 0, 1}, {0, 0, 1}}), a, b).Square()
		}), ins(rnd(2, 3), rnd(2, 3))},
		{"Where/broadcast", three(func(c, a, b *T) *T {
			return tensor.Where(c.Detach().GtScalar(0), a, b).Square()
		}), ins(rnd(3, 1), rnd(4), rnd(3, 4))},
		{"Where/0d", two(func(a, b *T) *T {
			return tensor.Where(tensor.Scalar(0, tensor.WithDType(tensor.Float64)), a, b).Square()
		}), ins(rnd(2), rnd())},
		{"Where/same", one(func(a *T) *T { return tensor.Where(a.Detach().GtScalar(0), a.Exp(), a.Square()) }), ins(rnd(6))},
		{"AsType/same", sq(func(a *T) *T { return a.AsType(tensor.Float64) }), ins(rnd(2, 3))},
		{"Clone", sq((*T).Clone), ins(rnd(2, 3))},
		{"Clone/transposed", sq(func(a *T) *T { return a.T().Clone() }), ins(rnd(2, 3))},
		{"Contiguous/copy", sq(func(a *T) *T { return a.T().Contiguous() }), ins(rnd(2, 3))},
		{"Contiguous/noop", sq((*T).Contiguous), ins(rnd(2, 3))},
		{"To/cpu", sq(func(a *T) *T { return a.To(device.CPU()) }), ins(rnd(2, 3))},
		{"To/cpu-transposed", sq(func(a *T) *T { return a.T().To(device.CPU()) }), ins(rnd(2, 3))},
	}
	runGradCases(t, cases)

	// Through float32 the finite differences need a larger step; the
	// function is linear, so the step costs no accuracy.
	t.Run("AsType/float32-roundtrip", func(t *testing.T) {
		f := one(func(a *T) *T { return a.AsType(tensor.Float32).MulScalar(3).AsType(tensor.Float64).Add(a) })
		if err := autograd.CheckGrad(f, []*T{rnd(2, 3)}, autograd.CheckOptions{Eps: 1e-2, ATol: 1e-4, RTol: 1e-4}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGradComposite(t *testing.T) {
	tensor.Seed(107)
	cases := []gradCase{
		{"multipath", one(func(a *T) *T { return a.Mul(a).Add(a.Exp()).Mul(a) }), ins(rnd(5))},
		{"views-of-one", one(func(a *T) *T { return a.Add(a.T()).Mul(a.Index(0)) }), ins(rnd(3, 3))},
		{"index-products", one(func(a *T) *T { return a.Index(0).Mul(a.Index(1)).Mul(a.Index(-1)) }), ins(rnd(3, 4))},
		{"softmax", one(func(a *T) *T { e := a.Exp(); return e.Div(e.SumKeepDims(-1)) }), ins(rnd(3, 4))},
		{"logsumexp", one(func(a *T) *T {
			m := a.MaxKeepDims(-1)
			return a.Sub(m).Exp().Sum(-1).Log().Add(m.Squeeze(-1))
		}), ins(rnd(3, 4))},
		{"mlp", three(func(x, w, b *T) *T { return x.MatMul(w).Add(b).Tanh().Sum(-1).Sigmoid() }), ins(rnd(4, 3), rnd(3, 5), rnd(5))},
		{"normalise", one(func(a *T) *T { return a.Div(a.Norm(-1).ExpandDims(-1)) }), ins(rnd(3, 4))},
		{"standardise", one(func(a *T) *T {
			c := a.Sub(a.MeanKeepDims(0))
			return c.Div(c.Square().MeanKeepDims(0).AddScalar(1e-3).Sqrt())
		}), ins(rnd(5, 3))},
		{"reuse-after-reduce", two(func(a, b *T) *T { s := a.Sum(); return a.MulScalar(2).Mul(s).Add(b.Mul(s)) }), ins(rnd(3), rnd(3))},
		{"long-chain", one(func(a *T) *T {
			y := a
			for i := 0; i < 10; i++ {
				y = y.Mul(a).Sin().Add(a)
			}
			return y
		}), ins(rnd(4))},
		{"concat-of-views", one(func(a *T) *T {
			return tensor.Concat([]*T{a.Slice(0, 0, 1), a.Index(2).ExpandDims(0), a.T().Slice(0, 1, 2)}, 0).Exp()
		}), ins(rnd(3, 3))},
		{"where-select", two(func(a, b *T) *T { return tensor.Where(a.Detach().Gt(b.Detach()), a, b).Mul(a).Sum(0) }), ins(rnd(3, 2), rnd(3, 2))},
	}
	runGradCases(t, cases)
}

// exact compares a tensor's values with want (rounded to the tensor's
// dtype) exactly.
func exact(t *testing.T, what string, got *T, want []float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil tensor", what)
	}
	v := got.Float64s()
	if len(v) != len(want) {
		t.Fatalf("%s: %d values %v, want %v", what, len(v), v, want)
	}
	for i := range v {
		w := want[i]
		if got.DType() == tensor.Float32 {
			w = float64(float32(w))
		}
		if !(v[i] == w || math.IsNaN(v[i]) && math.IsNaN(w)) {
			t.Fatalf("%s = %v, want %v", what, v, want)
		}
	}
}

// gradOf returns the gradients of f(xs) (summed with weights 1) with
// respect to each input.
func gradOf(f func(xs []*T) *T, xs ...*T) []*T {
	for _, x := range xs {
		x.AttachGrad()
	}
	var y *T
	autograd.Record(func() { y = f(xs) })
	y.Backward()
	out := make([]*T, len(xs))
	for i, x := range xs {
		out[i] = x.Grad()
	}
	return out
}

// TestGradConventions checks the documented values at kinks and ties.
func TestGradConventions(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		arr := func(v any) *T { return tensor.Array(v, tensor.WithDType(dt)) }
		name := dt.String() + "/"

		g := gradOf(one((*T).Abs), arr([]float64{-2, 0, 3, math.Copysign(0, -1)}))
		exact(t, name+"Abs'", g[0], []float64{-1, 0, 1, 0})
		g = gradOf(one((*T).ReLU), arr([]float64{-2, 0, 3}))
		exact(t, name+"ReLU'", g[0], []float64{0, 0, 1})

		g = gradOf(one(func(a *T) *T { return a.Max() }), arr([]float64{1, 3, 3, 2}))
		exact(t, name+"Max ties", g[0], []float64{0, 0.5, 0.5, 0})
		g = gradOf(one(func(a *T) *T { return a.Min() }), arr([]float64{1, 3, 1, 1}))
		exact(t, name+"Min ties", g[0], []float64{1.0 / 3, 0, 1.0 / 3, 1.0 / 3})
		g = gradOf(one(func(a *T) *T { return a.Max(1) }), arr([][]float64{{4, 4, 4, 4}, {1, 2, 3, 3}}))
		exact(t, name+"Max ties rows", g[0], []float64{0.25, 0.25, 0.25, 0.25, 0, 0, 0.5, 0.5})
		g = gradOf(one(func(a *T) *T { return a.MinKeepDims(0).MulScalar(2) }), arr([][]float64{{1, 5}, {1, 2}}))
		exact(t, name+"Min ties columns", g[0], []float64{1, 0, 1, 2})

		g = gradOf(two((*T).Maximum), arr([]float64{1, 2, 5}), arr([]float64{1, 3, 4}))
		exact(t, name+"Maximum ties a", g[0], []float64{0.5, 0, 1})
		exact(t, name+"Maximum ties b", g[1], []float64{0.5, 1, 0})
		g = gradOf(two((*T).Minimum), arr([]float64{1, 2, 5}), arr([]float64{1, 3, 4}))
		exact(t, name+"Minimum ties a", g[0], []float64{0.5, 1, 0})
		exact(t, name+"Minimum ties b", g[1], []float64{0.5, 0, 1})
		g = gradOf(one(func(a *T) *T { return a.Maximum(a) }), arr([]float64{1, -2}))
		exact(t, name+"Maximum(a, a)", g[0], []float64{1, 1})
		// A broadcast operand collects its share from every position.
		g = gradOf(two((*T).Maximum), arr([]float64{1, 2, 0}), arr(1.0))
		exact(t, name+"Maximum broadcast a", g[0], []float64{0.5, 1, 0})
		exact(t, name+"Maximum broadcast b", g[1], []float64{1.5})
		g = gradOf(one(func(a *T) *T { return a.MaximumScalar(1) }), arr([]float64{0, 1, 2}))
		exact(t, name+"MaximumScalar tie", g[0], []float64{0, 0.5, 1})
		g = gradOf(one(func(a *T) *T { return a.MinimumScalar(1) }), arr([]float64{0, 1, 2}))
		exact(t, name+"MinimumScalar tie", g[0], []float64{1, 0.5, 0})

		g = gradOf(one(func(a *T) *T { return a.Norm() }), arr([]float64{0, 0, 0}))
		exact(t, name+"Norm at 0", g[0], []float64{0, 0, 0})
		g = gradOf(one(func(a *T) *T { return a.Norm(1) }), arr([][]float64{{0, 0, 0, 0}, {1, -1, 1, 1}}))
		exact(t, name+"Norm rows, one zero", g[0], []float64{0, 0, 0, 0, 0.5, -0.5, 0.5, 0.5})
		g = gradOf(one(func(a *T) *T { return a.Norm() }), arr(-2.0))
		exact(t, name+"Norm 0-d", g[0], []float64{-1})

		g = gradOf(one(func(a *T) *T { return a.PowScalar(0) }), arr([]float64{0, 2}))
		exact(t, name+"PowScalar(0)'", g[0], []float64{0, 0})
		g = gradOf(one(func(a *T) *T { return a.PowScalar(1) }), arr([]float64{0, 2}))
		exact(t, name+"PowScalar(1)'", g[0], []float64{1, 1})
		g = gradOf(one(func(a *T) *T { return a.PowScalar(2) }), arr([]float64{0, -3}))
		exact(t, name+"PowScalar(2)'", g[0], []float64{0, -6})
		// d(a^0)/da is 0, at a == 0 too (regression: 0·0^-1 gave NaN).
		g = gradOf(two((*T).Pow), arr([]float64{0, 2, 0, 3}), arr([]float64{0, 0, 1, 0}))
		exact(t, name+"Pow with exponent 0, d/da", g[0], []float64{0, 0, 1, 0})
		// d(a^b)/db is taken as 0 where a == 0.
		g = gradOf(two((*T).Pow), arr([]float64{0, 2}), arr([]float64{2, 3}))
		exact(t, name+"Pow at 0, d/da", g[0], []float64{0, 12})
		if v := g[1].Float64s(); v[0] != 0 || math.Abs(v[1]-8*math.Log(2)) > 1e-5 {
			t.Errorf("%sPow at 0, d/db = %v, want [0 %v]", name, v, 8*math.Log(2))
		}
	}
}
