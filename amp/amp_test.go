package amp_test

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/amp"
	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

type T = tensor.Tensor

func rand(dt tensor.DType, shape ...int) *T {
	return tensor.RandNormal(0, 1, shape, tensor.WithDType(dt))
}

// opCase is one operation and the dtype of its result under autocast to
// half, and outside autocast.
type opCase struct {
	name      string
	fn        func() *T
	in, out   func(half tensor.DType) tensor.DType // under autocast; nil in: same as out
	unchanged tensor.DType                         // outside autocast (0xff: an ErrDType panic)
}

const errDType = tensor.DType(0xff)

func same(dt tensor.DType) func(tensor.DType) tensor.DType {
	return func(tensor.DType) tensor.DType { return dt }
}

func halfOf(h tensor.DType) tensor.DType { return h }

func cases(h tensor.DType) []opCase {
	f32, f64 := tensor.Float32, tensor.Float64
	other := tensor.BFloat16 // the other half type
	if h == tensor.BFloat16 {
		other = tensor.Float16
	}
	x, w := rand(f32, 4, 8), rand(f32, 8, 3)
	xh := x.AsType(h)
	img, filt, bias := rand(f32, 1, 2, 5, 5), rand(f32, 3, 2, 3, 3), rand(f32, 3)
	q, k, v := rand(f32, 2, 4, 8), rand(f32, 2, 5, 8), rand(f32, 2, 5, 8)
	lnw, lnb := tensor.Ones([]int{8}), tensor.Zeros([]int{8})
	labels := tensor.FromSlice([]int32{0, 1, 2, 3}, []int{4})
	d := &nn.Dense{W: w, B: bias}
	return []opCase{
		// Half operations.
		{name: "MatMul", fn: func() *T { return x.MatMul(w) }, out: halfOf, unchanged: f32},
		{name: "MatMul/other-half", fn: func() *T { return x.AsType(other).MatMul(w.AsType(other)) }, out: halfOf, unchanged: other},
		{name: "MatMul/float64", fn: func() *T { return x.AsType(f64).MatMul(w.AsType(f64)) }, out: same(f64), unchanged: f64},
		{name: "Conv2D", fn: func() *T { return tensor.Conv2D(img, filt, bias, 1, 1) }, out: halfOf, unchanged: f32},
		{name: "ScaledDotProductAttention", fn: func() *T { return tensor.ScaledDotProductAttention(q, k, v, 0.3, true) }, out: halfOf, unchanged: f32},
		{name: "nn.Dense", fn: func() *T { return d.Forward(x) }, out: halfOf, unchanged: f32},
		// Float32 operations.
		{name: "Softmax", fn: func() *T { return xh.Softmax(1) }, out: same(f32), unchanged: h},
		{name: "LogSoftmax", fn: func() *T { return xh.LogSoftmax(1) }, out: same(f32), unchanged: h},
		{name: "SoftmaxCrossEntropy", fn: func() *T { return tensor.SoftmaxCrossEntropy(xh, labels) }, out: same(f32), unchanged: h},
		{name: "nn.CrossEntropySmoothed", fn: func() *T { return nn.CrossEntropySmoothed(xh, labels, 0.1) }, out: same(f32), unchanged: h},
		{name: "nn.MSE", fn: func() *T { return nn.MSE(xh, xh) }, out: same(f32), unchanged: h},
		{name: "LayerNorm", fn: func() *T { return xh.LayerNorm(1, lnw, lnb, 1e-5) }, out: same(f32), unchanged: errDType},
		{name: "LayerNorm/half-params", fn: func() *T { return xh.LayerNorm(1, lnw.AsType(h), lnb.AsType(h), 1e-5) }, out: same(f32), unchanged: h},
		{name: "RMSNorm", fn: func() *T { return xh.RMSNorm(1, lnw, 1e-5) }, out: same(f32), unchanged: errDType},
		{name: "Sum", fn: func() *T { return xh.Sum() }, out: same(f32), unchanged: h},
		{name: "MeanKeepDims", fn: func() *T { return xh.MeanKeepDims(1) }, out: same(f32), unchanged: h},
		{name: "Norm", fn: func() *T { return xh.Norm(0) }, out: same(f32), unchanged: h},
		{name: "CumSum", fn: func() *T { return xh.CumSum(1) }, out: same(f32), unchanged: h},
		{name: "Exp", fn: func() *T { return xh.Exp() }, out: same(f32), unchanged: h},
		{name: "Log", fn: func() *T { return xh.Abs().Log() }, out: same(f32), unchanged: h},
		{name: "PowScalar", fn: func() *T { return xh.PowScalar(2) }, out: same(f32), unchanged: h},
		{name: "Rsqrt", fn: func() *T { return xh.Abs().Rsqrt() }, out: same(f32), unchanged: h},
		{name: "Softplus", fn: func() *T { return xh.Softplus() }, out: same(f32), unchanged: h},
		{name: "Sum/float32", fn: func() *T { return x.Sum() }, out: same(f32), unchanged: f32},
		// Operations that keep their operand's dtype.
		{name: "Max", fn: func() *T { return xh.Max(1) }, out: halfOf, unchanged: h},
		{name: "GELU", fn: func() *T { return xh.GELU() }, out: halfOf, unchanged: h},
		{name: "ReLU", fn: func() *T { return xh.ReLU() }, out: halfOf, unchanged: h},
		{name: "Add/same", fn: func() *T { return xh.Add(xh) }, out: halfOf, unchanged: h},
		// Promotion.
		{name: "Add/float32+half", fn: func() *T { return x.Add(xh) }, out: same(f32), unchanged: errDType},
		{name: "Mul/half*float32", fn: func() *T { return xh.Mul(x) }, out: same(f32), unchanged: errDType},
		{name: "Sub/bf16-f16", fn: func() *T { return xh.Sub(x.AsType(other)) }, out: same(f32), unchanged: errDType},
		{name: "Div/float64", fn: func() *T { return x.AsType(f64).Div(xh) }, out: same(f64), unchanged: errDType},
		{name: "Maximum", fn: func() *T { return xh.Maximum(x) }, out: same(f32), unchanged: errDType},
		{name: "Lt", fn: func() *T { return xh.Lt(x) }, out: same(f32), unchanged: errDType},
		{name: "Where", fn: func() *T { return tensor.Where(x.GtScalar(0), xh, x) }, out: same(f32), unchanged: errDType},
	}
}

