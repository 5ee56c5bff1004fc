package nn_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

func TestDropout(t *testing.T) {
	const p = 0.3
	x := rnd(90, 40, 50)
	xv := x.Float64s()
	d := &nn.Dropout{P: p, Generator: tensor.NewGenerator(7)}
	y := d.Forward(x)
	// The mask is the same generator's uniform draw, ≥ p.
	u := tensor.RandUniform(0, 1, []int{40, 50}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(tensor.NewGenerator(7))).Float64s()
	want := make([]float64, len(xv))
	kept := 0
	for i, v := range xv {
		if u[i] >= p {
			want[i] = v / (1 - p)
			kept++
		}
	}
	near(t, "Dropout training", y, []int{40, 50}, want, 1e-15)
	// 2000 draws: the kept fraction is within 4 standard errors of 1 − p.
	if f := float64(kept) / 2000; math.Abs(f-(1-p)) > 4*math.Sqrt(p*(1-p)/2000) {
		t.Errorf("Dropout kept %v of the elements, want about %v", f, 1-p)
	}
	// The next call draws a new mask.
	if y2 := d.Forward(x).Float64s(); equalFloats(y2, y.Float64s()) {
		t.Error("two training calls drew the same mask")
	}
	// The gradient is the mask scaled by 1/(1 − p).
	g := gradOf(x, func(x *tensor.Tensor) *tensor.Tensor {
		return (&nn.Dropout{P: p, Generator: tensor.NewGenerator(7)}).Forward(x).Sum()
	})
	for i := range want {
		want[i] = 0
		if u[i] >= p {
			want[i] = 1 / (1 - p)
		}
	}
	near(t, "Dropout gradient", g, []int{40, 50}, want, 1e-15)
	checkGrad(t, "Dropout", func(xs []*tensor.Tensor) *tensor.Tensor {
		return (&nn.Dropout{P: 0.5, Generator: tensor.NewGenerator(3)}).Forward(xs[0])
	}, rnd(91, 3, 4))

	// Float32 input: a float32 mask, the same on every call with one seed.
	x32 := x.AsType(tensor.Float32)
	a := (&nn.Dropout{P: p, Generator: tensor.NewGenerator(9)}).Forward(x32)
	b := (&nn.Dropout{P: p, Generator: tensor.NewGenerator(9)}).Forward(x32)
	if a.DType() != tensor.Float32 || !equalFloats(a.Float64s(), b.Float64s()) {
		t.Errorf("Dropout float32: dtype %v, reproducible %v", a.DType(), equalFloats(a.Float64s(), b.Float64s()))
	}

	// Prediction mode and P = 0 return the input itself.
	nn.SetTraining(d, false)
	if d.Forward(x) != x {
		t.Error("Dropout in prediction mode does not return its input")
	}
	nn.SetTraining(d, true)
	if (&nn.Dropout{}).Forward(x) != x {
		t.Error("Dropout with P = 0 does not return its input")
	}
	// P = 1: zeros, and a zero gradient (x·0: Inf gives NaN, as PyTorch).
	one := &nn.Dropout{P: 1}
	near(t, "Dropout P = 1", one.Forward(f64([]float64{1, -2, math.Inf(1)})), []int{3}, []float64{0, 0, math.NaN()}, 0)
	near(t, "Dropout P = 1 gradient", gradOf(f64([]float64{1, -2}), func(x *tensor.Tensor) *tensor.Tensor { return one.Forward(x).Sum() }),
		[]int{2}, []float64{0, 0}, 0)
	for _, bad := range []float64{-0.1, 1.5, math.NaN()} {
		wantError(t, "Dropout P out of range", tensor.ErrArgument, "Dropout", func() { (&nn.Dropout{P: bad}).Forward(x) })
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGELUAndSiLU(t *testing.T) {
	x := rnd(92, 3, 5).MulScalar(2)
	xv := x.Float64s()
	exact, approx, silu := make([]float64, len(xv)), make([]float64, len(xv)), make([]float64, len(xv))
	for i, v := range xv {
		exact[i] = v / 2 * (1 + math.Erf(v/math.Sqrt2))
		approx[i] = v / 2 * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		silu[i] = v / (1 + math.Exp(-v))
	}
	near(t, "GELU", nn.GELU{}.Forward(x), []int{3, 5}, exact, 1e-14)
	near(t, "GELU approximate", nn.GELU{Approximate: true}.Forward(x), []int{3, 5}, approx, 1e-14)
	near(t, "SiLU", nn.SiLU{}.Forward(x), []int{3, 5}, silu, 1e-14)
	checkGrad(t, "GELU", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.GELU{}.Forward(xs[0]) }, rnd(93, 3, 4))
	checkGrad(t, "GELU approximate", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.GELU{Approximate: true}.Forward(xs[0]) }, rnd(94, 3, 4))
	checkGrad(t, "SiLU", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.SiLU{}.Forward(xs[0]) }, rnd(95, 3, 4))
}

