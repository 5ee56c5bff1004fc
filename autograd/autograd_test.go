package autograd_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

type T = tensor.Tensor

func f64(v any) *T { return tensor.Array(v, tensor.WithDType(tensor.Float64)) }

func values(t *testing.T, what string, got *T, want ...float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil tensor", what)
	}
	v := got.Float64s()
	if len(v) != len(want) {
		t.Fatalf("%s = %v, want %v", what, v, want)
	}
	for i := range v {
		w := want[i]
		if got.DType() == tensor.Float32 {
			w = float64(float32(w))
		}
		if v[i] != w && !(math.IsNaN(v[i]) && math.IsNaN(w)) {
			t.Fatalf("%s = %v, want %v", what, v, want)
		}
	}
}

func near(t *testing.T, what string, got *T, want ...float64) {
	t.Helper()
	v := got.Float64s()
	if len(v) != len(want) {
		t.Fatalf("%s = %v, want %v", what, v, want)
	}
	for i := range v {
		if math.Abs(v[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
			t.Fatalf("%s = %v, want %v", what, v, want)
		}
	}
}

func wantErr(t *testing.T, what string, fn func(), kind error, parts ...string) {
	t.Helper()
	err := tensor.Maybe(fn)
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error %v, want %v", what, err, kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: message %q does not contain %q", what, err, p)
		}
	}
}

func record(fn func() *T) *T {
	var y *T
	autograd.Record(func() { y = fn() })
	return y
}

func TestWhatIsRecorded(t *testing.T) {
	x := f64([]float64{1, 2})
	c := f64([]float64{3, 4})
	if x.RequiresGrad() {
		t.Fatal("a new tensor requires a gradient")
	}
	x.AttachGrad()
	if !x.RequiresGrad() || x.Grad() == nil {
		t.Fatal("AttachGrad did not make the tensor require a gradient")
	}
	values(t, "fresh Grad", x.Grad(), 0, 0)

	// Outside Record nothing is recorded.
	y := x.MulScalar(2)
	if y.RequiresGrad() {
		t.Error("an operation outside Record was recorded")
	}
	wantErr(t, "Backward of an unrecorded result", func() { y.Backward() }, tensor.ErrNotRecorded, "Backward", "autograd.Record")

	autograd.Record(func() {
		if !autograd.IsRecording() {
			t.Error("IsRecording is false inside Record")
		}
		// Only operations that depend on an attached tensor are recorded.
		if c.Mul(c).RequiresGrad() {
			t.Error("an operation on constants was recorded")
		}
		if !c.Mul(x).RequiresGrad() || !x.Add(c).Exp().RequiresGrad() {
			t.Error("an operation on an attached tensor was not recorded")
		}
		for name, r := range map[string]*T{
			"GtScalar": x.GtScalar(0), "Eq": x.Eq(c), "Sign": x.Sign(), "ArgMax": x.ArgMax(0), "Detach": x.Detach(),
		} {
			if r.RequiresGrad() {
				t.Errorf("%s result requires a gradient", name)
			}
		}
		// Views of attached tensors are recorded too.
		if !x.Index(0).RequiresGrad() || !x.Reshape(2, 1).RequiresGrad() || !x.BroadcastTo(3, 2).RequiresGrad() {
			t.Error("a view of an attached tensor was not recorded")
		}
	})
	if autograd.IsRecording() {
		t.Error("recording still on after Record")
	}
}

