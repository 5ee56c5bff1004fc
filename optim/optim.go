// Package optim holds optimisers that update parameters in place from
// their attached gradients: SGD with momentum and weight decay, and Adam
// (with AdamW's decoupled weight decay as an option).
//
// An optimiser allocates its state (momentum, moments) once, when it is
// made, and each Step runs one fused kernel per parameter: no recording, no
// allocation per step. Parameters must be dense tensors with a gradient
// attached (tensor.AttachGrad); a parameter whose gradient is nil is
// skipped.
//
// Learning-rate schedules ([StepLR], [LinearWarmup], [CosineWithWarmup],
// any [Schedule]) drive SGD and Adam through [WithSchedule], and
// [ClipGradNorm] and [ClipGradValue] clip the gradients in place between
// the backward pass and the step.
//
// # State names
//
// State and Restore name the buffers after the parameters when the
// optimiser knows the parameters' names (WithNames, typically the names of
// nn.NamedParameters, which nn.StateDict uses too): "<param>.exp_avg" and
// "<param>.exp_avg_sq" for Adam, "<param>.momentum_buffer" for SGD (the
// names of PyTorch's per-parameter state), so that a checkpoint holds the
// model under "model.<param>" and its optimiser state under
// "<optimiser>.<param>.<buffer>", one naming convention. Without names the
// buffers are numbered by the parameters' positions ("m.<i>", "v.<i>",
// "velocity.<i>"), and Restore of a named optimiser accepts such a
// numbered state too (checkpoints written before the names).
package optim

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// Optimizer updates a set of parameters.
type Optimizer interface {
	// Step applies one update from the current gradients.
	Step()
	// ZeroGrad sets every parameter's gradient to zero.
	ZeroGrad()
	// Params returns the parameters the optimiser updates (the slice it
	// was made with, not a copy), for code that works on their gradients
	// between the backward pass and Step, such as amp.GradScaler.
	Params() []*tensor.Tensor
	// State returns the optimiser's state tensors by name, for checkpoints.
	State() map[string]*tensor.Tensor
	// Restore loads a state that State returned (from a checkpoint, say),
	// all-or-nothing: on error nothing has changed.
	Restore(state map[string]*tensor.Tensor) error
}

var (
	_ Optimizer = (*SGD)(nil)
	_ Optimizer = (*Adam)(nil)
)

func zerosLike(p *tensor.Tensor) *tensor.Tensor {
	return tensor.Zeros(p.Shape(), tensor.On(p.Device()), tensor.WithDType(p.DType()))
}

func zeroGrads(ps []*tensor.Tensor) {
	for _, p := range ps {
		p.ZeroGrad()
	}
}

// SGD is stochastic gradient descent with optional momentum (PyTorch's
// torch.optim.SGD, dampening 0), Nesterov momentum and L2 weight decay.
type SGD struct {
	LR, Momentum, WeightDecay float64
	Nesterov                  bool

	params   []*tensor.Tensor
	names    []string // the parameters' names, or nil (WithNames)
	velocity []*tensor.Tensor
	steps    int
}

// NewSGD returns an SGD optimiser for params.
func NewSGD(params []*tensor.Tensor, lr, momentum, weightDecay float64) *SGD {
	o := &SGD{LR: lr, Momentum: momentum, WeightDecay: weightDecay, params: params}
	if momentum != 0 {
		for _, p := range params {
			o.velocity = append(o.velocity, zerosLike(p))
		}
	}
	return o
}

// Step applies one SGD step to every parameter that has a gradient. It is
// all-or-nothing: if any parameter cannot be updated (it is a view, say, or
// the calling goroutine is recording) it panics with a *tensor.Error and
// no parameter, buffer or step count has changed.
func (o *SGD) Step() {
	if o.Momentum != 0 && o.velocity == nil {
		for _, p := range o.params {
			o.velocity = append(o.velocity, zerosLike(p))
		}
	}
	sp := device.SGDParams{LR: o.LR, Momentum: o.Momentum, WeightDecay: o.WeightDecay, Nesterov: o.Nesterov, First: o.steps == 0}
	var ws, gs, vs []*tensor.Tensor
	for i, p := range o.params {
		g := p.Grad()
		if g == nil {
			continue
		}
		ws, gs = append(ws, p), append(gs, g)
		if o.Momentum != 0 {
			vs = append(vs, o.velocity[i])
		}
	}
	tensor.SGDSteps(ws, gs, vs, sp)
	o.steps++
}