func dtypeOf(fn func() *T) (dt tensor.DType) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, tensor.ErrDType) {
				dt = errDType
				return
			}
			panic(r)
		}
	}()
	return fn().DType()
}

// TestOpLists checks the dtype each operation computes in under autocast
// to either half type, and that outside autocast nothing changes (mixed
// dtypes are ErrDType there).
func TestOpLists(t *testing.T) {
	for _, h := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		for _, c := range cases(h) {
			t.Run(h.String()+"/"+c.name, func(t *testing.T) {
				var got tensor.DType
				amp.Autocast(h, func() { got = dtypeOf(c.fn) })
				if want := c.out(h); got != want {
					t.Errorf("under autocast: %v, want %v", got, want)
				}
				if got := dtypeOf(c.fn); got != c.unchanged {
					t.Errorf("outside autocast: %v, want %v", got, c.unchanged)
				}
			})
		}
	}
}

// mlp is a small model with every kind of operation autocast changes: a
// projection, attention, a residual, LayerNorm, GELU and a loss.
type mlp struct{ w1, b1, w2, lnw, lnb *T }

func newMLP() *mlp {
	tensor.Seed(7)
	m := &mlp{w1: tensor.RandNormal(0, 0.3, []int{8, 8}), b1: tensor.RandNormal(0, 0.1, []int{8}),
		w2: tensor.RandNormal(0, 0.3, []int{8, 5}), lnw: tensor.RandNormal(1, 0.1, []int{8}), lnb: tensor.RandNormal(0, 0.1, []int{8})}
	for _, p := range m.params() {
		p.AttachGrad()
	}
	return m
}

func (m *mlp) params() []*T { return []*T{m.w1, m.b1, m.w2, m.lnw, m.lnb} }

// loss runs the model; cast is applied where autocast would cast (to the
// half type before the half operations, to float32 before the float32
// ones and for promotion), so that with explicit casts it computes
// what autocast computes.
func (m *mlp) loss(x *T, labels *T, low, up func(*T) *T) *T {
	h := low(x).MatMul(low(m.w1)) // [2, 4, 8]
	h = up(h).Add(m.b1)           // promotion: float32
	a := tensor.ScaledDotProductAttention(low(h), low(h), low(h), 0.35, true)
	r := up(a).Add(h).GELU()
	n := r.LayerNorm(1, m.lnw, m.lnb, 1e-5)
	logits := low(n).MatMul(low(m.w2)).Reshape(-1, 5)
	return tensor.SoftmaxCrossEntropy(up(logits), labels).Mean()
}