func TestPauseAndModes(t *testing.T) {
	x := f64([]float64{1, 2})
	x.AttachGrad()
	if autograd.IsRecording() || autograd.IsTraining() {
		t.Fatal("recording or training on at the start")
	}
	var y, z, w *T
	autograd.Record(func() {
		y = x.MulScalar(2)
		autograd.Pause(func() {
			if autograd.IsRecording() || autograd.IsTraining() {
				t.Error("Pause left recording or training on")
			}
			z = x.MulScalar(3)
			autograd.Record(func() {
				if !autograd.IsRecording() {
					t.Error("Record inside Pause does not record")
				}
				w = x.MulScalar(4)
			})
			if autograd.IsRecording() {
				t.Error("recording on after a Record inside Pause")
			}
		})
		if !autograd.IsRecording() || !autograd.IsTraining() {
			t.Error("state not restored after Pause")
		}
	})
	if !y.RequiresGrad() || z.RequiresGrad() || !w.RequiresGrad() {
		t.Errorf("recorded: y %v z %v w %v, want true false true", y.RequiresGrad(), z.RequiresGrad(), w.RequiresGrad())
	}
	w.Backward()
	values(t, "gradient through the nested Record", x.Grad(), 4, 4)

	// Training mode.
	autograd.Record(func() {
		if !autograd.IsTraining() {
			t.Error("Record is not in training mode")
		}
		autograd.PredictMode(func() {
			if autograd.IsTraining() || !autograd.IsRecording() {
				t.Error("PredictMode inside Record: want recording, not training")
			}
		})
		if !autograd.IsTraining() {
			t.Error("training mode not restored after PredictMode")
		}
	})
	autograd.RecordPredict(func() {
		if autograd.IsTraining() || !autograd.IsRecording() {
			t.Error("RecordPredict: want recording, not training")
		}
		if !x.MulScalar(2).RequiresGrad() {
			t.Error("RecordPredict does not record")
		}
		autograd.TrainMode(func() {
			if !autograd.IsTraining() || !autograd.IsRecording() {
				t.Error("TrainMode inside RecordPredict: want recording and training")
			}
		})
	})
	autograd.TrainMode(func() {
		if !autograd.IsTraining() || autograd.IsRecording() {
			t.Error("TrainMode alone: want training, not recording")
		}
		if x.MulScalar(2).RequiresGrad() {
			t.Error("TrainMode records")
		}
	})

	// The state is restored when fn panics.
	for name, scope := range map[string]func(func()){
		"Record": autograd.Record, "Pause": autograd.Pause, "RecordPredict": autograd.RecordPredict,
		"TrainMode": autograd.TrainMode, "PredictMode": autograd.PredictMode,
	} {
		autograd.Record(func() {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s swallowed a panic", name)
					}
				}()
				scope(func() { panic("boom") })
			}()
			if !autograd.IsRecording() || !autograd.IsTraining() {
				t.Errorf("state not restored after a panic inside %s", name)
			}
		})
		if autograd.IsRecording() || autograd.IsTraining() {
			t.Errorf("state not restored after Record around a panicking %s", name)
		}
	}
	// A tensor error inside Record, recovered outside.
	err := tensor.Maybe(func() { autograd.Record(func() { x.Index(5) }) })
	if !errors.Is(err, tensor.ErrIndex) || autograd.IsRecording() {
		t.Errorf("after a failing Record: err %v, recording %v", err, autograd.IsRecording())
	}
}

func TestDetach(t *testing.T) {
	x := f64([]float64{1, 2, 3})
	x.AttachGrad()
	y := record(func() *T {
		d := x.Square().Detach() // a constant here
		if d.RequiresGrad() {
			t.Error("Detach result requires a gradient")
		}
		return x.Mul(d).Sum()
	})
	y.Backward()
	values(t, "gradient through Detach", x.Grad(), 1, 4, 9) // d(x·c)/dx = c = x²
}

func TestMultiPathAndBroadcast(t *testing.T) {
	x := f64([]float64{1, 2, 3})
	x.AttachGrad()
	f := func() *T {
		return x.Mul(x).Add(x.MulScalar(3)).Sum().Add(x.Index(0).MulScalar(2)).Add(x.T().Slice(0, 1, 3).Sum())
	}
	record(f).Backward()
	values(t, "multi-path gradient", x.Grad(), 7, 8, 10) // 2x + 3 + [2 0 0] + [0 1 1]

	// Bitwise identical across repeated runs.
	tensor.Seed(5)
	z := tensor.RandNormal(0, 1, []int{257}, tensor.WithDType(tensor.Float64))
	z.AttachGrad()
	g := func() *T {
		return z.Tanh().Mul(z).Add(z.Exp().Mul(z.Sin())).Sum().Mul(z.Norm()).Add(z.MatMul(z).Sqrt())
	}
	record(g).Backward()
	first := z.Grad().Float64s()
	for run := 0; run < 20; run++ {
		record(g).Backward()
		for i, v := range z.Grad().Float64s() {
			if math.Float64bits(v) != math.Float64bits(first[i]) {
				t.Fatalf("run %d: gradient element %d = %v, first run %v", run, i, v, first[i])
			}
		}
	}

	// Broadcasting sums the gradient back to each input's shape.
	a := f64([][]float64{{1}, {2}, {3}}) // [3 1]
	b := f64([]float64{1, 2, 3, 4})      // [4]
	s := f64(2.0)                        // 0-d
	for _, v := range []*T{a, b, s} {
		v.AttachGrad()
	}
	record(func() *T { return a.Add(b).Mul(s) }).Backward()
	values(t, "broadcast grad a", a.Grad(), 8, 8, 8)
	values(t, "broadcast grad b", b.Grad(), 6, 6, 6, 6)
	values(t, "broadcast grad s", s.Grad(), 3*10+4*6) // sum of a+b
	if g := a.Grad(); len(g.Shape()) != 2 || g.Shape()[1] != 1 {
		t.Errorf("grad of a [3 1] has shape %v", g.Shape())
	}
	if s.Grad().Rank() != 0 {
		t.Errorf("grad of a 0-d tensor has shape %v", s.Grad().Shape())
	}
}

