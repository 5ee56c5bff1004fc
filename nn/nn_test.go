package nn_test

import (
	"math"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// f64 makes a float64 tensor from nested slices.
func f64(v any) *tensor.Tensor { return tensor.Array(v, tensor.WithDType(tensor.Float64)) }

// rnd returns a float64 tensor of standard normal values from its own
// generator, so that tests do not depend on each other's draws.
func rnd(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.RandNormal(0, 1, shape, tensor.WithDType(tensor.Float64), tensor.WithGenerator(tensor.NewGenerator(seed)))
}

// near reports whether got and want agree within tol, element by element;
// a NaN matches only a NaN (a plain |got − want| > tol test let NaN pass).
func near(t *testing.T, what string, got *tensor.Tensor, wantShape []int, want []float64, tol float64) {
	t.Helper()
	if !slices.Equal(got.Shape(), wantShape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), wantShape)
		return
	}
	g := got.Float64s()
	for i := range want {
		if !(math.Abs(g[i]-want[i]) <= tol || g[i] == want[i] || math.IsNaN(g[i]) && math.IsNaN(want[i])) {
			t.Errorf("%s: %v, want %v", what, g, want)
			return
		}
	}
}

// checkGrad runs autograd.CheckGrad and reports a failure under name.
func checkGrad(t *testing.T, name string, f func(xs []*tensor.Tensor) *tensor.Tensor, xs ...*tensor.Tensor) {
	t.Helper()
	if err := autograd.CheckGrad(f, xs, autograd.CheckOptions{}); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func TestInit(t *testing.T) {
	g := tensor.NewGenerator(3)
	on := tensor.WithGenerator(g)
	for _, tc := range []struct {
		name  string
		x     *tensor.Tensor
		bound float64 // |x| <= bound (uniform) or 0
		std   float64 // the expected standard deviation
	}{
		{"GlorotUniform", nn.GlorotUniform(100, 200, []int{100, 200}, on), math.Sqrt(6.0 / 300), math.Sqrt(6.0/300) / math.Sqrt(3)},
		{"HeUniform", nn.HeUniform(50, []int{50, 400}, on), math.Sqrt(6.0 / 50), math.Sqrt(6.0/50) / math.Sqrt(3)},
		{"HeNormal", nn.HeNormal(50, []int{50, 400}, on), 0, math.Sqrt(2.0 / 50)},
	} {
		if s := tc.x.Shape(); len(s) != 2 || s[0]*s[1] != 20000 {
			t.Errorf("%s: shape %v", tc.name, s)
		}
		var sum, sq float64
		vals := tc.x.Float64s()
		for _, v := range vals {
			if tc.bound > 0 && math.Abs(v) > tc.bound {
				t.Fatalf("%s: %v outside ±%v", tc.name, v, tc.bound)
			}
			sum += v
			sq += v * v
		}
		n := float64(len(vals))
		mean := sum / n
		std := math.Sqrt(sq/n - mean*mean)
		// 20000 draws: the sample mean is within 4 standard errors of 0 and
		// the sample deviation within 3 % of the expected one.
		if math.Abs(mean) > 4*tc.std/math.Sqrt(n) || math.Abs(std/tc.std-1) > 0.03 {
			t.Errorf("%s: mean %.4g, std %.4g; want 0 and %.4g", tc.name, mean, std, tc.std)
		}
	}
}

func TestDense(t *testing.T) {
	d := &nn.Dense{W: f64([][]float64{{1, 2}, {3, 4}, {5, 6}}), B: f64([]float64{0.5, -1})}
	x := f64([][]float64{{1, 0, -1}, {2, 1, 0}})
	// Rows of x·W + B: [1−5, 2−6] + B and [2+3, 4+4] + B.
	near(t, "Dense.Forward", d.Forward(x), []int{2, 2}, []float64{-3.5, -5, 5.5, 7}, 0)
	if ps := d.Params(); len(ps) != 2 || ps[0] != d.W || ps[1] != d.B {
		t.Errorf("Params() = %v, want [W B]", ps)
	}

	nd := nn.NewDense(3, 4)
	if !slices.Equal(nd.W.Shape(), []int{3, 4}) || !slices.Equal(nd.B.Shape(), []int{4}) {
		t.Errorf("NewDense(3, 4): W %v, B %v", nd.W.Shape(), nd.B.Shape())
	}
	if !nd.W.RequiresGrad() || !nd.B.RequiresGrad() {
		t.Error("NewDense: gradients not attached")
	}
	near(t, "NewDense bias", nd.B, []int{4}, []float64{0, 0, 0, 0}, 0)
	for _, v := range nd.W.Float64s() {
		if math.Abs(v) > math.Sqrt(6.0/3)+1e-6 {
			t.Errorf("NewDense(3, 4): weight %v outside the He-uniform bound", v)
		}
	}
	if s := nd.Forward(tensor.Ones([]int{5, 3})).Shape(); !slices.Equal(s, []int{5, 4}) {
		t.Errorf("NewDense(3, 4) on [5, 3]: shape %v", s)
	}
	if nd64 := nn.NewDense(3, 4, tensor.WithDType(tensor.Float64)); nd64.W.DType() != tensor.Float64 || nd64.B.DType() != tensor.Float64 {
		t.Errorf("NewDense with WithDType(Float64): %v, %v", nd64.W.DType(), nd64.B.DType())
	}

	checkGrad(t, "Dense", func(xs []*tensor.Tensor) *tensor.Tensor {
		return (&nn.Dense{W: xs[1], B: xs[2]}).Forward(xs[0])
	}, rnd(1, 4, 3), rnd(2, 3, 5), rnd(3, 5))
}

func TestConv2D(t *testing.T) {
	x := f64([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9}).Reshape(1, 1, 3, 3)
	c := &nn.Conv2D{W: f64([]float64{1, 0, 0, -1}).Reshape(1, 1, 2, 2), B: f64([]float64{1})}
	// Each output is x[i][j] − x[i+1][j+1] + 1 = −4 + 1.
	c.Stride, c.Padding = 1, 0
	near(t, "Conv2D stride 1", c.Forward(x), []int{1, 1, 2, 2}, []float64{-3, -3, -3, -3}, 0)
	// Stride 2, padding 1: the windows are rows and columns {-1,0} and
	// {1,2}; padding is zero: 0−1+1, 0−3+1, 0−7+1, 5−9+1.
	c.Stride, c.Padding = 2, 1
	near(t, "Conv2D stride 2 padding 1", c.Forward(x), []int{1, 1, 2, 2}, []float64{0, -2, -6, -3}, 0)
	if ps := c.Params(); len(ps) != 2 || ps[0] != c.W || ps[1] != c.B {
		t.Errorf("Params() = %v, want [W B]", ps)
	}

	nc := nn.NewConv2D(3, 8, 5, 1, 2)
	if !slices.Equal(nc.W.Shape(), []int{8, 3, 5, 5}) || !slices.Equal(nc.B.Shape(), []int{8}) || !nc.W.RequiresGrad() || !nc.B.RequiresGrad() {
		t.Errorf("NewConv2D(3, 8, 5, 1, 2): W %v, B %v", nc.W.Shape(), nc.B.Shape())
	}
	if s := nc.Forward(tensor.Zeros([]int{2, 3, 28, 28})).Shape(); !slices.Equal(s, []int{2, 8, 28, 28}) {
		t.Errorf("NewConv2D(3, 8, 5, 1, 2) on [2, 3, 28, 28]: shape %v", s)
	}

	checkGrad(t, "Conv2D", func(xs []*tensor.Tensor) *tensor.Tensor {
		return (&nn.Conv2D{W: xs[1], B: xs[2], Stride: 2, Padding: 1}).Forward(xs[0])
	}, rnd(4, 2, 3, 5, 5), rnd(5, 4, 3, 3, 3), rnd(6, 4))
}

func TestMaxPool2D(t *testing.T) {
	x := tensor.Arange(0, 16, 1, tensor.WithDType(tensor.Float64)).Reshape(1, 1, 4, 4)
	p := nn.MaxPool2D{Kernel: 2, Stride: 2}
	near(t, "MaxPool2D", p.Forward(x), []int{1, 1, 2, 2}, []float64{5, 7, 13, 15}, 0)
	if p.Params() != nil {
		t.Error("MaxPool2D has parameters")
	}
	// Random values: no ties, so the maximum is differentiable.
	checkGrad(t, "MaxPool2D", func(xs []*tensor.Tensor) *tensor.Tensor {
		return nn.MaxPool2D{Kernel: 3, Stride: 2, Padding: 1}.Forward(xs[0])
	}, rnd(7, 2, 2, 5, 5))
}

func TestActivationsAndFlatten(t *testing.T) {
	x := f64([][]float64{{-2, -0.5, 0.5, 3}})
	near(t, "ReLU", nn.ReLU{}.Forward(x), []int{1, 4}, []float64{0, 0, 0.5, 3}, 0)
	near(t, "Tanh", nn.Tanh{}.Forward(x), []int{1, 4}, []float64{math.Tanh(-2), math.Tanh(-0.5), math.Tanh(0.5), math.Tanh(3)}, 1e-15)
	y := tensor.Arange(0, 24, 1, tensor.WithDType(tensor.Float64)).Reshape(2, 3, 4)
	want := make([]float64, 24)
	for i := range want {
		want[i] = float64(i)
	}
	near(t, "Flatten", nn.Flatten{}.Forward(y), []int{2, 12}, want, 0)
	for _, l := range []nn.Layer{nn.ReLU{}, nn.Tanh{}, nn.Flatten{}} {
		if l.Params() != nil {
			t.Errorf("%T has parameters", l)
		}
	}

	// ReLU's kink at 0 is avoided: no input is within 1e-3 of 0.
	r := rnd(8, 3, 4)
	for _, v := range r.Float64s() {
		if math.Abs(v) < 1e-3 {
			t.Fatalf("input %v too close to ReLU's kink", v)
		}
	}
	checkGrad(t, "ReLU", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.ReLU{}.Forward(xs[0]) }, r)
	checkGrad(t, "Tanh", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.Tanh{}.Forward(xs[0]) }, rnd(9, 3, 4))
	checkGrad(t, "Flatten", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.Flatten{}.Forward(xs[0]) }, rnd(10, 2, 3, 2))
}

