package autograd_test

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/checkpoint"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// noPanic runs fn and returns its panic, if any, as an error.
func noPanic(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	fn()
	return nil
}

// TestScopesBelongToTheirGoroutine: while goroutine A is inside Record,
// TrainMode and DetectAnomaly, goroutine B (inside no scope) sees the
// default state, does not record, is in predict mode and does not detect
// anomalies; and B's Pause does not stop A's recording.
func TestScopesBelongToTheirGoroutine(t *testing.T) {
	w := f64([]float64{0, 1, 2, 3})
	w.AttachGrad()
	inA, bDone, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var y *T
	go func() {
		defer close(aDone)
		autograd.DetectAnomaly(func() {
			autograd.Record(func() {
				a := w.Mul(w).Sum()
				close(inA)
				<-bDone // B runs its checks and its Pause here, between two of A's ops
				y = a.Add(w.MulScalar(3).Sum())
			})
		})
	}()
	<-inA
	if autograd.IsRecording() || autograd.IsTraining() {
		t.Errorf("goroutine B sees recording %v, training %v while A records", autograd.IsRecording(), autograd.IsTraining())
	}
	out := w.MulScalar(2)
	if out.RequiresGrad() {
		t.Error("B's inference was recorded while A records")
	}
	if err := tensor.Maybe(func() {
		autograd.Record(func() { w.MulScalar(0).Log() }) // -Inf, legitimately
	}); err != nil {
		t.Errorf("B's Log(0) failed under A's anomaly detection: %v", err)
	}
	autograd.Pause(func() {})
	close(bDone)
	<-aDone
	y.Backward()
	values(t, "A's gradient 2w + 3", w.Grad(), 3, 5, 7, 9)
}

// TestCarryScope: Capture/Run and Go carry a goroutine's scope into the
// goroutines it starts; a plain go statement does not.
func TestCarryScope(t *testing.T) {
	x := f64([]float64{1, 2, 3})
	x.AttachGrad()
	var parts [3]*T
	var plain *T
	var wg sync.WaitGroup
	autograd.Record(func() {
		wg.Add(3)
		for i := range 2 {
			autograd.Go(func() {
				defer wg.Done()
				if !autograd.IsRecording() || !autograd.IsTraining() {
					t.Error("autograd.Go did not carry the Record scope")
				}
				parts[i] = x.MulScalar(float64(i + 1)).Sum()
			})
		}
		sc := autograd.Capture()
		if !sc.Recording() || !sc.Training() {
			t.Error("Capture inside Record does not record")
		}
		go func() {
			defer wg.Done()
			sc.Run(func() { parts[2] = x.Square().Sum() })
			if autograd.IsRecording() {
				t.Error("Run did not restore the goroutine's state")
			}
		}()
		wg.Wait()
		wg.Add(1)
		go func() {
			defer wg.Done()
			plain = x.MulScalar(5)
		}()
		wg.Wait()
		for _, p := range parts {
			if !p.RequiresGrad() {
				t.Fatal("an operation in a carried goroutine was not recorded")
			}
		}
	})
	if plain.RequiresGrad() {
		t.Error("an operation in a goroutine started with a plain go statement was recorded")
	}
	autograd.Backward(parts[:])
	values(t, "d/dx (x·1 + x·2 + x²)", x.Grad(), 5, 7, 9)
	if sc := autograd.Capture(); sc.Recording() || sc.Training() {
		t.Error("Capture outside every scope")
	}
}

