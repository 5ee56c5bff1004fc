package autograd_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

func rnd(shape ...int) *T { return tensor.RandUniform(-1, 1, shape, tensor.WithDType(tensor.Float64)) }
func pos(shape ...int) *T { return tensor.RandUniform(0.5, 2, shape, tensor.WithDType(tensor.Float64)) }

// secondOrder returns the function x ↦ Σ_i ⟨∂(f·R)/∂x_i, S_i⟩ for fixed
// random R and S: checking it with finite differences checks that the
// backward rules of f are themselves differentiated correctly.
func secondOrder(f func([]*T) *T) func([]*T) *T {
	return func(xs []*T) *T {
		y := f(xs)
		r := fixed(y.Shape(), 1)
		grads := autograd.Grad([]*T{y}, xs, autograd.HeadGrads(r), autograd.CreateGraph())
		var total *T
		for i, g := range grads {
			term := g.Mul(fixed(g.Shape(), uint64(i+2))).Sum()
			if total == nil {
				total = term
			} else {
				total = total.Add(term)
			}
		}
		return total
	}
}

// fixed returns a deterministic tensor with entries in [0.5, 1.5) that
// depends only on its shape and seed (not on the global generator).
func fixed(shape []int, seed uint64) *T {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		z := seed*0x9E3779B97F4A7C15 + uint64(i+1)*0xBF58476D1CE4E5B9
		z ^= z >> 31
		z *= 0x94D049BB133111EB
		z ^= z >> 29
		v[i] = 0.5 + float64(z>>11)/(1<<53)
	}
	return tensor.FromSlice(v, shape)
}

type opCase struct {
	name string
	f    func([]*T) *T
	in   func() []*T
}

func u(f func(*T) *T) func([]*T) *T     { return func(x []*T) *T { return f(x[0]) } }
func b(f func(*T, *T) *T) func([]*T) *T { return func(x []*T) *T { return f(x[0], x[1]) } }
func in(ts ...func() *T) func() []*T {
	return func() []*T {
		out := make([]*T, len(ts))
		for i, f := range ts {
			out[i] = f()
		}
		return out
	}
}
func r(shape ...int) func() *T { return func() *T { return rnd(shape...) } }
func p(shape ...int) func() *T { return func() *T { return pos(shape...) } }

