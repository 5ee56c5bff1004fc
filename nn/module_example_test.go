package nn_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/checkpoint"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// A small model with named parameters and buffers: its summary, one
// training step, a checkpoint of the model (its StateDict) and of the
// optimiser, and a resume into a model built the same way with other
// initial values, which then predicts exactly as the original.
func ExampleStateDict() {
	newModel := func(seed uint64) nn.Sequential {
		g := tensor.WithGenerator(tensor.NewGenerator(seed))
		return nn.Sequential{
			nn.NewDense(4, 8, g), nn.NewBatchNorm1d(8), nn.ReLU{},
			&nn.Dropout{P: 0.2, Generator: tensor.NewGenerator(seed)},
			nn.NewDense(8, 3, g),
		}
	}
	model := newModel(1)
	fmt.Print(nn.Summary(model))

	// One training step: BatchNorm uses the batch's statistics and
	// updates its running ones, Dropout is on.
	opt := optim.NewAdam(model.Params(), 1e-2)
	x := tensor.RandNormal(0, 1, []int{16, 4}, tensor.WithGenerator(tensor.NewGenerator(9)))
	y := tensor.Array([]float32{0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0})
	var loss *tensor.Tensor
	autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(x), y) })
	loss.Backward()
	opt.Step()

	// Save the model and the optimiser under prefixes.
	dir, _ := os.MkdirTemp("", "nn-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.ckpt")
	ck := &checkpoint.Checkpoint{Metadata: map[string]string{"steps": "1"}}
	ck.Put("model", nn.StateDict(model))
	ck.Put("adam", opt.State())
	if err := checkpoint.Save(path, ck); err != nil {
		panic(err)
	}
	fmt.Println(slices.Sorted(maps.Keys(nn.StateDict(model))))

	// Resume in place: LoadInto checks every name, shape and dtype before
	// it copies anything. (checkpoint.Load and then
	// nn.LoadStateDict(resumed, ck.Prefixed("model")) does the same.)
	resumed := newModel(2)
	opt2 := optim.NewAdam(resumed.Params(), 1e-2)
	dst := map[string]*tensor.Tensor{}
	for k, t := range nn.StateDict(resumed) {
		dst["model/"+k] = t
	}
	ck, err := checkpoint.LoadInto(path, dst)
	if err != nil {
		panic(err)
	}
	if err := opt2.Restore(ck.Prefixed("adam")); err != nil {
		panic(err)
	}

	// Predict mode: running statistics, no dropout.
	nn.SetTraining(model, false)
	nn.SetTraining(resumed, false)
	same := slices.Equal(model.Forward(x).Float32s(), resumed.Forward(x).Float32s())
	fmt.Println("same predictions:", same, "after", ck.Metadata["steps"], "step")
	// Output:
	// layer  type             params
	// 0      *nn.Dense        40
	// 1      *nn.BatchNorm1d  16
	// 2      nn.ReLU          0
	// 3      *nn.Dropout      0
	// 4      *nn.Dense        27
	// total                   83
	// [0.bias 0.weight 1.bias 1.running_mean 1.running_var 1.weight 4.bias 4.weight]
	// same predictions: true after 1 step
}
