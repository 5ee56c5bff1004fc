package nn_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// wantError checks that fn panics with a *tensor.Error of the given kind
// whose Op is op.
func wantError(t *testing.T, what string, kind error, op string, fn func()) {
	t.Helper()
	err := tensor.Maybe(fn)
	var te *tensor.Error
	if !errors.Is(err, kind) || !errors.As(err, &te) || te.Op != op {
		t.Errorf("%s: error %v, want %v from %s", what, err, kind, op)
	}
}

// checkGrad2 checks second derivatives: the gradient of loss with respect
// to its first input, recorded with CreateGraph, is differentiated again
// with respect to every input and compared with finite differences.
func checkGrad2(t *testing.T, name string, loss func(xs []*tensor.Tensor) *tensor.Tensor, xs ...*tensor.Tensor) {
	t.Helper()
	checkGrad(t, name+" (second order)", func(xs []*tensor.Tensor) *tensor.Tensor {
		return autograd.Grad([]*tensor.Tensor{loss(xs)}, xs[:1], autograd.CreateGraph())[0]
	}, xs...)
}

// gradOf returns the gradient of loss(x) with respect to x.
func gradOf(x *tensor.Tensor, loss func(x *tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	x = x.Clone()
	x.AttachGrad()
	var l *tensor.Tensor
	autograd.Record(func() { l = loss(x) })
	l.Backward()
	return x.Grad()
}

// awayFrom fails the test if any element of x is within 1e-3 of one of the
// kinks, so that finite differences do not straddle one.
func awayFrom(t *testing.T, x *tensor.Tensor, kinks ...float64) {
	t.Helper()
	for _, v := range x.Float64s() {
		for _, k := range kinks {
			if math.Abs(v-k) < 1e-3 {
				t.Fatalf("input %v within 1e-3 of the kink at %v", v, k)
			}
		}
	}
}

func TestElementwiseLossValues(t *testing.T) {
	pred := f64([][]float64{{1, 2}, {3, 4}})
	target := f64([][]float64{{0, 2}, {5, 3.5}})
	// d = pred − target = [[1, 0], [−2, 0.5]].
	// MSE: d² = 1, 0, 4, 0.25; sum 5.25, mean 1.3125.
	near(t, "MSE", nn.MSE(pred, target), []int{}, []float64{1.3125}, 0)
	near(t, "MSE sum", nn.MSE(pred, target, nn.ReduceSum), []int{}, []float64{5.25}, 0)
	near(t, "MSE none", nn.MSE(pred, target, nn.ReduceNone), []int{2, 2}, []float64{1, 0, 4, 0.25}, 0)
	near(t, "MSE mean", nn.MSE(pred, target, nn.ReduceMean), []int{}, []float64{1.3125}, 0)
	// L1: |d| = 1, 0, 2, 0.5; sum 3.5, mean 0.875.
	near(t, "L1", nn.L1(pred, target), []int{}, []float64{0.875}, 0)
	near(t, "L1 sum", nn.L1(pred, target, nn.ReduceSum), []int{}, []float64{3.5}, 0)
	near(t, "L1 none", nn.L1(pred, target, nn.ReduceNone), []int{2, 2}, []float64{1, 0, 2, 0.5}, 0)
	// Huber, delta 1: |d| = 1 is on the boundary, where both pieces give
	// 0.5: 1·(1 − 0.5) = 0.5; 0; |d| = 2: 1·(2 − 0.5) = 1.5; |d| = 0.5:
	// 0.5·0.25 = 0.125. Sum 2.125, mean 0.53125 (PyTorch's HuberLoss gives
	// the same for these differences).
	near(t, "Huber 1", nn.Huber(pred, target, 1), []int{}, []float64{0.53125}, 0)
	near(t, "Huber 1 none", nn.Huber(pred, target, 1, nn.ReduceNone), []int{2, 2}, []float64{0.5, 0, 1.5, 0.125}, 0)
	// Delta 0.5: 0.5·(1 − 0.25) = 0.375; 0; 0.5·(2 − 0.25) = 0.875;
	// 0.5·(0.5 − 0.25) = 0.125 (= ½·0.5², the boundary again). Sum 1.375.
	near(t, "Huber 0.5 sum", nn.Huber(pred, target, 0.5, nn.ReduceSum), []int{}, []float64{1.375}, 0)
	// A large delta is the halved squared error: 5.25/2/4.
	near(t, "Huber 10", nn.Huber(pred, target, 10), []int{}, []float64{0.65625}, 0)

	// Float32 operands give float32 losses of the same values.
	p32, t32 := pred.AsType(tensor.Float32), target.AsType(tensor.Float32)
	for name, l := range map[string]*tensor.Tensor{
		"MSE": nn.MSE(p32, t32), "L1": nn.L1(p32, t32), "Huber": nn.Huber(p32, t32, 1),
	} {
		if l.DType() != tensor.Float32 {
			t.Errorf("%s of float32 operands is %v", name, l.DType())
		}
	}
	near(t, "MSE float32", nn.MSE(p32, t32), []int{}, []float64{1.3125}, 0)
	near(t, "Huber float32", nn.Huber(p32, t32, 1), []int{}, []float64{0.53125}, 0)

	// No elements: the mean is NaN, the sum 0.
	empty := tensor.Zeros([]int{0, 3}, tensor.WithDType(tensor.Float64))
	if v := nn.MSE(empty, empty).Item(); !math.IsNaN(v) {
		t.Errorf("MSE of no elements = %v, want NaN", v)
	}
	near(t, "L1 sum of no elements", nn.L1(empty, empty, nn.ReduceSum), []int{}, []float64{0}, 0)
}

func TestElementwiseLossGradients(t *testing.T) {
	// Gradients by hand, with d = pred − target and n = 3 elements:
	// MSE 2d/n, L1 sign(d)/n (0 at d = 0, as PyTorch), Huber clip(d, ±δ)/n.
	pred := f64([]float64{0.3, -3, 2})
	target := f64([]float64{0.3, 0, 0.5})
	// d = [0, −3, 1.5]
	near(t, "MSE grad", gradOf(pred, func(x *tensor.Tensor) *tensor.Tensor { return nn.MSE(x, target) }),
		[]int{3}, []float64{0, -2, 1}, 1e-15)
	near(t, "L1 grad", gradOf(pred, func(x *tensor.Tensor) *tensor.Tensor { return nn.L1(x, target) }),
		[]int{3}, []float64{0, -1.0 / 3, 1.0 / 3}, 1e-15)
	near(t, "Huber grad", gradOf(pred, func(x *tensor.Tensor) *tensor.Tensor { return nn.Huber(x, target, 2) }),
		[]int{3}, []float64{0, -2.0 / 3, 1.5 / 3}, 1e-15)
	// At |d| = δ both pieces have slope δ.
	near(t, "Huber grad at delta", gradOf(f64([]float64{1, -1}), func(x *tensor.Tensor) *tensor.Tensor {
		return nn.Huber(x, f64([]float64{0, 0}), 1, nn.ReduceSum)
	}), []int{2}, []float64{1, -1}, 0)

	// Finite differences in both operands, every reduction; the inputs
	// keep away from the kinks of L1 (d = 0) and Huber (|d| = 1).
	p, q := rnd(21, 3, 4), rnd(22, 3, 4)
	awayFrom(t, p.Sub(q), 0, 1, -1)
	for _, r := range []nn.Reduction{nn.ReduceMean, nn.ReduceSum, nn.ReduceNone} {
		checkGrad(t, "MSE "+r.String(), func(xs []*tensor.Tensor) *tensor.Tensor { return nn.MSE(xs[0], xs[1], r) }, p, q)
		checkGrad(t, "L1 "+r.String(), func(xs []*tensor.Tensor) *tensor.Tensor { return nn.L1(xs[0], xs[1], r) }, p, q)
		checkGrad(t, "Huber "+r.String(), func(xs []*tensor.Tensor) *tensor.Tensor { return nn.Huber(xs[0], xs[1], 1, r) }, p, q)
		checkGrad(t, "BCEWithLogits "+r.String(), func(xs []*tensor.Tensor) *tensor.Tensor {
			return nn.BCEWithLogits(xs[0], xs[1], r)
		}, p, q.Sigmoid())
	}
	checkGrad2(t, "MSE", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.MSE(xs[0], xs[1]) }, p, q)
	checkGrad2(t, "Huber", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.Huber(xs[0], xs[1], 1) }, p, q)
	checkGrad2(t, "BCEWithLogits", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.BCEWithLogits(xs[0], xs[1]) }, p, q.Sigmoid())

	// Huber's second derivative in pred is 1/n inside |d| < δ, 0 outside,
	// also at d = 0 (the quadratic piece is d², not |d|²).
	x := f64([]float64{0, 0.5, 3})
	x.AttachGrad()
	var g2 *tensor.Tensor
	autograd.Record(func() {
		g := autograd.Grad([]*tensor.Tensor{nn.Huber(x, f64([]float64{0, 0, 0}), 1, nn.ReduceSum)}, []*tensor.Tensor{x}, autograd.CreateGraph())[0]
		g2 = autograd.Grad([]*tensor.Tensor{g.Sum()}, []*tensor.Tensor{x})[0]
	})
	near(t, "Huber second derivative", g2, []int{3}, []float64{1, 1, 0}, 0)
}

