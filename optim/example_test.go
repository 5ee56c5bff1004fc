package optim_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/checkpoint"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// One SGD step on loss = sum(w²), whose gradient is 2w: w − 0.1·2w. With
// momentum the second step uses the velocity 0.9·v + g (PyTorch's rule,
// the first velocity being the gradient itself).
func ExampleSGD() {
	w := tensor.Array([]float32{1, 2})
	w.AttachGrad()
	opt := optim.NewSGD([]*tensor.Tensor{w}, 0.1, 0.9, 0)
	for range 2 {
		var loss *tensor.Tensor
		autograd.Record(func() { loss = w.Square().Sum() })
		loss.Backward()
		opt.Step()
		fmt.Println(w)
	}
	// Output:
	// [0.8 1.6]
	// [0.46 0.92]
}

// fitLine returns the mean squared error of fc on the points of y = 2x + 1.
func fitLine(fc *nn.Dense) *tensor.Tensor {
	x := tensor.Array([][]float32{{0}, {1}, {2}, {3}})
	y := tensor.Array([][]float32{{1}, {3}, {5}, {7}})
	return fc.Forward(x).Sub(y).Square().Mean()
}

// newLine returns a one-input, one-output dense layer starting from zero.
func newLine() *nn.Dense {
	fc := &nn.Dense{W: tensor.Zeros([]int{1, 1}), B: tensor.Zeros([]int{1})}
	fc.W.AttachGrad()
	fc.B.AttachGrad()
	return fc
}

// Example_checkpoint trains a tiny model with Adam, saves its parameters
// and the optimiser's state (opt.State(): "m.<i>", "v.<i>" and "steps",
// stored under the prefix "adam/") with checkpoint.Save, then resumes in a
// new model and optimiser with checkpoint.LoadInto and opt.Restore. The
// resumed run takes exactly the steps the original would have taken.
func Example_checkpoint() {
	dir, err := os.MkdirTemp("", "optim-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.ckpt")

	fc := newLine()
	opt := optim.NewAdam(fc.Params(), 0.1)
	step := func(fc *nn.Dense, opt optim.Optimizer) float64 {
		var loss *tensor.Tensor
		autograd.Record(func() { loss = fitLine(fc) })
		loss.Backward()
		opt.Step()
		return loss.Item()
	}
	first := step(fc, opt)
	for range 99 {
		step(fc, opt)
	}

	// Save: the parameters under their names, the optimiser's state under
	// "adam/" ("adam/m.0", "adam/v.0", "adam/m.1", "adam/v.1", "adam/steps").
	ck := &checkpoint.Checkpoint{
		Tensors:  map[string]*tensor.Tensor{"fc.w": fc.W, "fc.b": fc.B},
		Metadata: map[string]string{"steps": "100"},
	}
	ck.Put("adam", opt.State())
	if err := checkpoint.Save(path, ck); err != nil {
		panic(err)
	}

	// Resume: a new model and optimiser, loaded in place.
	fc2 := newLine()
	opt2 := optim.NewAdam(fc2.Params(), 0.1)
	ck, err = checkpoint.LoadInto(path, map[string]*tensor.Tensor{"fc.w": fc2.W, "fc.b": fc2.B})
	if err != nil {
		panic(err)
	}
	if err := opt2.Restore(ck.Prefixed("adam")); err != nil {
		panic(err)
	}

	// Both runs take one more step: the same losses, the same parameters.
	l1, l2 := step(fc, opt), step(fc2, opt2)
	fmt.Printf("loss %.2f at the start, %.2f after 100 steps\n", first, l1)
	fmt.Println("resumed run: same loss:", l1 == l2, "same parameters:",
		fc.W.Item() == fc2.W.Item() && fc.B.Item() == fc2.B.Item())
	fmt.Println("optimiser state in the file:", len(ck.Prefixed("adam")), "tensors; metadata steps =", ck.Metadata["steps"])
	// Output:
	// loss 21.00 at the start, 0.00 after 100 steps
	// resumed run: same loss: true same parameters: true
	// optimiser state in the file: 5 tensors; metadata steps = 100
}
