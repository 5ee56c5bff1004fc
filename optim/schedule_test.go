package optim_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// Both optimisers can be scheduled, and a scheduled one is an Optimizer.
var (
	_ optim.Schedulable = (*optim.SGD)(nil)
	_ optim.Schedulable = (*optim.Adam)(nil)
	_ optim.Optimizer   = (*optim.Scheduled)(nil)
)

// wantLRs checks s.LR at the given steps.
func wantLRs(t *testing.T, name string, s optim.Schedule, want map[int]float64) {
	t.Helper()
	for step, w := range want {
		if got := s.LR(step); !(math.Abs(got-w) <= 1e-15*math.Max(1, math.Abs(w))) {
			t.Errorf("%s: LR(%d) = %v, want %v", name, step, got, w)
		}
	}
}

// wantArgError checks that fn panics with a *tensor.Error of kind
// ErrArgument from op.
func wantArgError(t *testing.T, what, op string, fn func()) {
	t.Helper()
	err := tensor.Maybe(fn)
	var te *tensor.Error
	if !errors.Is(err, tensor.ErrArgument) || !errors.As(err, &te) || te.Op != op {
		t.Errorf("%s: error %v, want ErrArgument from %s", what, err, op)
	}
}

func TestStepLR(t *testing.T) {
	// 0.1·0.5^⌊step/3⌋: steps 0–2 at 0.1, 3–5 at 0.05, 6–8 at 0.025.
	wantLRs(t, "StepLR", optim.StepLR{Base: 0.1, StepSize: 3, Gamma: 0.5}, map[int]float64{
		0: 0.1, 1: 0.1, 2: 0.1, 3: 0.05, 5: 0.05, 6: 0.025, 9: 0.0125,
	})
	wantLRs(t, "StepLR step 1", optim.StepLR{Base: 1, StepSize: 1, Gamma: 0.1}, map[int]float64{0: 1, 1: 0.1, 2: 0.01})
	wantArgError(t, "StepSize 0", "StepLR", func() { optim.StepLR{Base: 1, Gamma: 0.5}.LR(0) })
	wantArgError(t, "StepSize -1", "StepLR", func() { optim.StepLR{Base: 1, StepSize: -1, Gamma: 0.5}.LR(0) })
	wantArgError(t, "step -1", "StepLR", func() { optim.StepLR{Base: 1, StepSize: 1, Gamma: 0.5}.LR(-1) })
}

func TestLinearWarmup(t *testing.T) {
	// Warmup 4, Total 10: step/4 for steps 0–3, then (10 − step)/6,
	// 0 from step 10 on (HuggingFace's get_linear_schedule_with_warmup).
	wantLRs(t, "LinearWarmup", optim.LinearWarmup{Base: 2, Warmup: 4, Total: 10}, map[int]float64{
		0: 0, 1: 0.5, 3: 1.5, 4: 2, 7: 1, 9: 2.0 / 6, 10: 0, 11: 0, 1000: 0,
	})
	// No warmup: the decay starts at Base.
	wantLRs(t, "LinearWarmup no warmup", optim.LinearWarmup{Base: 1, Total: 4}, map[int]float64{0: 1, 1: 0.75, 4: 0, 5: 0})
	// Warmup = Total: the warmup reaches 0.5 at step 1 and the rate is 0
	// from step Total on (the zero denominator counts as 1, as in
	// HuggingFace).
	wantLRs(t, "LinearWarmup warmup = total", optim.LinearWarmup{Base: 1, Warmup: 2, Total: 2}, map[int]float64{0: 0, 1: 0.5, 2: 0, 3: 0})
	// Total 0: constant after the warmup.
	wantLRs(t, "LinearWarmup no decay", optim.LinearWarmup{Base: 3, Warmup: 2}, map[int]float64{0: 0, 1: 1.5, 2: 3, 1 << 30: 3})
	wantLRs(t, "LinearWarmup constant", optim.LinearWarmup{Base: 3}, map[int]float64{0: 3, 7: 3})

	for _, s := range []optim.LinearWarmup{{Base: 1, Warmup: 5, Total: 4}, {Base: 1, Warmup: -1, Total: 4}, {Base: 1, Total: -3}} {
		wantArgError(t, fmt.Sprintf("%+v", s), "LinearWarmup", func() { s.LR(0) })
	}
	wantArgError(t, "step -1", "LinearWarmup", func() { optim.LinearWarmup{Base: 1, Total: 4}.LR(-1) })
}