func TestBackwardFreesGraph(t *testing.T) {
	x := f64([]float64{1, 2})
	x.AttachGrad()
	var y, mid *T
	autograd.Record(func() {
		mid = x.Square()
		y = mid.MulScalar(3).Sum()
	})
	y.Backward()
	values(t, "first pass", x.Grad(), 6, 12)
	wantErr(t, "second Backward", func() { y.Backward() }, tensor.ErrGraphFreed, "Backward", "RetainGraph")
	values(t, "gradient after the refused pass", x.Grad(), 6, 12)
	// A new graph through a freed intermediate is refused too.
	w := record(func() *T { return mid.Add(x).Sum() })
	wantErr(t, "Backward through a freed intermediate", func() { w.Backward() }, tensor.ErrGraphFreed, "Square")
	values(t, "gradient after the refused pass", x.Grad(), 6, 12)
	wantErr(t, "Grad through a freed graph", func() { autograd.Grad([]*T{y}, []*T{x}) }, tensor.ErrGraphFreed)

	// RetainGraph keeps it for more passes.
	y = record(func() *T { return x.Square().MulScalar(3).Sum() })
	autograd.Backward([]*T{y}, autograd.RetainGraph())
	autograd.Backward([]*T{y}, autograd.RetainGraph())
	g := autograd.Grad([]*T{y}, []*T{x}, autograd.RetainGraph())
	values(t, "Grad on a retained graph", g[0], 6, 12)
	y.Backward()
	values(t, "last pass on a retained graph", x.Grad(), 6, 12)
	wantErr(t, "after the last pass", func() { y.Backward() }, tensor.ErrGraphFreed)
}

func TestHeadGradients(t *testing.T) {
	x := f64([]float64{1, 2, 3})
	x.AttachGrad()
	y := record(func() *T { return x.Square() })
	wantErr(t, "head gradient shape", func() { y.Backward(f64([]float64{1, 2})) }, tensor.ErrShape, "head gradient shape", "[3], [2]")
	wantErr(t, "head gradient dtype", func() { y.Backward(tensor.Ones([]int{3})) }, tensor.ErrDType, "head gradient dtype")
	wantErr(t, "head gradients count", func() {
		autograd.Backward([]*T{y}, autograd.HeadGrads(nil, nil))
	}, tensor.ErrArgument, "2 head gradients for 1 heads")
	wantErr(t, "no heads", func() { autograd.Backward(nil) }, tensor.ErrArgument)
	// The refused passes left the graph usable.
	y.Backward(f64([]float64{1, 10, 100}))
	values(t, "head gradient scales", x.Grad(), 2, 40, 600)

	// Several heads, one with a head gradient and one with ones (nil).
	a := record(func() *T { return x.MulScalar(2) })
	b := record(func() *T { return x.Square().Sum() })
	autograd.Backward([]*T{a, b}, autograd.HeadGrads(f64([]float64{1, 0, -1}), nil))
	values(t, "two heads", x.Grad(), 2+2, 0+4, -2+6)
	// The same head twice counts twice.
	c := record(func() *T { return x.MulScalar(5) })
	autograd.Backward([]*T{c, c})
	values(t, "a head given twice", x.Grad(), 10, 10, 10)
	// A leaf as its own head.
	x.Backward()
	values(t, "leaf head", x.Grad(), 1, 1, 1)
}

