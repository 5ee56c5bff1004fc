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
	for _, bad := range []float64{3, -1, 0.5, math.NaN(), math.Inf(1)} {
		err := tensor.Maybe(func() { nn.Accuracy(logits, tensor.Array([]float64{1, 0, bad, 0})) })
		if !errors.Is(err, tensor.ErrIndex) {
			t.Errorf("label %v: %v, want ErrIndex", bad, err)
		}
	}
	if err := tensor.Maybe(func() { nn.Flatten{}.Forward(tensor.Scalar(1)) }); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("Flatten of a 0-d tensor: %v, want ErrShape", err)
	}
}