func TestCosineWithWarmup(t *testing.T) {
	// Warmup 2, Total 10: step/2 for steps 0–1, then with p = (step − 2)/8
	// the rate 2·½(1 + cos πp): p = 0 → 2, p = ¼ → 1 + cos(π/4) =
	// 1.7071067811865475, p = ½ → 1, p = 1 → 0; held at 0 after step 10
	// (where HuggingFace would rise again: at step 14, p = 1.5, it gives 1).
	wantLRs(t, "CosineWithWarmup", optim.CosineWithWarmup{Base: 2, Warmup: 2, Total: 10}, map[int]float64{
		0: 0, 1: 1, 2: 2, 4: 1.7071067811865475, 6: 1, 10: 0, 14: 0, 1000: 0,
	})
	// One whole cycle, no warmup, Total 4: cos(2π·step/4) mapped to
	// [0, Base]: 1, ½, 0, ½, 1; held at Base after step 4.
	wantLRs(t, "CosineWithWarmup one cycle", optim.CosineWithWarmup{Base: 1, Total: 4, Cycles: 1}, map[int]float64{
		0: 1, 1: 0.5, 2: 0, 3: 0.5, 4: 1, 5: 1,
	})
	// Cycles 0.5 is the default.
	def, half := optim.CosineWithWarmup{Base: 1, Warmup: 3, Total: 17}, optim.CosineWithWarmup{Base: 1, Warmup: 3, Total: 17, Cycles: 0.5}
	for step := range 20 {
		if a, b := def.LR(step), half.LR(step); a != b {
			t.Errorf("step %d: Cycles 0 gives %v, Cycles 0.5 %v", step, a, b)
		}
	}
	// The rate never increases after the warmup, for the default cycle.
	prev := math.Inf(1)
	for step := 3; step < 20; step++ {
		if lr := def.LR(step); lr > prev || lr < 0 {
			t.Errorf("step %d: %v after %v", step, lr, prev)
		} else {
			prev = lr
		}
	}

	for _, s := range []optim.CosineWithWarmup{
		{Base: 1, Warmup: 5, Total: 4}, {Base: 1, Warmup: -1, Total: 4}, {Base: 1}, {Base: 1, Total: 4, Cycles: -1},
		{Base: 1, Total: 4, Cycles: math.NaN()}, {Base: 1, Total: 4, Cycles: math.Inf(1)},
	} {
		wantArgError(t, fmt.Sprintf("%+v", s), "CosineWithWarmup", func() { s.LR(0) })
	}
	wantArgError(t, "step -1", "CosineWithWarmup", func() { optim.CosineWithWarmup{Base: 1, Total: 4}.LR(-1) })
}

// setGradValues makes p's gradient equal to g, outside any recording.
func setGradValues(p *tensor.Tensor, g ...float64) {
	p.Grad().Assign(tensor.Array(g).AsType(p.DType()))
}

// newParam returns a float64 parameter with a gradient attached.
func newParam(v ...float64) *tensor.Tensor {
	p := tensor.Array(v)
	p.AttachGrad()
	return p
}

func TestScheduledSGD(t *testing.T) {
	p := newParam(1)
	sgd := optim.NewSGD([]*tensor.Tensor{p}, 99, 0, 0) // the schedule replaces 99
	s := optim.StepLR{Base: 0.1, StepSize: 1, Gamma: 0.5}
	opt := optim.WithSchedule(sgd, s)
	// Gradient 1 each step: the rates are 0.1, 0.05, 0.025, so w = 1 −
	// 0.175 = 0.825.
	w := 1.0
	for step, lr := range []float64{0.1, 0.05, 0.025} {
		if got := opt.LR(); got != lr {
			t.Errorf("step %d: LR() = %v, want %v", step, got, lr)
		}
		setGradValues(p, 1)
		opt.Step()
		w -= lr
		if sgd.LR != lr || sgd.Steps() != step+1 {
			t.Errorf("step %d: SGD's LR %v and steps %d, want %v and %d", step, sgd.LR, sgd.Steps(), lr, step+1)
		}
		if got := p.Item(); math.Abs(got-w) > 1e-15 {
			t.Errorf("step %d: w = %v, want %v", step, got, w)
		}
	}

	// A step refused while recording changes nothing but the rate (to
	// the one the retry uses): the schedule does not advance.
	setGradValues(p, 1)
	var err error
	autograd.Record(func() { err = tensor.Maybe(opt.Step) })
	if !errors.Is(err, tensor.ErrArgument) || sgd.Steps() != 3 || p.Item() != w {
		t.Errorf("step while recording: %v; steps %d, w %v", err, sgd.Steps(), p.Item())
	}

	// The schedule's position is the optimiser's step count: a new
	// optimiser restored from the state resumes at 0.0125.
	q := newParam(w)
	sgd2 := optim.NewSGD([]*tensor.Tensor{q}, 0, 0, 0)
	if err := sgd2.Restore(opt.State()); err != nil {
		t.Fatal(err)
	}
	opt2 := optim.WithSchedule(sgd2, s)
	if got := opt2.LR(); got != 0.0125 || sgd2.Steps() != 3 {
		t.Errorf("restored: LR() = %v, steps %d; want 0.0125 and 3", got, sgd2.Steps())
	}
	setGradValues(q, 2)
	opt2.Step()
	if got := q.Item(); math.Abs(got-(w-0.025)) > 1e-15 {
		t.Errorf("restored step: w = %v, want %v", got, w-0.025)
	}

	opt2.ZeroGrad()
	if g := q.Grad().Item(); g != 0 {
		t.Errorf("ZeroGrad left %v", g)
	}
	// SetLR is the field.
	sgd2.SetLR(0.5)
	if sgd2.LR != 0.5 {
		t.Errorf("SetLR(0.5): LR %v", sgd2.LR)
	}
}

