package amp_test

import (
	"errors"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/amp"
	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// backward computes the gradient of sum(w·x) (that is, x) into w's
// gradient, scaled by the scaler.
func backward(s *amp.GradScaler, w, x *T) {
	var l *T
	autograd.Record(func() { l = w.Mul(x).Sum() })
	s.Scale(l).Backward() // Scale outside Record: it records anyway
}

func optimisers(w *T) map[string]optim.Optimizer {
	return map[string]optim.Optimizer{
		"SGD":       optim.NewSGD([]*T{w}, 0.1, 0.9, 0),
		"Adam":      optim.NewAdam([]*T{w}, 0.1),
		"Scheduled": optim.WithSchedule(optim.NewAdam([]*T{w}, 0), optim.StepLR{Base: 0.1, StepSize: 10, Gamma: 0.5}),
	}
}

// TestScalerSteps: with every optimiser, a good step unscales the
// gradient exactly and steps as without a scaler; an Inf or NaN gradient
// skips the step (parameters and step count unchanged) and halves the
// scale; GrowthInterval good steps in a row double it.
func TestScalerSteps(t *testing.T) {
	for _, name := range []string{"SGD", "Adam", "Scheduled"} {
		t.Run(name, func(t *testing.T) {
			w := tensor.Array([]float32{1, 2, 3})
			w.AttachGrad()
			ref := tensor.Array([]float32{1, 2, 3})
			ref.AttachGrad()
			opt, refOpt := optimisers(w)[name], optimisers(ref)[name]
			s := amp.NewGradScaler()
			s.GrowthInterval = 3
			x := tensor.Array([]float32{0.5, -1.5, 1e-3})
			good := func(step int) {
				backward(s, w, x)
				if found := s.Unscale(opt); found {
					t.Fatalf("step %d: Inf found in finite gradients", step)
				}
				if got := w.Grad().Float32s(); got[0] != 0.5 || got[1] != -1.5 || got[2] != 1e-3 {
					t.Fatalf("step %d: unscaled gradient %v, want %v", step, got, x.Float32s())
				}
				if !s.Step(opt) {
					t.Fatalf("step %d skipped", step)
				}
				s.Update()
				var l *T
				autograd.Record(func() { l = ref.Mul(x).Sum() })
				l.Backward()
				refOpt.Step()
				if g, r := w.Float32s(), ref.Float32s(); g[0] != r[0] || g[1] != r[1] || g[2] != r[2] {
					t.Fatalf("step %d: parameters %v, without scaler %v", step, g, r)
				}
			}
			for i := range 2 {
				good(i)
			}
			if s.LossScale() != 65536 || s.GoodSteps() != 2 {
				t.Fatalf("after 2 good steps: scale %v, good %d", s.LossScale(), s.GoodSteps())
			}
			good(2)
			if s.LossScale() != 131072 || s.GoodSteps() != 0 {
				t.Fatalf("after 3 good steps: scale %v, good %d; want 131072, 0", s.LossScale(), s.GoodSteps())
			}
			before := w.Float32s()
			steps := opt.State()
			for _, bad := range []float32{float32(math.Inf(1)), float32(math.NaN())} {
				backward(s, w, tensor.Array([]float32{1, bad, 1}))
				if s.Step(opt) {
					t.Fatalf("step with a %v gradient was taken", bad)
				}
				s.Update()
				if got := w.Float32s(); got[0] != before[0] || got[1] != before[1] || got[2] != before[2] {
					t.Fatalf("skipped step changed the parameters: %v, want %v", got, before)
				}
			}
			if s.LossScale() != 131072/4 || s.GoodSteps() != 0 {
				t.Fatalf("after 2 skipped steps: scale %v, good %d; want 32768, 0", s.LossScale(), s.GoodSteps())
			}
			for k, v := range opt.State() {
				a, b := v.Float64s(), steps[k].Float64s()
				for i := range a {
					if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
						t.Fatalf("skipped step changed optimiser state %s", k)
					}
				}
			}
			good(3) // steps again, unscaling by the new scale
		})
	}
}

// TestScalerWithClipping: unscaling before ClipGradNorm clips the true
// gradients, as without a scaler.
func TestScalerWithClipping(t *testing.T) {
	w := tensor.Array([]float32{1, 2})
	w.AttachGrad()
	s := amp.NewGradScaler()
	backward(s, w, tensor.Array([]float32{3, 4}))
	s.Unscale(optim.NewSGD([]*T{w}, 0.1, 0, 0))
	if n := optim.ClipGradNorm([]*T{w}, 1); n != 5 {
		t.Fatalf("norm %v after Unscale, want 5", n)
	}
	if g := w.Grad().Float32s(); math.Abs(float64(g[0])-0.6) > 1e-6 || math.Abs(float64(g[1])-0.8) > 1e-6 {
		t.Errorf("clipped gradient %v, want [0.6 0.8]", g)
	}
}

