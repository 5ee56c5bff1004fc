package optim_test

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

func param(v ...float64) *tensor.Tensor {
	p := tensor.Array(v)
	p.AttachGrad()
	return p
}

// setGrad runs a backward pass that makes p's gradient equal to g.
func setGrad(p *tensor.Tensor, g []float64) {
	var y *tensor.Tensor
	autograd.Record(func() { y = p.Mul(tensor.Array(g)).Sum() })
	y.Backward()
}

func near(t *testing.T, what string, got []float64, want ...float64) {
	t.Helper()
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

func TestSGDMomentumByHand(t *testing.T) {
	p := param(1, -2)
	o := optim.NewSGD([]*tensor.Tensor{p}, 0.1, 0.9, 0.01)
	// Step 1: d = g + wd·w = (0.5+0.01, 1-0.02) = (0.51, 0.98); v = d; w -= lr·v.
	setGrad(p, []float64{0.5, 1})
	o.Step()
	w1 := []float64{1 - 0.1*0.51, -2 - 0.1*0.98}
	near(t, "step 1", p.Float64s(), w1...)
	// Step 2: d = g + wd·w1; v = 0.9·v + d; w -= lr·v.
	setGrad(p, []float64{-1, 0.25})
	o.Step()
	d := []float64{-1 + 0.01*w1[0], 0.25 + 0.01*w1[1]}
	v := []float64{0.9*0.51 + d[0], 0.9*0.98 + d[1]}
	near(t, "step 2", p.Float64s(), w1[0]-0.1*v[0], w1[1]-0.1*v[1])
}

func TestSGDNesterovAndPlain(t *testing.T) {
	p := param(3)
	o := optim.NewSGD([]*tensor.Tensor{p}, 0.5, 0.5, 0)
	o.Nesterov = true
	setGrad(p, []float64{2})
	o.Step() // v = 2, d = 2 + 0.5·2 = 3, w = 3 − 1.5
	near(t, "nesterov 1", p.Float64s(), 1.5)
	setGrad(p, []float64{1})
	o.Step() // v = 0.5·2 + 1 = 2, d = 1 + 0.5·2 = 2, w = 1.5 − 1
	near(t, "nesterov 2", p.Float64s(), 0.5)

	q := param(1)
	plain := optim.NewSGD([]*tensor.Tensor{q}, 0.25, 0, 0)
	setGrad(q, []float64{4})
	plain.Step()
	near(t, "plain", q.Float64s(), 0)
}

func TestAdamByHand(t *testing.T) {
	for _, decoupled := range []bool{false, true} {
		p := param(1, -1)
		o := optim.NewAdam([]*tensor.Tensor{p}, 0.01)
		o.WeightDecay = 0.1
		o.Decoupled = decoupled
		w := []float64{1, -1}
		m, v := []float64{0, 0}, []float64{0, 0}
		grads := [][]float64{{0.3, -0.2}, {-0.1, 0.4}, {0.05, 0.05}}
		for step, g := range grads {
			setGrad(p, g)
			o.Step()
			for i := range w {
				gi := g[i]
				if decoupled {
					w[i] -= 0.01 * 0.1 * w[i]
				} else {
					gi += 0.1 * w[i]
				}
				m[i] = 0.9*m[i] + 0.1*gi
				v[i] = 0.999*v[i] + 0.001*gi*gi
				mh := m[i] / (1 - math.Pow(0.9, float64(step+1)))
				vh := v[i] / (1 - math.Pow(0.999, float64(step+1)))
				w[i] -= 0.01 * mh / (math.Sqrt(vh) + 1e-8)
			}
			near(t, "adam", p.Float64s(), w...)
		}
	}
}

// A step allocates nothing that grows with the parameters: the state is
// allocated once, the update runs in place.
func TestStepDoesNotAllocateTensors(t *testing.T) {
	p := tensor.Zeros([]int{1 << 16})
	p.AttachGrad()
	setGradBig := func() {
		var y *tensor.Tensor
		autograd.Record(func() { y = p.Sum() })
		y.Backward()
	}
	setGradBig()
	for _, o := range []optim.Optimizer{optim.NewSGD([]*tensor.Tensor{p}, 0.1, 0.9, 1e-4), optim.NewAdam([]*tensor.Tensor{p}, 1e-3)} {
		o.Step()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < 20; i++ {
			o.Step()
		}
		runtime.ReadMemStats(&after)
		if perStep := (after.TotalAlloc - before.TotalAlloc) / 20; perStep > 4<<10 {
			t.Errorf("%T: %d bytes allocated per step", o, perStep)
		}
	}
}

// A small network learns a non-linear problem: two interleaved classes on
// concentric rings.
func TestTrainRings(t *testing.T) {
	tensor.Seed(3)
	n := 512
	x := make([]float32, 2*n)
	y := make([]float32, n)
	r := tensor.RandUniform(0, 1, []int{2 * n}).Float32s()
	for i := 0; i < n; i++ {
		cls := i % 2
		rad := 0.5 + float64(cls) + 0.3*float64(r[2*i])
		ang := 2 * math.Pi * float64(r[2*i+1])
		x[2*i], x[2*i+1] = float32(rad*math.Cos(ang)), float32(rad*math.Sin(ang))
		y[i] = float32(cls)
	}
	xs, ys := tensor.FromSlice(x, []int{n, 2}), tensor.FromSlice(y, []int{n})
	model := nn.Sequential{nn.NewDense(2, 32), nn.ReLU{}, nn.NewDense(32, 2)}
	opt := optim.NewAdam(model.Params(), 0.02)
	for step := 0; step < 300; step++ {
		var loss *tensor.Tensor
		autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(xs), ys) })
		loss.Backward()
		opt.Step()
	}
	if acc := nn.Accuracy(model.Forward(xs), ys); acc < 0.97 {
		t.Fatalf("accuracy %.3f after 300 steps, want >= 0.97", acc)
	}
}

