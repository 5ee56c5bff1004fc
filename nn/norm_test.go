package nn_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// refNorm normalises x, viewed as rows of length k, row by row: LayerNorm
// (centre) or RMSNorm (no centring, no bias), then scales by w and adds b
// (each of length k, nil for none).
func refNorm(x []float64, k int, eps float64, centre bool, w, b []float64) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/k; r++ {
		row := x[r*k : (r+1)*k]
		mu := 0.0
		if centre {
			for _, v := range row {
				mu += v
			}
			mu /= float64(k)
		}
		ss := 0.0
		for _, v := range row {
			ss += (v - mu) * (v - mu)
		}
		inv := 1 / math.Sqrt(ss/float64(k)+eps)
		for i, v := range row {
			y := (v - mu) * inv
			if w != nil {
				y *= w[i]
			}
			if b != nil {
				y += b[i]
			}
			out[r*k+i] = y
		}
	}
	return out
}

func TestLayerNorm(t *testing.T) {
	x, w, b := rnd(20, 2, 3, 4, 5), rnd(21, 4, 5), rnd(22, 4, 5)
	ln := &nn.LayerNorm{NormalizedShape: []int{4, 5}, Eps: 1e-5, Weight: w, Bias: b}
	near(t, "LayerNorm [4 5]", ln.Forward(x), []int{2, 3, 4, 5}, refNorm(x.Float64s(), 20, 1e-5, true, w.Float64s(), b.Float64s()), 1e-12)
	ln1 := &nn.LayerNorm{NormalizedShape: []int{5}, Eps: 0.1}
	near(t, "LayerNorm [5], no affine", ln1.Forward(x), []int{2, 3, 4, 5}, refNorm(x.Float64s(), 5, 0.1, true, nil, nil), 1e-12)

	nl := nn.NewLayerNorm([]int{5}, tensor.WithDType(tensor.Float64))
	if nl.Eps != 1e-5 || !nl.Weight.RequiresGrad() || !nl.Bias.RequiresGrad() {
		t.Errorf("NewLayerNorm: eps %v, gradients %v %v", nl.Eps, nl.Weight.RequiresGrad(), nl.Bias.RequiresGrad())
	}
	near(t, "NewLayerNorm weight", nl.Weight, []int{5}, []float64{1, 1, 1, 1, 1}, 0)
	near(t, "NewLayerNorm", nl.Forward(x), []int{2, 3, 4, 5}, refNorm(x.Float64s(), 5, 1e-5, true, nil, nil), 1e-12)
	if got := names(nl.NamedParameters()); got != "weight bias" {
		t.Errorf("LayerNorm names %q", got)
	}

	lnf := func(xs []*tensor.Tensor) *tensor.Tensor {
		return (&nn.LayerNorm{NormalizedShape: []int{4}, Eps: 1e-5, Weight: xs[1], Bias: xs[2]}).Forward(xs[0])
	}
	checkGrad(t, "LayerNorm", lnf, rnd(23, 3, 4), rnd(24, 4), rnd(25, 4))
	// Second order: the gradient in x of sum(LayerNorm(x)·R), differentiated again.
	r := rnd(26, 3, 4)
	checkGrad2(t, "LayerNorm", func(xs []*tensor.Tensor) *tensor.Tensor { return lnf(xs).Mul(r).Sum() },
		rnd(23, 3, 4), rnd(24, 4), rnd(25, 4))

	wantError(t, "LayerNorm wrong trailing axes", tensor.ErrShape, "LayerNorm", func() { ln.Forward(rnd(1, 2, 5, 4)) })
	wantError(t, "LayerNorm rank too small", tensor.ErrShape, "LayerNorm", func() { ln.Forward(rnd(1, 5)) })
	wantError(t, "LayerNorm float32 input", tensor.ErrDType, "LayerNorm", func() { ln.Forward(x.AsType(tensor.Float32)) })
}

