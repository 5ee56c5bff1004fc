package amp

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/mode"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// GradScaler is dynamic loss scaling for float16 training, PyTorch's
// torch.cuda.amp.GradScaler with its defaults: the loss is multiplied by
// a scale (initially 2¹⁶) before the backward pass, so that the gradients
// of float16 activations stay representable; Unscale divides the
// parameters' gradients by it again and checks them for Inf and NaN;
// Step runs the optimiser's step unless a gradient was Inf or NaN; Update
// halves the scale after a step with Inf or NaN gradients and doubles it
// after GrowthInterval consecutive good ones.
//
// Per iteration: Scale (while recording), Backward, then for each
// optimiser optionally Unscale (needed before anything that reads the
// gradients' values, such as optim.ClipGradNorm), Step, and finally one
// Update. It works with every optim.Optimizer (through its Params) and
// with any number of optimisers per iteration; each optimiser's step is
// skipped or taken according to its own gradients, as in PyTorch, and
// Update backs off if any of them had Inf or NaN gradients.
//
// The scale and the count of good steps are part of a training run's
// state: save them with State and load them with Restore to resume a run
// exactly. A GradScaler is not safe for concurrent use.
type GradScaler struct {
	// GrowthFactor multiplies the scale after GrowthInterval consecutive
	// steps without Inf or NaN gradients (default 2).
	GrowthFactor float64
	// BackoffFactor multiplies the scale after a step with Inf or NaN
	// gradients (default 0.5).
	BackoffFactor float64
	// GrowthInterval is the number of consecutive good steps after which
	// the scale grows (default 2000).
	GrowthInterval int

	scale  float64
	good   int // consecutive good iterations since the last change
	states map[optim.Optimizer]*optState
	order  []optim.Optimizer // optimisers in states, in first-use order
}

// optState is what the scaler knows about one optimiser in the current
// iteration.
type optState struct {
	unscaled, stepped, foundInf bool
}

// Defaults of PyTorch's GradScaler.
const (
	DefaultInitScale      = 65536.0
	DefaultGrowthFactor   = 2.0
	DefaultBackoffFactor  = 0.5
	DefaultGrowthInterval = 2000
)

// NewGradScaler returns a GradScaler with PyTorch's defaults: scale 2¹⁶,
// growth factor 2, backoff factor 0.5, growth interval 2000.
func NewGradScaler() *GradScaler {
	return &GradScaler{GrowthFactor: DefaultGrowthFactor, BackoffFactor: DefaultBackoffFactor,
		GrowthInterval: DefaultGrowthInterval, scale: DefaultInitScale}
}

func fail(op, format string, args ...any) {
	panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf(format, args...)})
}

// LossScale returns the current scale.
func (s *GradScaler) LossScale() float64 { return s.scale }

// SetLossScale sets the scale (a positive finite number, else it panics
// with ErrArgument), for example to start from another value than 2¹⁶.
func (s *GradScaler) SetLossScale(scale float64) {
	if !(scale > 0) || math.IsInf(scale, 1) {
		fail("GradScaler.SetLossScale", "scale %v; it must be positive and finite", scale)
	}
	s.scale = scale
}

// Scale returns loss multiplied by the current scale. The product is
// recorded whether or not the calling goroutine records (loss must be a
// recorded result or require a gradient for Backward to reach the
// parameters), so Scale may be called inside or after autograd.Record.
func (s *GradScaler) Scale(loss *tensor.Tensor) *tensor.Tensor {
	defer mode.Exit(mode.Enter(mode.Current() | mode.RecordBit))
	return loss.MulScalar(s.scale)
}

func (s *GradScaler) state(opt optim.Optimizer) *optState {
	if s.states == nil {
		s.states = map[optim.Optimizer]*optState{}
	}
	st, ok := s.states[opt]
	if !ok {
		st = &optState{}
		s.states[opt] = st
		s.order = append(s.order, opt)
	}
	return st
}

// Unscale divides the gradients of opt's parameters by the scale, in
// place and all at once (tensor.AssignAll), and reports whether any of
// them holds an Inf or NaN (then Step skips opt's step). Parameters
// without a gradient are skipped. It is PyTorch's unscale_: call it
// before code that reads the gradients, such as gradient clipping; Step
// calls it otherwise. The check reads one value back per device and
// dtype among the gradients.
//
// Unscaling opt twice before Update, or while the calling goroutine
// records (the gradients change in place, which is not recorded), panics
// with ErrArgument.
func (s *GradScaler) Unscale(opt optim.Optimizer) (foundInf bool) {
	const op = "GradScaler.Unscale"
	if mode.Recording() {
		fail(op, "gradients are unscaled in place, which is not recorded; call outside autograd.Record")
	}
	st := s.state(opt)
	switch {
	case st.unscaled:
		fail(op, "the optimiser's gradients were unscaled already since the last Update")
	case st.stepped:
		fail(op, "Unscale after Step: the optimiser has stepped since the last Update")
	}
	var gs []*tensor.Tensor
	for _, p := range opt.Params() {
		if g := p.Grad(); g != nil {
			gs = append(gs, g)
		}
	}
	inv := 1 / s.scale
	unscaled := make([]*tensor.Tensor, len(gs))
	// One flag per gradient: the sum of its elements times 0, which is 0
	// if every element is finite and NaN otherwise (0·±Inf and 0·NaN are
	// NaN); then one sum of the flags per device and dtype.
	type key struct {
		dev device.Device
		dt  tensor.DType
	}
	var keys []key
	flags := map[key][]*tensor.Tensor{}
	for i, g := range gs {
		unscaled[i] = g.MulScalar(inv)
		k := key{g.Device(), g.DType()}
		if _, ok := flags[k]; !ok {
			keys = append(keys, k)
		}
		flags[k] = append(flags[k], unscaled[i].MulScalar(0).Sum())
	}
	for _, k := range keys {
		if math.IsNaN(tensor.Stack(flags[k], 0).Sum().Item()) {
			foundInf = true
		}
	}
	if len(gs) > 0 {
		tensor.AssignAll(gs, unscaled)
	}
	st.unscaled, st.foundInf = true, foundInf
	return foundInf
}

