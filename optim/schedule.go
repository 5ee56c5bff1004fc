package optim

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/tensor"
)

// Schedule gives the learning rate of each step.
//
// step counts the optimiser steps taken before the one the rate is for:
// the first step uses LR(0). This is the convention of PyTorch's
// LambdaLR and of HuggingFace's schedules (whose lr_lambda(current_step)
// sets the rate of the next optimizer.step()), so the values here are
// theirs step for step.
//
// Attach a schedule to SGD or Adam with [WithSchedule], or set the rate by
// hand before each step:
//
//	opt.LR = sched.LR(opt.Steps())
//	opt.Step()
//
// The schedules here panic with a *tensor.Error of kind tensor.ErrArgument
// for a negative step or fields that make no schedule (a non-positive
// StepSize, say).
type Schedule interface {
	// LR returns the learning rate of the step after step steps.
	LR(step int) float64
}

// ScheduleFunc adapts a function to [Schedule] (PyTorch's LambdaLR, with
// the function returning the rate itself rather than a factor).
type ScheduleFunc func(step int) float64

// LR returns f(step).
func (f ScheduleFunc) LR(step int) float64 { return f(step) }

// badSchedule panics with ErrArgument for op.
func badSchedule(op, format string, args ...any) {
	panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf(format, args...)})
}

// checkStep panics unless step is a count.
func checkStep(op string, step int) {
	if step < 0 {
		badSchedule(op, "step %d; steps count from 0", step)
	}
}

// StepLR decays the rate by Gamma every StepSize steps, as PyTorch's
// StepLR: Base·Gamma^⌊step/StepSize⌋. (PyTorch calls its scheduler once
// per epoch, typically; here the count is whatever LR is called with,
// optimiser steps for [Scheduled].)
type StepLR struct {
	Base     float64 // the initial rate
	StepSize int     // steps between decays (> 0)
	Gamma    float64 // the factor of each decay (0.1, say)
}

// LR returns Base·Gamma^⌊step/StepSize⌋.
func (s StepLR) LR(step int) float64 {
	const op = "StepLR"
	checkStep(op, step)
	if s.StepSize <= 0 {
		badSchedule(op, "StepSize %d; it must be positive", s.StepSize)
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.StepSize))
}

// checkWarmup panics unless 0 ≤ warmup ≤ total, with total = 0 allowed
// where noTotal.
func checkWarmup(op string, warmup, total int, noTotal bool) {
	switch {
	case warmup < 0:
		badSchedule(op, "Warmup %d; it must not be negative", warmup)
	case total == 0 && noTotal:
	case total <= 0:
		badSchedule(op, "Total %d; it must be positive", total)
	case warmup > total:
		badSchedule(op, "Warmup %d is longer than Total %d", warmup, total)
	}
}

// LinearWarmup is HuggingFace's get_linear_schedule_with_warmup: the rate
// rises linearly from 0 at step 0 to Base at step Warmup, then falls
// linearly to 0 at step Total and stays 0 after it:
//
//	step < Warmup:  Base·step/Warmup
//	otherwise:      Base·max(0, (Total − step)/(Total − Warmup))
//
// (a zero denominator counts as 1, as in HuggingFace). With Total 0 there
// is no decay: the rate stays Base from step Warmup on
// (get_constant_schedule_with_warmup). Otherwise 0 ≤ Warmup ≤ Total.
type LinearWarmup struct {
	Base          float64 // the peak rate
	Warmup, Total int     // steps of warmup; steps in all (0: no decay)
}

// LR returns the rate of the step after step steps.
func (s LinearWarmup) LR(step int) float64 {
	const op = "LinearWarmup"
	checkStep(op, step)
	checkWarmup(op, s.Warmup, s.Total, true)
	switch {
	case step < s.Warmup:
		return s.Base * float64(step) / float64(s.Warmup)
	case s.Total == 0:
		return s.Base
	}
	return s.Base * math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
}