func TestGradReq(t *testing.T) {
	w := f64([]float64{1, 2})
	a := f64([]float64{1, 2})
	w.AttachGrad() // GradWrite
	a.AttachGrad(tensor.GradAdd)
	if tensor.GradWrite.String() != "write" || tensor.GradAdd.String() != "add" {
		t.Error("GradReq names")
	}
	for pass := 1; pass <= 2; pass++ {
		record(func() *T { return w.Mul(a).MulScalar(float64(pass)) }).Backward()
		values(t, "GradWrite", w.Grad(), float64(pass)*1, float64(pass)*2)
	}
	values(t, "GradAdd after two passes", a.Grad(), 3*1, 3*2)
	a.ZeroGrad()
	values(t, "GradAdd after ZeroGrad", a.Grad(), 0, 0)
	record(func() *T { return a.Square().Sum() }).Backward()
	values(t, "GradAdd after ZeroGrad and a pass", a.Grad(), 2, 4)
	w.ZeroGrad()
	values(t, "GradWrite after ZeroGrad", w.Grad(), 0, 0)
	f64([]float64{1}).ZeroGrad() // no gradient attached: nothing to do

	// A leaf reachable from the head that receives no gradient: zeros with
	// GradWrite, unchanged with GradAdd.
	c := f64([]float64{1, 0})
	ca := f64([]float64{1, 0})
	c.AttachGrad()
	ca.AttachGrad(tensor.GradAdd)
	record(func() *T { return c.Add(ca).MulScalar(5).Sum() }).Backward()
	values(t, "setup", c.Grad(), 5, 5)
	record(func() *T {
		// The condition depends on c and ca but Where sends them nothing.
		return tensor.Where(c.Add(ca), w, w.Neg()).Sum()
	}).Backward()
	values(t, "GradWrite leaf without gradient", c.Grad(), 0, 0)
	values(t, "GradAdd leaf without gradient", ca.Grad(), 5, 5)
	values(t, "the other leaf", w.Grad(), 1, -1)
}

func TestGradObjectIdentity(t *testing.T) {
	x := f64([][]float64{{1, 2}, {3, 4}})
	x.AttachGrad()
	g := x.Grad()
	record(func() *T { return x.MulScalar(2).Mul(x) }).Backward()
	if x.Grad() != g {
		t.Fatal("Grad() returned a new tensor after a pass")
	}
	values(t, "reference taken before the pass", g, 4, 8, 12, 16)
	record(func() *T { return x.Sum() }).Backward()
	if x.Grad() != g {
		t.Fatal("Grad() returned a new tensor after a second pass")
	}
	values(t, "reference after the second pass", g, 1, 1, 1, 1)
	// A view of the gradient taken before a pass sees the new values too.
	v := g.Reshape(4)
	record(func() *T { return x.Square().Sum() }).Backward()
	values(t, "view of the gradient", v, 2, 4, 6, 8)
	values(t, "gradient", x.Grad(), 2, 4, 6, 8)
	if x.Grad() != g {
		t.Fatal("Grad() changed identity")
	}
}

func TestAttachGradOnRecorded(t *testing.T) {
	x := f64([]float64{1, 2})
	x.AttachGrad()
	var y, z *T
	autograd.Record(func() {
		y = x.MulScalar(2)
		y.AttachGrad() // y becomes a leaf: cut from x
		z = y.MulScalar(3).Add(y.Square())
	})
	if !y.RequiresGrad() {
		t.Error("AttachGrad on a recorded tensor: not requiring a gradient")
	}
	z.Backward()
	values(t, "new leaf", y.Grad(), 3+2*2, 3+2*4)
	values(t, "cut-off input", x.Grad(), 0, 0)
}