// TestInPlaceUpdatesAllOrNothing: optimiser steps, AssignAll, Restore and
// LoadInto check everything before they change anything.
func TestInPlaceUpdatesAllOrNothing(t *testing.T) {
	a, b := f64([]float64{1, 2}), f64([][]float64{{1, 2}, {3, 4}})
	a.AttachGrad()
	b.AttachGrad()
	record(func() *T { return a.Sum().Add(b.Sum()) }).Backward()
	view := b.T() // a strided view cannot be updated in place
	view.AttachGrad()
	record(func() *T { return view.Sum() }).Backward()
	for name, opt := range map[string]optim.Optimizer{
		"SGD":  optim.NewSGD([]*T{a, view}, 0.1, 0.9, 0),
		"Adam": optim.NewAdam([]*T{a, view}, 0.1),
	} {
		err := tensor.Maybe(opt.Step)
		if !errors.Is(err, tensor.ErrArgument) {
			t.Fatalf("%s step with a view parameter: %v, want ErrArgument", name, err)
		}
		values(t, name+": the first parameter is unchanged", a, 1, 2)
		for k, s := range opt.State() {
			if k != "steps" && s.Sum().Item() != 0 {
				t.Errorf("%s: state %s changed by a failed step", name, k)
			}
			if k == "steps" && s.Item() != 0 {
				t.Errorf("%s: step count %v after a failed step", name, s.Item())
			}
		}
	}

	// Inside Record (the calling goroutine's): nothing changes.
	sgd := optim.NewSGD([]*T{a, b}, 0.1, 0, 0)
	autograd.Record(func() {
		if err := tensor.Maybe(sgd.Step); !errors.Is(err, tensor.ErrArgument) {
			t.Errorf("step inside Record: %v", err)
		}
	})
	values(t, "a after a step refused inside Record", a, 1, 2)

	// AssignAll with a bad pair at the end changes nothing; a swap works.
	x, y := f64([]float64{1, 2}), f64([]float64{3, 4})
	err := tensor.Maybe(func() { tensor.AssignAll([]*T{x, y}, []*T{y, f64([]float64{1, 2, 3})}) })
	if !errors.Is(err, tensor.ErrShape) {
		t.Fatalf("AssignAll with a shape mismatch: %v", err)
	}
	values(t, "x after a failed AssignAll", x, 1, 2)
	tensor.AssignAll([]*T{x, y}, []*T{y, x})
	values(t, "x after the swap", x, 3, 4)
	values(t, "y after the swap", y, 1, 2)

	// Restore with a state lacking a buffer changes nothing.
	adam := optim.NewAdam([]*T{a, b}, 0.1)
	adam.Step()
	before := fmt.Sprint(adam.State()["m.0"].Float64s(), adam.State()["steps"].Item())
	bad := map[string]*T{"steps": tensor.Scalar(7), "m.0": f64([]float64{9, 9}), "v.0": f64([]float64{9, 9}), "m.1": f64([]float64{9, 9})}
	if err := adam.Restore(bad); err == nil {
		t.Fatal("Restore of an incomplete state succeeded")
	}
	if after := fmt.Sprint(adam.State()["m.0"].Float64s(), adam.State()["steps"].Item()); after != before {
		t.Errorf("a failed Restore changed the state: %s, was %s", after, before)
	}

	// LoadInto inside the caller's Record: an error, nothing changed.
	path := filepath.Join(t.TempDir(), "p.ckpt")
	if err := checkpoint.Save(path, &checkpoint.Checkpoint{Tensors: map[string]*T{"a": f64([]float64{7, 8}), "b": f64([][]float64{{5, 6}, {7, 8}})}}); err != nil {
		t.Fatal(err)
	}
	aBefore := a.Float64s()
	autograd.Record(func() {
		if _, err := checkpoint.LoadInto(path, map[string]*T{"a": a, "b": b}); !errors.Is(err, tensor.ErrArgument) {
			t.Errorf("LoadInto inside Record: %v, want an error matching ErrArgument", err)
		}
	})
	values(t, "a after a refused LoadInto", a, aBefore...)
	if _, err := checkpoint.LoadInto(path, map[string]*T{"a": a, "b": b}); err != nil {
		t.Fatal(err)
	}
	values(t, "b after LoadInto", b, 5, 6, 7, 8)
}

// TestHookRegistrationIsSafe: hooks and retained gradients registered and
// removed on a shared tensor while another goroutine differentiates
// through it; the gradient is unchanged (the hooks only observe) and a
// nil hook is a typed error.
func TestHookRegistrationIsSafe(t *testing.T) {
	w := f64([]float64{1, 2, 3})
	w.AttachGrad()
	var z *T
	autograd.Record(func() { z = w.Mul(w) })
	if err := tensor.Maybe(func() { w.RegisterHook(nil) }); !errors.Is(err, tensor.ErrArgument) {
		t.Errorf("RegisterHook(nil): %v", err)
	}
	iters := 400
	if testing.Short() {
		iters = 100
	}
	var calls atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		observe := func(g *T) *T { calls.Add(1); return nil }
		for {
			select {
			case <-stop:
				return
			default:
			}
			r1, r2 := w.RegisterHook(observe), z.RegisterHook(observe)
			z.RetainGrad()
			r2()
			r1()
		}
	}()
	for range iters {
		var y *T
		autograd.Record(func() { y = z.Sum() })
		g := autograd.Grad([]*T{y}, []*T{w}, autograd.RetainGraph())
		if fmt.Sprint(g[0].Float64s()) != "[2 4 6]" {
			t.Fatalf("gradient %v, want [2 4 6]", g[0].Float64s())
		}
	}
	close(stop)
	<-done
	t.Logf("hooks ran %d times", calls.Load())
}

