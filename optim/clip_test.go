package optim_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// gradValues returns the gradients of ps, concatenated.
func gradValues(ps ...*tensor.Tensor) []float64 {
	var v []float64
	for _, p := range ps {
		v = append(v, p.Grad().Float64s()...)
	}
	return v
}

// l2 returns the L2 norm of v.
func l2(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// sameFloats reports whether a and b are equal element by element, NaN
// equal to NaN.
func sameFloats(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) })
}

func TestClipGradNormByHand(t *testing.T) {
	a, b := newParam(0, 0), newParam(0)
	noGrad := tensor.Array([]float64{5}) // no gradient attached: skipped
	ps := []*tensor.Tensor{a, noGrad, b}
	set := func() {
		setGradValues(a, 3, 4) // norm 5
		setGradValues(b, 12)   // with a: √(25 + 144) = 13
	}

	// Above maxNorm: every gradient times 6.5/(13 + 1e-6), so that the
	// new norm is 6.5·13/(13 + 1e-6) < 6.5: (1.5, 2, 6) to within 1e-6.
	set()
	if n := optim.ClipGradNorm(ps, 6.5); n != 13 {
		t.Errorf("norm %v, want 13", n)
	}
	c := 6.5 / (13 + 1e-6)
	got, want := gradValues(a, b), []float64{3 * c, 4 * c, 12 * c}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Fatalf("clipped gradients %v, want %v", got, want)
		}
	}
	if n := l2(got); n > 6.5 || n < 6.5-1e-6 {
		t.Errorf("norm after clipping %v, want just under 6.5", n)
	}

	// At or below maxNorm the gradients are not touched (bit for bit).
	for _, maxNorm := range []float64{13, 13.5, 1e9, math.Inf(1)} {
		set()
		if n := optim.ClipGradNorm(ps, maxNorm); n != 13 {
			t.Errorf("maxNorm %v: norm %v, want 13", maxNorm, n)
		}
		if got := gradValues(a, b); !slices.Equal(got, []float64{3, 4, 12}) {
			t.Errorf("maxNorm %v: gradients %v changed", maxNorm, got)
		}
	}

	// maxNorm 0 zeroes the gradients.
	set()
	optim.ClipGradNorm(ps, 0)
	if got := gradValues(a, b); !slices.Equal(got, []float64{0, 0, 0}) {
		t.Errorf("maxNorm 0: gradients %v", got)
	}

	// Nothing to clip: the norm is 0.
	if n := optim.ClipGradNorm(nil, 1); n != 0 {
		t.Errorf("no parameters: %v", n)
	}
	if n := optim.ClipGradNorm([]*tensor.Tensor{noGrad}, 1); n != 0 {
		t.Errorf("no gradients: %v", n)
	}
}

// Gradients of several dtypes (and so several groups read back) count in
// one global norm.
func TestClipGradNormMixedDTypes(t *testing.T) {
	a := tensor.Array([]float32{3, 4})
	a.AttachGrad()
	b, c := newParam(0), newParam(0, 0)
	setGradValues(a, 3, 4)
	setGradValues(b, 12)
	setGradValues(c, 0, 0)
	if n := optim.ClipGradNorm([]*tensor.Tensor{a, b, c}, 1); math.Abs(n-13) > 1e-12 {
		t.Fatalf("norm %v, want 13", n)
	}
	if n := l2(gradValues(a, b, c)); n > 1 || n < 1-1e-6 {
		t.Errorf("norm after clipping %v, want just under 1", n)
	}
	if a.Grad().DType() != tensor.Float32 {
		t.Errorf("float32 gradient became %v", a.Grad().DType())
	}
}

func TestClipGradNormRandom(t *testing.T) {
	g := tensor.NewGenerator(7)
	var ps []*tensor.Tensor
	for _, shape := range [][]int{{17, 5}, {5}, {3, 4, 2}, {1}} {
		p := tensor.Zeros(shape, tensor.WithDType(tensor.Float64))
		p.AttachGrad()
		p.Grad().Assign(tensor.RandNormal(0, 3, shape, tensor.WithDType(tensor.Float64), tensor.WithGenerator(g)))
		ps = append(ps, p)
	}
	before := gradValues(ps...)
	norm := l2(before)
	for _, maxNorm := range []float64{norm / 10, norm / 2, norm * 0.999} {
		off := 0
		for _, p := range ps { // the original gradients again
			n := p.Grad().Size()
			p.Grad().Assign(tensor.FromSlice(before[off:off+n], p.Shape()))
			off += n
		}
		if got := optim.ClipGradNorm(ps, maxNorm); math.Abs(got-norm) > 1e-12*norm {
			t.Errorf("maxNorm %v: norm %v, want %v", maxNorm, got, norm)
		}
		after := gradValues(ps...)
		if n := l2(after); n > maxNorm || n < maxNorm*(1-1e-6) {
			t.Errorf("maxNorm %v: norm after %v", maxNorm, n)
		}
		// The direction is kept: every element scaled by the same factor.
		for i := range after {
			if math.Abs(after[i]-before[i]*maxNorm/(norm+1e-6)) > 1e-12 {
				t.Fatalf("maxNorm %v: element %d is %v, want %v", maxNorm, i, after[i], before[i]*maxNorm/(norm+1e-6))
			}
		}
	}
}

