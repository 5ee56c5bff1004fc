// Package optest is the shared op-test table of package tensor: one row
// (a [Case]) per check of a differentiable or elementwise operation, and
// the runners that every package's tests apply to the rows.
//
// A Case names the tensor method or function it exercises (Method), a
// function F of its inputs, and how to draw those inputs (Inputs, from a
// *rand.Rand seeded from the case's name, so every case is reproducible on
// its own). [Cases] returns the table:
//
//   - the elementwise cases, derived from the op table (internal/optable):
//     every row with a Method, on several shapes and views (0-d, 2-d, size-1
//     axes, transposed, sliced and broadcast operands; for binary rows also
//     broadcasting on either side), with inputs from the row's gradient
//     domains and, for scalar rows, each of its gradient scalars; plus, for
//     rows whose domain covers them, one case per row (and scalar) over the
//     special values [optable.Specials] (the grid of every pair for binary
//     rows). The method is looked up by name with reflect, so a row
//     appended to the op table is tested here with no edit;
//   - hand-written cases for every other differentiable operation:
//     reductions, matrix products, views and shape operations, Concat,
//     Stack, Where, AsType and copies, Clip, Conv2D, MaxPool2D, Softmax,
//     LogSoftmax, SoftmaxCrossEntropy, LayerNorm, RMSNorm, Split, Chunk, SliceStep, Tril,
//     Triu, MaskedFill, CausalMask, CumSum, and the non-differentiable
//     ArgMax, ArgMin, OneHot and Detach.
//
// The runners are [CheckForward] (float64 against the op table's reference,
// bit for bit on the CPU; float32 within the row's documented ulps, or, for
// hand-written cases, within a relative tolerance of the float64
// computation on the same rounded inputs), [CheckGrad] (finite differences
// in float64, float32 gradients against float64 ones, or no gradient at all
// for non-differentiable cases), [CheckSecondOrder] (the gradient,
// recorded with CreateGraph, differentiated again and checked with finite
// differences) and [CompareDevices] (forward results and gradients on two
// devices, in float32 and float64). [Sized] returns elementwise and
// reduction cases of a given size, for backends whose kernels take
// size-dependent paths.
//
// # Adding a row
//
// An elementwise operation needs no row here: append it to the op table
// and write its tensor method, and its cases appear. For any other
// operation, append a Case to the list of its kind in handwritten.go: a
// Name unique in the table ("Op/variant"), the Method it exercises, F, and
// Inputs built with [Inputs] and [Rand] (or [U], [P], [NZ]). F must build
// its result from its arguments alone and follow their dtype and device:
// make constants with [Like]. Set NotDifferentiable for operations that
// record no gradient, NoSecondOrder where a second derivative is not
// defined, and GradOpts, SecondOpts or RTol32 where the defaults do not
// fit (say why in a comment). The coverage test of package tensor fails for
// every exported method or function of package tensor that no Case
// exercises and that is not explicitly excluded there.
package optest

import (
	"hash/fnv"
	"math/rand/v2"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/optable"
	"github.com/tapegrad/tapegrad/tensor"
)

// T is the tensor type, for brevity.
type T = tensor.Tensor

// Case is one row of the op-test table: F applied to inputs drawn by
// Inputs.
type Case struct {
	// Name is the subtest name, unique in the table ("Sigmoid/transposed").
	Name string
	// Method is the exported tensor method or package-level function of
	// package tensor that the case exercises ("Sigmoid", "Sum", "Conv2D").
	Method string
	// F computes the result from the inputs. It must follow the inputs'
	// dtype and device (constants are made with [Like]).
	F func(xs []*T) *T
	// Inputs draws the inputs: float64 tensors on the CPU, shapes included.
	// The runners convert them to the dtype and device they test.
	Inputs func(r *rand.Rand) []*T

	// Op is the op-table row of an elementwise case (nil otherwise); its
	// reference (Ref1 or Ref2) gives the expected forward results.
	Op *optable.Op
	// S is the scalar of a case of a Scalar row.
	S float64
	// Operands returns the operands the row's method is applied to (the
	// inputs after the case's views), for elementwise cases: F(xs) is the
	// method applied to Operands(xs).
	Operands func(xs []*T) []*T

	// Specials marks a case whose inputs are special values (NaN, ±Inf,
	// ±0, ...): only its forward results are checked.
	Specials bool
	// NotDifferentiable marks an operation that records no gradient: the
	// gradient check verifies that its result does not require one.
	NotDifferentiable bool
	// NoGrad skips the finite-difference check (and the second-order one).
	NoGrad bool
	// NoSecondOrder skips the second-order check.
	NoSecondOrder bool

	// GradOpts are the tolerances of the finite-difference check (zero
	// fields: autograd's defaults).
	GradOpts autograd.CheckOptions
	// SecondOpts are the tolerances of the second-order check (zero value:
	// [DefaultSecondOrder]).
	SecondOpts autograd.CheckOptions
	// RTol32 is the relative tolerance of float32 results and gradients,
	// against float64 ones on the same device and against another device
	// (0: [DefaultRTol32]). Elementwise cases on the CPU are held to their
	// row's CPU32ULPs instead.
	RTol32 float64
	// HalfFactor multiplies [HalfRTol] in [CheckHalf] (0: 1) where the
	// default does not fit: a gradient that sums every rounded term onto
	// one element, with cancellation.
	HalfFactor float64
}

