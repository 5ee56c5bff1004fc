package optest

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/optable"
	"github.com/tapegrad/tapegrad/tensor"
)

// leaves returns fresh copies of xs of dtype dt on device d, cut from any
// graph (float64 values rounded to dt).
func leaves(xs []*T, dt tensor.DType, d device.Device) []*T {
	out := make([]*T, len(xs))
	for i, x := range xs {
		out[i] = tensor.FromSlice(x.Float64s(), x.Shape(), tensor.WithDType(dt), tensor.On(d))
	}
	return out
}

func devOf(dev []device.Device) device.Device {
	if len(dev) > 0 {
		return dev[0]
	}
	return device.CPU()
}

// CheckForward checks the case's forward results on dev (default: the
// CPU), in float64 and float32.
//
// For elementwise cases the float64 results must equal the op-table row's
// reference at the operands, bit for bit on the CPU (NaN matching any NaN,
// the sign of zero respected), and the float32 results the reference at
// the float32 operands rounded to float32, within the row's CPU32ULPs. On
// other devices both are compared within [RTol64] and the case's float32
// tolerance instead. For the other cases the float32 results must be within
// the case's relative tolerance of the float64 computation at the same
// (float32) inputs. Results must have the inputs' dtype and the shape of
// the float64 computation, or be integers (indices) equal to the float64
// computation's at the same inputs.
func CheckForward(t testing.TB, c Case, dev ...device.Device) {
	t.Helper()
	d := devOf(dev)
	xs := c.Draw()
	x64 := leaves(xs, tensor.Float64, d)
	x32 := leaves(xs, tensor.Float32, d)
	r64 := leaves(x32, tensor.Float64, d) // the float32 inputs, exactly
	y64, y32, yr := c.F(x64), c.F(x32), c.F(r64)
	if y64.DType().IsInt() && y32.DType() == y64.DType() {
		// Integer results (ArgMax, indices): equal at equal inputs.
		if !slices.Equal(y32.Int64s(), yr.Int64s()) || !slices.Equal(y32.Shape(), yr.Shape()) {
			t.Errorf("%s: float32 result %v, float64 result at the same inputs %v", c.Name, y32, yr)
		}
		return
	}
	if y64.DType() != tensor.Float64 || y32.DType() != tensor.Float32 {
		t.Errorf("%s: results of dtypes %v (float64 inputs) and %v (float32 inputs)", c.Name, y64.DType(), y32.DType())
		return
	}
	if !slices.Equal(y32.Shape(), yr.Shape()) {
		t.Errorf("%s: result of shape %v in float32, %v in float64", c.Name, y32.Shape(), yr.Shape())
		return
	}
	if c.Op == nil {
		Close(t, c.Name+" float32 against float64", y32, yr, c.rtol32())
		return
	}
	exact := d == device.CPU()
	checkRef(t, c, y64, c.Operands(x64), exact)
	checkRef(t, c, y32, c.Operands(x32), exact)
}

// ref returns the row's reference at operands v (and the scalar s).
func ref(op *optable.Op, v []float64, s float64) float64 {
	switch op.Kind {
	case optable.Unary:
		return op.Ref1(v[0])
	case optable.Scalar:
		return op.Ref2(v[0], s)
	}
	return op.Ref2(v[0], v[1])
}

// round returns v rounded to dtype dt.
func round(v float64, dt tensor.DType) float64 {
	if dt == tensor.Float32 {
		return float64(float32(v))
	}
	return v
}

// checkRef compares y, an elementwise case's result, with the row's
// reference at the operands ops (broadcast to y's shape).
func checkRef(t testing.TB, c Case, y *T, ops []*T, exact bool) {
	t.Helper()
	dt := y.DType()
	shape := y.Shape()
	vals := make([][]float64, len(ops))
	for i, o := range ops {
		vals[i] = o.BroadcastTo(shape...).Float64s()
	}
	got := y.Float64s()
	s := round(c.S, dt)
	ulps := c.Op.Test.CPU32ULPs
	want := make([]float64, len(got))
	v := make([]float64, len(ops))
	for i := range got {
		for j := range vals {
			v[j] = vals[j][i]
		}
		want[i] = round(ref(c.Op, v, s), dt)
		if !exact {
			continue
		}
		ok := SameBits(got[i], want[i])
		if !ok && dt == tensor.Float32 && ulps > 0 {
			ok = ULPDiff(got[i], want[i], dt) <= ulps
		}
		if !ok {
			args := fmt.Sprint(v)
			if c.Op.Kind == optable.Scalar {
				args = fmt.Sprintf("[%v, s=%v]", v[0], s)
			}
			t.Errorf("%s: %v %s%v = %v, want %v (the op table's reference; %d ulps allowed in float32)",
				c.Name, dt, c.Op.Method, args, got[i], want[i], ulps)
			return
		}
	}
	if !exact {
		rtol := RTol64
		if dt == tensor.Float32 {
			rtol = c.rtol32()
		}
		Close(t, fmt.Sprintf("%s: %v against the op table's reference", c.Name, dt), y, tensor.FromSlice(want, shape), rtol)
	}
}