// CosineWithWarmup is HuggingFace's get_cosine_schedule_with_warmup: a
// linear warmup from 0 to Base over Warmup steps, then a cosine over the
// remaining steps to Total,
//
//	step < Warmup:  Base·step/Warmup
//	otherwise:      Base·max(0, ½(1 + cos(2π·Cycles·p))),  p = (step − Warmup)/(Total − Warmup)
//
// (a zero denominator counts as 1). Cycles is the number of cosine waves,
// 0.5 (HuggingFace's default num_cycles, a single decay to 0 at Total)
// when left 0. From step Total on the rate stays at its value at Total
// (0 for the default half cycle): HuggingFace goes on evaluating the
// cosine there, so that its rate rises again. 0 ≤ Warmup ≤ Total, Total
// > 0, Cycles ≥ 0.
type CosineWithWarmup struct {
	Base          float64 // the peak rate
	Warmup, Total int     // steps of warmup; steps in all
	Cycles        float64 // cosine waves after the warmup (0: 0.5)
}

// LR returns the rate of the step after step steps.
func (s CosineWithWarmup) LR(step int) float64 {
	const op = "CosineWithWarmup"
	checkStep(op, step)
	checkWarmup(op, s.Warmup, s.Total, false)
	cycles := s.Cycles
	switch {
	case cycles == 0:
		cycles = 0.5
	case !(cycles > 0) || math.IsInf(cycles, 1):
		badSchedule(op, "Cycles %v; it must be positive and finite (or 0 for 0.5)", cycles)
	}
	if step < s.Warmup {
		return s.Base * float64(step) / float64(s.Warmup)
	}
	p := float64(min(step, s.Total)-s.Warmup) / float64(max(1, s.Total-s.Warmup))
	return s.Base * math.Max(0, 0.5*(1+math.Cos(math.Pi*cycles*2*p)))
}

// Schedulable is an optimiser whose learning rate can change between
// steps and that counts its steps: [SGD] and [Adam].
type Schedulable interface {
	Optimizer
	// SetLR sets the learning rate of the following steps.
	SetLR(lr float64)
	// Steps returns the number of steps taken (restored from a
	// checkpoint by Restore).
	Steps() int
}

// Scheduled is an optimiser whose learning rate follows a schedule: each
// Step sets Opt's rate to Schedule.LR(Opt.Steps()) and then steps Opt.
// The schedule's position is Opt's own step count, so an optimiser whose
// state was restored from a checkpoint resumes its schedule where it
// stopped, and nothing of the schedule needs saving.
type Scheduled struct {
	Opt      Schedulable
	Schedule Schedule
}

// WithSchedule returns opt driven by s:
//
//	opt := optim.WithSchedule(optim.NewAdam(params, 0), optim.CosineWithWarmup{Base: 1e-3, Warmup: 100, Total: 10000})
//
// The rate opt was made with is replaced at each step.
func WithSchedule(opt Schedulable, s Schedule) *Scheduled {
	return &Scheduled{Opt: opt, Schedule: s}
}

// Step sets the learning rate from the schedule and applies one step.
// The update is all-or-nothing as Opt's Step; if it panics, Opt's rate
// has been set already, to the rate a retry of the same step uses.
func (s *Scheduled) Step() {
	s.Opt.SetLR(s.Schedule.LR(s.Opt.Steps()))
	s.Opt.Step()
}

// LR returns the learning rate the next Step will use.
func (s *Scheduled) LR() float64 { return s.Schedule.LR(s.Opt.Steps()) }

// ZeroGrad zeroes the parameters' gradients.
func (s *Scheduled) ZeroGrad() { s.Opt.ZeroGrad() }

// Params returns Opt's parameters.
func (s *Scheduled) Params() []*tensor.Tensor { return s.Opt.Params() }

// State returns Opt's state; the schedule needs none beyond its step
// count.
func (s *Scheduled) State() map[string]*tensor.Tensor { return s.Opt.State() }

// Restore restores Opt's state, step count included, so the schedule
// resumes where it stopped.
func (s *Scheduled) Restore(state map[string]*tensor.Tensor) error { return s.Opt.Restore(state) }