// Every differentiable operation, differentiated twice. Where the second
// derivative is zero almost everywhere (ReLU, Abs, max, pooling, shape
// operations) the check still verifies that the first-order rule is
// recorded correctly and its own gradient is right.
func TestSecondOrderEveryOp(t *testing.T) {
	lab := func() *T { return tensor.Array([]float64{1, 0, 2}) }
	cases := []opCase{
		{"Add", b((*T).Add), in(r(2, 3), r(3))},
		{"Sub", b((*T).Sub), in(r(2, 3), r(2, 1))},
		{"Mul", b((*T).Mul), in(r(2, 3), r(2, 3))},
		{"Div", b((*T).Div), in(r(2, 3), p(3))},
		{"Pow", b((*T).Pow), in(p(2, 3), r(2, 3))},
		{"Maximum", b((*T).Maximum), in(r(5), r(5))},
		{"Minimum", b((*T).Minimum), in(r(5), r(5))},
		{"AddScalar", u(func(a *T) *T { return a.AddScalar(2).Square() }), in(r(4))},
		{"SubScalar", u(func(a *T) *T { return a.SubScalar(2).Square() }), in(r(4))},
		{"RSubScalar", u(func(a *T) *T { return a.RSubScalar(2).Square() }), in(r(4))},
		{"MulScalar", u(func(a *T) *T { return a.MulScalar(3).Exp() }), in(r(4))},
		{"DivScalar", u(func(a *T) *T { return a.DivScalar(3).Exp() }), in(r(4))},
		{"RDivScalar", u(func(a *T) *T { return a.RDivScalar(3) }), in(p(4))},
		{"PowScalar", u(func(a *T) *T { return a.PowScalar(3.5) }), in(p(4))},
		{"PowScalar2", u(func(a *T) *T { return a.PowScalar(2).Exp() }), in(r(4))},
		{"MaximumScalar", u(func(a *T) *T { return a.MaximumScalar(0.1).Square() }), in(r(6))},
		{"Neg", u(func(a *T) *T { return a.Neg().Exp() }), in(r(4))},
		{"Abs", u(func(a *T) *T { return a.Abs().Square() }), in(r(4))},
		{"Exp", u((*T).Exp), in(r(4))},
		{"Log", u((*T).Log), in(p(4))},
		{"Sqrt", u((*T).Sqrt), in(p(4))},
		{"Square", u((*T).Square), in(r(4))},
		{"Recip", u((*T).Recip), in(p(4))},
		{"Tanh", u((*T).Tanh), in(r(4))},
		{"Sigmoid", u((*T).Sigmoid), in(r(4))},
		{"ReLU", u(func(a *T) *T { return a.ReLU().Square() }), in(r(6))},
		{"Sin", u((*T).Sin), in(r(4))},
		{"Cos", u((*T).Cos), in(r(4))},
		{"Sum", u(func(a *T) *T { return a.Square().Sum(1) }), in(r(3, 4))},
		{"Mean", u(func(a *T) *T { return a.Exp().MeanKeepDims(0) }), in(r(3, 4))},
		{"Max", u(func(a *T) *T { return a.Square().Max(-1) }), in(r(3, 4))},
		{"Min", u(func(a *T) *T { return a.Exp().Min() }), in(r(3, 4))},
		{"Norm", u(func(a *T) *T { return a.Norm() }), in(r(3, 4))},
		{"NormAxis", u(func(a *T) *T { return a.Norm(0) }), in(r(3, 4))},
		{"MatMul", b((*T).MatMul), in(r(3, 4), r(4, 2))},
		{"MatMulBatched", b((*T).MatMul), in(r(2, 3, 4), r(4, 2))},
		{"MatMulVec", b((*T).MatMul), in(r(4), r(4, 3))},
		{"Reshape", u(func(a *T) *T { return a.T().Reshape(-1).Exp() }), in(r(3, 4))},
		{"Transpose", u(func(a *T) *T { return a.Transpose(1, 0).Square() }), in(r(3, 4))},
		{"Index", u(func(a *T) *T { return a.Index(1).Exp() }), in(r(3, 2))},
		{"Slice", u(func(a *T) *T { return a.Slice(1, 1, 3).Exp() }), in(r(3, 4))},
		{"BroadcastTo", u(func(a *T) *T { return a.BroadcastTo(2, 3).Exp() }), in(r(3))},
		{"Concat", b(func(x, y *T) *T { return tensor.Concat([]*T{x, y}, 0).Exp() }), in(r(2, 3), r(1, 3))},
		{"Stack", b(func(x, y *T) *T { return tensor.Stack([]*T{x, y}, 1).Square() }), in(r(2, 3), r(2, 3))},
		{"Where", b(func(x, y *T) *T { return tensor.Where(x.GtScalar(0), x.Square(), y.Exp()) }), in(r(6), r(6))},
		{"AsType", u(func(a *T) *T { return a.AsType(tensor.Float32).AsType(tensor.Float64).Exp() }), in(r(3))},
		{"Clone", u(func(a *T) *T { return a.Clone().Exp() }), in(r(3))},
		{"Conv2D", func(x []*T) *T { return tensor.Conv2D(x[0], x[1], x[2], 1, 1).Square() }, in(r(1, 2, 4, 4), r(2, 2, 3, 3), r(2))},
		{"MaxPool2D", u(func(a *T) *T { return tensor.MaxPool2D(a, 2, 2, 0).Exp() }), in(r(1, 2, 4, 4))},
		{"SoftmaxCE", u(func(a *T) *T { return tensor.SoftmaxCrossEntropy(a, lab()) }), in(r(3, 4))},
		{"LogSoftmax", u(func(a *T) *T { return a.LogSoftmax(1) }), in(r(3, 4))},
	}
	tensor.Seed(11)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tensor.Seed(uint64(len(c.name)))
			o := autograd.CheckOptions{ATol: 1e-5, RTol: 1e-4}
			if c.name == "AsType" { // a float32 round trip: coarser differences
				o = autograd.CheckOptions{Eps: 1e-3, ATol: 1e-3, RTol: 1e-2}
			}
			if err := autograd.CheckGrad(secondOrder(c.f), c.in(), o); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Second derivatives of the unary operations against closed forms.
func TestSecondDerivativesClosedForm(t *testing.T) {
	x0 := []float64{-1.3, -0.4, 0.3, 0.9, 1.7}
	xp := []float64{0.2, 0.5, 1, 1.5, 3}
	cases := []struct {
		name string
		f    func(*T) *T
		d2   func(x float64) float64
		xs   []float64
	}{
		{"Exp", (*T).Exp, math.Exp, x0},
		{"Log", (*T).Log, func(x float64) float64 { return -1 / (x * x) }, xp},
		{"Sqrt", (*T).Sqrt, func(x float64) float64 { return -0.25 * math.Pow(x, -1.5) }, xp},
		{"Square", (*T).Square, func(float64) float64 { return 2 }, x0},
		{"Recip", (*T).Recip, func(x float64) float64 { return 2 / (x * x * x) }, xp},
		{"Tanh", (*T).Tanh, func(x float64) float64 { th := math.Tanh(x); return -2 * th * (1 - th*th) }, x0},
		{"Sigmoid", (*T).Sigmoid, func(x float64) float64 { s := 1 / (1 + math.Exp(-x)); return s * (1 - s) * (1 - 2*s) }, x0},
		{"Sin", (*T).Sin, func(x float64) float64 { return -math.Sin(x) }, x0},
		{"Cos", (*T).Cos, func(x float64) float64 { return -math.Cos(x) }, x0},
		{"Neg", (*T).Neg, func(float64) float64 { return 0 }, x0},
		{"Abs", (*T).Abs, func(float64) float64 { return 0 }, x0},
		{"ReLU", (*T).ReLU, func(float64) float64 { return 0 }, x0},
		{"PowScalar3", func(a *T) *T { return a.PowScalar(3) }, func(x float64) float64 { return 6 * x }, x0},
	}
	for _, c := range cases {
		x := tensor.Array(c.xs)
		x.AttachGrad()
		var y *T
		autograd.Record(func() { y = c.f(x).Sum() })
		g := autograd.Grad([]*T{y}, []*T{x}, autograd.CreateGraph())[0]
		var gs *T
		autograd.Record(func() { gs = g.Sum() })
		var d2 []float64
		if !gs.RequiresGrad() { // a constant first derivative: the second is zero
			d2 = make([]float64, len(c.xs))
		} else {
			d2 = autograd.Grad([]*T{gs}, []*T{x})[0].Float64s()
		}
		for i, v := range c.xs {
			if want := c.d2(v); math.Abs(d2[i]-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Errorf("%s''(%v) = %v, want %v", c.name, v, d2[i], want)
			}
		}
	}
}

// A Hessian-vector product from double backward agrees with finite
// differences of gradients.
func TestHessianVectorProduct(t *testing.T) {
	tensor.Seed(5)
	w := rnd(4, 3)
	f := func(x *T) *T { return w.MatMul(x).Tanh().Square().Sum().Add(x.Exp().Sum()) }
	grad := func(xv []float64) []float64 {
		x := tensor.FromSlice(xv, []int{3})
		x.AttachGrad()
		var y *T
		autograd.Record(func() { y = f(x) })
		y.Backward()
		return x.Grad().Float64s()
	}
	xv := []float64{0.3, -0.7, 0.5}
	v := []float64{1, -2, 0.5}

	x := tensor.FromSlice(xv, []int{3})
	x.AttachGrad()
	var hv *T
	autograd.Record(func() {
		y := f(x)
		g := autograd.Grad([]*T{y}, []*T{x}, autograd.CreateGraph())[0]
		gv := g.Mul(tensor.Array(v)).Sum()
		hv = autograd.Grad([]*T{gv}, []*T{x})[0]
	})
	got := hv.Float64s()
	const eps = 1e-6
	for i := range xv {
		plus, minus := append([]float64(nil), xv...), append([]float64(nil), xv...)
		for j := range xv {
			plus[j] += eps * v[j]
			minus[j] -= eps * v[j]
		}
		gp, gm := grad(plus), grad(minus)
		want := (gp[i] - gm[i]) / (2 * eps)
		if math.Abs(got[i]-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("Hv[%d] = %v, finite differences give %v", i, got[i], want)
		}
	}
}

// The WGAN-GP gradient penalty, (‖∇ₓD(x)‖ − 1)², has correct gradients with
// respect to the critic's parameters, and training on it reduces it.
func TestGradientPenalty(t *testing.T) {
	tensor.Seed(9)
	x := rnd(8, 3)
	penalty := func(ps []*T) *T {
		w1, w2 := ps[0], ps[1]
		xi := x.Detach()
		xi.AttachGrad()
		d := xi.MatMul(w1).Tanh().MatMul(w2).Sum()
		g := autograd.Grad([]*T{d}, []*T{xi}, autograd.CreateGraph())[0]
		return g.Square().Sum(1).Sqrt().SubScalar(1).Square().Mean()
	}
	params := []*T{rnd(3, 5), rnd(5, 1)}
	if err := autograd.CheckGrad(penalty, params, autograd.CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range params {
		p.AttachGrad()
	}
	var first, last float64
	for step := 0; step < 40; step++ {
		var loss *T
		autograd.Record(func() { loss = penalty(params) })
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
		loss.Backward()
		for i, p := range params {
			params[i] = p.Detach().Sub(p.Grad().MulScalar(0.1))
			params[i].AttachGrad()
		}
	}
	if !(last < 0.5*first) {
		t.Fatalf("penalty %v -> %v after 40 steps: not decreasing", first, last)
	}
}

// lse is a numerically stable log-sum-exp over all elements with its own
// backward rule, written with differentiable operations on the inputs so
// that it can be differentiated twice.
var lse = &autograd.Function{
	Name: "LogSumExp",
	Forward: func(ctx *autograd.FunctionContext, in []*T) *T {
		m := in[0].Max()
		return in[0].Sub(m).Exp().Sum().Log().Add(m)
	},
	Backward: func(ctx *autograd.FunctionContext, g *T) []*T {
		x := ctx.Inputs()[0]
		return []*T{x.Softmax(0).Mul(g)}
	},
}

func TestCustomFunction(t *testing.T) {
	tensor.Seed(2)
	f := func(x []*T) *T { return lse.Apply(x[0].Reshape(-1)) }
	if err := autograd.CheckGrad(f, []*T{rnd(3, 4)}, autograd.CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := autograd.CheckGrad(secondOrder(f), []*T{rnd(5)}, autograd.CheckOptions{ATol: 1e-5}); err != nil {
		t.Fatal("second order:", err)
	}
	// Stable where the naive formula overflows.
	x := tensor.Array([]float64{1000, 1000})
	if got := lse.Apply(x).Item(); math.Abs(got-(1000+math.Ln2)) > 1e-9 {
		t.Fatalf("lse(1000, 1000) = %v", got)
	}
	// A wrong number of gradients is reported.
	bad := &autograd.Function{Name: "Bad",
		Forward:  func(_ *autograd.FunctionContext, in []*T) *T { return in[0].Exp() },
		Backward: func(_ *autograd.FunctionContext, g *T) []*T { return nil }}
	y := tensor.Array([]float64{1})
	y.AttachGrad()
	var out *T
	autograd.Record(func() { out = bad.Apply(y) })
	err := tensor.Maybe(func() { out.Backward() })
	if !errors.Is(err, tensor.ErrArgument) || !strings.Contains(err.Error(), "Bad") {
		t.Fatalf("want ErrArgument naming Bad, got %v", err)
	}
}

func TestHooks(t *testing.T) {
	x := tensor.Array([]float64{1, 2, 3})
	x.AttachGrad()
	var seen []float64
	remove := x.RegisterHook(func(g *T) *T { seen = g.Float64s(); return g.MinimumScalar(5) })
	var y, h *T
	autograd.Record(func() {
		h = x.MulScalar(4)
		h.RetainGrad()
		h.RegisterHook(func(g *T) *T { return g.MulScalar(2) }) // doubles what flows back
		y = h.Square().Sum()
	})
	y.Backward()
	// dy/dh = 2h = 8x; the hook on h doubles it (16x); x gets 4·16x = 64x,
	// seen by x's hook, then clipped at 5.
	if got := h.Grad().Float64s(); got[0] != 16 || got[2] != 48 {
		t.Fatalf("retained grad of h %v, want [16 32 48] (after h's hook)", got)
	}
	if seen[0] != 64 || seen[2] != 192 {
		t.Fatalf("x's hook saw %v", seen)
	}
	if got := x.Grad().Float64s(); got[0] != 5 || got[2] != 5 {
		t.Fatalf("clipped grad %v", got)
	}
	remove()
	autograd.Record(func() { y = x.Square().Sum() })
	y.Backward()
	if got := x.Grad().Float64s(); got[2] != 6 {
		t.Fatalf("after removing the hook: %v", got)
	}
	// A hook returning another shape is an error.
	x.RegisterHook(func(g *T) *T { return g.Sum() })
	autograd.Record(func() { y = x.Square().Sum() })
	if err := tensor.Maybe(func() { y.Backward() }); !errors.Is(err, tensor.ErrShape) {
		t.Fatalf("want ErrShape, got %v", err)
	}
}

func TestAnomalyDetection(t *testing.T) {
	x := tensor.Array([]float64{0, 1})
	x.AttachGrad()
	// Forward: Log(0) = -Inf, reported with this file's line.
	err := tensor.Maybe(func() {
		autograd.DetectAnomaly(func() {
			autograd.Record(func() { x.Log() })
		})
	})
	if !errors.Is(err, tensor.ErrAnomaly) || !strings.Contains(err.Error(), "Log") || !strings.Contains(err.Error(), "extras_test.go:") {
		t.Fatalf("forward anomaly: %v", err)
	}
	// Backward: Sqrt'(0) = +Inf.
	err = tensor.Maybe(func() {
		autograd.DetectAnomaly(func() {
			var y *T
			autograd.Record(func() { y = x.Sqrt().Sum() })
			y.Backward()
		})
	})
	if !errors.Is(err, tensor.ErrAnomaly) || !strings.Contains(err.Error(), "backward") || !strings.Contains(err.Error(), "Sqrt") {
		t.Fatalf("backward anomaly: %v", err)
	}
	// Outside the mode nothing is checked.
	var y *T
	autograd.Record(func() { y = x.Sqrt().Sum() })
	y.Backward()
	if !math.IsInf(x.Grad().Float64s()[0], 1) {
		t.Fatal("expected an infinite gradient without anomaly detection")
	}
}

func TestWriteDOT(t *testing.T) {
	x := tensor.Array([][]float32{{1, 2}, {3, 4}})
	x.AttachGrad()
	var y *T
	autograd.Record(func() { y = x.MulScalar(2).Mul(x).Sum() })
	var buf bytes.Buffer
	if err := autograd.WriteDOT(&buf, y); err != nil {
		t.Fatal(err)
	}
	dot := buf.String()
	for _, want := range []string{"digraph tapegrad", "MulScalar\\n[2 2] float32\\ncpu", "Mul\\n", "Sum\\n[] float32", "leaf0 [shape=ellipse", "leaf0 -> op0", "op0 -> op1", "op1 -> op2"} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %q:\n%s", want, dot)
		}
	}
	var again bytes.Buffer
	_ = autograd.WriteDOT(&again, y)
	if again.String() != dot {
		t.Error("DOT output is not deterministic")
	}
}