func TestGradFunction(t *testing.T) {
	x := f64([]float64{1, 2, 3})
	u := f64([]float64{7, 7}) // attached, unused
	x.AttachGrad()
	u.AttachGrad()
	record(func() *T { return x.MulScalar(10).Add(u.Sum()) }).Backward()
	values(t, "setup", x.Grad(), 10, 10, 10)
	values(t, "setup", u.Grad(), 3, 3)

	var mid, other, y *T
	autograd.Record(func() {
		mid = x.Square()                    // intermediate on the path
		other = x.Exp()                     // intermediate off the path
		y = mid.Mul(x).Sum().Add(mid.Sum()) // x³ + x²
	})
	gs := autograd.Grad([]*T{y}, []*T{x, mid, u, other}, autograd.RetainGraph())
	values(t, "dy/dx", gs[0], 3+2, 12+4, 27+6)
	values(t, "dy/dmid", gs[1], 1+1, 2+1, 3+1)
	values(t, "unused leaf", gs[2], 0, 0)
	values(t, "intermediate off the path", gs[3], 0, 0, 0)
	for i, g := range gs {
		if g.RequiresGrad() {
			t.Errorf("gradient %d requires a gradient without CreateGraph", i)
		}
	}
	// Attached gradients are untouched.
	values(t, "x.Grad untouched", x.Grad(), 10, 10, 10)
	values(t, "u.Grad untouched", u.Grad(), 3, 3)
	// Head gradients.
	gs = autograd.Grad([]*T{y}, []*T{x}, autograd.HeadGrads(f64(2.0)), autograd.RetainGraph())
	values(t, "with HeadGrads", gs[0], 10, 32, 66)
	// Several heads.
	gs = autograd.Grad([]*T{y, mid}, []*T{x}, autograd.HeadGrads(nil, f64([]float64{1, 0, 0})))
	values(t, "two heads", gs[0], 5+2, 16, 33)
	wantErr(t, "after the freeing Grad", func() { y.Backward() }, tensor.ErrGraphFreed)
	// No vars: nothing to return.
	z := record(func() *T { return x.Sum() })
	if gs := autograd.Grad([]*T{z}, nil); len(gs) != 0 {
		t.Errorf("Grad with no vars = %v", gs)
	}
	// A var that is neither attached nor recorded.
	z = record(func() *T { return x.Sum() })
	wantErr(t, "var not in any graph", func() { autograd.Grad([]*T{z}, []*T{f64(1.0)}) }, tensor.ErrNotRecorded, "Grad", "variable 0")
	// A leaf head with respect to itself.
	values(t, "d x / d x", autograd.Grad([]*T{x}, []*T{x})[0], 1, 1, 1)
}

// TestSecondDerivatives checks CreateGraph against closed forms.
func TestSecondDerivatives(t *testing.T) {
	xs := []float64{-1.5, -0.3, 0.4, 2}
	cases := []struct {
		name string
		f    func(x *T) *T
		d2   func(x float64) float64
	}{
		{"x³", func(x *T) *T { return x.PowScalar(3) }, func(x float64) float64 { return 6 * x }},
		{"x·x·x", func(x *T) *T { return x.Mul(x).Mul(x) }, func(x float64) float64 { return 6 * x }},
		{"tanh", (*T).Tanh, func(x float64) float64 { th := math.Tanh(x); return -2 * th * (1 - th*th) }},
		{"sigmoid", (*T).Sigmoid, func(x float64) float64 { s := 1 / (1 + math.Exp(-x)); return s * (1 - s) * (1 - 2*s) }},
		{"exp", (*T).Exp, math.Exp},
		{"sin", (*T).Sin, func(x float64) float64 { return -math.Sin(x) }},
		{"1/x", (*T).Recip, func(x float64) float64 { return 2 / (x * x * x) }},
		{"relu", (*T).ReLU, func(float64) float64 { return 0 }},
		{"x·|x|", func(x *T) *T { return x.Mul(x.Abs()) }, func(x float64) float64 { return 2 * math.Copysign(1, x) }},
	}
	for _, c := range cases {
		for _, inside := range []bool{true, false} {
			x := f64(xs)
			x.AttachGrad()
			var y *T
			var g []*T
			autograd.Record(func() {
				y = c.f(x).Sum()
				if inside {
					g = autograd.Grad([]*T{y}, []*T{x}, autograd.CreateGraph())
				}
			})
			if !inside {
				// CreateGraph records the backward pass even outside Record.
				g = autograd.Grad([]*T{y}, []*T{x}, autograd.CreateGraph())
			}
			if !g[0].RequiresGrad() {
				t.Fatalf("%s: first derivative not recorded (CreateGraph, inside Record %v)", c.name, inside)
			}
			h := autograd.Grad([]*T{g[0]}, []*T{x})
			want := make([]float64, len(xs))
			for i, v := range xs {
				want[i] = c.d2(v)
			}
			for i, v := range h[0].Float64s() {
				if math.Abs(v-want[i]) > 1e-12*(1+math.Abs(want[i])) {
					t.Fatalf("%s (inside Record %v): second derivative %v, want %v", c.name, inside, h[0].Float64s(), want)
				}
			}
		}
	}
	// Third derivative of x⁴ is 24x, through two CreateGraph passes.
	x := f64([]float64{0.5, -2})
	x.AttachGrad()
	y := record(func() *T { return x.PowScalar(4).Sum() })
	g1 := autograd.Grad([]*T{y}, []*T{x}, autograd.CreateGraph())
	g2 := autograd.Grad([]*T{g1[0]}, []*T{x}, autograd.CreateGraph())
	g3 := autograd.Grad([]*T{g2[0]}, []*T{x})
	near(t, "d/dx x⁴", g1[0], 4*0.125, 4*-8)
	near(t, "d²/dx² x⁴", g2[0], 12*0.25, 12*4)
	near(t, "d³/dx³ x⁴", g3[0], 24*0.5, 24*-2)
	// Mixed partials: d²(x·y)/dxdy = 1.
	a, b := f64(3.0), f64(-2.0)
	a.AttachGrad()
	b.AttachGrad()
	p := record(func() *T { return a.Mul(b).Mul(a) }) // a²b
	ga := autograd.Grad([]*T{p}, []*T{a}, autograd.CreateGraph())
	gab := autograd.Grad([]*T{ga[0]}, []*T{a, b})
	values(t, "d²(a²b)/da²", gab[0], 2*-2)
	values(t, "d²(a²b)/dadb", gab[1], 2*3)
}

