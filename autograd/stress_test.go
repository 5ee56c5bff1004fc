package autograd_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	// Imported for MemStats, and so that a -tags cuda test binary
	// registers the CUDA backend and runs the memory test on the GPU.
	"github.com/tapegrad/tapegrad/device/cuda"
	"github.com/tapegrad/tapegrad/tensor"
)

// TestConcurrentGraphs records and differentiates independent graphs from
// 16 goroutines at once (run it with -race) and checks every gradient
// exactly: all values are small integers, so every sum is exact.
func TestConcurrentGraphsStress(t *testing.T) {
	const workers = 16
	iters := 300
	switch {
	case testing.Short():
		iters = 30
	case raceEnabled:
		iters = 150
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for it := 0; it < iters; it++ {
				if err := oneGraph(w, it); err != nil {
					errs <- fmt.Errorf("worker %d, iteration %d: %w", w, it, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// oneGraph builds L = sum(((x² + 3x)·W) ⊙ m) for x (3×4), W (4×2) and a
// 0/1 mask m, from values that depend on the worker and the iteration, and
// checks dL/dx and dL/dW against the closed forms. Even iterations use
// Backward, odd ones autograd.Grad.
func oneGraph(w, it int) error {
	const r, k, c = 3, 4, 2
	dt := tensor.Float64
	if (w+it)%3 == 0 {
		dt = tensor.Float32
	}
	xv := make([]float64, r*k)
	wv := make([]float64, k*c)
	mv := make([]float64, r*c)
	for i := range xv {
		xv[i] = float64((i*7+w*3+it)%9 - 4)
	}
	for i := range wv {
		wv[i] = float64((i*5+w+2*it)%7 - 3)
	}
	for i := range mv {
		mv[i] = float64((i + w + it) % 2)
	}
	x := tensor.FromSlice(xv, []int{r, k}, tensor.WithDType(dt))
	W := tensor.FromSlice(wv, []int{k, c}, tensor.WithDType(dt))
	m := tensor.FromSlice(mv, []int{r, c}, tensor.WithDType(dt))
	x.AttachGrad()
	W.AttachGrad()
	var loss *tensor.Tensor
	autograd.Record(func() {
		h := x.Mul(x).Add(x.MulScalar(3)) // x² + 3x
		loss = h.MatMul(W).Mul(m).Sum()
	})
	var gx, gW []float64
	if it%2 == 0 {
		loss.Backward()
		gx, gW = x.Grad().Float64s(), W.Grad().Float64s()
	} else {
		g := autograd.Grad([]*tensor.Tensor{loss}, []*tensor.Tensor{x, W})
		gx, gW = g[0].Float64s(), g[1].Float64s()
	}
	// dL/dx[i][l] = (2x+3)[i][l] · Σ_j W[l][j]·m[i][j];
	// dL/dW[l][j] = Σ_i (x²+3x)[i][l]·m[i][j].
	for i := 0; i < r; i++ {
		for l := 0; l < k; l++ {
			s := 0.0
			for j := 0; j < c; j++ {
				s += wv[l*c+j] * mv[i*c+j]
			}
			if want := (2*xv[i*k+l] + 3) * s; gx[i*k+l] != want {
				return fmt.Errorf("dL/dx[%d][%d] = %v, want %v", i, l, gx[i*k+l], want)
			}
		}
	}
	for l := 0; l < k; l++ {
		for j := 0; j < c; j++ {
			s := 0.0
			for i := 0; i < r; i++ {
				v := xv[i*k+l]
				s += (v*v + 3*v) * mv[i*c+j]
			}
			if gW[l*c+j] != s {
				return fmt.Errorf("dL/dW[%d][%d] = %v, want %v", l, j, gW[l*c+j], s)
			}
		}
	}
	return nil
}

// collectGarbage runs the garbage collector and waits for the cleanups it
// queued (which give tensor buffers back), twice.
func collectGarbage() {
	for i := 0; i < 2; i++ {
		done := make(chan struct{})
		s := new([64]byte)
		runtime.AddCleanup(s, func(c chan struct{}) { close(c) }, done)
		s = nil
		runtime.GC()
		<-done
	}
}

// memory returns the live Go heap and, on CUDA devices, the bytes the
// device's allocator has handed out, after a collection; the smallest of
// three readings, to damp the noise of other goroutines.
func memory(d device.Device) (heap, dev int64) {
	heap, dev = -1, -1
	for i := 0; i < 3; i++ {
		collectGarbage()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if h := int64(ms.HeapAlloc); heap < 0 || h < heap {
			heap = h
		}
		if d.IsCUDA() {
			be, err := device.Lookup(d)
			if err != nil {
				continue
			}
			if s, ok := be.(interface{ MemStats() cuda.MemStats }); ok {
				if a := s.MemStats().Allocated; dev < 0 || a < dev {
					dev = a
				}
			}
		}
	}
	return heap, dev
}

// TestTrainingMemoryFlat trains a small MLP by hand for 2000 steps (matrix
// products, ReLU, a mean squared error, gradients with autograd.Grad and
// SGD steps that build new parameter tensors) and checks that memory stays
// flat after warm-up: the live Go heap, and on a CUDA device the device
// memory in use, may grow by at most 2 MiB between step 200 and step 2000.
// A graph or a gradient kept alive per step would cost several MiB over the
// 1800 steps (each step makes some 30 tensors of up to 2 KiB).
func TestTrainingMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 2000 training steps")
	}
	steps, warm := 2000, 200
	for _, d := range device.Available() {
		t.Run(d.String(), func(t *testing.T) { trainFlat(t, d, steps, warm) })
	}
}

func trainFlat(t *testing.T, d device.Device, steps, warm int) {
	const limit = 2 << 20
	tensor.Seed(3)
	on := tensor.On(d)
	X := tensor.RandNormal(0, 1, []int{32, 8}, on)
	Y := X.SumKeepDims(1)
	params := []*tensor.Tensor{
		tensor.RandNormal(0, 0.3, []int{8, 16}, on), tensor.Zeros([]int{16}, on),
		tensor.RandNormal(0, 0.3, []int{16, 1}, on), tensor.Zeros([]int{1}, on),
	}
	var heap0, dev0 int64
	var first float64
	for step := 1; step <= steps; step++ {
		for _, p := range params {
			p.AttachGrad()
		}
		var loss *tensor.Tensor
		autograd.Record(func() {
			h := X.MatMul(params[0]).Add(params[1]).ReLU()
			loss = h.MatMul(params[2]).Add(params[3]).Sub(Y).Square().Mean()
		})
		grads := autograd.Grad([]*tensor.Tensor{loss}, params)
		for i, p := range params {
			params[i] = p.Sub(grads[i].MulScalar(0.05))
		}
		if step == 1 {
			first = loss.Item()
		}
		if step == warm {
			heap0, dev0 = memory(d)
		}
	}
	heap1, dev1 := memory(d)
	t.Logf("heap %d -> %d bytes; device %d -> %d bytes; loss %.3g at step 1", heap0, heap1, dev0, dev1, first)
	if heap1-heap0 > limit {
		t.Errorf("Go heap grew by %d bytes between step %d and step %d (limit %d)", heap1-heap0, warm, steps, limit)
	}
	if dev1-dev0 > limit {
		t.Errorf("device memory in use grew by %d bytes between step %d and step %d (limit %d)", dev1-dev0, warm, steps, limit)
	}
	var final *tensor.Tensor
	h := X.MatMul(params[0]).Add(params[1]).ReLU()
	final = h.MatMul(params[2]).Add(params[3]).Sub(Y).Square().Mean()
	if f := final.Item(); !(f < first/4) {
		t.Errorf("training did not converge: loss %v at the start, %v at the end", first, f)
	}
}