func TestBCEWithLogits(t *testing.T) {
	logits := f64([]float64{0, 2, -3, 100, -100, 1})
	target := f64([]float64{1, 0, 1, 0, 1, 0.25})
	// max(x, 0) − x·t + log1p(e^−|x|), by hand:
	//   x = 0, t = 1:      log 2                      = 0.6931471805599453
	//   x = 2, t = 0:      2 + log1p(e^−2)            = 2.1269280110429727
	//   x = −3, t = 1:     3 + log1p(e^−3)            = 3.048587351573742
	//   x = 100, t = 0:    100 + log1p(e^−100)        = 100 (+3.7e-44)
	//   x = −100, t = 1:   100 + log1p(e^−100)        = 100
	//   x = 1, t = 0.25:   0.75 + log1p(e^−1)         = 1.0632616875182228
	// The naive −log(1 − σ(100)) is −log 0 = +Inf; the stable form is not.
	want := []float64{0.6931471805599453, 2.1269280110429727, 3.048587351573742, 100, 100, 1.0632616875182228}
	near(t, "BCEWithLogits none", nn.BCEWithLogits(logits, target, nn.ReduceNone), []int{6}, want, 1e-13)
	sum := 0.0
	for _, v := range want {
		sum += v
	}
	near(t, "BCEWithLogits", nn.BCEWithLogits(logits, target), []int{}, []float64{sum / 6}, 1e-13)
	near(t, "BCEWithLogits sum", nn.BCEWithLogits(logits, target, nn.ReduceSum), []int{}, []float64{sum}, 1e-12)
	// Float32 too, with logits far beyond exp's range.
	l32 := nn.BCEWithLogits(tensor.Array([]float32{1000, -1000, 0}), tensor.Array([]float32{0, 1, 0}), nn.ReduceNone)
	near(t, "BCEWithLogits float32", l32, []int{3}, []float64{1000, 1000, math.Ln2}, 1e-6)

	// The gradient is σ(x) − t: σ(0) − 1 = −0.5 (also at the kink of
	// max and |x|), σ(2) = 0.8807970779778823, σ(−3) − 1, 1 − 0, 0 − 1,
	// σ(1) − 0.25; divided by n = 6.
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	wantG := []float64{-0.5, sig(2), sig(-3) - 1, 1, -1, sig(1) - 0.25}
	for i := range wantG {
		wantG[i] /= 6
	}
	near(t, "BCEWithLogits grad", gradOf(logits, func(x *tensor.Tensor) *tensor.Tensor { return nn.BCEWithLogits(x, target) }),
		[]int{6}, wantG, 1e-15)
	// The gradient in the target is −x/n.
	near(t, "BCEWithLogits target grad", gradOf(target, func(tg *tensor.Tensor) *tensor.Tensor { return nn.BCEWithLogits(logits, tg) }),
		[]int{6}, []float64{0, -2.0 / 6, 3.0 / 6, -100.0 / 6, 100.0 / 6, -1.0 / 6}, 1e-14)
}