func grads(ps []*T) [][]float32 {
	var out [][]float32
	for _, p := range ps {
		out = append(out, p.Grad().Float32s())
		p.ZeroGrad()
	}
	return out
}

// TestMatchesExplicitCasts: a forward and backward pass under autocast
// computes exactly what the same model computes with the casts written
// out by hand (so the autocast region differentiates as its casts say),
// and its gradients are float32 and close to the float32 model's.
func TestMatchesExplicitCasts(t *testing.T) {
	for _, h := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		t.Run(h.String(), func(t *testing.T) {
			m := newMLP()
			x := tensor.RandNormal(0, 1, []int{2, 4, 8})
			labels := tensor.FromSlice([]int32{0, 1, 2, 3, 4, 0, 1, 2}, []int{8})
			id := func(t *T) *T { return t }
			var auto, explicit, full *T
			autograd.Record(func() {
				amp.Autocast(h, func() { auto = m.loss(x, labels, id, id) })
			})
			auto.Backward()
			for _, p := range m.params() {
				if p.Grad().DType() != tensor.Float32 {
					t.Fatalf("gradient dtype %v, want float32", p.Grad().DType())
				}
			}
			ga := grads(m.params())
			low := func(t *T) *T { return t.AsType(h) }
			up := func(t *T) *T { return t.AsType(tensor.Float32) }
			autograd.Record(func() { explicit = m.loss(x, labels, low, up) })
			explicit.Backward()
			ge := grads(m.params())
			autograd.Record(func() { full = m.loss(x, labels, id, id) })
			full.Backward()
			gf := grads(m.params())
			if auto.DType() != tensor.Float32 || auto.Item() != explicit.Item() {
				t.Fatalf("loss %v (%v) under autocast, %v with explicit casts", auto.Item(), auto.DType(), explicit.Item())
			}
			if d := math.Abs(auto.Item() - full.Item()); d > 0.05 || d == 0 {
				t.Errorf("loss %v under autocast, %v in float32: want a difference in (0, 0.05]", auto.Item(), full.Item())
			}
			for i := range ga {
				for j := range ga[i] {
					if ga[i][j] != ge[i][j] {
						t.Fatalf("param %d grad %d: %v under autocast, %v with explicit casts", i, j, ga[i][j], ge[i][j])
					}
					if d := math.Abs(float64(ga[i][j] - gf[i][j])); d > 0.05+0.1*math.Abs(float64(gf[i][j])) {
						t.Errorf("param %d grad %d: %v under autocast, %v in float32", i, j, ga[i][j], gf[i][j])
					}
				}
			}
		})
	}
}

// TestBackwardInsideAutocast: Backward called inside the autocast scope
// gives the gradients that a call outside gives (the backward pass does
// not autocast), also with CreateGraph.
func TestBackwardInsideAutocast(t *testing.T) {
	m := newMLP()
	x := tensor.RandNormal(0, 1, []int{2, 4, 8})
	labels := tensor.FromSlice([]int32{0, 1, 2, 3, 4, 0, 1, 2}, []int{8})
	id := func(t *T) *T { return t }
	var l *T
	autograd.Record(func() { amp.Autocast(tensor.BFloat16, func() { l = m.loss(x, labels, id, id) }) })
	l.Backward()
	outside := grads(m.params())
	amp.Autocast(tensor.BFloat16, func() {
		autograd.Record(func() { l = m.loss(x, labels, id, id) })
		l.Backward()
	})
	inside := grads(m.params())
	for i := range inside {
		for j := range inside[i] {
			if inside[i][j] != outside[i][j] {
				t.Fatalf("param %d grad %d: %v inside, %v outside", i, j, inside[i][j], outside[i][j])
			}
		}
	}
	// With CreateGraph the backward operations are recorded but still not
	// autocast: the gradient of a float32 product stays float32.
	w := tensor.RandNormal(0, 1, []int{3, 3})
	w.AttachGrad()
	var g []*T
	amp.Autocast(tensor.Float16, func() {
		autograd.Record(func() { l = w.MatMul(w).Sum() })
		g = tensor.RunBackward([]*T{l}, nil, []*T{w}, tensor.BackwardOptions{CreateGraph: true})
	})
	if g[0].DType() != tensor.Float32 {
		t.Errorf("CreateGraph gradient dtype %v, want float32", g[0].DType())
	}
}

