package optest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// HalfEps returns the unit roundoff of the half dtype dt: 2⁻⁸ for
// BFloat16 (8 significant bits), 2⁻¹¹ for Float16 (11).
func HalfEps(dt tensor.DType) float64 {
	if dt == tensor.BFloat16 {
		return 0x1p-8
	}
	return 0x1p-11
}

// HalfRTol is the tolerance of a half case's results and gradients
// against the float32 computation at the same inputs, relative to the
// largest finite magnitude of the float32 tensor (see [HalfClose]): 16
// units of the half type's roundoff. Each operation of a composed case
// rounds its output to the half type once, and gradients sum such rounded
// terms, often with cancellation (the gradient of a broadcast operand, of
// a convolution), so that an element's error is bounded by its tensor's
// scale rather than by its own magnitude.
func HalfRTol(dt tensor.DType) float64 { return 16 * HalfEps(dt) }

// HalfClose checks that got has want's shape and, element by element,
// |got − want| <= rtol·max(|want|, scale), scale the largest finite |want|
// of the tensor; equal values (infinities included) and NaN against NaN
// match. It reports the first mismatch and returns whether there was none.
func HalfClose(t testing.TB, what string, got, want *T, rtol float64) bool {
	t.Helper()
	return closeTo(t, what, got, want, rtol, 1)
}

// roundHalf rounds a float64 to the half dtype dt and back, as the
// backends' conversions do.
func roundHalf(v float64, dt tensor.DType) float64 {
	return float64(device.HalfToFloat32(dt, device.HalfFromFloat64(dt, v)))
}

// CheckHalf runs the case in the half dtype dt (BFloat16 or Float16) on
// dev (default: the CPU), from the case's inputs rounded to dt, against
// the float32 computation from the same (rounded) inputs:
//
//   - results must have dtype dt (or be integers equal to the float32
//     computation's);
//   - an elementwise case (one operation applied to views) must give,
//     bit for bit, the float32 result rounded to dt (NaN against NaN, the
//     sign of zero included), since the operation runs in float32 and
//     rounds its output once;
//   - a hand-written case's results, within [HalfRTol] ([HalfClose]);
//   - for differentiable cases (not of special values), the gradients must
//     have dtype dt and be within [HalfRTol] of the float32 ones.
//
// The tolerances are multiplied by the case's HalfFactor (at least 1).
func CheckHalf(t testing.TB, c Case, dt tensor.DType, dev ...device.Device) {
	t.Helper()
	d := devOf(dev)
	xs := c.Draw()
	xh := leaves(xs, dt, d)
	x32 := leaves(xh, tensor.Float32, d) // the half inputs, exactly
	yh, y32 := c.F(xh), c.F(x32)
	if yh.DType().IsInt() && y32.DType() == yh.DType() {
		if !slices.Equal(yh.Int64s(), y32.Int64s()) || !slices.Equal(yh.Shape(), y32.Shape()) {
			t.Errorf("%s: %v result %v, float32 result at the same inputs %v", c.Name, dt, yh, y32)
		}
		return
	}
	if yh.DType() != dt {
		t.Errorf("%s: result of dtype %v from %v inputs", c.Name, yh.DType(), dt)
		return
	}
	if !slices.Equal(yh.Shape(), y32.Shape()) {
		t.Errorf("%s: result of shape %v in %v, %v in float32", c.Name, yh.Shape(), dt, y32.Shape())
		return
	}
	rtol := HalfRTol(dt) * max(1, c.HalfFactor)
	if c.Op != nil {
		got, want := yh.Float64s(), y32.Float64s()
		for i := range got {
			if w := roundHalf(want[i], dt); !SameBits(got[i], w) {
				t.Errorf("%s: %v element %d: %v, want %v (the float32 result %v rounded)", c.Name, dt, i, got[i], w, want[i])
				return
			}
		}
	} else {
		HalfClose(t, fmt.Sprintf("%s: %v against float32", c.Name, dt), yh, y32, rtol)
	}
	if !c.Differentiable() || c.NoGrad {
		return
	}
	_, gh := gradients(c.F, xh)
	_, g32 := gradients(c.F, x32)
	if (gh == nil) != (g32 == nil) {
		t.Errorf("%s: a gradient in one dtype only (%v: %v, float32: %v)", c.Name, dt, gh != nil, g32 != nil)
		return
	}
	for i := range gh {
		if gh[i].DType() != dt {
			t.Errorf("%s: gradient %d of a %v input is %v", c.Name, i, dt, gh[i].DType())
			continue
		}
		HalfClose(t, fmt.Sprintf("%s: %v gradient %d against float32", c.Name, dt, i), gh[i], g32[i], rtol)
	}
}
