package autograd_test

import (
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// Regressions from differential testing against PyTorch and MXNet.

// A variable listed twice in Grad gets its gradient in both slots, for
// leaves and for intermediate results.
func TestGradVariableListedTwice(t *testing.T) {
	x := f64([]float64{1, 2, 3})
	x.AttachGrad()
	var y, h *T
	autograd.Record(func() {
		h = x.MulScalar(2)
		y = h.Square().Sum()
	})
	g := autograd.Grad([]*T{y}, []*T{x, h, x, h}, autograd.RetainGraph())
	values(t, "dy/dx, first slot", g[0], 8, 16, 24)
	values(t, "dy/dh, first slot", g[1], 4, 8, 12)
	values(t, "dy/dx, second slot", g[2], 8, 16, 24)
	values(t, "dy/dh, second slot", g[3], 4, 8, 12)
}

// After Backward with CreateGraph, a reference to x.Grad() taken before
// sees the new gradient (the gradient tensor is written, not replaced),
// and the gradient can be differentiated again.
func TestCreateGraphWritesTheSameGradTensor(t *testing.T) {
	for _, req := range []tensor.GradReq{tensor.GradWrite, tensor.GradAdd} {
		x := f64([]float64{1, 2, 3})
		x.AttachGrad(req)
		g := x.Grad()
		y := record(func() *T { return x.Square().Sum() })
		autograd.Backward([]*T{y}, autograd.CreateGraph())
		values(t, req.String()+": earlier reference after the pass", g, 2, 4, 6)
		if x.Grad() != g {
			t.Errorf("%v: Grad() is another tensor after a CreateGraph pass", req)
		}
		// d/dx sum(x.Grad()²) = d/dx sum(4x²) = 8x.
		h := autograd.Grad([]*T{record(func() *T { return g.Square().Sum() })}, []*T{x})
		values(t, req.String()+": gradient of the gradient", h[0], 8, 16, 24)
		// A second CreateGraph pass: GradWrite overwrites, GradAdd adds.
		y = record(func() *T { return x.Square().Sum() })
		autograd.Backward([]*T{y}, autograd.CreateGraph())
		if req == tensor.GradAdd {
			values(t, "add: after two passes", g, 4, 8, 12)
		} else {
			values(t, "write: after two passes", g, 2, 4, 6)
		}
		// A plain pass afterwards writes values and drops the old history.
		y = record(func() *T { return x.MulScalar(5).Sum() })
		y.Backward()
		if req == tensor.GradWrite {
			values(t, "write: plain pass after CreateGraph passes", g, 5, 5, 5)
		}
	}
}

// With CreateGraph every returned gradient is differentiable again, also
// when it does not depend on the variables (zero second derivatives, as
// MXNet's test_abs, test_clip and test_radians expect).
func TestCreateGraphConstantGradients(t *testing.T) {
	cases := map[string]func(x *T) *T{
		"Abs":           func(x *T) *T { return x.Abs() },
		"MaximumScalar": func(x *T) *T { return x.MaximumScalar(0.5) },
		"MinimumScalar": func(x *T) *T { return x.MinimumScalar(0.5) },
		"MulScalar":     func(x *T) *T { return x.MulScalar(3) },
		"MaxPool2D":     func(x *T) *T { return tensor.MaxPool2D(x.Reshape(1, 1, 2, 3), 2, 1, 0) },
		"Add x":         func(x *T) *T { return x.Add(x.Detach()) },
	}
	for name, f := range cases {
		for _, head := range []string{"ones", "constant"} {
			x := f64([]float64{-1, 0.25, 2, -3, 4, 0.75})
			x.AttachGrad()
			var y *T
			autograd.Record(func() { y = f(x) })
			var opts []autograd.Option
			if head == "constant" {
				opts = append(opts, autograd.HeadGrads(tensor.Full(2, y.Shape(), tensor.WithDType(tensor.Float64))))
			}
			opts = append(opts, autograd.CreateGraph())
			var g []*T
			err := tensor.Maybe(func() {
				g = autograd.Grad([]*T{y}, []*T{x}, opts...)
				g = autograd.Grad([]*T{record(func() *T { return g[0].Sum() })}, []*T{x})
			})
			if err != nil {
				t.Errorf("%s, %s head: differentiating the gradient again: %v", name, head, err)
				continue
			}
			values(t, name+": second derivative", g[0], 0, 0, 0, 0, 0, 0)
		}
	}
}

// A custom Function's gradient, kept by the user's code, is never modified
// by the engine afterwards.
func TestFunctionGradientNotModified(t *testing.T) {
	var kept, seen []*T
	f := &autograd.Function{
		Name:    "Keep",
		Forward: func(ctx *autograd.FunctionContext, in []*T) *T { return in[0].MulScalar(1) },
		Backward: func(ctx *autograd.FunctionContext, g *T) []*T {
			seen = append(seen, g)
			r := g.MulScalar(2)
			kept = append(kept, r)
			return []*T{r}
		},
	}
	x := f64([]float64{1})
	x.AttachGrad()
	y := record(func() *T {
		a := f.Apply(x)
		return a.Add(a.MulScalar(2)).Add(f.Apply(x).MulScalar(3))
	})
	y.Backward()
	values(t, "dy/dx", x.Grad(), 12)
	if len(kept) != 2 {
		t.Fatalf("Backward ran %d times", len(kept))
	}
	for i := range kept {
		if v := kept[i].Item(); v != 2*seen[i].Item() {
			t.Errorf("call %d: the returned gradient changed to %v after the pass (the incoming one is %v)", i, v, seen[i].Item())
		}
	}
	if seen[0].Item() != 3 || seen[1].Item() != 3 {
		t.Errorf("incoming gradients %v, %v changed after the pass, want 3 and 3", seen[0].Item(), seen[1].Item())
	}
}

// Second CreateGraph passes: the attached gradient's new history must not
// loop through the gradient tensor itself (GradAdd reads the old gradient;
// a gradient penalty uses it in the differentiated function, and then the
// attached gradient becomes a new tensor, as in PyTorch).
func TestCreateGraphHistoryThroughTheGradient(t *testing.T) {
	// GradAdd: g = 2x after one pass, 4x after two; d/dx sum(g) = 4.
	x := f64([]float64{1, 2, 3})
	x.AttachGrad(tensor.GradAdd)
	g := x.Grad()
	for range 2 {
		autograd.Backward([]*T{record(func() *T { return x.Square().Sum() })}, autograd.CreateGraph())
	}
	values(t, "add: gradient after two passes", g, 4, 8, 12)
	h := autograd.Grad([]*T{record(func() *T { return x.Grad().Sum() })}, []*T{x})
	values(t, "add: d/dx sum(gradient)", h[0], 4, 4, 4)

	// A penalty that uses the gradient: z = sum(g·x) with g = 3x², so
	// dz/dx = 9x², and d/dx sum(dz/dx) = 18x.
	x = f64([]float64{1, 2, 3})
	x.AttachGrad()
	g = x.Grad()
	autograd.Backward([]*T{record(func() *T { return x.PowScalar(3).Sum() })}, autograd.CreateGraph())
	autograd.Backward([]*T{record(func() *T { return g.Mul(x).Sum() })}, autograd.CreateGraph())
	// The function used g itself, so g keeps its values and history (the
	// recorded Mul needs them) and the attached gradient is a new tensor.
	values(t, "penalty: Grad()", x.Grad(), 9, 36, 81)
	h = autograd.Grad([]*T{record(func() *T { return x.Grad().Sum() })}, []*T{x}, autograd.RetainGraph())
	values(t, "penalty: d/dx sum(dz/dx)", h[0], 18, 36, 54)
	values(t, "penalty: the earlier gradient tensor is unchanged", g, 3, 12, 27)
	h = autograd.Grad([]*T{record(func() *T { return g.Sum() })}, []*T{x})
	values(t, "penalty: d/dx sum(earlier gradient)", h[0], 6, 12, 18)
}