func TestNLL(t *testing.T) {
	// Row 0: −log 0.5 = log 2; row 1: label 2, −log 0.3 = log(10/3).
	// Mean (0.6931471805599453 + 1.2039728043259361)/2 = 0.9485599924429406.
	logp := f64([][]float64{{math.Log(0.5), math.Log(0.25), math.Log(0.25)}, {math.Log(0.1), math.Log(0.6), math.Log(0.3)}})
	labels := f64([]float64{0, 2})
	near(t, "NLL", nn.NLL(logp, labels), []int{}, []float64{0.9485599924429406}, 1e-15)
	near(t, "NLL sum", nn.NLL(logp, labels, nn.ReduceSum), []int{}, []float64{math.Ln2 + math.Log(10.0/3)}, 1e-15)
	near(t, "NLL none", nn.NLL(logp, labels, nn.ReduceNone), []int{2}, []float64{math.Ln2, math.Log(10.0 / 3)}, 1e-15)
	// The gradient is −1/N at each labelled entry, 0 elsewhere.
	near(t, "NLL grad", gradOf(logp, func(x *tensor.Tensor) *tensor.Tensor { return nn.NLL(x, labels) }),
		[]int{2, 3}, []float64{-0.5, 0, 0, 0, 0, -0.5}, 0)

	// −Inf in another class (a class of probability 0) is not read: the
	// loss and its gradient stay finite.
	inf := f64([][]float64{{0, math.Inf(-1)}})
	near(t, "NLL with −Inf elsewhere", nn.NLL(inf, f64([]float64{0})), []int{}, []float64{0}, 0)
	near(t, "NLL grad with −Inf elsewhere", gradOf(inf, func(x *tensor.Tensor) *tensor.Tensor { return nn.NLL(x, f64([]float64{0})) }),
		[]int{1, 2}, []float64{-1, 0}, 0)

	// NLL of LogSoftmax is the cross-entropy.
	x, y := rnd(23, 5, 4), f64([]float64{3, 0, 1, 1, 2})
	near(t, "NLL(LogSoftmax) vs CrossEntropy", nn.NLL(x.LogSoftmax(1), y), []int{}, []float64{nn.CrossEntropy(x, y).Item()}, 1e-14)
	checkGrad(t, "NLL", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.NLL(xs[0], y) }, x)
	checkGrad(t, "NLL(LogSoftmax)", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.NLL(xs[0].LogSoftmax(1), y, nn.ReduceNone) }, x)
	checkGrad2(t, "NLL(LogSoftmax)", func(xs []*tensor.Tensor) *tensor.Tensor { return nn.NLL(xs[0].LogSoftmax(1), y) }, x)
}