// SameBits reports whether a and b are the same value, the sign of zero
// included (any NaN matches any NaN).
func SameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// ULPDiff returns the distance in units in the last place of dtype dt
// between two values of the same sign (0 when equal or both NaN, the
// maximum when one is NaN or the signs differ).
func ULPDiff(a, b float64, dt tensor.DType) uint64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		if math.IsNaN(a) && math.IsNaN(b) {
			return 0
		}
		return math.MaxUint64
	}
	if a == b {
		return 0
	}
	if math.Signbit(a) != math.Signbit(b) {
		return math.MaxUint64
	}
	if dt == tensor.Float32 {
		x, y := math.Float32bits(float32(a)), math.Float32bits(float32(b))
		return uint64(max(x, y) - min(x, y))
	}
	x, y := math.Float64bits(a), math.Float64bits(b)
	return max(x, y) - min(x, y)
}

// Close checks that got has want's shape and values within rtol: element
// by element |got − want| <= rtol·max(|want|, Floor·scale), scale the
// largest finite |want|; equal values (infinities included) and NaN
// against NaN match. It reports the first mismatch and returns whether
// there was none.
func Close(t testing.TB, what string, got, want *T, rtol float64) bool {
	t.Helper()
	return closeTo(t, what, got, want, rtol, Floor)
}

// closeTo is Close with the floor of the tolerance, as a fraction of the
// scale, given (HalfClose's is 1).
func closeTo(t testing.TB, what string, got, want *T, rtol, floor float64) bool {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
		return false
	}
	a, b := got.Float64s(), want.Float64s()
	scale := 0.0
	for _, v := range b {
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			scale = math.Max(scale, math.Abs(v))
		}
	}
	for i := range a {
		if a[i] == b[i] || math.IsNaN(a[i]) && math.IsNaN(b[i]) {
			continue
		}
		d := math.Abs(a[i] - b[i])
		if tol := rtol * math.Max(math.Abs(b[i]), floor*scale); d > tol || math.IsNaN(d) {
			t.Errorf("%s: element %d: %v, want %v (error %.3g, tolerance %.3g: %.3g of max(|want|, %.3g of the scale %.3g))", what, i, a[i], b[i], d, tol, rtol, floor, scale)
			return false
		}
	}
	return true
}

// head returns the fixed head gradient of the runners for a result y:
// values in [0.5, 1.5) that depend only on the position, of y's shape,
// dtype and device.
func head(y *T) *T {
	n := y.Size()
	v := make([]float64, n)
	for i := range v {
		v[i] = 0.5 + float64(i)/float64(n+1)
	}
	return Like(y, v, y.Shape()...)
}

// gradients returns f(xs) and, when it requires a gradient, the gradients
// with respect to xs for the head gradient head(f(xs)) (nil otherwise).
// xs get gradients attached.
func gradients(f func([]*T) *T, xs []*T) (*T, []*T) {
	for _, x := range xs {
		x.AttachGrad()
	}
	var y *T
	autograd.Record(func() { y = f(xs) })
	if !y.RequiresGrad() {
		return y, nil
	}
	return y, autograd.Grad([]*T{y}, xs, autograd.HeadGrads(head(y)))
}

// CheckGrad checks the case's gradients on the CPU. For a differentiable
// case: the float64 gradients against central finite differences
// (autograd.CheckGrad with the case's GradOpts), unless NoGrad, and the
// float32 gradients against the float64 ones at the same inputs within the
// case's float32 tolerance. For a NotDifferentiable case: that the result,
// recorded from inputs with gradients attached, requires no gradient.
// Cases of special values are not checked.
func CheckGrad(t testing.TB, c Case) {
	t.Helper()
	if c.Specials {
		return
	}
	xs := c.Draw()
	if c.NotDifferentiable {
		if y, _ := gradients(c.F, leaves(xs, tensor.Float64, device.CPU())); y.RequiresGrad() {
			t.Errorf("%s: the result of a non-differentiable operation requires a gradient", c.Name)
		}
		return
	}
	if c.NoGrad {
		return
	}
	if err := autograd.CheckGrad(c.F, leaves(xs, tensor.Float64, device.CPU()), c.GradOpts); err != nil {
		t.Errorf("%s: %v", c.Name, err)
	}
	x32 := leaves(xs, tensor.Float32, device.CPU())
	_, g32 := gradients(c.F, x32)
	_, g64 := gradients(c.F, leaves(x32, tensor.Float64, device.CPU()))
	if (g32 == nil) != (g64 == nil) {
		t.Errorf("%s: a gradient in one dtype only (float32: %v, float64: %v)", c.Name, g32 != nil, g64 != nil)
		return
	}
	for i := range g32 {
		if g32[i].DType() != tensor.Float32 {
			t.Errorf("%s: gradient %d of a float32 input is %v", c.Name, i, g32[i].DType())
			continue
		}
		Close(t, fmt.Sprintf("%s: float32 gradient %d against float64", c.Name, i), g32[i], g64[i], c.rtol32())
	}
}