// TestCreateGraphBackward: Backward with CreateGraph writes a recorded
// gradient that can be differentiated; later passes write correct values
// and never write through a head gradient or a broadcast view
// (regressions).
func TestCreateGraphBackward(t *testing.T) {
	x := f64([]float64{1, 2, 3})
	x.AttachGrad()
	autograd.Record(func() {
		autograd.Backward([]*T{x.PowScalar(3).Sum()}, autograd.CreateGraph())
	})
	g := x.Grad()
	values(t, "first derivative", g, 3, 12, 27)
	if !g.RequiresGrad() {
		t.Fatal("gradient written with CreateGraph is not recorded")
	}
	values(t, "second derivative", autograd.Grad([]*T{g}, []*T{x})[0], 6, 12, 18)

	// The gradient of a Sum is a broadcast of one value; a later plain
	// pass must still write every element.
	a := f64([][]float64{{1, 2}, {3, 4}})
	a.AttachGrad()
	autograd.Record(func() { autograd.Backward([]*T{a.Sum()}, autograd.CreateGraph()) })
	values(t, "gradient of Sum", a.Grad(), 1, 1, 1, 1)
	record(func() *T { return a.Mul(a).Sum() }).Backward()
	values(t, "plain pass after a CreateGraph pass", a.Grad(), 2, 4, 6, 8)
	a.ZeroGrad()
	values(t, "ZeroGrad after that", a.Grad(), 0, 0, 0, 0)

	// With a head gradient that becomes the leaf's gradient as it is.
	hg := f64([][]float64{{5, 6}, {7, 8}})
	b := f64([][]float64{{1, 2}, {3, 4}})
	b.AttachGrad()
	autograd.Record(func() {
		autograd.Backward([]*T{b.AddScalar(1)}, autograd.CreateGraph(), autograd.HeadGrads(hg))
	})
	values(t, "gradient from a head gradient", b.Grad(), 5, 6, 7, 8)
	b.ZeroGrad()
	values(t, "head gradient after ZeroGrad of the leaf", hg, 5, 6, 7, 8)
	record(func() *T { return b.MulScalar(3) }).Backward()
	values(t, "head gradient after a later pass", hg, 5, 6, 7, 8)
	values(t, "leaf after a later pass", b.Grad(), 3, 3, 3, 3)

	// GradAdd accumulates across CreateGraph passes.
	c := f64([]float64{2})
	c.AttachGrad(tensor.GradAdd)
	for i := 0; i < 2; i++ {
		autograd.Record(func() { autograd.Backward([]*T{c.Square()}, autograd.CreateGraph()) })
	}
	values(t, "GradAdd with CreateGraph", c.Grad(), 8)
}

