package autograd_test

import (
	"errors"
	"fmt"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// The walk-through: the gradient of y = 2x² is 4x.
func Example() {
	x := tensor.Array([][]float32{{1, 2}, {3, 4}})
	x.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = x.MulScalar(2).Mul(x) })
	y.Backward()
	fmt.Println(x.Grad())
	// Output:
	// [[ 4  8]
	//  [12 16]]
}

// Control flow inside Record is ordinary Go; the gradient follows the path
// that ran.
func ExampleRecord() {
	a := tensor.Array([]float32{0.1, 0.2})
	a.AttachGrad()
	var c *tensor.Tensor
	autograd.Record(func() {
		b := a.MulScalar(2)
		for b.Norm().Item() < 1000 {
			b = b.MulScalar(2)
		}
		c = b.Index(0)
	})
	c.Backward()
	fmt.Println(a.Grad()) // 2^13: 0.2236·2^13 >= 1000
	// Output:
	// [8192    0]
}

func ExampleGrad() {
	x := tensor.Array([]float64{1, 2, 3})
	x.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = x.PowScalar(3).Sum() })
	// dy/dx = 3x², recorded so that it can be differentiated again.
	g := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, autograd.CreateGraph())
	fmt.Println(g[0])
	// d/dx of sum(3x²) = 6x.
	h := autograd.Grad([]*tensor.Tensor{g[0]}, []*tensor.Tensor{x})
	fmt.Println(h[0])
	// Attached gradients are not touched by Grad.
	fmt.Println(x.Grad())
	// Output:
	// [ 3 12 27]
	// [ 6 12 18]
	// [0 0 0]
}

func ExampleBackward() {
	x := tensor.Array([]float64{1, 2})
	x.AttachGrad(tensor.GradAdd) // accumulate across passes
	for i := 0; i < 3; i++ {
		var y *tensor.Tensor
		autograd.Record(func() { y = x.Square() })
		// Head gradients weight the outputs (default: ones).
		autograd.Backward([]*tensor.Tensor{y}, autograd.HeadGrads(tensor.Array([]float64{1, 10})))
	}
	fmt.Println(x.Grad())
	x.ZeroGrad()
	fmt.Println(x.Grad())
	// Output:
	// [  6 120]
	// [0 0]
}

func ExampleCheckGrad() {
	softplus := func(xs []*tensor.Tensor) *tensor.Tensor {
		return xs[0].Exp().AddScalar(1).Log()
	}
	x := tensor.Array([]float64{-1, 0.5, 2})
	fmt.Println(autograd.CheckGrad(softplus, []*tensor.Tensor{x}, autograd.CheckOptions{}))
	// A gradient cut by Detach disagrees with finite differences.
	wrong := func(xs []*tensor.Tensor) *tensor.Tensor { return xs[0].Mul(xs[0].Detach()) }
	// (CheckGrad compares sum(f(x)·r) for a fixed random r: here the
	// analytic gradient is x·r, the numeric one 2x·r.)
	err := autograd.CheckGrad(wrong, []*tensor.Tensor{x}, autograd.CheckOptions{})
	fmt.Println(errors.Is(err, autograd.ErrGradCheck))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// autograd: gradient check failed: input 0 element 2: analytic 2.942005507, numeric 5.884011014
}

// A training goroutine and an evaluation goroutine. Scopes belong to the
// goroutine that opened them: while the trainer is inside Record, the
// evaluating goroutine (here the caller, inside no scope) does not record
// and is in predict mode. The trainer hands over copies of its parameters,
// so that no goroutine reads a tensor while another updates it in place.
func Example_goroutines() {
	x := tensor.Array([][]float64{{1, 2}, {3, 4}, {5, 6}})
	y := tensor.Array([][]float64{{5}, {11}, {17}}) // y = x·[1 2]ᵀ
	w := tensor.Zeros([]int{2, 1}, tensor.WithDType(tensor.Float64))
	w.AttachGrad()
	snapshots := make(chan *tensor.Tensor)
	go func() { // training
		defer close(snapshots)
		opt := optim.NewSGD([]*tensor.Tensor{w}, 0.02, 0.5, 0)
		for epoch := 1; epoch <= 300; epoch++ {
			var loss *tensor.Tensor
			autograd.Record(func() { loss = x.MatMul(w).Sub(y).Square().Mean() })
			loss.Backward()
			opt.Step()
			if epoch%100 == 0 {
				snapshots <- w.Clone()
			}
		}
	}()
	for snap := range snapshots { // evaluation
		loss := x.MatMul(snap).Sub(y).Square().Mean()
		fmt.Printf("recording %v, training %v, loss %.6f, loss recorded %v\n",
			autograd.IsRecording(), autograd.IsTraining(), loss.Item(), loss.RequiresGrad())
	}
	// Output:
	// recording false, training false, loss 0.004438, loss recorded false
	// recording false, training false, loss 0.001066, loss recorded false
	// recording false, training false, loss 0.000256, loss recorded false
}
