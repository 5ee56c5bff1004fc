//go:build cuda

// GPU conformance tests: every operation's forward result and gradients on
// cuda:0 against the CPU backend on the same inputs, for every case of the
// shared op-test table (internal/optest). They need a GPU; in a
// cuda-tagged build without one the process cannot start at all (see the
// package documentation), and with a GPU whose backend fails to open they
// skip with the reason.
package cuda_test

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cuda"
	"github.com/tapegrad/tapegrad/internal/optest"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

type T = tensor.Tensor

var gpu = device.CUDA(0)

func needGPU(t testing.TB) *cuda.Backend {
	t.Helper()
	be, err := device.Lookup(gpu)
	if err != nil {
		t.Skipf("no usable CUDA device: %v", err)
	}
	return be.(*cuda.Backend)
}

// compare checks that gpu's values agree with cpu's within rtol, relative
// to max(|cpu|, 1e-3·scale), scale the largest finite |cpu|.
func compare(t *testing.T, what string, cpu, gpu *T, rtol float64) {
	t.Helper()
	if !optest.Close(t, what, gpu, cpu, rtol) {
		t.FailNow()
	}
}

// TestOpsAgreeWithCPU runs every case of the shared op-test table
// (internal/optest: every elementwise operation of the op table on several
// views and over the special values, and every other differentiable
// operation) on cuda:0 and on the CPU, and compares the forward results and
// gradients in float32 and float64; then the size-dependent cases (every
// elementwise operation and the reductions on dense, strided and broadcast
// operands) at sizes that take the kernels' different paths.
func TestOpsAgreeWithCPU(t *testing.T) {
	needGPU(t)
	for _, c := range optest.Cases() {
		t.Run(c.Name, func(t *testing.T) { optest.CompareDevices(t, c, device.CPU(), gpu) })
	}
	for _, n := range []int{1, 31, 1025, 65537} {
		for _, c := range optest.Sized(n) {
			t.Run(fmt.Sprintf("%s/%d", c.Name, n), func(t *testing.T) { optest.CompareDevices(t, c, device.CPU(), gpu) })
		}
	}
}

// The large size, for the ops whose kernels have size-dependent paths.
func TestLargeAgreeWithCPU(t *testing.T) {
	needGPU(t)
	if testing.Short() {
		t.Skip("-short")
	}
	n := 1 << 24
	for _, c := range optest.Sized(n) {
		switch c.Name {
		case "Add/dense", "Exp/dense", "Sum/all", "Sum/inner", "Mean/outer", "Norm/all", "Mul/row", "Sub/col", "CumSum/all", "CumSum/outer-wide":
		default:
			continue
		}
		t.Run(c.Name, func(t *testing.T) { optest.CompareDevices(t, c, device.CPU(), gpu) })
	}
}

// TestNNAgreeWithCPU compares the neural-network operations on larger
// shapes than the op-test table's, with the same runner.
func TestNNAgreeWithCPU(t *testing.T) {
	needGPU(t)
	lab := []float64{3, 0, 1, 9, 2}
	in := optest.Inputs
	u := optest.U
	nnCases := []optest.Case{
		{Name: "MatMul", Method: "MatMul", RTol32: optest.ReductionRTol32, F: func(x []*T) *T { return x[0].MatMul(x[1]) }, Inputs: in(u(33, 65), u(65, 17))},
		{Name: "MatMul/batched-T", Method: "MatMul", RTol32: optest.ReductionRTol32, F: func(x []*T) *T { return x[0].MatMul(x[1].Transpose(0, 2, 1)) }, Inputs: in(u(3, 9, 20), u(3, 7, 20))},
		{Name: "Conv2D", Method: "Conv2D", RTol32: optest.ReductionRTol32, F: func(x []*T) *T { return tensor.Conv2D(x[0], x[1], x[2], 2, 1) }, Inputs: in(u(2, 3, 9, 8), u(4, 3, 3, 3), u(4))},
		{Name: "MaxPool2D", Method: "MaxPool2D", F: func(x []*T) *T { return tensor.MaxPool2D(x[0], 3, 2, 1) }, Inputs: in(u(2, 3, 9, 8))},
		{Name: "SoftmaxCE", Method: "SoftmaxCrossEntropy", RTol32: optest.ReductionRTol32, F: func(x []*T) *T {
			return tensor.SoftmaxCrossEntropy(x[0], optest.Like(x[0], lab, len(lab)))
		}, Inputs: in(u(5, 10))},
	}
	for _, c := range nnCases {
		t.Run(c.Name, func(t *testing.T) { optest.CompareDevices(t, c, device.CPU(), gpu) })
	}
}

// Uniform random tensors are bitwise the same on both devices; normal ones
// agree to float32 rounding.
func TestRandomMatchesCPU(t *testing.T) {
	needGPU(t)
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		tensor.Seed(123)
		uc := tensor.RandUniform(-2, 3, []int{100003}, tensor.On(device.CPU()), tensor.WithDType(dt))
		nc := tensor.RandNormal(1, 2, []int{4097}, tensor.On(device.CPU()), tensor.WithDType(dt))
		tensor.Seed(123)
		ug := tensor.RandUniform(-2, 3, []int{100003}, tensor.On(gpu), tensor.WithDType(dt))
		ng := tensor.RandNormal(1, 2, []int{4097}, tensor.On(gpu), tensor.WithDType(dt))
		a, b := uc.Float64s(), ug.Float64s()
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%v uniform element %d: cpu %v, gpu %v", dt, i, a[i], b[i])
			}
		}
		compare(t, dt.String()+" normal", nc, ng, 1e-6)
	}
}