// model is a small network of one training goroutine: a 6→5 tanh layer and
// a 5→1 output, all float64.
type model struct {
	w1, b1, w2 *T
	params     map[string]*T
}

func newModel(seed uint64) *model {
	g := tensor.NewGenerator(seed)
	m := &model{
		w1: tensor.RandNormal(0, 0.5, []int{6, 5}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(g)),
		b1: tensor.RandNormal(0, 0.1, []int{5}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(g)),
		w2: tensor.RandNormal(0, 0.5, []int{5, 1}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(g)),
	}
	m.params = map[string]*T{"w1": m.w1, "b1": m.b1, "w2": m.w2}
	for _, p := range m.params {
		p.AttachGrad()
	}
	return m
}

func (m *model) loss(x, y *T) *T {
	return x.MatMul(m.w1).Add(m.b1).Tanh().MatMul(m.w2).Sub(y).Square().Mean()
}

// train runs steps of training and returns every step's gradients (bits of
// w1's, b1's and w2's gradient, as text). Every tenth step it saves the
// parameters; every 15th it loads the last saved ones back (LoadInto).
func train(m *model, opt optim.Optimizer, dir string, steps int, check func(string) error) ([]string, error) {
	gen := tensor.NewGenerator(99)
	var out []string
	ckpt := filepath.Join(dir, "model.ckpt")
	for s := range steps {
		x := tensor.RandNormal(0, 1, []int{8, 6}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(gen))
		y := tensor.RandNormal(0, 1, []int{8, 1}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(gen))
		var l *T
		autograd.Record(func() {
			if check != nil {
				if err := check("inside Record"); err != nil {
					panic(err)
				}
			}
			l = m.loss(x, y)
		})
		l.Backward()
		var bits []uint64
		for _, p := range []*T{m.w1, m.b1, m.w2} {
			for _, v := range p.Grad().Float64s() {
				bits = append(bits, math.Float64bits(v))
			}
		}
		out = append(out, fmt.Sprint(bits))
		opt.Step()
		if s%10 == 0 {
			if err := checkpoint.Save(ckpt, &checkpoint.Checkpoint{Tensors: m.params}); err != nil {
				return nil, err
			}
		}
		if s%15 == 14 {
			if _, err := checkpoint.LoadInto(ckpt, m.params); err != nil {
				return nil, fmt.Errorf("step %d: %w", s, err)
			}
		}
	}
	return out, nil
}