// smoothedByHand is the cross-entropy of softmax(logits) against the
// smoothed target distribution q = (1 − eps)·onehot + eps/C, averaged over
// the rows, computed on the host: PyTorch's definition of label smoothing.
func smoothedByHand(logits [][]float64, labels []int, eps float64) float64 {
	total := 0.0
	for i, row := range logits {
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - m)
		}
		lse := m + math.Log(s)
		c := float64(len(row))
		for j, v := range row {
			q := eps / c
			if j == labels[i] {
				q += 1 - eps
			}
			total -= q * (v - lse)
		}
	}
	return total / float64(len(logits))
}

func TestCrossEntropySmoothed(t *testing.T) {
	// softmax([log 3, 0]) = [0.75, 0.25], label 1, eps 0.2:
	//   −log p[1] = log 4 = 1.3862943611198906
	//   mean of −log p = (−log 0.75 − log 0.25)/2 = 0.8369882167858358
	//   0.8·1.3862943611198906 + 0.2·0.8369882167858358 = 1.2764331322530795
	near(t, "CrossEntropySmoothed", nn.CrossEntropySmoothed(f64([][]float64{{math.Log(3), 0}}), f64([]float64{1}), 0.2),
		[]int{}, []float64{1.2764331322530795}, 1e-15)
	// logits [2, 0, 0], label 0, eps 0.1 (the value of PyTorch's
	// F.cross_entropy(..., label_smoothing=0.1)): log-sum-exp = log(e² + 2)
	// = 2.2395447662218846, −log p = [0.23954476622188, 2.23954…, 2.23954…],
	// 0.9·0.2395447662218846 + 0.1·(0.2395447662218846 + 2·2.2395447662218846)/3
	// = 0.37287809955521795.
	near(t, "CrossEntropySmoothed [2 0 0]", nn.CrossEntropySmoothed(f64([][]float64{{2, 0, 0}}), f64([]float64{0}), 0.1),
		[]int{}, []float64{0.37287809955521795}, 1e-15)

	logits := [][]float64{{0.5, -1, 2, 0}, {1, 1, 1, 1}, {-3, 0.25, 0, 4}}
	labels := []int{2, 0, 1}
	x, y := f64(logits), f64([]float64{2, 0, 1})
	for _, eps := range []float64{0, 0.1, 0.5, 1} {
		what := fmt.Sprintf("CrossEntropySmoothed eps %v", eps)
		near(t, what, nn.CrossEntropySmoothed(x, y, eps), []int{}, []float64{smoothedByHand(logits, labels, eps)}, 1e-14)
		checkGrad(t, what, func(xs []*tensor.Tensor) *tensor.Tensor { return nn.CrossEntropySmoothed(xs[0], y, eps, nn.ReduceNone) }, x)
		checkGrad2(t, what, func(xs []*tensor.Tensor) *tensor.Tensor { return nn.CrossEntropySmoothed(xs[0], y, eps) }, x)
	}
	near(t, "CrossEntropySmoothed sum", nn.CrossEntropySmoothed(x, y, 0.1, nn.ReduceSum), []int{}, []float64{3 * smoothedByHand(logits, labels, 0.1)}, 1e-13)
	if got, want := nn.CrossEntropySmoothed(x, y, 0).Item(), nn.CrossEntropy(x, y).Item(); got != want {
		t.Errorf("CrossEntropySmoothed with eps 0 = %v, CrossEntropy = %v", got, want)
	}
	// A masked class (−Inf logit) costs nothing without smoothing and
	// +Inf with it (its −log p is +Inf, as in PyTorch); never NaN.
	masked := f64([][]float64{{0, math.Inf(-1)}})
	near(t, "eps 0 with a −Inf logit", nn.CrossEntropySmoothed(masked, f64([]float64{0}), 0), []int{}, []float64{0}, 0)
	if v := nn.CrossEntropySmoothed(masked, f64([]float64{0}), 0.1).Item(); !math.IsInf(v, 1) {
		t.Errorf("eps 0.1 with a −Inf logit: %v, want +Inf", v)
	}
}

