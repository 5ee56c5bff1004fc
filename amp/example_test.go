package amp_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/amp"
	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// Under autocast the product runs in bfloat16, the softmax in float32,
// and the float32 weight still gets a float32 gradient.
func ExampleAutocast() {
	x := tensor.Array([][]float32{{1, 2}, {3, 4}})
	w := tensor.Array([][]float32{{0.5, -1}, {0.25, 2}})
	w.AttachGrad()
	var logits, probs, loss *tensor.Tensor
	autograd.Record(func() {
		amp.Autocast(tensor.BFloat16, func() {
			logits = x.MatMul(w)
			probs = logits.Softmax(1)
			loss = probs.Sum()
		})
	})
	loss.Backward()
	fmt.Println(logits.DType(), probs.DType(), loss.DType(), w.Grad().DType())
	fmt.Println(logits.Float32s())
	// Output:
	// bfloat16 float32 float32 float32
	// [1 3 2.5 5]
}

// A float16 training loop with loss scaling. The inputs are large, so at
// the initial scale 2¹⁶ the float16 gradients overflow: those steps are
// skipped and the scale halved each time, until it fits (64 here); then
// every step trains.
func ExampleGradScaler() {
	tensor.Seed(1)
	model := nn.Sequential{nn.NewDense(4, 16), nn.ReLU{}, nn.NewDense(16, 3)}
	opt := optim.NewAdam(model.Params(), 0.05)
	x := tensor.RandNormal(0, 1000, []int{64, 4})
	y := x.Sum(1).GtScalar(0).AsType(tensor.Int64) // class 0 or 1
	scaler := amp.NewGradScaler()
	skipped := 0
	var loss *tensor.Tensor
	for range 40 {
		var scaled *tensor.Tensor
		autograd.Record(func() {
			amp.Autocast(tensor.Float16, func() {
				loss = nn.CrossEntropy(model.Forward(x), y)
			})
			scaled = scaler.Scale(loss)
		})
		scaled.Backward()
		scaler.Unscale(opt) // before clipping
		optim.ClipGradNorm(opt.Params(), 1)
		if !scaler.Step(opt) {
			skipped++
		}
		scaler.Update()
	}
	fmt.Printf("skipped %d steps; scale %v; final loss below 0.3: %v\n", skipped, scaler.LossScale(), loss.Item() < 0.3)
	// Output:
	// skipped 10 steps; scale 64; final loss below 0.3: true
}
