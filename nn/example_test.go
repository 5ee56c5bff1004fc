package nn_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// A two-layer MLP with fixed weights: Sequential applies the layers in
// order and collects their parameters.
func ExampleSequential() {
	model := nn.Sequential{
		&nn.Dense{W: tensor.Array([][]float32{{1, -1}, {2, 0}}), B: tensor.Array([]float32{0, 1})},
		nn.ReLU{},
		&nn.Dense{W: tensor.Array([][]float32{{1}, {-1}}), B: tensor.Array([]float32{0.5})},
	}
	x := tensor.Array([][]float32{{1, 1}, {-1, 2}, {1, -1}})
	fmt.Println(model.Forward(x))
	fmt.Println(len(model.Params()), "parameters")
	// Output:
	// [[3.5]
	//  [1.5]
	//  [0.5]]
	// 4 parameters
}

// An MLP for 28×28 images with initialised weights: one training step's
// loss and the shapes of the parameters' gradients.
func ExampleSequential_mlp() {
	model := nn.Sequential{nn.Flatten{}, nn.NewDense(784, 32), nn.ReLU{}, nn.NewDense(32, 10)}
	x := tensor.RandUniform(0, 1, []int{8, 1, 28, 28})
	y := tensor.Array([]float32{0, 1, 2, 3, 4, 5, 6, 7})
	var loss *tensor.Tensor
	autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(x), y) })
	loss.Backward()
	fmt.Println(model.Forward(x).Shape())
	for _, p := range model.Params() {
		fmt.Println(p.Shape(), p.Grad().Shape())
	}
	// Output:
	// [8 10]
	// [784 32] [784 32]
	// [32] [32]
	// [32 10] [32 10]
	// [10] [10]
}

// CrossEntropy is the mean of the per-row losses −log softmax(logits)[label].
func ExampleCrossEntropy() {
	logits := tensor.Array([][]float32{{2, 0, 0}, {0, 0, 0}})
	labels := tensor.Array([]float32{0, 2})
	fmt.Printf("%.4f\n", nn.CrossEntropy(logits, labels).Item())
	fmt.Println(nn.Accuracy(logits, labels))
	// Output:
	// 0.6691
	// 0.5
}