func TestLossErrors(t *testing.T) {
	a, b := f64([][]float64{{1, 2}, {3, 4}}), f64([]float64{1, 2})
	type loss = func(p, q *tensor.Tensor, r ...nn.Reduction) *tensor.Tensor
	elementwise := map[string]loss{
		"MSE": nn.MSE, "L1": nn.L1, "BCEWithLogits": nn.BCEWithLogits,
		"Huber": func(p, q *tensor.Tensor, r ...nn.Reduction) *tensor.Tensor { return nn.Huber(p, q, 1, r...) },
	}
	for op, f := range elementwise {
		// [2, 2] against [2] would broadcast; losses refuse it.
		wantError(t, op+" shapes", tensor.ErrShape, op, func() { f(a, b) })
		wantError(t, op+" [N] against [N, 1]", tensor.ErrShape, op, func() { f(b, b.Reshape(2, 1)) })
		wantError(t, op+" dtypes", tensor.ErrDType, op, func() { f(a, a.AsType(tensor.Float32)) })
		wantError(t, op+" two reductions", tensor.ErrArgument, op, func() { f(a, a, nn.ReduceSum, nn.ReduceNone) })
		wantError(t, op+" unknown reduction", tensor.ErrArgument, op, func() { f(a, a, nn.Reduction(7)) })
	}
	for _, delta := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		wantError(t, fmt.Sprintf("Huber delta %v", delta), tensor.ErrArgument, "Huber", func() { nn.Huber(a, a, delta) })
	}

	logp := f64([][]float64{{0, 0, 0}, {0, 0, 0}})
	labelled := map[string]func(x, y *tensor.Tensor) *tensor.Tensor{
		"NLL":                  func(x, y *tensor.Tensor) *tensor.Tensor { return nn.NLL(x, y) },
		"CrossEntropySmoothed": func(x, y *tensor.Tensor) *tensor.Tensor { return nn.CrossEntropySmoothed(x, y, 0.1) },
	}
	for op, f := range labelled {
		// As SoftmaxCrossEntropy: ErrIndex outside [0, C), ErrArgument
		// for a label that is not an integer.
		for _, bad := range []float64{3, -1, 100} {
			wantError(t, fmt.Sprintf("%s label %v", op, bad), tensor.ErrIndex, op, func() { f(logp, f64([]float64{0, bad})) })
		}
		for _, bad := range []float64{0.5, math.NaN(), math.Inf(1), math.Inf(-1)} {
			wantError(t, fmt.Sprintf("%s label %v", op, bad), tensor.ErrArgument, op, func() { f(logp, f64([]float64{bad, 0})) })
		}
		wantError(t, op+" labels of another length", tensor.ErrShape, op, func() { f(logp, f64([]float64{0, 1, 2})) })
		wantError(t, op+" labels [N, 1]", tensor.ErrShape, op, func() { f(logp, f64([][]float64{{0}, {1}})) })
		wantError(t, op+" 1-d input", tensor.ErrShape, op, func() { f(f64([]float64{0, 0}), f64([]float64{0, 1})) })
		wantError(t, op+" float32 labels", tensor.ErrDType, op, func() { f(logp, tensor.Array([]float32{0, 1})) })
	}
	for _, eps := range []float64{-0.1, 1.5, math.NaN()} {
		wantError(t, fmt.Sprintf("eps %v", eps), tensor.ErrArgument, "CrossEntropySmoothed", func() {
			nn.CrossEntropySmoothed(logp, f64([]float64{0, 1}), eps)
		})
	}
	if s := nn.Reduction(7).String(); s != "Reduction(7)" {
		t.Errorf("Reduction(7).String() = %q", s)
	}
}

// BCEWithLogits stays finite where the naive formula overflows: the
// second logit is confidently wrong (σ(100) rounds to 1, so log(1 − σ) is
// −Inf), and costs its full 100.
func ExampleBCEWithLogits() {
	logits := tensor.Array([]float32{0, 100, -100})
	target := tensor.Array([]float32{1, 0, 0})
	fmt.Printf("%.4f\n", nn.BCEWithLogits(logits, target, nn.ReduceNone).Float32s())
	fmt.Printf("mean %.4f\n", nn.BCEWithLogits(logits, target).Item())
	// Output:
	// [0.6931 100.0000 0.0000]
	// mean 33.5644
}
