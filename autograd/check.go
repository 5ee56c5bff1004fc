package autograd

import (
	"errors"
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/tensor"
)

// ErrGradCheck is wrapped by the errors CheckGrad returns when analytic and
// numeric gradients disagree.
var ErrGradCheck = errors.New("autograd: gradient check failed")

// CheckOptions sets the tolerances of [CheckGrad]. Zero fields take the
// defaults.
type CheckOptions struct {
	Eps  float64 // central-difference step (default 1e-6)
	ATol float64 // absolute tolerance (default 1e-6)
	RTol float64 // relative tolerance (default 1e-4)
	Seed uint64  // seed of the random projection of the output (default 1)
}

// CheckGrad compares the gradients that backward passes compute for f with
// central finite differences, at the point xs (float64 tensors). f must be
// deterministic and build its result from its arguments with recorded
// operations. The output is reduced to a scalar with a fixed random
// projection, L = sum(f(xs) · R), so that every output element counts. The
// check passes where |analytic − numeric| <= ATol + RTol·|numeric| for every
// element of every input; otherwise the error names the worst element.
//
// Use it to check custom functions; tapegrad's own tests check every
// differentiable operation with it.
func CheckGrad(f func(xs []*tensor.Tensor) *tensor.Tensor, xs []*tensor.Tensor, o CheckOptions) error {
	if o.Eps == 0 {
		o.Eps = 1e-6
	}
	if o.ATol == 0 {
		o.ATol = 1e-6
	}
	if o.RTol == 0 {
		o.RTol = 1e-4
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	vals := make([][]float64, len(xs))
	for i, x := range xs {
		if x.DType() != tensor.Float64 {
			return fmt.Errorf("%w: input %d is %v; finite differences need float64", ErrGradCheck, i, x.DType())
		}
		vals[i] = x.Float64s()
	}
	build := func() []*tensor.Tensor {
		in := make([]*tensor.Tensor, len(xs))
		for i, x := range xs {
			in[i] = tensor.FromSlice(vals[i], x.Shape(), tensor.On(x.Device()))
		}
		return in
	}

	// Analytic gradients.
	in := build()
	for _, x := range in {
		x.AttachGrad()
	}
	var y *tensor.Tensor
	Record(func() { y = f(in) })
	r := projection(y, o.Seed)
	var grads []*tensor.Tensor
	if y.RequiresGrad() {
		grads = Grad([]*tensor.Tensor{y}, in, HeadGrads(r))
	} else {
		// f's result does not depend on its inputs through recorded
		// operations: its gradient is zero, which the finite differences
		// must confirm.
		for _, x := range in {
			grads = append(grads, tensor.Zeros(x.Shape(), tensor.On(x.Device()), tensor.WithDType(x.DType())))
		}
	}
	rv := r.Float64s()

	// The perturbed evaluations run like the first one (recording, inputs
	// with gradients attached), so that f may itself differentiate, as a
	// check of second derivatives does.
	loss := func() float64 {
		var out *tensor.Tensor
		Record(func() {
			xs := build()
			for _, x := range xs {
				x.AttachGrad()
			}
			out = f(xs)
		})
		yv := out.Float64s()
		s := 0.0
		for i, v := range yv {
			s += v * rv[i]
		}
		return s
	}

	var worst struct {
		excess            float64
		input, index      int
		analytic, numeric float64
	}
	for i := range xs {
		g := grads[i].Float64s()
		for j := range vals[i] {
			orig := vals[i][j]
			vals[i][j] = orig + o.Eps
			lp := loss()
			vals[i][j] = orig - o.Eps
			lm := loss()
			vals[i][j] = orig
			num := (lp - lm) / (2 * o.Eps)
			diff := math.Abs(g[j] - num)
			excess := diff - (o.ATol + o.RTol*math.Abs(num))
			if math.IsNaN(diff) && !(math.IsNaN(g[j]) && math.IsNaN(num)) {
				excess = math.Inf(1)
			}
			if excess > 0 && excess > worst.excess {
				worst.excess, worst.input, worst.index = excess, i, j
				worst.analytic, worst.numeric = g[j], num
			}
		}
	}
	if worst.excess > 0 {
		return fmt.Errorf("%w: input %d element %d: analytic %.10g, numeric %.10g",
			ErrGradCheck, worst.input, worst.index, worst.analytic, worst.numeric)
	}
	return nil
}

// projection returns a fixed pseudo-random tensor of y's shape, dtype and
// device with entries in [0.5, 1.5).
func projection(y *tensor.Tensor, seed uint64) *tensor.Tensor {
	n := y.Size()
	v := make([]float64, n)
	s := seed
	for i := range v {
		// splitmix64
		s += 0x9E3779B97F4A7C15
		z := s
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		v[i] = 0.5 + float64(z>>11)/(1<<53)
	}
	return tensor.FromSlice(v, y.Shape(), tensor.On(y.Device())).AsType(y.DType())
}
