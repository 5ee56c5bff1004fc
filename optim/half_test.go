package optim_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// Optimisers update half parameters in place, with half state: each step
// runs in float32 and rounds the parameters and moments once, so the
// first steps equal the float32 steps from the same values, rounded.
func TestHalfParameters(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		init := []float64{0.5, -1.25, 2, 0.1}
		grad := []float64{0.3, -0.7, 0.05, 1.5}
		for _, name := range []string{"sgd", "adam"} {
			ph := tensor.Array(init, tensor.WithDType(dt))
			ph.AttachGrad()
			p32 := ph.AsType(tensor.Float32).Detach() // the same (rounded) values
			p32.AttachGrad()
			gh := tensor.Array(grad, tensor.WithDType(dt))
			var step func()
			switch name {
			case "sgd":
				oh, o32 := optim.NewSGD([]*tensor.Tensor{ph}, 0.1, 0.9, 0.01), optim.NewSGD([]*tensor.Tensor{p32}, 0.1, 0.9, 0.01)
				step = func() { oh.Step(); o32.Step() }
			default:
				oh, o32 := optim.NewAdam([]*tensor.Tensor{ph}, 0.01), optim.NewAdam([]*tensor.Tensor{p32}, 0.01)
				step = func() { oh.Step(); o32.Step() }
			}
			for _, p := range []*tensor.Tensor{ph, p32} {
				var y *tensor.Tensor
				autograd.Record(func() { y = p.Mul(gh.AsType(p.DType())).Sum() })
				y.Backward()
			}
			step()
			if ph.DType() != dt || ph.Grad().DType() != dt {
				t.Fatalf("%v %s: parameter %v, gradient %v", dt, name, ph.DType(), ph.Grad().DType())
			}
			got, want := ph.Float64s(), p32.Float64s()
			for i := range want {
				w := float64(device.HalfToFloat32(dt, device.HalfFromFloat64(dt, want[i])))
				if got[i] != w || math.IsNaN(got[i]) {
					t.Errorf("%v %s: parameter %d = %v, want %v (float32 %v)", dt, name, i, got[i], w, want[i])
				}
			}
		}
	}
}