// ZeroGrad zeroes the parameters' gradients.
func (o *SGD) ZeroGrad() { zeroGrads(o.params) }

// Params returns the parameters the optimiser was made with.
func (o *SGD) Params() []*tensor.Tensor { return o.params }

// SetLR sets the learning rate of the following steps (the LR field); a
// [Scheduled] optimiser calls it before each step.
func (o *SGD) SetLR(lr float64) { o.LR = lr }

// Steps returns the number of steps taken, as saved by State and restored
// by Restore: the step a schedule is evaluated at.
func (o *SGD) Steps() int { return o.steps }

// WithNames names the parameters, in the order NewSGD got them, for State
// and Restore (see the package doc); it returns o. The names must be as
// many as the parameters and distinct, else it panics with a
// *tensor.Error of kind ErrArgument.
func (o *SGD) WithNames(names ...string) *SGD {
	o.names = checkNames("SGD.WithNames", names, len(o.params))
	return o
}

// State returns the momentum buffers ("<param>.momentum_buffer", or
// "velocity.<i>" without names) and the step count as the 0-d tensor
// "steps".
func (o *SGD) State() map[string]*tensor.Tensor {
	st := map[string]*tensor.Tensor{"steps": tensor.Scalar(float64(o.steps), tensor.WithDType(tensor.Float64))}
	for i, v := range o.velocity {
		st[bufferKey(o.names, i, "velocity", "momentum_buffer")] = v
	}
	return st
}

// checkNames returns names if they are n distinct strings, else panics.
func checkNames(op string, names []string, n int) []string {
	if len(names) != n {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("%d names for %d parameters", len(names), n)})
	}
	seen := make(map[string]bool, n)
	for _, s := range names {
		if seen[s] || s == "" || s == "steps" {
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("parameter name %q is empty, reserved or repeated", s)})
		}
		seen[s] = true
	}
	return slices.Clone(names)
}

// bufferKey returns the state key of parameter i's buffer: "<name>.<named>"
// with names, else "<numbered>.<i>".
func bufferKey(names []string, i int, numbered, named string) string {
	if names != nil {
		return names[i] + "." + named
	}
	return fmt.Sprintf("%s.%d", numbered, i)
}

// Adam is the Adam optimiser (Kingma and Ba, 2015), as PyTorch's
// torch.optim.Adam; with Decoupled set, AdamW's decoupled weight decay.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Decoupled                          bool

	params []*tensor.Tensor
	names  []string // the parameters' names, or nil (WithNames)
	m, v   []*tensor.Tensor
	steps  int
}

// NewAdam returns an Adam optimiser with the usual defaults
// (β1 = 0.9, β2 = 0.999, ε = 1e-8, no weight decay).
func NewAdam(params []*tensor.Tensor, lr float64) *Adam {
	o := &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, params: params}
	for _, p := range params {
		o.m = append(o.m, zerosLike(p))
		o.v = append(o.v, zerosLike(p))
	}
	return o
}

// Step applies one Adam step to every parameter that has a gradient,
// all-or-nothing as [SGD.Step].
func (o *Adam) Step() {
	ap := device.AdamParams{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay,
		Step: o.steps + 1, Decoupled: o.Decoupled}
	var ws, gs, ms, vs []*tensor.Tensor
	for i, p := range o.params {
		if g := p.Grad(); g != nil {
			ws, gs = append(ws, p), append(gs, g)
			ms, vs = append(ms, o.m[i]), append(vs, o.v[i])
		}
	}
	tensor.AdamSteps(ws, gs, ms, vs, ap)
	o.steps++
}

// ZeroGrad zeroes the parameters' gradients.
func (o *Adam) ZeroGrad() { zeroGrads(o.params) }

// Params returns the parameters the optimiser was made with.
func (o *Adam) Params() []*tensor.Tensor { return o.params }