// TestGoroutineIsolationStress is the concurrency contract in one run
// (under -race in CI): two goroutines train separate models with optimiser
// steps and LoadInto, one loops Pause(evaluate), one runs plain inference
// on shared parameters, one records under DetectAnomaly, one registers and
// removes hooks while another differentiates through the tensor. Every
// training step's gradient must equal, bit for bit, the same step run
// alone; nothing may panic, no inference output may be recorded, and no
// goroutine may see another's mode.
func TestGoroutineIsolationStress(t *testing.T) {
	steps := 60
	switch {
	case testing.Short():
		steps = 20
	case raceEnabled:
		steps = 40
	}
	newOpts := []func(m *model) optim.Optimizer{
		func(m *model) optim.Optimizer { return optim.NewSGD([]*T{m.w1, m.b1, m.w2}, 0.05, 0.9, 1e-4) },
		func(m *model) optim.Optimizer { return optim.NewAdam([]*T{m.w1, m.b1, m.w2}, 0.01) },
	}
	// The reference: each model trained alone.
	ref := make([][]string, 2)
	for i := range ref {
		m := newModel(uint64(i + 1))
		r, err := train(m, newOpts[i](m), t.TempDir(), steps, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref[i] = r
	}

	shared := tensor.RandNormal(0, 1, []int{6, 5}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(tensor.NewGenerator(7)))
	shared.AttachGrad()
	xs := tensor.RandNormal(0, 1, []int{4, 6}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(tensor.NewGenerator(8)))
	var hooked *T
	autograd.Record(func() { hooked = shared.Mul(shared) })

	var failures atomic.Int64
	errs := make(chan error, 64)
	report := func(err error) {
		failures.Add(1)
		select {
		case errs <- err:
		default:
		}
	}
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var counts [5]atomic.Int64
	var helpers sync.WaitGroup
	helper := func(i int, name string, body func() error) {
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			for !stopped() {
				if err := noPanic(func() {
					if err := body(); err != nil {
						panic(err)
					}
				}); err != nil {
					report(fmt.Errorf("%s: %w", name, err))
					return
				}
				counts[i].Add(1)
			}
		}()
	}
	outside := func(where string) error {
		if autograd.IsRecording() || autograd.IsTraining() {
			return fmt.Errorf("%s: recording %v, training %v (a mode leaked)", where, autograd.IsRecording(), autograd.IsTraining())
		}
		return nil
	}
	helper(0, "Pause(evaluate)", func() error {
		var err error
		autograd.Pause(func() {
			err = outside("inside Pause")
			if out := xs.MatMul(shared).Tanh().Sum(); err == nil && out.RequiresGrad() {
				err = errors.New("an output inside Pause was recorded")
			}
		})
		return err
	})
	helper(1, "plain inference", func() error {
		if err := outside("inside no scope"); err != nil {
			return err
		}
		if xs.MatMul(shared).Tanh().RequiresGrad() {
			return errors.New("an inference output was recorded")
		}
		return nil
	})
	helper(2, "DetectAnomaly", func() error {
		var err error
		autograd.DetectAnomaly(func() {
			err = tensor.Maybe(func() { autograd.Record(func() { shared.MulScalar(0).Log() }) })
		})
		if !errors.Is(err, tensor.ErrAnomaly) {
			return fmt.Errorf("Log(0) under DetectAnomaly: %v, want ErrAnomaly", err)
		}
		// Outside its own DetectAnomaly the same operation is legitimate.
		autograd.Record(func() { shared.MulScalar(0).Log() })
		return nil
	})
	helper(3, "hook registration", func() error {
		remove := hooked.RegisterHook(func(g *T) *T { return nil })
		removeLeaf := shared.RegisterHook(func(g *T) *T { return nil })
		hooked.RetainGrad()
		remove()
		removeLeaf()
		return nil
	})
	helper(4, "differentiating through the hooked tensor", func() error {
		var y *T
		autograd.Record(func() { y = hooked.Sum() })
		g := autograd.Grad([]*T{y}, []*T{shared}, autograd.RetainGraph())
		want := shared.MulScalar(2).Float64s()
		for i, v := range g[0].Float64s() {
			if v != want[i] {
				return fmt.Errorf("gradient element %d = %v, want %v", i, v, want[i])
			}
		}
		return nil
	})

	// The trainers start once every helper has run, so that they overlap.
	for failures.Load() == 0 {
		all := true
		for i := range counts {
			all = all && counts[i].Load() > 0
		}
		if all {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var trainers sync.WaitGroup
	got := make([][]string, 2)
	for i := range got {
		trainers.Add(1)
		go func() {
			defer trainers.Done()
			m := newModel(uint64(i + 1))
			inRecord := func(where string) error {
				if !autograd.IsRecording() || !autograd.IsTraining() {
					return fmt.Errorf("trainer %d %s: recording %v, training %v", i, where, autograd.IsRecording(), autograd.IsTraining())
				}
				return nil
			}
			if err := noPanic(func() {
				r, err := train(m, newOpts[i](m), t.TempDir(), steps, inRecord)
				if err != nil {
					panic(err)
				}
				got[i] = r
			}); err != nil {
				report(fmt.Errorf("trainer %d: %w", i, err))
			}
		}()
	}
	trainers.Wait()
	close(stop)
	helpers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d goroutines failed", n)
	}
	for i := range got {
		for s := range got[i] {
			if got[i][s] != ref[i][s] {
				t.Fatalf("trainer %d step %d: gradient differs from the same step run alone", i, s)
			}
		}
		if len(got[i]) != steps {
			t.Fatalf("trainer %d ran %d steps", i, len(got[i]))
		}
	}
	t.Logf("beside %d training steps ×2: %d Pause evaluations, %d inferences, %d anomaly scopes, %d hook registrations, %d differentiations",
		steps, counts[0].Load(), counts[1].Load(), counts[2].Load(), counts[3].Load(), counts[4].Load())
	for i, name := range []string{"Pause(evaluate)", "inference", "DetectAnomaly", "hooks", "differentiation"} {
		if counts[i].Load() == 0 {
			t.Errorf("the %s goroutine never ran beside the trainers", name)
		}
	}
}
