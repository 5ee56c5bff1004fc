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

// The losses take integer labels of more classes than bfloat16 (256) or
// float16 (2048) holds exactly when the logits are half: the labels are
// compared in float32 (they used to be refused with ErrArgument), and the
// losses agree with float32 logits.
func TestHalfLossesManyClasses(t *testing.T) {
	const classes = 3000
	g := tensor.NewGenerator(5)
	logits := tensor.RandNormal(0, 1, []int{4, classes}, tensor.WithGenerator(g))
	labels := tensor.FromSlice([]int64{2999, 257, 0, 2049}, []int{4})
	losses := map[string]func(x *tensor.Tensor) *tensor.Tensor{
		"CrossEntropy":         func(x *tensor.Tensor) *tensor.Tensor { return nn.CrossEntropy(x, labels) },
		"CrossEntropySmoothed": func(x *tensor.Tensor) *tensor.Tensor { return nn.CrossEntropySmoothed(x, labels, 0.1) },
		"NLL":                  func(x *tensor.Tensor) *tensor.Tensor { return nn.NLL(x.LogSoftmax(1), labels) },
	}
	for name, f := range losses {
		want := f(logits)
		for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
			x := logits.AsType(dt)
			x.AttachGrad()
			var loss *tensor.Tensor
			autograd.Record(func() { loss = f(x) })
			if loss.DType() != dt {
				t.Errorf("%s %v: loss of dtype %v", name, dt, loss.DType())
			}
			if d := loss.Item() - want.Item(); d > 0.02*want.Item() || d < -0.02*want.Item() {
				t.Errorf("%s %v: loss %v, float32 %v", name, dt, loss.Item(), want.Item())
			}
			loss.Backward()
			gr := x.Grad().Float64s()
			// Each sample's label column gets (p − 1)/N < 0.
			for i, lab := range []int{2999, 257, 0, 2049} {
				if v := gr[i*classes+lab]; !(v < -0.2) {
					t.Errorf("%s %v: gradient at sample %d's label %d is %v, want about -0.25", name, dt, i, lab, v)
				}
			}
		}
	}
}
