package tensor_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// composedSDPA is attention written out of recorded operations, the
// formula the fused operation must agree with.
func composedSDPA(q, k, v *T, scale float64, causal bool) *T {
	r := q.Rank()
	perm := make([]int, k.Rank())
	for i := range perm {
		perm[i] = i
	}
	perm[len(perm)-2], perm[len(perm)-1] = len(perm)-1, len(perm)-2
	s := q.MatMul(k.Transpose(perm...)).MulScalar(scale)
	if causal {
		l, n := q.Shape()[r-2], k.Shape()[k.Rank()-2]
		mask := tensor.Ones([]int{l, n}, tensor.WithDType(q.DType())).Triu(1)
		s = s.MaskedFill(mask, math.Inf(-1))
	}
	return s.Softmax(-1).MatMul(v)
}

// maxRelDiff returns max |a − b| / max(max |b|, tiny).
func maxRelDiff(a, b *T) float64 {
	av, bv := a.Float64s(), b.Float64s()
	scale, diff := 0.0, 0.0
	for i := range bv {
		scale = math.Max(scale, math.Abs(bv[i]))
		diff = math.Max(diff, math.Abs(av[i]-bv[i]))
		if math.IsNaN(av[i]) != math.IsNaN(bv[i]) {
			return math.Inf(1)
		}
	}
	return diff / math.Max(scale, 1e-300)
}

// TestSDPAAgreesWithComposed compares the fused operation's values and
// gradients with the composed formula, in float64 and float32, across the
// CPU's query blocks (64 rows), causal and not, L != S, several widths
// (and D = 130, which is composed).
func TestSDPAAgreesWithComposed(t *testing.T) {
	for _, c := range []struct {
		b, l, s, d, dv int
		causal         bool
	}{
		{2, 5, 5, 1, 1, true},
		{3, 70, 70, 32, 32, true},
		{2, 100, 37, 16, 8, false},
		{1, 37, 130, 64, 64, true},
		{2, 9, 9, 130, 20, true},
		{1, 129, 129, 128, 128, false},
	} {
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 2e-5
			}
			q := tensor.RandNormal(0, 1, []int{c.b, c.l, c.d}, tensor.WithDType(dt))
			k := tensor.RandNormal(0, 1, []int{c.b, c.s, c.d}, tensor.WithDType(dt))
			v := tensor.RandNormal(0, 1, []int{c.b, c.s, c.dv}, tensor.WithDType(dt))
			g := tensor.RandNormal(0, 1, []int{c.b, c.l, c.dv}, tensor.WithDType(dt))
			scale := 1 / math.Sqrt(float64(c.d))
			grads := func(f func(q, k, v *T) *T) []*T {
				xs := []*T{q.Clone(), k.Clone(), v.Clone()}
				for _, x := range xs {
					x.AttachGrad()
				}
				var y *T
				autograd.Record(func() { y = f(xs[0], xs[1], xs[2]) })
				y.Backward(g)
				return []*T{y, xs[0].Grad(), xs[1].Grad(), xs[2].Grad()}
			}
			got := grads(func(q, k, v *T) *T { return tensor.ScaledDotProductAttention(q, k, v, scale, c.causal) })
			want := grads(func(q, k, v *T) *T { return composedSDPA(q, k, v, scale, c.causal) })
			for i, name := range []string{"out", "dq", "dk", "dv"} {
				if d := maxRelDiff(got[i], want[i]); d > tol {
					t.Errorf("%v %+v: %s differs from the composed formula by %.3g of its scale", dt, c, name, d)
				}
			}
		}
	}
}