func TestSequential(t *testing.T) {
	d1 := &nn.Dense{W: f64([][]float64{{1, -1}, {2, 0}}), B: f64([]float64{0, 1})}
	d2 := &nn.Dense{W: f64([][]float64{{1}, {-1}}), B: f64([]float64{0.5})}
	m := nn.Sequential{d1, nn.ReLU{}, d2}
	x := f64([][]float64{{1, 1}, {-1, 2}, {1, -1}})
	// d1: [3, 0], [3, 2], [-1, 0]; ReLU: [3, 0], [3, 2], [0, 0]; d2: 3+0.5, 1+0.5, 0.5.
	near(t, "Sequential.Forward", m.Forward(x), []int{3, 1}, []float64{3.5, 1.5, 0.5}, 0)
	ps := m.Params()
	if len(ps) != 4 || ps[0] != d1.W || ps[1] != d1.B || ps[2] != d2.W || ps[3] != d2.B {
		t.Errorf("Params() = %v, want d1.W, d1.B, d2.W, d2.B", ps)
	}
	if out := (nn.Sequential{}).Forward(x); out != x {
		t.Error("an empty Sequential does not return its input")
	}

	// The gradient of a small MLP's loss with respect to every parameter.
	labels := f64([]float64{0, 2, 1, 2})
	checkGrad(t, "Sequential MLP + CrossEntropy", func(xs []*tensor.Tensor) *tensor.Tensor {
		m := nn.Sequential{&nn.Dense{W: xs[1], B: xs[2]}, nn.Tanh{}, &nn.Dense{W: xs[3], B: xs[4]}}
		return nn.CrossEntropy(m.Forward(xs[0]), labels)
	}, rnd(11, 4, 3), rnd(12, 3, 5), rnd(13, 5), rnd(14, 5, 3), rnd(15, 3))
}

