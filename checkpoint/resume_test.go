package checkpoint_test

import (
	"path/filepath"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/checkpoint"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// Saving parameters and Adam's state mid-training and loading them into a
// fresh model and optimiser resumes training bitwise identically.
func TestResumeTraining(t *testing.T) {
	x := tensor.RandNormal(0, 1, []int{32, 8})
	y := tensor.FromSlice([]float32{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}, []int{32})
	newRun := func() (nn.Sequential, *optim.Adam) {
		tensor.Seed(1)
		m := nn.Sequential{nn.NewDense(8, 16), nn.ReLU{}, nn.NewDense(16, 4)}
		return m, optim.NewAdam(m.Params(), 0.01)
	}
	step := func(m nn.Sequential, o *optim.Adam) float64 {
		var loss *tensor.Tensor
		autograd.Record(func() { loss = nn.CrossEntropy(m.Forward(x), y) })
		loss.Backward()
		o.Step()
		return loss.Item()
	}
	named := func(m nn.Sequential) map[string]*tensor.Tensor {
		out := map[string]*tensor.Tensor{}
		for i, p := range m.Params() {
			out[string(rune('a'+i))] = p
		}
		return out
	}

	// Uninterrupted: 10 steps.
	m1, o1 := newRun()
	var want []float64
	for i := 0; i < 10; i++ {
		want = append(want, step(m1, o1))
	}

	// Interrupted after 4 steps, saved, resumed into fresh objects.
	m2, o2 := newRun()
	for i := 0; i < 4; i++ {
		step(m2, o2)
	}
	c := &checkpoint.Checkpoint{Tensors: map[string]*tensor.Tensor{}}
	c.Put("params", named(m2))
	c.Put("adam", o2.State())
	path := filepath.Join(t.TempDir(), "run.ckpt")
	if err := checkpoint.Save(path, c); err != nil {
		t.Fatal(err)
	}

	tensor.Seed(99) // different initial values: everything must come from the file
	m3 := nn.Sequential{nn.NewDense(8, 16), nn.ReLU{}, nn.NewDense(16, 4)}
	o3 := optim.NewAdam(m3.Params(), 0.01)
	dst := map[string]*tensor.Tensor{}
	for k, v := range named(m3) {
		dst["params/"+k] = v
	}
	loaded, err := checkpoint.LoadInto(path, dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := o3.Restore(loaded.Prefixed("adam")); err != nil {
		t.Fatal(err)
	}
	for i := 4; i < 10; i++ {
		if got := step(m3, o3); got != want[i] {
			t.Fatalf("step %d after resuming: loss %v, uninterrupted %v", i, got, want[i])
		}
	}
}
