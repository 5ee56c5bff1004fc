// Package optable is the one table of tapegrad's elementwise operations:
// one row per operation, from which everything mechanical is generated or
// derived.
//
// A row says, in one place, what the operation is called (the device enum
// constant, its String, its kernel names), what it computes (a Go
// expression for the CPU loop, a CUDA C++ expression for the kernels, a
// float64 reference for the tests), which tensor method exposes it, and
// how it is tested (input domains, scalars tried, tolerances). From the
// rows,
//
//   - go generate ./internal/optable writes device/ops_gen.go (the enums
//     UnaryOp, ScalarOp and BinaryOp with their names), device/cpu's
//     kernels_gen.go (one tight loop per operation) and kernels/
//     elementwise_ops.cuh (the CUDA functors and kernel instantiations,
//     compiled into the elementwise PTX module); a test fails when any of
//     them is stale;
//   - package kernels names each kernel from the enum's String, lower-cased;
//   - device/devicetest, the kernel simulator's tests and the shared
//     tensor op-test table (internal/optest) take their references, input
//     domains and tolerances from the rows, so a new row is tested on the
//     CPU, in the simulator, against the fake driver and on a GPU without
//     another list to edit.
//
// # Adding an operation
//
// Append a row to [Ops] (append, never insert: the CUDA kernels are
// instantiated in row order, so appending keeps every existing kernel's
// PTX, labels included, unchanged and a new operation's PTX diff is its
// own kernels), write its math helpers where the expressions need them
// (device/cpu/mathfuncs.go, kernels/tg_common.cuh), run go generate
// ./internal/optable and go generate ./kernels, and write the tensor
// method with its gradient rule (package tensor) and its documentation.
// The enum values follow the order of the rows of each kind, so they are
// not a stable ABI: programs name operations by constant, never by
// number.
package optable

//go:generate go run ./gen

import (
	"math"
	"math/rand/v2"
	"strings"
)

// Kind is the operand pattern of an operation.
type Kind uint8

// The kinds, one device enum each.
const (
	Unary  Kind = iota // op(x): device.UnaryOp
	Scalar             // op(x, s), s a float64 scalar: device.ScalarOp
	Binary             // op(a, b), both tensors: device.BinaryOp
)

// Op is one row of the table.
type Op struct {
	Kind Kind
	// Name is the device enum constant and its String ("Softplus"); the
	// kernels are named from its lower-case form.
	Name string
	// Doc is the enum constant's comment: the formula, and NaN or
	// signed-zero semantics where they are not the obvious ones.
	Doc string
	// CPU is a Go expression, in the element type T, of x (Unary), x and s
	// (Scalar) or a and b (Binary), using the helpers of device/cpu. A
	// value "@f" means that f(d, x []T) computes the whole slice instead
	// (a vectorised loop of device/cpu).
	CPU string
	// CUDA is the CUDA C++ expression of the same names, in the element
	// type T, using the helpers of kernels/tg_common.cuh.
	CUDA string

	// Method is the tensor method that computes the operation, "" for the
	// fused backward rules, which are reached through Via.
	Method string
	// Via names the tensor method whose backward pass launches a fused
	// backward rule ("Tanh" for TanhGrad).
	Via string
	// Smooth says the operation is differentiable where the test inputs
	// lie (comparisons and Sign are not: their tensor methods record no
	// gradient).
	Smooth bool

	// Ref1 (Unary) or Ref2 (Scalar: x, s; Binary: a, b) is the float64
	// reference, exact IEEE semantics included (NaN, ±Inf, signed zeros):
	// tests compare every backend against it.
	Ref1 func(x float64) float64
	Ref2 func(a, b float64) float64

	Test Test
}