func TestCrossEntropy(t *testing.T) {
	// Row 0: softmax [1/2, 1/2], label 0: ln 2. Row 1: softmax [3/4, 1/4],
	// label 1: ln 4. The mean is 1.5 ln 2.
	logits := f64([][]float64{{0, 0}, {math.Log(3), 0}})
	labels := f64([]float64{0, 1})
	near(t, "CrossEntropy", nn.CrossEntropy(logits, labels), []int{}, []float64{1.5 * math.Ln2}, 1e-12)
	checkGrad(t, "CrossEntropy", func(xs []*tensor.Tensor) *tensor.Tensor {
		return nn.CrossEntropy(xs[0], f64([]float64{3, 0, 1}))
	}, rnd(16, 3, 4))
}

func TestAccuracy(t *testing.T) {
	logits := tensor.Array([][]float32{{1, 2}, {3, 0}, {0, 1}})
	if got := nn.Accuracy(logits, tensor.Array([]float32{1, 0, 0})); math.Abs(got-2.0/3) > 1e-12 {
		t.Errorf("Accuracy = %v, want 2/3", got)
	}
	if got := nn.Accuracy(logits, tensor.Array([]float32{1, 0, 1})); got != 1 {
		t.Errorf("Accuracy = %v, want 1", got)
	}
	if got := nn.Accuracy(tensor.Zeros([]int{0, 3}), tensor.Zeros([]int{0})); !math.IsNaN(got) {
		t.Errorf("Accuracy of no rows = %v, want NaN", got)
	}
}
