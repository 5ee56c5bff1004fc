package tensor_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/tensor"
)

// The op-table math functions against independent formulas built from
// other operations (the op table's references share the CPU's formulas,
// so this checks the formulas themselves), on inputs where the textbook
// formula is accurate, and the published values of GELU's two forms.
func TestMathIdentities(t *testing.T) {
	x := tensor.Array([]float64{-3, -1.5, -0.3, 0, 0.2, 0.9, 2.5}, tensor.WithDType(tensor.Float64))
	u := tensor.Array([]float64{-0.9, -0.4, 0, 0.3, 0.8}, tensor.WithDType(tensor.Float64)) // |u| < 1
	big := tensor.Array([]float64{1, 1.5, 3, 10}, tensor.WithDType(tensor.Float64))         // ≥ 1
	k := math.Sqrt(2 / math.Pi)
	cases := []struct {
		name      string
		got, want *tensor.Tensor
	}{
		{"Log1p", x.Abs().Log1p(), x.Abs().AddScalar(1).Log()},
		{"Expm1", x.Expm1(), x.Exp().SubScalar(1)},
		{"Rsqrt", big.Rsqrt(), big.Sqrt().Recip()},
		{"Tan", u.Tan(), u.Sin().Div(u.Cos())},
		{"Sinh", x.Sinh(), x.Exp().Sub(x.Neg().Exp()).MulScalar(0.5)},
		{"Cosh", x.Cosh(), x.Exp().Add(x.Neg().Exp()).MulScalar(0.5)},
		{"Arcsin", u.Arcsin().Sin(), u},
		{"Arccos", u.Arccos().Cos(), u},
		{"Arctan", x.Arctan().Tan(), x},
		{"Arcsinh", x.Arcsinh().Sinh(), x},
		{"Arccosh", big.Arccosh().Cosh(), big},
		{"Arctanh", u.Arctanh().Tanh(), u},
		{"Erf/odd", x.Erf().Neg(), x.Neg().Erf()},
		{"GELU", x.GELU(), x.MulScalar(1 / math.Sqrt2).Erf().AddScalar(1).Mul(x).MulScalar(0.5)},
		{"GELUTanh", x.GELUTanh(), x.Square().MulScalar(0.044715).AddScalar(1).Mul(x).MulScalar(k).Tanh().AddScalar(1).Mul(x).MulScalar(0.5)},
		{"SiLU", x.SiLU(), x.Mul(x.Sigmoid())},
		{"Softplus", x.Softplus(), x.Exp().AddScalar(1).Log()},
		{"Clip", x.Clip(-1, 0.5), x.MaximumScalar(-1).MinimumScalar(0.5)},
	}
	for _, c := range cases {
		g, w := c.got.Float64s(), c.want.Float64s()
		for i := range g {
			if math.Abs(g[i]-w[i]) > 1e-14*math.Max(1, math.Abs(w[i])) {
				t.Errorf("%s: element %d = %v, want %v", c.name, i, g[i], w[i])
			}
		}
	}
	// Published values: gelu(1) = 0.8413447460685429, the tanh form
	// 0.8411919906082768 (PyTorch, float64).
	one := tensor.Array([]float64{1}, tensor.WithDType(tensor.Float64))
	if g := one.GELU().Item(); math.Abs(g-0.8413447460685429) > 1e-16 {
		t.Errorf("GELU(1) = %v", g)
	}
	if g := one.GELUTanh().Item(); math.Abs(g-0.8411919906082768) > 1e-16 {
		t.Errorf("GELUTanh(1) = %v", g)
	}
	// Clip with lo > hi gives hi everywhere, as PyTorch's clamp.
	for _, v := range x.Clip(1, -1).Float64s() {
		if v != -1 {
			t.Errorf("Clip(1, -1) gave %v, want -1", v)
		}
	}
}
