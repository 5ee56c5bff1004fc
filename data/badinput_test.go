package data_test

import (
	"errors"
	"testing"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/tensor"
)

func TestBadSizes(t *testing.T) {
	if err := tensor.Maybe(func() { data.Permutation(-1, 1) }); !errors.Is(err, tensor.ErrArgument) {
		t.Errorf("Permutation(-1): %v, want ErrArgument", err)
	}
	// rows·cols = 2^64 wraps to 0, which empty slices would have matched.
	if err := tensor.Maybe(func() { data.NewDataset(nil, nil, 1<<32, 1<<32) }); !errors.Is(err, tensor.ErrArgument) {
		t.Errorf("NewDataset with 2^32×2^32 images: %v, want ErrArgument", err)
	}
	if err := tensor.Maybe(func() { data.NewDataset(make([]uint8, 4), make([]uint8, 1), 2, 2) }); err != nil {
		t.Errorf("a valid dataset: %v", err)
	}
}
