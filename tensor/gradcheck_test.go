package tensor_test

import (
	"github.com/tapegrad/tapegrad/tensor"
)

// The finite-difference checks of every operation are rows of the shared
// op-test table (internal/optest), run by TestOpTable in optable_test.go;
// the checks here and in grad_test.go are the ones that are not per-op:
// compositions, conventions at kinks and ties, and special cases.

type T = tensor.Tensor

func rnd(shape ...int) *T {
	return tensor.RandUniform(-1, 1, shape, tensor.WithDType(tensor.Float64))
}

func pos(shape ...int) *T {
	return tensor.RandUniform(0.5, 2, shape, tensor.WithDType(tensor.Float64))
}

// gradCase is one finite-difference check: f applied to inputs.
type gradCase struct {
	name   string
	f      func(x []*T) *T
	inputs func() []*T
}

func one(f func(a *T) *T) func(x []*T) *T { return func(x []*T) *T { return f(x[0]) } }
func two(f func(a, b *T) *T) func(x []*T) *T {
	return func(x []*T) *T { return f(x[0], x[1]) }
}
func ins(ts ...*T) func() []*T { return func() []*T { return ts } }