func TestClipGradNormNonFinite(t *testing.T) {
	for _, tc := range []struct {
		g    []float64
		isOK func(float64) bool
	}{
		{[]float64{math.Inf(1), 1}, func(n float64) bool { return math.IsInf(n, 1) }},
		{[]float64{math.Inf(-1), 1}, func(n float64) bool { return math.IsInf(n, 1) }},
		{[]float64{math.NaN(), 1}, math.IsNaN},
		{[]float64{math.NaN(), math.Inf(1)}, math.IsNaN},
		// Finite elements whose squares overflow float64: Norm says +Inf.
		{[]float64{1e200, 1e200}, func(n float64) bool { return math.IsInf(n, 1) || math.Abs(n-math.Sqrt2*1e200) < 1e188 }},
	} {
		a, b := newParam(0, 0), newParam(0)
		setGradValues(a, tc.g...)
		setGradValues(b, 5)
		n := optim.ClipGradNorm([]*tensor.Tensor{a, b}, 1)
		if !tc.isOK(n) {
			t.Errorf("gradient %v: norm %v", tc.g, n)
		}
		if math.IsInf(n, 0) || math.IsNaN(n) {
			// Not finite: reported, nothing scaled.
			if got := gradValues(a, b); !sameFloats(got, append(slices.Clone(tc.g), 5)) {
				t.Errorf("gradient %v: changed to %v", tc.g, got)
			}
		}
	}
}

func TestClipGradErrors(t *testing.T) {
	a := newParam(0, 0)
	setGradValues(a, 3, 4)
	for _, maxNorm := range []float64{-1, math.NaN(), math.Inf(-1)} {
		wantArgError(t, fmt.Sprintf("maxNorm %v", maxNorm), "ClipGradNorm", func() { optim.ClipGradNorm([]*tensor.Tensor{a}, maxNorm) })
	}
	for _, clip := range []float64{-1, math.NaN()} {
		wantArgError(t, fmt.Sprintf("clip %v", clip), "ClipGradValue", func() { optim.ClipGradValue([]*tensor.Tensor{a}, clip) })
	}
	// While recording: refused, also where nothing would change, and
	// nothing changes.
	for _, maxNorm := range []float64{1, 100} {
		autograd.Record(func() {
			wantArgError(t, "ClipGradNorm while recording", "ClipGradNorm", func() { optim.ClipGradNorm([]*tensor.Tensor{a}, maxNorm) })
		})
	}
	autograd.Record(func() {
		wantArgError(t, "ClipGradValue while recording", "ClipGradValue", func() { optim.ClipGradValue([]*tensor.Tensor{a}, 1) })
	})
	if got := gradValues(a); !slices.Equal(got, []float64{3, 4}) {
		t.Errorf("gradients changed to %v", got)
	}
	// Inside Pause it works.
	autograd.Record(func() {
		autograd.Pause(func() { optim.ClipGradNorm([]*tensor.Tensor{a}, 1) })
	})
	if n := l2(gradValues(a)); n > 1 {
		t.Errorf("ClipGradNorm inside Pause: norm %v", n)
	}
	if err := tensor.Maybe(func() { optim.ClipGradValue(nil, 1) }); err != nil {
		t.Errorf("ClipGradValue of no parameters: %v", err)
	}
}

func TestClipGradValue(t *testing.T) {
	a, b := newParam(0, 0, 0), newParam(0, 0)
	setGradValues(a, -3, 0.5, 2)
	setGradValues(b, math.NaN(), -1)
	optim.ClipGradValue([]*tensor.Tensor{a, tensor.Array([]float64{1}), b}, 1)
	if got := gradValues(a, b); !sameFloats(got, []float64{-1, 0.5, 1, math.NaN(), -1}) {
		t.Errorf("ClipGradValue(1): %v, want [-1 0.5 1 NaN -1]", got)
	}
	optim.ClipGradValue([]*tensor.Tensor{a}, 0)
	if got := gradValues(a); !slices.Equal(got, []float64{0, 0, 0}) {
		t.Errorf("ClipGradValue(0): %v", got)
	}
	setGradValues(a, -3, 0.5, 2)
	optim.ClipGradValue([]*tensor.Tensor{a}, math.Inf(1))
	if got := gradValues(a); !slices.Equal(got, []float64{-3, 0.5, 2}) {
		t.Errorf("ClipGradValue(+Inf): %v", got)
	}
}

// Clipping sits between the backward pass and the step: the step uses the
// clipped gradient.
func TestClipThenStep(t *testing.T) {
	w := newParam(3, 4)
	opt := optim.NewSGD([]*tensor.Tensor{w}, 1, 0, 0)
	var loss *tensor.Tensor
	autograd.Record(func() { loss = w.Square().Sum().MulScalar(0.5) }) // gradient w = (3, 4), norm 5
	loss.Backward()
	optim.ClipGradNorm([]*tensor.Tensor{w}, 1)
	opt.Step()
	// w − (3, 4)/(5 + 1e-6)
	c := 1 / (5 + 1e-6)
	if got := w.Float64s(); math.Abs(got[0]-(3-3*c)) > 1e-15 || math.Abs(got[1]-(4-4*c)) > 1e-15 {
		t.Errorf("w after the clipped step: %v", got)
	}
}

// ClipGradNorm returns the norm before clipping and scales the gradients
// to maxNorm (less a relative 1e-6/norm).
func ExampleClipGradNorm() {
	w := tensor.Array([]float64{3, 4})
	w.AttachGrad()
	var loss *tensor.Tensor
	autograd.Record(func() { loss = w.Square().Sum().MulScalar(0.5) }) // gradient w
	loss.Backward()
	norm := optim.ClipGradNorm([]*tensor.Tensor{w}, 1)
	fmt.Printf("norm before %.1f, gradient now [%.4f %.4f]\n", norm, w.Grad().Float64s()[0], w.Grad().Float64s()[1])
	fmt.Println("below the limit, unchanged:", optim.ClipGradNorm([]*tensor.Tensor{w}, 2) < 2)
	// Output:
	// norm before 5.0, gradient now [0.6000 0.8000]
	// below the limit, unchanged: true
}
