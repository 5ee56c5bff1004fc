// Package autograd is tapegrad's user interface to reverse-mode automatic
// differentiation, modelled on MXNet's mxnet.autograd.
//
// Attach a gradient buffer to the tensors you want gradients for, run the
// computation inside [Record], then call Backward on the result:
//
//	x := tensor.Array([][]float32{{1, 2}, {3, 4}})
//	x.AttachGrad()
//	var y *tensor.Tensor
//	autograd.Record(func() { y = x.MulScalar(2).Mul(x) })
//	y.Backward()
//	fmt.Println(x.Grad()) // [[ 4  8]
//	                      //  [12 16]]
//
// The computation inside Record is ordinary Go: loops and ifs that read
// tensor values (with Item, say) are fine, and only the operations that ran
// are recorded, so gradients follow the control flow that actually happened.
//
// # What is recorded
//
// An operation is recorded when it runs while recording is on and at least
// one of its operands requires a gradient: it has one attached
// (Tensor.AttachGrad), or a recorded operation produced it. Each recorded
// result keeps its backward rule and its operands; the graph is these links.
// Tensor.Detach cuts a tensor from the graph; [Pause] stops recording for a
// block of code.
//
// # Where the state lives
//
// Whether recording is on, and whether the program is in training mode, is
// process-wide state (in package internal/mode, read by package tensor on
// every operation), as in MXNet: Go has no goroutine-local storage, and a
// value passed to every operation would make the mathematics unreadable.
// Scopes nest and restore the previous state when they end, also on panic.
// Goroutines may each record and differentiate their own graphs at the same
// time: scopes of different goroutines may end in any order, and recording
// stays on while any Record scope is open (a Pause in one goroutine pauses
// recording for all of them while it lasts). The graph itself belongs to
// the tensors, so graphs of different goroutines never mix.
//
// The backward engine lives in package tensor (Tensor.Backward is a method
// of the tensor); [Backward] and [Grad] here call [tensor.RunBackward].
package autograd

import (
	"io"

	"github.com/tapegrad/tapegrad/internal/mode"
	"github.com/tapegrad/tapegrad/tensor"
)

// Record runs fn with recording on and training mode on (MXNet's
// autograd.record()), then restores the previous state.
func Record(fn func()) {
	s := mode.Enter(true, true)
	defer mode.Exit(s)
	fn()
}

// RecordPredict runs fn with recording on and training mode off (MXNet's
// autograd.record(train_mode=False)).
func RecordPredict(fn func()) {
	s := mode.Enter(true, false)
	defer mode.Exit(s)
	fn()
}

// Pause runs fn with recording off and training mode off (MXNet's
// autograd.pause()), then restores the previous state.
func Pause(fn func()) {
	s := mode.Enter(false, false)
	defer mode.Exit(s)
	fn()
}

// TrainMode runs fn in training mode, keeping the recording state.
func TrainMode(fn func()) {
	s := mode.EnterTraining(true)
	defer mode.Exit(s)
	fn()
}

// PredictMode runs fn in prediction (inference) mode, keeping the recording
// state.
func PredictMode(fn func()) {
	s := mode.EnterTraining(false)
	defer mode.Exit(s)
	fn()
}

// IsRecording reports whether operations are being recorded.
func IsRecording() bool { return mode.Recording() }

// IsTraining reports whether the program is in training mode (layers such
// as dropout behave differently in training and prediction).
func IsTraining() bool { return mode.Training() }

// Option configures [Backward] and [Grad].
type Option func(*config)

type config struct {
	headGrads []*tensor.Tensor
	opts      tensor.BackwardOptions
}

// HeadGrads sets the gradients of the heads (one per head, nil meaning
// ones), as MXNet's head_grads.
func HeadGrads(g ...*tensor.Tensor) Option { return func(c *config) { c.headGrads = g } }

// RetainGraph keeps the graph so that it can be differentiated again.
func RetainGraph() Option { return func(c *config) { c.opts.RetainGraph = true } }

// CreateGraph records the backward computation, so that the gradients it
// returns can themselves be differentiated (higher-order gradients). It
// implies RetainGraph.
func CreateGraph() Option { return func(c *config) { c.opts.CreateGraph = true } }

func apply(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Backward differentiates several heads at once and writes the gradients of
// every tensor with an attached gradient that they depend on (MXNet's
// autograd.backward).
func Backward(heads []*tensor.Tensor, opts ...Option) {
	c := apply(opts)
	tensor.RunBackward(heads, c.headGrads, nil, c.opts)
}

// Grad returns the gradients of heads with respect to vars (MXNet's
// autograd.grad) without touching any attached gradient buffer. A var may
// be a tensor with an attached gradient or any recorded intermediate
// result; a var the heads do not depend on gets zeros. With CreateGraph
// the returned gradients are recorded and can be differentiated again.
func Grad(heads, vars []*tensor.Tensor, opts ...Option) []*tensor.Tensor {
	c := apply(opts)
	if vars == nil {
		vars = []*tensor.Tensor{}
	}
	return tensor.RunBackward(heads, c.headGrads, vars, c.opts)
}

// Function is a user-defined differentiable operation (see
// tensor.Function): a forward computation and its backward rule, recorded
// like a built-in operation.
type Function = tensor.Function

// FunctionContext carries what a Function saves for its backward rule.
type FunctionContext = tensor.FunctionContext

// DetectAnomaly runs fn with anomaly detection on (see
// tensor.DetectAnomaly): the first NaN or infinity produced by a recorded
// operation or by a backward rule panics, naming the operation and the
// file:line that recorded it.
func DetectAnomaly(fn func()) { tensor.DetectAnomaly(fn) }

// WriteDOT writes the graph recorded behind heads in Graphviz DOT (see
// tensor.WriteDOT).
func WriteDOT(w io.Writer, heads ...*tensor.Tensor) error { return tensor.WriteDOT(w, heads...) }