func TestSeedWalkthroughOnGPU(t *testing.T) {
	needGPU(t)
	x := tensor.Array([][]float32{{1, 2}, {3, 4}}, tensor.On(gpu))
	x.AttachGrad()
	var y *T
	autograd.Record(func() { y = x.MulScalar(2).Mul(x) })
	y.Backward()
	if got := x.Grad().String(); got != "[[ 4  8]\n [12 16]]" {
		t.Fatalf("x.Grad() on %v =\n%s", gpu, got)
	}
	a := tensor.RandUniform(0, 1, []int{2}, tensor.On(gpu))
	a.AttachGrad()
	var c *T
	autograd.Record(func() {
		b := a.MulScalar(2)
		for b.Norm().Item() < 1000 {
			b = b.MulScalar(2)
		}
		if b.Sum().Item() >= 0 {
			c = b.Index(0)
		} else {
			c = b.Index(1)
		}
	})
	c.Backward()
	g := a.Grad().Float64s()
	k := math.Max(g[0], g[1])
	if k < 1024 || math.Log2(k) != math.Trunc(math.Log2(k)) || math.Min(g[0], g[1]) != 0 {
		t.Fatalf("a.Grad() = %v", g)
	}
}

// Gradients crossing devices: a To in the forward pass sends the gradient
// back to the source device.
func TestToIsDifferentiable(t *testing.T) {
	needGPU(t)
	x := tensor.Array([]float64{1, 2, 3})
	x.AttachGrad()
	var y *T
	autograd.Record(func() { y = x.To(gpu).Square().Sum() })
	y.Backward()
	if got := x.Grad().Float64s(); got[0] != 2 || got[2] != 6 || x.Grad().Device() != device.CPU() {
		t.Fatalf("gradient through To: %v on %v", got, x.Grad().Device())
	}
}

// Device memory stays flat over many training steps once the caching
// allocator has warmed up.
func TestTrainingMemoryIsFlat(t *testing.T) {
	be := needGPU(t)
	steps := 10000
	if testing.Short() {
		steps = 500
	}
	tensor.Seed(1)
	x := tensor.RandNormal(0, 1, []int{64, 100}, tensor.On(gpu))
	lab := make([]float32, 64)
	for i := range lab {
		lab[i] = float32(i % 10)
	}
	labels := tensor.FromSlice(lab, []int{64}, tensor.On(gpu))
	model := nn.Sequential{nn.NewDense(100, 64, tensor.On(gpu)), nn.ReLU{}, nn.NewDense(64, 10, tensor.On(gpu))}
	opt := optim.NewSGD(model.Params(), 0.01, 0.9, 0)
	var warm cuda.MemStats
	for s := 0; s < steps; s++ {
		var loss *T
		autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(x), labels) })
		loss.Backward()
		opt.Step()
		if s == steps/10 {
			runtime.GC()
			warm = be.MemStats()
		}
	}
	runtime.GC()
	end := be.MemStats()
	if end.Reserved > warm.Reserved+(4<<20) {
		t.Fatalf("device memory grew from %d to %d reserved bytes over %d steps", warm.Reserved, end.Reserved, steps)
	}
	t.Logf("reserved %d -> %d bytes, peak allocated %d", warm.Reserved, end.Reserved, end.PeakAllocated)
}

// An allocation larger than the device fails with ErrOutOfMemory naming the
// device's memory, and the library keeps working afterwards.
func TestOutOfMemoryRecovery(t *testing.T) {
	needGPU(t)
	err := tensor.Maybe(func() { tensor.Zeros([]int{1 << 40}, tensor.On(gpu)) })
	if err == nil || !strings.Contains(err.Error(), "out of memory") || !strings.Contains(err.Error(), "free") {
		t.Fatalf("want an out-of-memory error with the device's free memory, got %v", err)
	}
	if got := tensor.Ones([]int{3}, tensor.On(gpu)).Sum().Item(); got != 3 {
		t.Fatalf("after OOM: %v", got)
	}
}

// The event Timer measures device time: one exp over 16M elements (128 MB
// moved) takes between 10 µs and 1 s on any GPU, and more for ten of them
// than for one; Start and Stop must alternate.
func TestGPUTimer(t *testing.T) {
	be := needGPU(t)
	tm, err := be.NewTimer()
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.Ones([]int{1 << 24}, tensor.On(gpu))
	timeIt := func(n int) float64 {
		if err := tm.Start(); err != nil {
			t.Fatal(err)
		}
		for range n {
			x.Exp().Release()
		}
		d, err := tm.Stop()
		if err != nil {
			t.Fatal(err)
		}
		return d.Seconds()
	}
	timeIt(1) // warm-up: module load
	one, ten := timeIt(1), timeIt(10)
	if one < 10e-6 || one > 1 || ten <= one {
		t.Fatalf("exp of 16M: %.3g s for one call, %.3g s for ten", one, ten)
	}
	t.Logf("exp of 16M: %.1f µs per call (%.0f GB/s)", ten/10*1e6, 2*4*float64(1<<24)/(ten/10)/1e9)
	if _, err := tm.Stop(); err == nil {
		t.Fatal("Stop without Start: no error")
	}
}

// TestGPUGEMMPath says which path matrix products take on this machine, so
// that a run's log tells whether the MatMul tests exercised cuBLAS or the
// tiled kernel (TAPEGRAD_CUDA_BLAS=off forces the kernel).
func TestGPUGEMMPath(t *testing.T) {
	be := needGPU(t)
	t.Logf("matrix products on %v: %s", gpu, be.GEMM())
}
