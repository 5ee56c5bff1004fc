package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
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

// TestGradNegativeBases checks powers of negative bases, which the op
// table's gradient domains of Pow and PowScalar (positive bases) leave
// out: integer exponents, where the power is defined and smooth.
func TestGradNegativeBases(t *testing.T) {
	tensor.Seed(101)
	cases := []gradCase{{"Pow/negative-base", one(func(a *T) *T {
		return a.Pow(tensor.Array([]float64{2, 3, 1}))
	}), ins(nz(2, 3))}}
	for _, o := range []struct {
		s  float64
		in func(shape ...int) *T
	}{{0, rnd}, {1, rnd}, {2, rnd}, {3, rnd}, {-2, nz}} {
		f := func(a *T) *T { return a.PowScalar(o.s) }
		name := fmt.Sprintf("PowScalar(%v)", o.s)
		cases = append(cases,
			gradCase{name + "/2d", one(f), ins(o.in(2, 3))},
			gradCase{name + "/0d", one(f), ins(o.in())},
			gradCase{name + "/transposed", one(func(a *T) *T { return f(a.T()) }), ins(o.in(3, 2))},
			gradCase{name + "/broadcastTo", one(func(a *T) *T { return f(a.BroadcastTo(2, 3, 4)) }), ins(o.in(3, 1))},
		)
	}
	runGradCases(t, cases)
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