// TestHalfParameters: a parameter stored in a half type gets a gradient
// of its own dtype under autocast to the other half type.
func TestHalfParameters(t *testing.T) {
	w := rand(tensor.BFloat16, 4, 4)
	w.AttachGrad()
	var l *T
	autograd.Record(func() {
		amp.Autocast(tensor.Float16, func() { l = rand(tensor.Float32, 2, 4).MatMul(w).Sum() })
	})
	l.Backward()
	if w.Grad().DType() != tensor.BFloat16 || l.DType() != tensor.Float32 {
		t.Errorf("gradient %v, loss %v; want bfloat16, float32", w.Grad().DType(), l.DType())
	}
}

// TestScopes: nesting, Disable, restoration on panic, invalid dtypes, and
// isolation between goroutines (a goroutine does not see another's
// autocast, but autograd.Capture carries it).
func TestScopes(t *testing.T) {
	a, b := rand(tensor.Float32, 2, 2), rand(tensor.Float32, 2, 2)
	dt := func() tensor.DType { return a.MatMul(b).DType() }
	amp.Autocast(tensor.BFloat16, func() {
		if dt() != tensor.BFloat16 {
			t.Error("outer scope")
		}
		amp.Autocast(tensor.Float16, func() {
			if dt() != tensor.Float16 {
				t.Error("inner scope")
			}
			amp.Disable(func() {
				if dt() != tensor.Float32 {
					t.Error("Disable")
				}
				if _, on := amp.Enabled(); on {
					t.Error("Enabled inside Disable")
				}
			})
		})
		func() {
			defer func() { recover() }()
			amp.Autocast(tensor.Float16, func() { panic("boom") })
		}()
		if h, on := amp.Enabled(); !on || h != tensor.BFloat16 || dt() != tensor.BFloat16 {
			t.Errorf("after inner scopes: %v %v %v", h, on, dt())
		}
		autograd.Record(func() {
			if dt() != tensor.BFloat16 || !autograd.IsRecording() {
				t.Error("Record inside Autocast")
			}
		})
	})
	if _, on := amp.Enabled(); on || dt() != tensor.Float32 {
		t.Error("autocast after the scope")
	}
	for _, bad := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int32} {
		err := tensor.Maybe(func() { amp.Autocast(bad, func() {}) })
		if !errors.Is(err, tensor.ErrDType) {
			t.Errorf("Autocast(%v): %v, want ErrDType", bad, err)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := tensor.Float32
			run := func(fn func()) { fn() }
			switch i % 3 {
			case 1:
				want = tensor.BFloat16
				run = func(fn func()) { amp.Autocast(tensor.BFloat16, fn) }
			case 2:
				want = tensor.Float16
				run = func(fn func()) { amp.Autocast(tensor.Float16, fn) }
			}
			run(func() {
				for range 200 {
					if got := dt(); got != want {
						errs <- fmt.Sprintf("goroutine %d: %v, want %v", i, got, want)
						return
					}
				}
			})
		}()
	}
	amp.Autocast(tensor.Float16, func() {
		sc := autograd.Capture()
		wg.Add(2)
		go func() { // a plain goroutine: no autocast
			defer wg.Done()
			if got := dt(); got != tensor.Float32 {
				errs <- fmt.Sprintf("started goroutine: %v", got)
			}
		}()
		go func() { // under the captured scope: autocast
			defer wg.Done()
			sc.Run(func() {
				if got := dt(); got != tensor.Float16 {
					errs <- fmt.Sprintf("captured scope: %v", got)
				}
			})
		}()
		wg.Wait()
	})
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A convolution, batch normalisation and concatenation run together under
// autocast, as in a CNN: BatchNorm normalises the convolution's half
// output in float32 with its float32 statistics (it used to refuse the
// dtypes), Concat and Stack promote mixed dtypes to the wider one (and
// still refuse them outside autocast), and the gradients reach the
// float32 parameters in float32.
func TestConvBatchNormConcat(t *testing.T) {
	g := tensor.NewGenerator(3)
	conv := nn.NewConv2D(3, 4, 3, 1, 1, tensor.WithGenerator(g))
	bn := nn.NewBatchNorm2d(4)
	x := tensor.RandNormal(0, 1, []int{2, 3, 6, 6}, tensor.WithGenerator(g))
	side := tensor.RandNormal(0, 1, []int{2, 4, 6, 6}, tensor.WithGenerator(g))
	for _, h := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		for _, p := range conv.Params() {
			p.ZeroGrad()
		}
		var y, cat, st, loss *tensor.Tensor
		autograd.TrainMode(func() {
			autograd.Record(func() {
				amp.Autocast(h, func() {
					c := conv.Forward(x)
					if c.DType() != h {
						t.Fatalf("%v: Conv2D gave %v", h, c.DType())
					}
					y = bn.Forward(c)
					cat = tensor.Concat([]*tensor.Tensor{c, side}, 1)
					st = tensor.Stack([]*tensor.Tensor{side, c}, 0)
				})
				loss = y.Square().Sum().Add(cat.Sum()).Add(st.Sum())
			})
		})
		if y.DType() != tensor.Float32 || cat.DType() != tensor.Float32 || st.DType() != tensor.Float32 {
			t.Fatalf("%v: BatchNorm, Concat, Stack gave %v, %v, %v; want float32", h, y.DType(), cat.DType(), st.DType())
		}
		if s := cat.Shape(); s[1] != 8 {
			t.Errorf("%v: Concat shape %v", h, s)
		}
		// Normalised per channel: mean about 0, variance about 1.
		if m := y.Mean().Item(); m > 1e-2 || m < -1e-2 {
			t.Errorf("%v: BatchNorm output mean %v", h, m)
		}
		loss.Backward()
		for _, p := range conv.Params() {
			if p.Grad().DType() != tensor.Float32 || p.Grad().Abs().Sum().Item() == 0 {
				t.Errorf("%v: parameter gradient %v of dtype %v", h, p.Grad().Abs().Sum().Item(), p.Grad().DType())
			}
		}
	}
	err := tensor.Maybe(func() {
		tensor.Concat([]*tensor.Tensor{side, side.AsType(tensor.BFloat16)}, 1)
	})
	if !errors.Is(err, tensor.ErrDType) {
		t.Errorf("mixed Concat outside autocast: %v, want ErrDType", err)
	}
}