// SetLR sets the learning rate of the following steps (the LR field); a
// [Scheduled] optimiser calls it before each step.
func (o *Adam) SetLR(lr float64) { o.LR = lr }

// Steps returns the number of steps taken, as saved by State and restored
// by Restore.
func (o *Adam) Steps() int { return o.steps }

// WithNames names the parameters, in the order NewAdam got them, for State
// and Restore (see the package doc); it returns o. The names must be as
// many as the parameters and distinct, else it panics with a
// *tensor.Error of kind ErrArgument.
func (o *Adam) WithNames(names ...string) *Adam {
	o.names = checkNames("Adam.WithNames", names, len(o.params))
	return o
}

// State returns the moments ("<param>.exp_avg" and "<param>.exp_avg_sq",
// or "m.<i>" and "v.<i>" without names) and the step count as "steps".
func (o *Adam) State() map[string]*tensor.Tensor {
	st := map[string]*tensor.Tensor{"steps": tensor.Scalar(float64(o.steps), tensor.WithDType(tensor.Float64))}
	for i := range o.m {
		st[bufferKey(o.names, i, "m", "exp_avg")] = o.m[i]
		st[bufferKey(o.names, i, "v", "exp_avg_sq")] = o.v[i]
	}
	return st
}

// Restore loads a state saved from State (by a checkpoint, say) into the
// optimiser: the buffers are overwritten in place and the step count is
// restored, so training resumes exactly where it stopped. It is
// all-or-nothing: on error nothing has changed.
func (o *SGD) Restore(state map[string]*tensor.Tensor) error {
	velocity := o.velocity
	if o.Momentum != 0 && velocity == nil {
		for _, p := range o.params {
			velocity = append(velocity, zerosLike(p))
		}
	}
	steps, err := restore(state, o.names, []buffers{{"velocity", "momentum_buffer", velocity}})
	if err != nil {
		return err
	}
	o.velocity, o.steps = velocity, steps
	return nil
}

// Restore loads a state saved from State into the optimiser,
// all-or-nothing.
func (o *Adam) Restore(state map[string]*tensor.Tensor) error {
	steps, err := restore(state, o.names, []buffers{{"m", "exp_avg", o.m}, {"v", "exp_avg_sq", o.v}})
	if err != nil {
		return err
	}
	o.steps = steps
	return nil
}

// restore checks that state has every buffer ("<name>.<i>") and a step
// count, then copies all the buffers in at once (tensor.AssignAll).
// buffers are one kind of per-parameter state: its numbered and named keys
// (bufferKey) and the tensors.
type buffers struct {
	numbered, named string
	ts              []*tensor.Tensor
}

func restore(state map[string]*tensor.Tensor, names []string, bufs []buffers) (int, error) {
	present := strings.Join(slices.Sorted(maps.Keys(state)), ", ")
	s, ok := state["steps"]
	if !ok || s.Size() != 1 {
		return 0, fmt.Errorf("optim: state has no step count \"steps\" (it has: %s)", present)
	}
	steps := s.Item()
	if steps < 0 || steps != math.Trunc(steps) || steps > math.MaxInt32 {
		return 0, fmt.Errorf("optim: step count %v is not a count", steps)
	}
	// A named optimiser reads a numbered state (one saved before the
	// names) when the state has no named key at all.
	if names != nil && len(bufs) > 0 && len(bufs[0].ts) > 0 {
		if _, ok := state[bufferKey(names, 0, bufs[0].numbered, bufs[0].named)]; !ok {
			if _, ok := state[bufferKey(nil, 0, bufs[0].numbered, bufs[0].named)]; ok {
				names = nil
			}
		}
	}
	var dst, src []*tensor.Tensor
	for _, bs := range bufs {
		for i, b := range bs.ts {
			key := bufferKey(names, i, bs.numbered, bs.named)
			v, ok := state[key]
			if !ok {
				return 0, fmt.Errorf("optim: state has no %q (it has: %s)", key, present)
			}
			dst, src = append(dst, b), append(src, v)
		}
	}
	if err := tensor.Maybe(func() { tensor.AssignAll(dst, src) }); err != nil {
		return 0, fmt.Errorf("optim: restoring the state: %w", err)
	}
	return int(steps), nil
}
