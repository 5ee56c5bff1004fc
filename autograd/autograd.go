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
// # Goroutines
//
// Every scope — [Record], [RecordPredict], [Pause], [TrainMode],
// [PredictMode], [DetectAnomaly] — belongs to the goroutine that opened it:
// it changes that goroutine's state and no other's. A goroutine inside no
// scope does not record and is in predict mode (MXNet's default), whatever
// other goroutines do. So a goroutine that trains, one that evaluates
// inside Pause, one that serves inference outside any scope and one that
// debugs under DetectAnomaly never see each other's modes, and an
// optimiser step in one goroutine is not refused because another records.
//
// A goroutine does not inherit the scope of the goroutine that started it
// (Go gives no way to tell who started a goroutine, and a scope that
// leaked into every goroutine a library starts would be the process-wide
// state again). Goroutines that are to record into the caller's graph are
// started with [Go], or enter a captured scope with [Capture] and
// [Scope.Run]. Operations such goroutines record join one graph: after
// they are joined (sync.WaitGroup), Backward from the caller differentiates
// through all of them. Gradient sums are formed in the order in which the
// operations were recorded, which across goroutines depends on
// scheduling; record on one goroutine where bitwise reproducibility
// matters.
//
// Goroutine identity is the rule because it keeps MXNet's model unchanged
// (attach_grad, record, backward and pause read as they do in Python, with
// no context value threaded through every operation). The state lives in
// package internal/mode, keyed by the goroutine; reading it costs one
// atomic load while no goroutine anywhere is inside a scope, and a map
// look-up (about 9 ns, against about 1 µs to record and differentiate an
// operation) while one is. Operations whose operands need no gradient do
// not read it at all.
//
// In-place updates (optimiser steps, Tensor.Assign, checkpoint.LoadInto,
// the optimisers' Restore) check the calling goroutine's state only, and
// are all-or-nothing: when one fails, for any reason, no tensor has
// changed. Hooks (Tensor.RegisterHook) and retained gradients
// (Tensor.RetainGrad) may be added and removed while other goroutines run
// backward passes. What stays the caller's to synchronise are the tensors'
// values: do not run backward passes that write the same attached gradient
// at once, or step an optimiser while another goroutine computes with its
// parameters.
//
// Random tensors come from a process-wide generator by default
// (tensor.Seed); goroutines sharing it take its values in the order they
// happen to draw. A goroutine that needs a reproducible stream owns a
// tensor.Generator (tensor.WithGenerator).
//
// The backward engine lives in package tensor (Tensor.Backward is a method
// of the tensor); [Backward] and [Grad] here call [tensor.RunBackward].
package autograd

import (
	"io"

	"github.com/tapegrad/tapegrad/internal/mode"
	"github.com/tapegrad/tapegrad/tensor"
)

// scope runs fn in the calling goroutine with the recording and training
// bits set as given and the other bits (anomaly detection) kept, then
// restores the goroutine's previous state, also on panic.
func scope(rec, train bool, fn func()) {
	s := mode.Current() &^ (mode.RecordBit | mode.TrainBit)
	if rec {
		s |= mode.RecordBit
	}
	if train {
		s |= mode.TrainBit
	}
	defer mode.Exit(mode.Enter(s))
	fn()
}

// Record runs fn with recording on and training mode on (MXNet's
// autograd.record()), then restores the previous state. Like every scope
// it holds for the calling goroutine only.
func Record(fn func()) { scope(true, true, fn) }

// RecordPredict runs fn with recording on and training mode off (MXNet's
// autograd.record(train_mode=False)).
func RecordPredict(fn func()) { scope(true, false, fn) }

// Pause runs fn with recording off and training mode off (MXNet's
// autograd.pause()), then restores the previous state.
func Pause(fn func()) { scope(false, false, fn) }

// TrainMode runs fn in training mode, keeping the recording state.
func TrainMode(fn func()) { scope(mode.Recording(), true, fn) }

// PredictMode runs fn in prediction (inference) mode, keeping the recording
// state.
func PredictMode(fn func()) { scope(mode.Recording(), false, fn) }

// IsRecording reports whether the calling goroutine's operations are being
// recorded.
func IsRecording() bool { return mode.Recording() }

// IsTraining reports whether the calling goroutine is in training mode
// (layers such as dropout behave differently in training and prediction).
func IsTraining() bool { return mode.Training() }

// Scope is a goroutine's autograd state (recording, training mode,
// anomaly detection) captured by [Capture], so that goroutines the
// capturing goroutine starts can run under it. The zero Scope is the state
// of a goroutine inside no scope.
type Scope struct{ s mode.State }

// Capture returns the calling goroutine's current autograd state.
func Capture() Scope { return Scope{mode.Current()} }

// Run runs fn in the calling goroutine under the captured state, then
// restores the goroutine's own state, also on panic.
func (s Scope) Run(fn func()) {
	defer mode.Exit(mode.Enter(s.s))
	fn()
}

// Recording reports whether the captured state records operations.
func (s Scope) Recording() bool { return s.s.Has(mode.RecordBit) }

// Training reports whether the captured state is in training mode.
func (s Scope) Training() bool { return s.s.Has(mode.TrainBit) }

// Go starts fn in a new goroutine under the calling goroutine's current
// autograd state: go Capture().Run(fn), with the state captured before the
// goroutine starts. It does not wait for fn; use a sync.WaitGroup (or an
// errgroup) to join.
func Go(fn func()) {
	s := Capture()
	go s.Run(fn)
}

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
