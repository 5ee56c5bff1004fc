package autograd_test

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// TestConcurrentGraphs: goroutines record and differentiate their own
// graphs at the same time, inside their own Record scopes that end in any
// order. Gradients must be exactly those of a lone run. Run with -race.
func TestConcurrentGraphs(t *testing.T) {
	const workers, iters = 8, 30
	// f's gradient is exact in float64 for the small integers used:
	// d/dx [sum(3x²) + sum(x)·x0] = 6x + x0 + [sum(x) 0 ...].
	f := func(x *T) *T {
		return x.Square().MulScalar(3).Sum().Add(x.Sum().Mul(x.Index(0)))
	}
	want := func(v []float64) []float64 {
		s := 0.0
		for _, e := range v {
			s += e
		}
		g := make([]float64, len(v))
		for i, e := range v {
			g[i] = 6*e + v[0]
		}
		g[0] += s
		return g
	}
	// A float computation whose result is compared bit for bit with a
	// single-goroutine reference.
	h := func(x *T) *T { return x.Tanh().MatMul(x.Sin()).Add(x.Exp().Norm()) }
	ref := make([][]float64, workers)
	for w := 0; w < workers; w++ {
		x := tensor.Arange(float64(w), float64(w)+1, 0.125, tensor.WithDType(tensor.Float64))
		x.AttachGrad()
		record(func() *T { return h(x) }).Backward()
		ref[w] = x.Grad().Float64s()
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < iters; it++ {
				v := []float64{float64(w + 1), float64(-it), 2, float64(w * it % 7)}
				x := tensor.Array(v, tensor.WithDType(tensor.Float64))
				x.AttachGrad()
				var y *T
				autograd.Record(func() { y = f(x) })
				if it%2 == 0 {
					y.Backward()
				} else {
					// Grad, and an attached gradient it must not touch.
					g := autograd.Grad([]*T{y}, []*T{x})
					if s := x.Grad().Sum().Item(); s != 0 {
						errs <- fmt.Errorf("worker %d: Grad wrote the attached gradient", w)
						return
					}
					x.Grad().Release()
					x.AttachGrad()
					record(func() *T { return f(x) }).Backward(tensor.Scalar(1, tensor.WithDType(tensor.Float64)))
					if fmt.Sprint(g[0].Float64s()) != fmt.Sprint(x.Grad().Float64s()) {
						errs <- fmt.Errorf("worker %d: Grad %v, Backward %v", w, g[0].Float64s(), x.Grad().Float64s())
						return
					}
				}
				got := x.Grad().Float64s()
				for i, e := range want(v) {
					if got[i] != e {
						errs <- fmt.Errorf("worker %d iteration %d: gradient %v, want %v", w, it, got, want(v))
						return
					}
				}
				if it%5 == 0 {
					z := tensor.Arange(float64(w), float64(w)+1, 0.125, tensor.WithDType(tensor.Float64))
					z.AttachGrad()
					record(func() *T { return h(z) }).Backward()
					for i, e := range z.Grad().Float64s() {
						if math.Float64bits(e) != math.Float64bits(ref[w][i]) {
							errs <- fmt.Errorf("worker %d: float gradient element %d = %v, alone %v", w, i, e, ref[w][i])
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if autograd.IsRecording() {
		t.Error("recording still on after all scopes ended")
	}
}

// TestConcurrentSharedTensor: goroutines read one shared attached tensor
// (its values, views of it, and operations on it inside their own graphs)
// while differentiating with autograd.Grad, which writes no attached
// gradient.
func TestConcurrentSharedTensor(t *testing.T) {
	const workers, iters = 8, 25
	w := tensor.Array([][]float64{{1, 2}, {3, 4}})
	w.AttachGrad()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < iters; it++ {
				if v := w.Float64s(); v[3] != 4 {
					errs <- fmt.Errorf("shared values changed: %v", v)
					return
				}
				x := tensor.Array([]float64{float64(k), 1}, tensor.WithDType(tensor.Float64))
				x.AttachGrad()
				var y *T
				autograd.Record(func() {
					// y = x·W·x + sum(W[0]) + W^T[1][1]
					y = x.MatMul(w).MatMul(x).Add(w.Index(0).Sum()).Add(w.T().Index(1).Index(1))
				})
				g := autograd.Grad([]*T{y}, []*T{x, w})
				// d/dx = (W + W^T) x; d/dW = x xᵀ + [[1 1] [0 1]].
				a := float64(k)
				wantX := []float64{2*a + 5, 5*a + 8}
				wantW := []float64{a*a + 1, a + 1, a, 1 + 1}
				if fmt.Sprint(g[0].Float64s()) != fmt.Sprint(wantX) || fmt.Sprint(g[1].Float64s()) != fmt.Sprint(wantW) {
					errs <- fmt.Errorf("worker %d: gradients %v %v, want %v %v", k, g[0].Float64s(), g[1].Float64s(), wantX, wantW)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	values(t, "shared tensor's own gradient untouched", w.Grad(), 0, 0, 0, 0)
}
