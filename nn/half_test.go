package nn_test

import (
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// A small classifier trains end to end in bfloat16 and float16 (layers,
// LayerNorm, cross-entropy with int64 labels, Adam on half parameters and
// state): the loss falls as it does in float32.
func TestHalfTraining(t *testing.T) {
	final := map[tensor.DType]float64{}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16, tensor.Float16} {
		g := tensor.NewGenerator(11)
		opt := []tensor.Option{tensor.WithDType(dt), tensor.WithGenerator(g)}
		l1, ln, l2 := nn.NewDense(8, 32, opt...), nn.NewLayerNorm([]int{32}, tensor.WithDType(dt)), nn.NewDense(32, 4, opt...)
		params := append(append(l1.Params(), ln.Params()...), l2.Params()...)
		adam := optim.NewAdam(params, 0.01)
		// Four separable classes: the label is the argmax of the first four
		// features.
		x := tensor.RandNormal(0, 1, []int{64, 8}, tensor.WithGenerator(g))
		labels := x.Slice(1, 0, 4).ArgMax(1)
		xh := x.AsType(dt)
		var first, last float64
		for step := range 60 {
			var loss *tensor.Tensor
			autograd.Record(func() {
				h := ln.Forward(l1.Forward(xh).ReLU())
				loss = nn.CrossEntropy(l2.Forward(h), labels)
			})
			if loss.DType() != dt {
				t.Fatalf("%v: loss of dtype %v", dt, loss.DType())
			}
			loss.Backward()
			adam.Step()
			adam.ZeroGrad()
			if step == 0 {
				first = loss.Item()
			}
			last = loss.Item()
		}
		final[dt] = last
		if !(last < 0.5*first) {
			t.Errorf("%v: loss %v after 60 steps, from %v", dt, last, first)
		}
		for _, p := range params {
			if p.DType() != dt || p.Grad().DType() != dt {
				t.Fatalf("%v: parameter %v, gradient %v", dt, p.DType(), p.Grad().DType())
			}
		}
	}
	t.Logf("final losses: %v", final)
}