// TestScalerKeepsSmallGradients: under float16 autocast a gradient of
// about 1e-8 (below float16's smallest subnormal, 6e-8) flushes to zero
// without loss scaling and survives with it. (With the initial scale 2¹⁶
// the float16 gradient of this tiny loss would overflow instead: 65536 is
// above float16's 65504, so that step would be skipped; hence 2¹⁴.)
func TestScalerKeepsSmallGradients(t *testing.T) {
	run := func(s *amp.GradScaler) float32 {
		w := tensor.Array([][]float32{{1}})
		w.AttachGrad()
		x := tensor.Array([][]float32{{1e-4}})
		var l *T
		autograd.Record(func() {
			// The product and its scaling run in float16 (MulScalar keeps
			// its operand's dtype), the Sum in float32.
			amp.Autocast(tensor.Float16, func() { l = x.MatMul(w).MulScalar(1e-4).Sum() })
			if s != nil {
				l = s.Scale(l)
			}
		})
		l.Backward()
		if s != nil {
			if s.Unscale(optim.NewSGD([]*T{w}, 0, 0, 0)) {
				t.Fatal("Inf or NaN found")
			}
		}
		return w.Grad().Float32s()[0]
	}
	if g := run(nil); g != 0 {
		t.Fatalf("gradient %v without scaling; want 0 (1e-8 flushes in float16)", g)
	}
	s := amp.NewGradScaler()
	s.SetLossScale(1 << 14)
	if g := run(s); !(math.Abs(float64(g)-1e-8) < 1e-10) {
		t.Errorf("gradient %v with scaling, want 1e-8 within 1%%", g)
	}
}

// TestScalerMisuse: the order errors of PyTorch's GradScaler, and bad
// settings, panic with ErrArgument.
func TestScalerMisuse(t *testing.T) {
	w := tensor.Array([]float32{1})
	w.AttachGrad()
	opt := optim.NewSGD([]*T{w}, 0.1, 0, 0)
	s := amp.NewGradScaler()
	check := func(what string, fn func()) {
		t.Helper()
		if err := tensor.Maybe(fn); !errors.Is(err, tensor.ErrArgument) {
			t.Errorf("%s: %v, want ErrArgument", what, err)
		}
	}
	check("Update before any step", s.Update)
	backward(s, w, tensor.Array([]float32{1}))
	s.Unscale(opt)
	check("Unscale twice", func() { s.Unscale(opt) })
	s.Step(opt)
	check("Step twice", func() { s.Step(opt) })
	check("Unscale after Step", func() { s.Unscale(opt) })
	s.Update()
	check("Unscale while recording", func() { autograd.Record(func() { s.Unscale(opt) }) })
	check("SetLossScale(0)", func() { s.SetLossScale(0) })
	check("SetLossScale(Inf)", func() { s.SetLossScale(math.Inf(1)) })
	s.BackoffFactor = 0
	backward(s, w, tensor.Array([]float32{1}))
	s.Step(opt)
	check("Update with backoff 0", s.Update)
}

// TestScalerState: State and Restore round-trip the scale and the growth
// tracker; a bad state is refused and changes nothing.
func TestScalerState(t *testing.T) {
	w := tensor.Array([]float32{1})
	w.AttachGrad()
	opt := optim.NewSGD([]*T{w}, 0.1, 0, 0)
	s := amp.NewGradScaler()
	s.SetLossScale(1024)
	for range 3 {
		backward(s, w, tensor.Array([]float32{1}))
		s.Step(opt)
		s.Update()
	}
	r := amp.NewGradScaler()
	if err := r.Restore(s.State()); err != nil {
		t.Fatal(err)
	}
	if r.LossScale() != 1024 || r.GoodSteps() != 3 {
		t.Fatalf("restored scale %v, good %d; want 1024, 3", r.LossScale(), r.GoodSteps())
	}
	f64 := tensor.WithDType(tensor.Float64)
	for name, st := range map[string]map[string]*T{
		"missing":    {"scale": tensor.Scalar(2, f64)},
		"zero scale": {"scale": tensor.Scalar(0, f64), "growth_tracker": tensor.Scalar(0, f64)},
		"fraction":   {"scale": tensor.Scalar(2, f64), "growth_tracker": tensor.Scalar(0.5, f64)},
		"not scalar": {"scale": tensor.Zeros([]int{2}, f64), "growth_tracker": tensor.Scalar(0, f64)},
	} {
		if err := r.Restore(st); !errors.Is(err, tensor.ErrArgument) {
			t.Errorf("%s: %v, want ErrArgument", name, err)
		}
		if r.LossScale() != 1024 || r.GoodSteps() != 3 {
			t.Errorf("%s: a refused Restore changed the scaler", name)
		}
	}
}
