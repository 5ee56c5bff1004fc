// Package optim holds optimisers that update parameters in place from
// their attached gradients: SGD with momentum and weight decay, and Adam
// (with AdamW's decoupled weight decay as an option).
//
// An optimiser allocates its state (momentum, moments) once, when it is
// made, and each Step runs one fused kernel per parameter: no recording, no
// allocation per step. Parameters must be dense tensors with a gradient
// attached (tensor.AttachGrad); a parameter whose gradient is nil is
// skipped.
package optim

import (
	"fmt"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// Optimizer updates a set of parameters.
type Optimizer interface {
	// Step applies one update from the current gradients.
	Step()
	// ZeroGrad sets every parameter's gradient to zero.
	ZeroGrad()
	// State returns the optimiser's state tensors by name, for checkpoints.
	State() map[string]*tensor.Tensor
}

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

// Step applies one SGD step to every parameter that has a gradient.
func (o *SGD) Step() {
	if o.Momentum != 0 && o.velocity == nil {
		for _, p := range o.params {
			o.velocity = append(o.velocity, zerosLike(p))
		}
	}
	sp := device.SGDParams{LR: o.LR, Momentum: o.Momentum, WeightDecay: o.WeightDecay, Nesterov: o.Nesterov, First: o.steps == 0}
	for i, p := range o.params {
		g := p.Grad()
		if g == nil {
			continue
		}
		var v *tensor.Tensor
		if o.Momentum != 0 {
			v = o.velocity[i]
		}
		tensor.SGDStep(p, g, v, sp)
	}
	o.steps++
}

// ZeroGrad zeroes the parameters' gradients.
func (o *SGD) ZeroGrad() { zeroGrads(o.params) }

// State returns the momentum buffers as "velocity.<i>" and the step count
// as the 0-d tensor "steps".
func (o *SGD) State() map[string]*tensor.Tensor {
	st := map[string]*tensor.Tensor{"steps": tensor.Scalar(float64(o.steps), tensor.WithDType(tensor.Float64))}
	for i, v := range o.velocity {
		st[fmt.Sprintf("velocity.%d", i)] = v
	}
	return st
}

// Adam is the Adam optimiser (Kingma and Ba, 2015), as PyTorch's
// torch.optim.Adam; with Decoupled set, AdamW's decoupled weight decay.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Decoupled                          bool

	params []*tensor.Tensor
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

// Step applies one Adam step to every parameter that has a gradient.
func (o *Adam) Step() {
	o.steps++
	ap := device.AdamParams{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay,
		Step: o.steps, Decoupled: o.Decoupled}
	for i, p := range o.params {
		if g := p.Grad(); g != nil {
			tensor.AdamStep(p, g, o.m[i], o.v[i], ap)
		}
	}
}

// ZeroGrad zeroes the parameters' gradients.
func (o *Adam) ZeroGrad() { zeroGrads(o.params) }

// State returns the moments as "m.<i>" and "v.<i>" and the step count as
// "steps".
func (o *Adam) State() map[string]*tensor.Tensor {
	st := map[string]*tensor.Tensor{"steps": tensor.Scalar(float64(o.steps), tensor.WithDType(tensor.Float64))}
	for i := range o.m {
		st[fmt.Sprintf("m.%d", i)] = o.m[i]
		st[fmt.Sprintf("v.%d", i)] = o.v[i]
	}
	return st
}

// Restore loads a state saved from State (by a checkpoint, say) into the
// optimiser: the buffers are overwritten in place and the step count is
// restored, so training resumes exactly where it stopped.
func (o *SGD) Restore(state map[string]*tensor.Tensor) error {
	if o.Momentum != 0 && o.velocity == nil {
		for _, p := range o.params {
			o.velocity = append(o.velocity, zerosLike(p))
		}
	}
	if err := restoreBuffers(state, "velocity", o.velocity); err != nil {
		return err
	}
	steps, err := restoreSteps(state)
	o.steps = steps
	return err
}

// Restore loads a state saved from State into the optimiser.
func (o *Adam) Restore(state map[string]*tensor.Tensor) error {
	if err := restoreBuffers(state, "m", o.m); err != nil {
		return err
	}
	if err := restoreBuffers(state, "v", o.v); err != nil {
		return err
	}
	steps, err := restoreSteps(state)
	o.steps = steps
	return err
}

func restoreBuffers(state map[string]*tensor.Tensor, name string, bufs []*tensor.Tensor) error {
	for i, b := range bufs {
		key := fmt.Sprintf("%s.%d", name, i)
		s, ok := state[key]
		if !ok {
			return fmt.Errorf("optim: state has no %q", key)
		}
		if err := tensor.Maybe(func() { b.Assign(s) }); err != nil {
			return fmt.Errorf("optim: restoring %q: %w", key, err)
		}
	}
	return nil
}

func restoreSteps(state map[string]*tensor.Tensor) (int, error) {
	s, ok := state["steps"]
	if !ok || s.Size() != 1 {
		return 0, fmt.Errorf("optim: state has no step count")
	}
	return int(s.Item()), nil
}