// Tolerances of the comparisons, relative to max(|want|, Floor·scale),
// where scale is the largest finite |want| of the tensor compared (so
// that elements near zero from cancellation are compared with the
// tensor's scale).
const (
	// DefaultRTol32 is the relative tolerance of float32 results.
	DefaultRTol32 = 1e-5
	// ReductionRTol32 is the relative tolerance of float32 results of
	// reductions and of operations that sum products (MatMul, Conv2D,
	// SoftmaxCrossEntropy), whose order of summation differs between
	// devices.
	ReductionRTol32 = 1e-4
	// RTol64 is the relative tolerance of float64 results where they are
	// not required to be exact (across devices).
	RTol64 = 1e-12
	// Floor is the fraction of a tensor's scale below which errors are
	// measured against the scale.
	Floor = 1e-3
)

// DefaultSecondOrder are the tolerances of [CheckSecondOrder] (the finite
// differences of a gradient are less accurate than those of a value).
var DefaultSecondOrder = autograd.CheckOptions{ATol: 1e-5, RTol: 1e-4}

func (c *Case) rtol32() float64 {
	if c.RTol32 == 0 {
		return DefaultRTol32
	}
	return c.RTol32
}

// Draw returns the case's inputs: float64 tensors on the CPU, the same on
// every call (the generator is seeded from the case's name).
func (c *Case) Draw() []*T {
	h := fnv.New64a()
	h.Write([]byte(c.Name))
	return c.Inputs(rand.New(rand.NewPCG(h.Sum64(), 0x0b7e57)))
}

// Differentiable reports whether the case's gradients are compared and
// checked (unless NoGrad): its operation records a gradient and its inputs
// are not special values.
func (c *Case) Differentiable() bool {
	return !c.NotDifferentiable && !c.Specials
}

// Gen draws one input tensor.
type Gen func(r *rand.Rand) *T

// Rand returns a Gen of a float64 CPU tensor of the given shape with
// elements drawn from f.
func Rand(f func(*rand.Rand) float64, shape ...int) Gen {
	return func(r *rand.Rand) *T {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = f(r)
		}
		return tensor.FromSlice(v, shape, tensor.On(device.CPU()))
	}
}

// Values returns a Gen of a float64 CPU tensor holding vals.
func Values(vals []float64, shape ...int) Gen {
	return func(*rand.Rand) *T {
		return tensor.FromSlice(append([]float64(nil), vals...), shape, tensor.On(device.CPU()))
	}
}

// U returns a Gen of uniform values in [-1, 1).
func U(shape ...int) Gen { return Rand(optable.Uniform(-1, 1), shape...) }

// P returns a Gen of positive values in [0.5, 2).
func P(shape ...int) Gen { return Rand(optable.Uniform(0.5, 2), shape...) }

// NZ returns a Gen of values whose magnitude is in [0.2, 1), of random
// signs: away from the kinks of Abs, ReLU and comparisons with 0.
func NZ(shape ...int) Gen { return Rand(optable.Signed(0.2, 1), shape...) }

// Inputs returns an Inputs function drawing one tensor from each Gen.
func Inputs(gs ...Gen) func(r *rand.Rand) []*T {
	return func(r *rand.Rand) []*T {
		out := make([]*T, len(gs))
		for i, g := range gs {
			out[i] = g(r)
		}
		return out
	}
}

// Like returns a tensor of the given shape holding vals, with x's dtype
// and device: the way for F to make constants.
func Like(x *T, vals []float64, shape ...int) *T {
	return tensor.FromSlice(vals, shape, tensor.On(x.Device()), tensor.WithDType(x.DType()))
}

// Cases returns the op-test table: the elementwise cases derived from the
// op table, then the hand-written ones.
func Cases() []Case {
	cs := ElementwiseCases()
	cs = append(cs, reductionCases()...)
	cs = append(cs, matmulCases()...)
	cs = append(cs, shapeCases()...)
	cs = append(cs, clipCases()...)
	cs = append(cs, nnCases()...)
	cs = append(cs, indexCases()...)
	cs = append(cs, axisCases()...)
	cs = append(cs, nonDifferentiableCases()...)
	return cs
}