// TestWalkThrough is the seed's walk-through (examples/autograd).
func TestWalkThrough(t *testing.T) {
	x := tensor.Array([][]float32{{1, 2}, {3, 4}})
	x.AttachGrad()
	var y *T
	autograd.Record(func() { y = x.MulScalar(2).Mul(x) })
	y.Backward()
	if got, want := x.Grad().String(), "[[ 4  8]\n [12 16]]"; got != want {
		t.Errorf("x.Grad() prints %q, want %q", got, want)
	}

	// f doubles a until its norm reaches 1000, then picks an element by the
	// sign of the sum.
	f := func(a *T) *T {
		b := a.MulScalar(2)
		for b.Norm().Item() < 1000 {
			b = b.MulScalar(2)
		}
		if b.Sum().Item() >= 0 {
			return b.Index(0)
		}
		return b.Index(1)
	}
	// k computed independently: the smallest k >= 1 with ‖2^k a‖ >= 1000,
	// the norm computed as the library does (float64 sum of squares,
	// rounded to float32).
	doublings := func(a0, a1 float32) int {
		k := 1
		for {
			s := math.Ldexp(1, k)
			n := float32(math.Sqrt(float64(a0)*s*float64(a0)*s + float64(a1)*s*float64(a1)*s))
			if n >= 1000 {
				return k
			}
			k++
		}
	}
	tensor.Seed(1)
	inputs := []*T{
		tensor.RandUniform(0, 1, []int{2}),
		tensor.RandUniform(0, 1, []int{2}),
		tensor.Array([]float32{0.001, 0.002}),
		tensor.Array([]float32{-0.3, 0.2}),   // negative sum: element 1
		tensor.Array([]float32{0.25, -0.75}), // negative sum
		tensor.Array([]float32{1000, -1}),    // one doubling
	}
	for _, a := range inputs {
		a.AttachGrad()
		var c *T
		autograd.Record(func() { c = f(a) })
		c.Backward()
		av := a.Float32s()
		k := doublings(av[0], av[1])
		pick := 0
		if av[0]+av[1] < 0 {
			pick = 1
		}
		want := []float64{0, 0}
		want[pick] = math.Ldexp(1, k)
		values(t, "a.Grad()", a.Grad(), want...)
		// c / a = [2^k, c/a1] (or the mirror).
		cv := float32(math.Ldexp(float64(av[pick]), k))
		ratio := []float64{float64(cv / av[0]), float64(cv / av[1])}
		ratio[pick] = math.Ldexp(1, k)
		values(t, "c.Div(a)", c.Div(a), ratio...)
		if c.Rank() != 0 {
			t.Errorf("c has shape %v", c.Shape())
		}
	}
}

func TestCheckGrad(t *testing.T) {
	x := f64([]float64{0.3, -0.7, 1.1})
	y := f64([]float64{0.5, 0.2, -0.4})
	ok := func(xs []*T) *T { return xs[0].Mul(xs[1].Exp()).Sin() }
	if err := autograd.CheckGrad(ok, []*T{x, y}, autograd.CheckOptions{}); err != nil {
		t.Errorf("CheckGrad of a correct function: %v", err)
	}
	if err := autograd.CheckGrad(ok, []*T{x, y}, autograd.CheckOptions{Eps: 1e-4, ATol: 1e-5, RTol: 1e-3, Seed: 9}); err != nil {
		t.Errorf("CheckGrad with options: %v", err)
	}
	// A function whose recorded gradient is wrong (a detached path) fails,
	// and the error names the input.
	for i, bad := range []func(xs []*T) *T{
		func(xs []*T) *T { return xs[0].Mul(xs[0].Detach()).Add(xs[1]) },
		func(xs []*T) *T { return xs[1].Square().Detach().Mul(xs[1]).Add(xs[0]) },
	} {
		err := autograd.CheckGrad(bad, []*T{x, y}, autograd.CheckOptions{})
		if !errors.Is(err, autograd.ErrGradCheck) || !strings.Contains(err.Error(), "input "+string(rune('0'+i))) {
			t.Errorf("CheckGrad of wrong gradient %d: %v", i, err)
		}
	}
	if err := autograd.CheckGrad(ok, []*T{tensor.Ones([]int{3}), y}, autograd.CheckOptions{}); !errors.Is(err, autograd.ErrGradCheck) || !strings.Contains(err.Error(), "float64") {
		t.Errorf("CheckGrad of float32 input: %v", err)
	}
	// A constant function has a zero gradient, which finite differences
	// confirm; a function computed off the graph from its inputs does not.
	constant := func(xs []*T) *T { return f64([]float64{1, 2}) }
	if err := autograd.CheckGrad(constant, []*T{x}, autograd.CheckOptions{}); err != nil {
		t.Errorf("CheckGrad of a constant function: %v", err)
	}
	offGraph := func(xs []*T) *T { return xs[0].Detach().Square() }
	if err := autograd.CheckGrad(offGraph, []*T{x}, autograd.CheckOptions{}); !errors.Is(err, autograd.ErrGradCheck) {
		t.Errorf("CheckGrad of a function computed off the graph: %v", err)
	}
	// The inputs are not modified.
	values(t, "x after CheckGrad", x, 0.3, -0.7, 1.1)
	if x.RequiresGrad() {
		t.Error("CheckGrad attached a gradient to its input")
	}
}