// TestSDPAGrad checks the gradients against finite differences in float64
// (the op table has more cases, with the second order).
func TestSDPAGrad(t *testing.T) {
	for _, c := range []struct {
		l, s, d, dv int
		causal      bool
	}{
		{4, 4, 1, 2, true}, {3, 6, 5, 2, false}, {6, 3, 2, 3, true}, {5, 5, 16, 4, true}, {2, 3, 130, 2, true},
	} {
		xs := []*T{rnd(2, c.l, c.d), rnd(2, c.s, c.d), rnd(2, c.s, c.dv)}
		f := func(x []*T) *T { return tensor.ScaledDotProductAttention(x[0], x[1], x[2], 0.8, c.causal) }
		if err := autograd.CheckGrad(f, xs, autograd.CheckOptions{}); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestSDPANoKeys: with S = 0 no query sees a key; the result is 0 (the
// empty sum), as for the composed formula, and so is the gradient of q.
func TestSDPANoKeys(t *testing.T) {
	for _, causal := range []bool{false, true} {
		q := rnd(2, 3, 4)
		q.AttachGrad()
		k, v := rnd(2, 0, 4), rnd(2, 0, 5)
		var y, loss *T
		autograd.Record(func() {
			y = tensor.ScaledDotProductAttention(q, k, v, 1, causal)
			loss = y.Sum()
		})
		if s := y.Shape(); len(s) != 3 || s[0] != 2 || s[1] != 3 || s[2] != 5 {
			t.Fatalf("shape %v", s)
		}
		for i, x := range y.Float64s() {
			if x != 0 {
				t.Fatalf("causal %v: out[%d] = %v, want 0", causal, i, x)
			}
		}
		loss.Backward()
		for i, x := range q.Grad().Float64s() {
			if x != 0 {
				t.Fatalf("causal %v: dq[%d] = %v, want 0", causal, i, x)
			}
		}
		if d := maxRelDiff(y, composedSDPA(q, k, v, 1, causal)); d != 0 {
			t.Errorf("causal %v: differs from the composed formula", causal)
		}
	}
}

// TestSDPALargeScores: scores in the thousands (exp overflows without the
// row maximum) and a causal first row that sees one key.
func TestSDPALargeScores(t *testing.T) {
	q := rnd(1, 6, 3).MulScalar(100)
	k := rnd(1, 6, 3).MulScalar(100)
	v := rnd(1, 6, 2)
	y := tensor.ScaledDotProductAttention(q, k, v, 1, true)
	if d := maxRelDiff(y, composedSDPA(q, k, v, 1, true)); d > 1e-12 {
		t.Errorf("large scores: differs by %.3g", d)
	}
	if got, want := y.Float64s()[:2], v.Float64s()[:2]; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("first row %v, want v's first row %v", got, want)
	}
}

func TestSDPAErrors(t *testing.T) {
	const op = "ScaledDotProductAttention"
	q, k, v := rnd(2, 3, 4), rnd(2, 5, 4), rnd(2, 5, 6)
	f32 := k.AsType(tensor.Float32)
	for _, c := range []struct {
		name    string
		kind    error
		f       func()
		details []string
	}{
		{"dtype", tensor.ErrDType, func() { tensor.ScaledDotProductAttention(q, f32, v, 1, false) }, []string{"[2 5 4]", "float32"}},
		{"int", tensor.ErrDType, func() {
			tensor.ScaledDotProductAttention(q.AsType(tensor.Int64), k.AsType(tensor.Int64), v.AsType(tensor.Int64), 1, false)
		}, nil},
		{"D differs", tensor.ErrShape, func() { tensor.ScaledDotProductAttention(q, rnd(2, 5, 3), v, 1, false) }, []string{"[2 5 3]"}},
		{"S differs", tensor.ErrShape, func() { tensor.ScaledDotProductAttention(q, k, rnd(2, 4, 6), 1, true) }, []string{"[2 4 6]"}},
		{"1-d", tensor.ErrShape, func() { tensor.ScaledDotProductAttention(rnd(4), k, v, 1, false) }, nil},
		{"batch", tensor.ErrShape, func() { tensor.ScaledDotProductAttention(rnd(3, 3, 4), k, v, 1, false) }, []string{"do not broadcast"}},
		{"scale", tensor.ErrArgument, func() { tensor.ScaledDotProductAttention(q, k, v, math.NaN(), false) }, []string{"scale"}},
		{"inf scale", tensor.ErrArgument, func() { tensor.ScaledDotProductAttention(q, k, v, math.Inf(1), false) }, []string{"scale"}},
	} {
		checkErr(t, c.name, tensor.Maybe(c.f), c.kind, append([]string{op}, c.details...)...)
	}
	// Nothing was changed.
	if d := maxRelDiff(tensor.ScaledDotProductAttention(q, k, v, 0.5, true), composedSDPA(q, k, v, 0.5, true)); d > 1e-12 {
		t.Errorf("after the errors: differs by %.3g", d)
	}
}