// fixed returns a deterministic tensor like x (shape, dtype, device) with
// entries in [0.5, 1.5) that depend only on the shape and seed.
func fixed(x *T, seed uint64) *T {
	v := make([]float64, x.Size())
	for i := range v {
		z := seed*0x9E3779B97F4A7C15 + uint64(i+1)*0xBF58476D1CE4E5B9
		z ^= z >> 31
		z *= 0x94D049BB133111EB
		z ^= z >> 29
		v[i] = 0.5 + float64(z>>11)/(1<<53)
	}
	return Like(x, v, x.Shape()...)
}

// SecondOrder returns the function xs ↦ Σ_i ⟨∂⟨f(xs), R⟩/∂x_i, S_i⟩ for
// fixed R and S_i, computed with a backward pass that records its own
// computation (autograd.CreateGraph): checking it with finite differences
// checks that f's backward rules are themselves differentiated correctly.
func SecondOrder(f func([]*T) *T) func([]*T) *T {
	return func(xs []*T) *T {
		y := f(xs)
		if !y.RequiresGrad() {
			return y.Sum().MulScalar(0)
		}
		grads := autograd.Grad([]*T{y}, xs, autograd.HeadGrads(fixed(y, 1)), autograd.CreateGraph())
		var total *T
		for i, g := range grads {
			term := g.Mul(fixed(g, uint64(i+2))).Sum()
			if total == nil {
				total = term
			} else {
				total = total.Add(term)
			}
		}
		return total
	}
}

// CheckSecondOrder checks the case's second derivatives on the CPU:
// [SecondOrder] of F against finite differences, with the case's
// SecondOpts (default [DefaultSecondOrder]). Where the second derivative
// is zero almost everywhere (piecewise-linear operations, views) the check
// still verifies that the first-order rule is recorded correctly.
// Non-differentiable cases, cases of special values and cases marked
// NoGrad or NoSecondOrder are not checked.
func CheckSecondOrder(t testing.TB, c Case) {
	t.Helper()
	if !c.Differentiable() || c.NoGrad || c.NoSecondOrder {
		return
	}
	o := c.SecondOpts
	if o == (autograd.CheckOptions{}) {
		o = DefaultSecondOrder
	}
	if err := autograd.CheckGrad(SecondOrder(c.F), leaves(c.Draw(), tensor.Float64, device.CPU()), o); err != nil {
		t.Errorf("%s: second order: %v", c.Name, err)
	}
}

// CompareDevices runs the case on devices ref and other, in float32 and
// float64 from the same inputs, and compares the forward results and,
// for differentiable cases, the gradients for a fixed head gradient:
// within [RTol64] in float64 and the case's float32 tolerance in float32,
// relative to max(|ref|, Floor·scale). Results must be on other (except
// for cases of To, which moves them).
func CompareDevices(t testing.TB, c Case, ref, other device.Device) {
	t.Helper()
	xs := c.Draw()
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		rtol := RTol64
		if dt == tensor.Float32 {
			rtol = c.rtol32()
		}
		run := func(d device.Device) (*T, []*T) {
			in := leaves(xs, dt, d)
			if !c.Differentiable() {
				return c.F(in), nil
			}
			return gradients(c.F, in)
		}
		yr, gr := run(ref)
		yo, gother := run(other)
		if yo.Device() != other && c.Method != "To" { // To moves its result
			t.Errorf("%s: %v result on %v, want %v", c.Name, dt, yo.Device(), other)
		}
		what := fmt.Sprintf("%s: %v on %v against %v", c.Name, dt, other, ref)
		Close(t, what+": forward", yo, yr, rtol)
		if len(gr) != len(gother) {
			t.Errorf("%s: %d gradients, want %d", what, len(gother), len(gr))
			continue
		}
		for i := range gr {
			Close(t, fmt.Sprintf("%s: gradient %d", what, i), gother[i], gr[i], rtol)
		}
	}
}