// TestSecondOrderGradCheck checks Hessian-vector products: CheckGrad of
// x ↦ ∇h(x) for many h, which differentiates every backward rule again.
func TestSecondOrderGradCheck(t *testing.T) {
	grad := func(h func(x *T) *T) func(xs []*T) *T {
		return func(xs []*T) *T {
			x := xs[0]
			if !x.RequiresGrad() { // the finite-difference evaluations
				x.AttachGrad()
			}
			var g *T
			autograd.Record(func() {
				g = autograd.Grad([]*T{h(x)}, []*T{x}, autograd.CreateGraph())[0]
			})
			return g
		}
	}
	tensor.Seed(77)
	rnd := func(shape ...int) *T { return tensor.RandUniform(-1, 1, shape, tensor.WithDType(tensor.Float64)) }
	pos := func(shape ...int) *T { return tensor.RandUniform(0.5, 2, shape, tensor.WithDType(tensor.Float64)) }
	w := rnd(4, 3)
	cases := []struct {
		name string
		h    func(x *T) *T
		x    *T
	}{
		{"cube", func(x *T) *T { return x.PowScalar(3).Sum() }, rnd(2, 3)},
		{"tanh", func(x *T) *T { return x.Tanh().Square().Sum() }, rnd(5)},
		{"sigmoid", func(x *T) *T { return x.Sigmoid().Mul(x).Sum() }, rnd(5)},
		{"exp-log", func(x *T) *T { return x.Exp().Add(x.Log()).Sum() }, pos(4)},
		{"sqrt-recip", func(x *T) *T { return x.Sqrt().Mul(x.Recip()).Sum() }, pos(4)},
		{"div-pow", func(x *T) *T { return x.Div(x.AddScalar(1)).Pow(x).Sum() }, pos(4)},
		{"sin-cos", func(x *T) *T { return x.Sin().Mul(x.Cos()).Sum() }, rnd(4)},
		{"matmul", func(x *T) *T { return x.MatMul(w).Tanh().Sum() }, rnd(2, 4)},
		{"norm", func(x *T) *T { return x.Norm(1).Sum() }, rnd(3, 4)},
		{"softmax", func(x *T) *T { e := x.Exp(); return e.Div(e.SumKeepDims(-1)).Square().Sum() }, rnd(2, 3)},
		{"max", func(x *T) *T { return x.Max(0).Square().Sum() }, rnd(3, 4)},
		{"broadcast", func(x *T) *T { return x.Add(x.T()).Square().Mean() }, rnd(3, 3)},
		{"broadcastTo-sumTo", func(x *T) *T { return x.BroadcastTo(2, 3).Mul(w.Slice(0, 0, 2)).Square().Sum() }, rnd(3)},
		{"index-slice", func(x *T) *T { return x.Index(1).Mul(x.Slice(0, 0, 1).Squeeze(0)).Exp().Sum() }, rnd(3, 2)},
		{"concat-stack", func(x *T) *T {
			return tensor.Concat([]*T{x, x.Square()}, 0).Mul(tensor.Stack([]*T{x, x}, 0).Reshape(4, 2)).Sum()
		}, rnd(2, 2)},
		{"where", func(x *T) *T { return tensor.Where(x.Detach().GtScalar(0), x.Square(), x.Exp()).Sum() }, rnd(6)},
		{"maximum", func(x *T) *T { return x.Maximum(x.Sin()).Square().Sum() }, rnd(5)},
		{"relu-abs", func(x *T) *T { return x.ReLU().Mul(x).Add(x.Abs().Mul(x.Square())).Sum() }, rnd(5)},
		{"astype", func(x *T) *T { return x.AsType(tensor.Float64).Square().Sum() }, rnd(3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := autograd.CheckGrad(grad(c.h), []*T{c.x}, autograd.CheckOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