func TestRMSNorm(t *testing.T) {
	x, w := rnd(30, 3, 6), rnd(31, 6)
	rn := &nn.RMSNorm{NormalizedShape: []int{6}, Eps: 1e-3, Weight: w}
	near(t, "RMSNorm", rn.Forward(x), []int{3, 6}, refNorm(x.Float64s(), 6, 1e-3, false, w.Float64s(), nil), 1e-12)
	rn2 := &nn.RMSNorm{NormalizedShape: []int{3, 6}}
	near(t, "RMSNorm [3 6], default eps", rn2.Forward(x), []int{3, 6}, refNorm(x.Float64s(), 18, 0x1p-52, false, nil, nil), 1e-12)
	// The default eps is the dtype's machine epsilon: visible on zeros.
	z := tensor.Full(1e-4, []int{1, 2})
	near(t, "RMSNorm float32 eps", (&nn.RMSNorm{NormalizedShape: []int{2}}).Forward(z), []int{1, 2},
		[]float64{1e-4 / math.Sqrt(1e-8+0x1p-23), 1e-4 / math.Sqrt(1e-8+0x1p-23)}, 1e-6)
	nr := nn.NewRMSNorm([]int{6}, tensor.WithDType(tensor.Float64))
	if names(nr.NamedParameters()) != "weight" || !nr.Weight.RequiresGrad() || nr.Eps != 0 {
		t.Errorf("NewRMSNorm: %q, eps %v", names(nr.NamedParameters()), nr.Eps)
	}
	f := func(xs []*tensor.Tensor) *tensor.Tensor {
		return (&nn.RMSNorm{NormalizedShape: []int{4}, Eps: 1e-5, Weight: xs[1]}).Forward(xs[0])
	}
	checkGrad(t, "RMSNorm", f, rnd(32, 3, 4), rnd(33, 4))
	r := rnd(34, 3, 4)
	checkGrad2(t, "RMSNorm", func(xs []*tensor.Tensor) *tensor.Tensor { return f(xs).Mul(r).Sum() }, rnd(32, 3, 4), rnd(33, 4))
	wantError(t, "RMSNorm wrong trailing axis", tensor.ErrShape, "RMSNorm", func() { rn.Forward(rnd(1, 6, 3)) })
}

// refBatchNorm normalises x of shape [n, c, l] per channel with the
// batch's statistics and returns the result and the batch mean and biased
// variance of each channel.
func refBatchNorm(x []float64, n, c, l int, eps float64, w, b []float64) (y, mean, biased []float64) {
	y = make([]float64, len(x))
	mean, biased = make([]float64, c), make([]float64, c)
	at := func(i, ch, j int) int { return (i*c+ch)*l + j }
	for ch := range c {
		s := 0.0
		for i := range n {
			for j := range l {
				s += x[at(i, ch, j)]
			}
		}
		mu := s / float64(n*l)
		ss := 0.0
		for i := range n {
			for j := range l {
				ss += (x[at(i, ch, j)] - mu) * (x[at(i, ch, j)] - mu)
			}
		}
		v := ss / float64(n*l)
		mean[ch], biased[ch] = mu, v
		for i := range n {
			for j := range l {
				y[at(i, ch, j)] = (x[at(i, ch, j)]-mu)/math.Sqrt(v+eps)*w[ch] + b[ch]
			}
		}
	}
	return y, mean, biased
}

