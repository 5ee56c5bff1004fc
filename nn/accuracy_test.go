package nn_test

import (
	"errors"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

func TestAccuracyLabels(t *testing.T) {
	logits := tensor.Array([][]float64{{0, 1, 0}, {2, 0, 0}, {0, 0, 3}, {1, 0, 0}})
	if a := nn.Accuracy(logits, tensor.Array([]float64{1, 0, 1, 0})); a != 0.75 {
		t.Errorf("accuracy %v, want 0.75", a)
	}
	// Out of range: ErrIndex; not an integer: ErrArgument, as the losses.
	for _, c := range []struct {
		bad  float64
		kind error
	}{{3, tensor.ErrIndex}, {-1, tensor.ErrIndex}, {0.5, tensor.ErrArgument}, {math.NaN(), tensor.ErrArgument}, {math.Inf(1), tensor.ErrArgument}} {
		err := tensor.Maybe(func() { nn.Accuracy(logits, tensor.Array([]float64{1, 0, c.bad, 0})) })
		if !errors.Is(err, c.kind) {
			t.Errorf("label %v: %v, want %v", c.bad, err, c.kind)
		}
	}
	if err := tensor.Maybe(func() { nn.Flatten{}.Forward(tensor.Scalar(1)) }); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("Flatten of a 0-d tensor: %v, want ErrShape", err)
	}
}