// Named optimisers key their state by the parameters' names (the names of
// nn.NamedParameters and nn.StateDict), restore from such a state and from
// a numbered one, and refuse names that do not fit.
func TestNamedState(t *testing.T) {
	model := nn.Sequential{nn.NewDense(3, 2), nn.ReLU{}, nn.NewDense(2, 1)}
	named := nn.NamedParameters(model)
	var names []string
	var ps []*tensor.Tensor
	for _, p := range named {
		names, ps = append(names, p.Name), append(ps, p.Tensor)
	}
	step := func(o optim.Optimizer) {
		x := tensor.Array([][]float32{{1, -2, 3}, {0.5, 1, -1}})
		var loss *tensor.Tensor
		autograd.Record(func() { loss = model.Forward(x).Square().Sum() })
		loss.Backward()
		o.Step()
	}
	adam := optim.NewAdam(ps, 0.1).WithNames(names...)
	sgd := optim.NewSGD(ps, 0.1, 0.9, 0).WithNames(names...)
	step(adam)
	step(sgd)
	st := adam.State()
	sd := nn.StateDict(model)
	for name := range sd {
		for _, suffix := range []string{".exp_avg", ".exp_avg_sq"} {
			if _, ok := st[name+suffix]; !ok {
				t.Errorf("Adam state has no %q (state dict name %q)", name+suffix, name)
			}
		}
		if _, ok := sgd.State()[name+".momentum_buffer"]; !ok {
			t.Errorf("SGD state has no %q", name+".momentum_buffer")
		}
	}
	if len(st) != 2*len(sd)+1 {
		t.Errorf("Adam state has %d entries, want %d", len(st), 2*len(sd)+1)
	}
	// Restore into a fresh named optimiser, from the named state and from
	// the same state numbered.
	want := st[names[0]+".exp_avg"].Float64s()
	numbered := map[string]*tensor.Tensor{"steps": st["steps"]}
	for i, n := range names {
		numbered[fmt.Sprintf("m.%d", i)] = st[n+".exp_avg"]
		numbered[fmt.Sprintf("v.%d", i)] = st[n+".exp_avg_sq"]
	}
	for what, state := range map[string]map[string]*tensor.Tensor{"named": st, "numbered": numbered} {
		o := optim.NewAdam(ps, 0.1).WithNames(names...)
		if err := o.Restore(state); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := o.State()[names[0]+".exp_avg"].Float64s(); !slices.Equal(got, want) || o.Steps() != 1 {
			t.Errorf("%s: restored %v at step %d, want %v at 1", what, got, o.Steps(), want)
		}
	}
	delete(st, names[1]+".exp_avg_sq")
	if err := optim.NewAdam(ps, 0.1).WithNames(names...).Restore(st); err == nil || !strings.Contains(err.Error(), names[1]+".exp_avg_sq") {
		t.Errorf("a state without %s: %v", names[1]+".exp_avg_sq", err)
	}
	for _, bad := range [][]string{names[1:], append([]string{names[1]}, names[1:]...)} {
		err := tensor.Maybe(func() { optim.NewAdam(ps, 0.1).WithNames(bad...) })
		if !errors.Is(err, tensor.ErrArgument) {
			t.Errorf("WithNames(%q): %v, want ErrArgument", bad, err)
		}
	}
}