// A weight used at every step of a recurrent loop is cast once per
// autocast region (the cast cache), and training steps with their
// backward passes and updates inside one region still cast afresh when
// the graph was freed and the weight written: two steps give parameters
// close to those of explicit casts at every use (the gradient of the
// shared cast is summed in the half type, as in PyTorch, hence a
// tolerance rather than bits).
func TestCastCacheInLoop(t *testing.T) {
	g := tensor.NewGenerator(9)
	w0 := tensor.RandNormal(0, 0.3, []int{8, 8}, tensor.WithGenerator(g))
	x := tensor.RandNormal(0, 1, []int{4, 8}, tensor.WithGenerator(g))
	step := func(w *T, cast func(*T) *T) {
		var loss *T
		autograd.Record(func() {
			h := x
			for range 3 {
				h = cast(h).MatMul(cast(w)).Tanh()
			}
			loss = h.AsType(tensor.Float32).Square().Sum()
		})
		loss.Backward()
		autograd.Pause(func() { w.Assign(w.Sub(w.Grad().MulScalar(0.05))) })
		w.ZeroGrad()
	}
	cached := w0.Clone()
	cached.AttachGrad()
	amp.Autocast(tensor.BFloat16, func() {
		for range 2 {
			step(cached, func(w *T) *T { return w })
		}
	})
	explicit := w0.Clone()
	explicit.AttachGrad()
	for range 2 {
		step(explicit, func(w *T) *T { return w.AsType(tensor.BFloat16) })
	}
	a, b, w := cached.Float64s(), explicit.Float64s(), w0.Float64s()
	moved := 0.0
	for i := range a {
		if d := math.Abs(a[i] - b[i]); d > 2e-2*(1+math.Abs(b[i])) {
			t.Fatalf("parameter %d: %v with the cast cache, %v with a cast per use", i, a[i], b[i])
		}
		moved += math.Abs(b[i] - w[i])
	}
	if moved == 0 {
		t.Fatal("the steps did not move the parameters")
	}
}