func TestScheduledAdam(t *testing.T) {
	p := newParam(1, -1)
	adam := optim.NewAdam([]*tensor.Tensor{p}, 1)
	opt := optim.WithSchedule(adam, optim.LinearWarmup{Base: 0.01, Warmup: 2, Total: 4})
	// Step 0 has rate 0 (HuggingFace's warmup starts at 0): nothing moves,
	// but the moments and step count advance.
	setGradValues(p, 0.5, -0.5)
	opt.Step()
	if got := p.Float64s(); got[0] != 1 || got[1] != -1 || adam.LR != 0 || adam.Steps() != 1 {
		t.Errorf("first step: w %v, LR %v, steps %d; want unchanged, 0, 1", got, adam.LR, adam.Steps())
	}
	// Step 1, rate 0.005: the bias-corrected m̂/√v̂ is ±1 for a constant
	// gradient, so w moves by 0.005/(1 + 1e-8/0.5) ≈ 0.005.
	opt.Step()
	if got := p.Float64s(); math.Abs(got[0]-0.995) > 1e-9 || math.Abs(got[1]+0.995) > 1e-9 || adam.LR != 0.005 {
		t.Errorf("second step: w %v, LR %v; want ±0.995, 0.005", got, adam.LR)
	}
	if st := opt.State(); len(st) != 3 || st["steps"].Item() != 2 {
		t.Errorf("State: %v", st)
	}
	adam.SetLR(0.25)
	if adam.LR != 0.25 {
		t.Errorf("SetLR(0.25): LR %v", adam.LR)
	}
}

func TestScheduleFunc(t *testing.T) {
	var s optim.Schedule = optim.ScheduleFunc(func(step int) float64 { return 1 / float64(step+1) })
	wantLRs(t, "ScheduleFunc", s, map[int]float64{0: 1, 1: 0.5, 3: 0.25})
}

// A cosine schedule with a linear warmup, as HuggingFace's
// get_cosine_schedule_with_warmup: 0 at the first step, the peak after the
// warmup, half of it halfway through the decay, 0 at the end.
func ExampleCosineWithWarmup() {
	s := optim.CosineWithWarmup{Base: 1e-3, Warmup: 100, Total: 1100}
	for _, step := range []int{0, 50, 100, 600, 1100} {
		fmt.Printf("step %4d: %.2e\n", step, s.LR(step))
	}
	// Output:
	// step    0: 0.00e+00
	// step   50: 5.00e-04
	// step  100: 1.00e-03
	// step  600: 5.00e-04
	// step 1100: 0.00e+00
}

// WithSchedule sets the optimiser's rate from the schedule before each
// step; the schedule's position is the optimiser's step count.
func ExampleWithSchedule() {
	w := tensor.Array([]float64{1})
	w.AttachGrad()
	opt := optim.WithSchedule(optim.NewSGD([]*tensor.Tensor{w}, 0, 0, 0), optim.StepLR{Base: 0.1, StepSize: 2, Gamma: 0.1})
	for range 4 {
		lr := opt.LR()
		var loss *tensor.Tensor
		autograd.Record(func() { loss = w.Sum() }) // gradient 1
		loss.Backward()
		opt.Step()
		fmt.Printf("lr %.3f  w %.3f\n", lr, w.Item())
	}
	// Output:
	// lr 0.100  w 0.900
	// lr 0.100  w 0.800
	// lr 0.010  w 0.790
	// lr 0.010  w 0.780
}