// Test says how a row is tested.
type Test struct {
	// In draws the random inputs x (Unary, Scalar) or a (Binary); In2
	// draws b (Binary). Nil means Uniform(-4, 4).
	In, In2 func(*rand.Rand) float64
	// Grad and Grad2 draw the inputs of gradient checks (x or a, and b),
	// away from kinks and poles (nil: In and In2).
	Grad, Grad2 func(*rand.Rand) float64
	// GradScalars are the values of s of gradient checks (Scalar; nil:
	// Scalars).
	GradScalars []float64
	// Scalars are the values of s tried (Scalar).
	Scalars []float64
	// Trans marks results from a math library (exp, log, pow, ...): each
	// backend's transcendental tolerance applies instead of its
	// elementwise one.
	Trans bool
	// Sum measures the error relative to |a| + |b| (sums and differences,
	// which cancel); Mag, when set, gives the magnitude the error is
	// measured against instead of |result|.
	Sum bool
	Mag func(a, b float64) float64
	// NoSpecials: the grid of special values (NaN, ±Inf, ±0, ...) is
	// outside the operation's domain (the fused backward rules, whose
	// first operand is a forward result).
	NoSpecials bool
	// CPU32ULPs is the CPU backend's documented float32 accuracy against
	// the float64 reference rounded to float32, in ulps (0: exact; float64
	// results are exact).
	CPU32ULPs uint64
	// SimULPs is how far, in ulps, the kernel simulator (the CUDA source
	// on the host's math library) may be from the CPU backend (0: the
	// same bits). LooseF64 allows 128 ulps in float64, where Go's math
	// (the CPU's reference) is less accurate than glibc and CUDA (pow of
	// large results, sin and cos of large arguments).
	SimULPs  float64
	LooseF64 bool
}

// Input domains.
var (
	// Uniform draws from [lo, hi).
	Uniform = func(lo, hi float64) func(*rand.Rand) float64 {
		return func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }
	}
	// Signed draws magnitudes from [lo, hi) with a random sign.
	Signed = func(lo, hi float64) func(*rand.Rand) float64 {
		return func(r *rand.Rand) float64 {
			v := lo + (hi-lo)*r.Float64()
			if r.IntN(2) == 0 {
				return -v
			}
			return v
		}
	}
	// Pick draws one of vals.
	Pick = func(vals ...float64) func(*rand.Rand) float64 {
		return func(r *rand.Rand) float64 { return vals[r.IntN(len(vals))] }
	}
	// Mix draws from f, or from g one time in k.
	Mix = func(f, g func(*rand.Rand) float64, k int) func(*rand.Rand) float64 {
		return func(r *rand.Rand) float64 {
			if r.IntN(k) == 0 {
				return g(r)
			}
			return f(r)
		}
	}
)

// Specials are the IEEE special values (and a few ordinary ones) that
// tests feed every operation whose domain covers them.
var Specials = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1, 0.5, 2.5}

// Kernel returns the op's name in kernel names: Name lower-cased.
func (o *Op) Kernel() string { return strings.ToLower(o.Name) }

// InX returns the row's input domain of x or a.
func (t *Test) InX() func(*rand.Rand) float64 {
	if t.In == nil {
		return Uniform(-4, 4)
	}
	return t.In
}

// InB returns the row's input domain of b.
func (t *Test) InB() func(*rand.Rand) float64 {
	if t.In2 == nil {
		return Uniform(-4, 4)
	}
	return t.In2
}

// GradIn returns the row's input domain of x or a for gradient checks.
func (t *Test) GradIn() func(*rand.Rand) float64 {
	if t.Grad == nil {
		return t.InX()
	}
	return t.Grad
}

// GradInB returns the row's input domain of b for gradient checks.
func (t *Test) GradInB() func(*rand.Rand) float64 {
	if t.Grad2 == nil {
		return t.InB()
	}
	return t.Grad2
}

// GradS returns the scalars of gradient checks.
func (t *Test) GradS() []float64 {
	if t.GradScalars == nil {
		return t.Scalars
	}
	return t.GradScalars
}

// Of returns the rows of kind k, in enum order.
func Of(k Kind) []*Op {
	var out []*Op
	for i := range Ops {
		if Ops[i].Kind == k {
			out = append(out, &Ops[i])
		}
	}
	return out
}

// Find returns the row of kind k named name, or nil.
func Find(k Kind, name string) *Op {
	for i := range Ops {
		if Ops[i].Kind == k && Ops[i].Name == name {
			return &Ops[i]
		}
	}
	return nil
}