// refAvgPool averages the k×k windows of x [n, c, h, w] every s positions
// with p zeros of padding, dividing by k² (count_include_pad).
func refAvgPool(x []float64, n, c, h, w, k, s, p int) (out []float64, oh, ow int) {
	oh, ow = (h+2*p-k)/s+1, (w+2*p-k)/s+1
	for img := range n * c {
		for i := range oh {
			for j := range ow {
				sum := 0.0
				for di := range k {
					for dj := range k {
						r, col := i*s+di-p, j*s+dj-p
						if r >= 0 && r < h && col >= 0 && col < w {
							sum += x[(img*h+r)*w+col]
						}
					}
				}
				out = append(out, sum/float64(k*k))
			}
		}
	}
	return out, oh, ow
}

func TestAvgPool2D(t *testing.T) {
	for _, tc := range []struct {
		n, c, h, w int
		pool       nn.AvgPool2D
		stride     int // the effective stride
	}{
		{2, 3, 4, 6, nn.AvgPool2D{Kernel: 2}, 2},
		{1, 2, 5, 5, nn.AvgPool2D{Kernel: 3, Stride: 2, Padding: 1}, 2},
		{2, 1, 6, 5, nn.AvgPool2D{Kernel: 3, Stride: 1, Padding: 1}, 1},
		{1, 1, 7, 4, nn.AvgPool2D{Kernel: 4, Stride: 3, Padding: 2}, 3},
	} {
		x := rnd(96, tc.n, tc.c, tc.h, tc.w)
		want, oh, ow := refAvgPool(x.Float64s(), tc.n, tc.c, tc.h, tc.w, tc.pool.Kernel, tc.stride, tc.pool.Padding)
		near(t, "AvgPool2D", tc.pool.Forward(x), []int{tc.n, tc.c, oh, ow}, want, 1e-14)
		pool := tc.pool
		checkGrad(t, "AvgPool2D", func(xs []*tensor.Tensor) *tensor.Tensor { return pool.Forward(xs[0]) }, x)
	}
	x := rnd(97, 1, 1, 4, 4)
	wantError(t, "AvgPool2D kernel 0", tensor.ErrArgument, "AvgPool2D", func() { nn.AvgPool2D{}.Forward(x) })
	wantError(t, "AvgPool2D negative stride", tensor.ErrArgument, "AvgPool2D", func() { nn.AvgPool2D{Kernel: 2, Stride: -1}.Forward(x) })
	wantError(t, "AvgPool2D padding > kernel/2", tensor.ErrArgument, "AvgPool2D", func() { nn.AvgPool2D{Kernel: 3, Padding: 2}.Forward(x) })
	wantError(t, "AvgPool2D 3-d input", tensor.ErrShape, "AvgPool2D", func() { nn.AvgPool2D{Kernel: 2}.Forward(rnd(1, 1, 4, 4)) })
	wantError(t, "AvgPool2D kernel larger than the input", tensor.ErrShape, "AvgPool2D", func() { nn.AvgPool2D{Kernel: 5}.Forward(x) })
	// Recorded inside a model: gradients reach the input.
	var y *tensor.Tensor
	xg := x.Clone()
	xg.AttachGrad()
	autograd.Record(func() { y = nn.AvgPool2D{Kernel: 2}.Forward(xg).Sum() })
	y.Backward()
	near(t, "AvgPool2D gradient", xg.Grad(), []int{1, 1, 4, 4}, []float64{.25, .25, .25, .25, .25, .25, .25, .25, .25, .25, .25, .25, .25, .25, .25, .25}, 0)
}