func TestBatchNorm(t *testing.T) {
	f64opt := tensor.WithDType(tensor.Float64)
	for _, tc := range []struct {
		name  string
		shape []int // [N, C, ...]
		bn    func(c int) nn.Layer
	}{
		{"BatchNorm1d [N C]", []int{5, 3}, func(c int) nn.Layer { return nn.NewBatchNorm1d(c, f64opt) }},
		{"BatchNorm1d [N C L]", []int{4, 3, 5}, func(c int) nn.Layer { return nn.NewBatchNorm1d(c, f64opt) }},
		{"BatchNorm2d", []int{2, 3, 2, 3}, func(c int) nn.Layer { return nn.NewBatchNorm2d(c, f64opt) }},
	} {
		n, c := tc.shape[0], tc.shape[1]
		l := 1
		for _, d := range tc.shape[2:] {
			l *= d
		}
		m := n * l
		layer := tc.bn(c)
		ps, bs := nn.NamedParameters(layer), nn.NamedBuffers(layer)
		if names(ps) != "weight bias" || names(bs) != "running_mean running_var" {
			t.Errorf("%s: names %q and %q", tc.name, names(ps), names(bs))
		}
		w, b, rm, rv := ps[0].Tensor, ps[1].Tensor, bs[0].Tensor, bs[1].Tensor
		w.Assign(rnd(40, c))
		b.Assign(rnd(41, c))
		wv, bv := w.Float64s(), b.Float64s()

		// Training: batch statistics, and two updates of the running ones.
		wantM, wantV := make([]float64, c), make([]float64, c)
		for i := range wantV {
			wantV[i] = 1
		}
		for step := range 2 {
			x := rnd(uint64(42+step), tc.shape...).MulScalar(2).AddScalar(float64(step))
			var y *tensor.Tensor
			autograd.Record(func() { y = layer.Forward(x) }) // the update runs while recording
			wantY, mean, biased := refBatchNorm(x.Float64s(), n, c, l, 1e-5, wv, bv)
			near(t, tc.name+" training", y, tc.shape, wantY, 1e-12)
			for ch := range c {
				wantM[ch] = 0.9*wantM[ch] + 0.1*mean[ch]
				wantV[ch] = 0.9*wantV[ch] + 0.1*biased[ch]*float64(m)/float64(m-1)
			}
			near(t, tc.name+" running mean", rm, []int{c}, wantM, 1e-12)
			near(t, tc.name+" running var", rv, []int{c}, wantV, 1e-12)
		}

		// Prediction: the running statistics, which no longer change.
		nn.SetTraining(layer, false)
		if layer.(nn.Modal).Training() {
			t.Errorf("%s: still training after SetTraining(false)", tc.name)
		}
		x := rnd(50, tc.shape...)
		xv, rmBefore := x.Float64s(), rm.Float64s()
		want := make([]float64, len(xv))
		for i, v := range xv {
			ch := (i / l) % c
			want[i] = (v-wantM[ch])/math.Sqrt(wantV[ch]+1e-5)*wv[ch] + bv[ch]
		}
		near(t, tc.name+" predict", layer.Forward(x), tc.shape, want, 1e-12)
		near(t, tc.name+" running mean after predict", rm, []int{c}, rmBefore, 0)
		nn.SetTraining(layer, true)
		if !layer.(nn.Modal).Training() {
			t.Errorf("%s: not training after SetTraining(true)", tc.name)
		}

		// Gradients in both modes, in the input and the parameters.
		for _, training := range []bool{true, false} {
			checkGrad(t, tc.name+" gradient", func(xs []*tensor.Tensor) *tensor.Tensor {
				bn := tc.bn(c)
				// Swap the parameters for the checked inputs.
				switch bn := bn.(type) {
				case *nn.BatchNorm1d:
					bn.Weight, bn.Bias = xs[1], xs[2]
				case *nn.BatchNorm2d:
					bn.Weight, bn.Bias = xs[1], xs[2]
				}
				nn.SetTraining(bn, training)
				return bn.Forward(xs[0])
			}, rnd(60, tc.shape...), rnd(61, c), rnd(62, c))
		}
	}

	// A graph recorded in prediction mode stays valid when a training step
	// updates the running statistics before its backward pass.
	bn := nn.NewBatchNorm2d(2, f64opt)
	x := rnd(70, 2, 2, 2, 2)
	x.AttachGrad()
	var y *tensor.Tensor
	nn.SetTraining(bn, false)
	autograd.Record(func() { y = bn.Forward(x).Sum() })
	nn.SetTraining(bn, true)
	bn.Forward(rnd(71, 2, 2, 2, 2))
	if err := tensor.Maybe(func() { y.Backward() }); err != nil {
		t.Errorf("backward after a running-statistics update: %v", err)
	}

	// Without affine parameters.
	na := nn.NewBatchNorm1d(3, f64opt)
	na.Weight, na.Bias = nil, nil
	if len(na.Params()) != 0 {
		t.Errorf("BatchNorm1d without affine has parameters %v", na.Params())
	}
	xa := rnd(72, 4, 3)
	ones, zeros := []float64{1, 1, 1}, []float64{0, 0, 0}
	wantA, _, _ := refBatchNorm(xa.Float64s(), 4, 3, 1, 1e-5, ones, zeros)
	near(t, "BatchNorm1d without affine", na.Forward(xa), []int{4, 3}, wantA, 1e-12)

	b1, b2 := nn.NewBatchNorm1d(3, f64opt), nn.NewBatchNorm2d(3, f64opt)
	wantError(t, "BatchNorm1d one value per channel", tensor.ErrShape, "BatchNorm1d", func() { b1.Forward(rnd(1, 1, 3)) })
	wantError(t, "BatchNorm1d rank 4", tensor.ErrShape, "BatchNorm1d", func() { b1.Forward(rnd(1, 2, 3, 2, 2)) })
	wantError(t, "BatchNorm2d rank 3", tensor.ErrShape, "BatchNorm2d", func() { b2.Forward(rnd(1, 2, 3, 2)) })
	wantError(t, "BatchNorm2d 4 channels", tensor.ErrShape, "BatchNorm2d", func() { b2.Forward(rnd(1, 2, 4, 2, 2)) })
	wantError(t, "BatchNorm2d float32 input", tensor.ErrDType, "BatchNorm2d", func() { b2.Forward(tensor.Ones([]int{2, 3, 2, 2})) })
	nn.SetTraining(b1, false)
	near(t, "BatchNorm1d one sample in prediction", b1.Forward(f64([][]float64{{1, 2, 3}})), []int{1, 3},
		[]float64{1 / math.Sqrt(1+1e-5), 2 / math.Sqrt(1+1e-5), 3 / math.Sqrt(1+1e-5)}, 1e-12)
}
