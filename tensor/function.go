package tensor

import "fmt"

// Function is a differentiable operation defined by its user: a forward
// computation and the backward rule that goes with it. Applied to tensors,
// it is recorded like a built-in operation, and autograd.CheckGrad can
// check its backward rule against finite differences.
//
// Forward receives the inputs cut from the graph (so nothing it computes is
// recorded) and must compute its result from them alone. Backward receives
// the gradient of the result and returns one gradient per input (nil where
// an input gets none); broadcast gradients are summed to each input's
// shape. If Backward is written with tensor operations on ctx.Inputs() and
// the gradient, gradients of gradients work too (autograd.CreateGraph);
// tensors saved with ctx.Save act as constants there.
type Function struct {
	Name     string
	Forward  func(ctx *FunctionContext, inputs []*Tensor) *Tensor
	Backward func(ctx *FunctionContext, grad *Tensor) []*Tensor
}

// FunctionContext carries what a Function's forward computation saves for
// its backward rule.
type FunctionContext struct {
	// Data holds any non-tensor state the forward computation wants to keep.
	Data any

	inputs []*Tensor // the original inputs
	saved  []*Tensor
	c      *bctx // during Backward
}

// Save keeps tensors for the backward rule.
func (ctx *FunctionContext) Save(ts ...*Tensor) { ctx.saved = append(ctx.saved, ts...) }

// Saved returns the tensors kept by Save.
func (ctx *FunctionContext) Saved() []*Tensor {
	if ctx.c == nil || ctx.c.create {
		return ctx.saved
	}
	out := make([]*Tensor, len(ctx.saved))
	for i, t := range ctx.saved {
		out[i] = t.alias()
	}
	return out
}

// Inputs returns the function's inputs: during Backward, the recorded
// tensors themselves when the backward pass creates a graph (so gradients
// can flow through the rule), detached views otherwise.
func (ctx *FunctionContext) Inputs() []*Tensor {
	out := make([]*Tensor, len(ctx.inputs))
	for i, t := range ctx.inputs {
		if ctx.c != nil && ctx.c.create {
			out[i] = t
		} else {
			out[i] = t.alias()
		}
	}
	return out
}

// NeedsInputGrad reports, during Backward, whether input i wants a
// gradient (a rule may skip computing the others).
func (ctx *FunctionContext) NeedsInputGrad(i int) bool {
	return ctx.c == nil || ctx.c.needs(i)
}

// Apply runs the function on inputs and, when recording, records it.
func (f *Function) Apply(inputs ...*Tensor) *Tensor {
	op := f.Name
	if op == "" {
		op = "Function"
	}
	if f.Forward == nil || f.Backward == nil {
		fail(ErrArgument, op, "a Function needs both Forward and Backward")
	}
	ctx := &FunctionContext{inputs: append([]*Tensor(nil), inputs...)}
	detached := make([]*Tensor, len(inputs))
	for i, t := range inputs {
		t.live(op)
		detached[i] = t.alias()
	}
	out := f.Forward(ctx, detached)
	if out == nil {
		fail(ErrArgument, op, "Forward returned nil")
	}
	if out.node != nil || out.leaf != nil {
		out = out.alias()
	}
	if recording(inputs...) {
		record(out, op, func(c *bctx) {
			ctx.c = c
			defer func() { ctx.c = nil }()
			// The user's code sees the gradient and the tensors it returns
			// may be kept by it: the engine must not write into them.
			c.escaped = true
			c.g.st.shared.Store(true)
			grads := f.Backward(ctx, c.g)
			if len(grads) != len(inputs) {
				panic(&Error{Kind: ErrArgument, Op: op, Detail: fmt.Sprintf("Backward returned %d gradients for %d inputs", len(grads), len(inputs))})
			}
			for i, g := range grads {
				if g != nil {
					g.st.shared.Store(true)
					c.set(i, g)
				}
			}
		}, append([]*Tensor(nil), inputs...)...)
	}
	return out
}