// Step unscales opt's gradients if Unscale has not, then runs opt.Step
// unless a gradient was Inf or NaN, and reports whether it stepped. A
// skipped step leaves the parameters, the optimiser's state and its step
// count (and so a learning-rate schedule's position) as they were.
// Stepping opt twice before Update panics with ErrArgument.
func (s *GradScaler) Step(opt optim.Optimizer) (stepped bool) {
	st := s.state(opt)
	if st.stepped {
		fail("GradScaler.Step", "the optimiser has stepped already since the last Update")
	}
	if !st.unscaled {
		s.Unscale(opt)
	}
	st.stepped = true
	if st.foundInf {
		return false
	}
	opt.Step()
	return true
}

// Update ends an iteration: it multiplies the scale by BackoffFactor if
// any optimiser unscaled since the last Update found an Inf or NaN
// gradient, and otherwise counts a good iteration, multiplying the scale
// by GrowthFactor after GrowthInterval good ones in a row (the count
// restarts after every change; a scale that would overflow to +Inf is
// kept). It panics with ErrArgument if no optimiser was unscaled since
// the last Update (nothing was checked), or if the factors are not
// positive and finite or the interval is not positive.
func (s *GradScaler) Update() {
	const op = "GradScaler.Update"
	if !(s.GrowthFactor > 0) || math.IsInf(s.GrowthFactor, 1) || !(s.BackoffFactor > 0) || math.IsInf(s.BackoffFactor, 1) || s.GrowthInterval < 1 {
		fail(op, "growth factor %v, backoff factor %v, growth interval %d: the factors must be positive and finite, the interval positive",
			s.GrowthFactor, s.BackoffFactor, s.GrowthInterval)
	}
	checked, found := false, false
	for _, opt := range s.order {
		st := s.states[opt]
		checked = checked || st.unscaled
		found = found || st.foundInf
	}
	if !checked {
		fail(op, "no optimiser was unscaled or stepped since the last Update")
	}
	if found {
		s.scale *= s.BackoffFactor
		s.good = 0
	} else {
		s.good++
		if s.good >= s.GrowthInterval {
			if g := s.scale * s.GrowthFactor; !math.IsInf(g, 1) {
				s.scale = g
			}
			s.good = 0
		}
	}
	clear(s.states)
	s.order = s.order[:0]
}

// GoodSteps returns the number of consecutive iterations without Inf or
// NaN gradients since the scale last changed (PyTorch's growth tracker).
func (s *GradScaler) GoodSteps() int { return s.good }

// State returns the scaler's state for a checkpoint: "scale" and
// "growth_tracker" (PyTorch's names), 0-d Float64 tensors on the CPU.
func (s *GradScaler) State() map[string]*tensor.Tensor {
	on := []tensor.Option{tensor.On(device.CPU()), tensor.WithDType(tensor.Float64)}
	return map[string]*tensor.Tensor{
		"scale":          tensor.Scalar(s.scale, on...),
		"growth_tracker": tensor.Scalar(float64(s.good), on...),
	}
}

// Restore loads a state that State returned, all-or-nothing: a missing
// entry, a scale that is not positive and finite or a growth tracker that
// is not a non-negative integer is an error wrapping tensor.ErrArgument,
// and leaves the scaler as it was.
func (s *GradScaler) Restore(state map[string]*tensor.Tensor) error {
	const op = "GradScaler.Restore"
	read := func(name string) (float64, error) {
		t, ok := state[name]
		if !ok || t == nil {
			return 0, fmt.Errorf("amp: %s: %w: no %q in the state", op, tensor.ErrArgument, name)
		}
		if t.Size() != 1 {
			return 0, fmt.Errorf("amp: %s: %w: %q has shape %v, want a scalar", op, tensor.ErrArgument, name, t.Shape())
		}
		return t.Float64s()[0], nil
	}
	scale, err := read("scale")
	if err != nil {
		return err
	}
	good, err := read("growth_tracker")
	if err != nil {
		return err
	}
	if !(scale > 0) || math.IsInf(scale, 1) {
		return fmt.Errorf("amp: %s: %w: scale %v; it must be positive and finite", op, tensor.ErrArgument, scale)
	}
	if !(good >= 0) || good != math.Trunc(good) || good > math.MaxInt32 {
		return fmt.Errorf("amp: %s: %w: growth_tracker %v; it must be a non-negative integer", op, tensor.ErrArgument, good)
	}
	s.scale, s.good = scale, int(good)
	return nil
}
