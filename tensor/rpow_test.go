package tensor_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// RPowScalar (device.RPowS had no tensor method before the op table's
// coverage test): values and gradient s^a·ln(s), and PyTorch's convention
// for base 0 (gradient 0 where a ≥ 0).
func TestRPowScalar(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		s          float64
		x          []float64
		want, grad []float64
	}{
		{2, []float64{-1, 0, 3}, []float64{0.5, 1, 8}, []float64{0.5 * math.Ln2, math.Ln2, 8 * math.Ln2}},
		{math.E, []float64{1, -2}, []float64{math.E, math.Exp(-2)}, []float64{math.E, math.Exp(-2)}},
		{0, []float64{2, 0, -1}, []float64{0, 1, inf}, []float64{0, 0, -inf}},
	}
	for _, c := range cases {
		x := tensor.Array(c.x, tensor.WithDType(tensor.Float64))
		x.AttachGrad()
		var y *tensor.Tensor
		autograd.Record(func() { y = x.RPowScalar(c.s) })
		y.Backward()
		got, g := y.Float64s(), x.Grad().Float64s()
		for i := range c.x {
			if math.Abs(got[i]-c.want[i]) > 1e-15*math.Abs(c.want[i]) && got[i] != c.want[i] {
				t.Errorf("%v^%v = %v, want %v", c.s, c.x[i], got[i], c.want[i])
			}
			if math.Abs(g[i]-c.grad[i]) > 1e-15*math.Abs(c.grad[i]) && g[i] != c.grad[i] {
				t.Errorf("d/dx %v^x at %v = %v, want %v", c.s, c.x[i], g[i], c.grad[i])
			}
		}
	}
}
