//go:build cuda

// GPU conformance tests: every operation's forward result and gradients on
// cuda:0 against the CPU backend on the same inputs. They need a GPU; in a
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

// tol is the comparison tolerance: float32 elementwise 1e-5 relative,
// reductions over many elements 1e-4, float64 1e-12.
func tol(dt tensor.DType, reduction bool) float64 {
	switch {
	case dt == tensor.Float64:
		return 1e-12
	case reduction:
		return 1e-4
	}
	return 1e-5
}

func compare(t *testing.T, what string, cpu, gpu *T, rtol float64) {
	t.Helper()
	if fmt.Sprint(cpu.Shape()) != fmt.Sprint(gpu.Shape()) {
		t.Fatalf("%s: shapes %v (cpu) and %v (gpu)", what, cpu.Shape(), gpu.Shape())
	}
	a, b := cpu.Float64s(), gpu.Float64s()
	scale := 0.0
	for _, v := range a {
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			scale = math.Max(scale, math.Abs(v))
		}
	}
	for i := range a {
		if math.IsNaN(a[i]) && math.IsNaN(b[i]) || a[i] == b[i] {
			continue
		}
		if d := math.Abs(a[i] - b[i]); d > rtol*math.Max(math.Abs(a[i]), 1e-3*scale) || math.IsNaN(d) {
			t.Fatalf("%s: element %d: cpu %v, gpu %v (rel. error %.3g > %.3g)", what, i, a[i], b[i], d/math.Abs(a[i]), rtol)
		}
	}
}

type gpuCase struct {
	name      string
	reduction bool
	f         func(x []*T) *T
	shapes    [][]int
	positive  bool // inputs in [0.5, 2)
}

func un(f func(*T) *T) func([]*T) *T      { return func(x []*T) *T { return f(x[0]) } }
func bin(f func(*T, *T) *T) func([]*T) *T { return func(x []*T) *T { return f(x[0], x[1]) } }

func cases(n int) []gpuCase {
	r := n / 31
	if r == 0 {
		r = 1
	}
	return []gpuCase{
		{name: "Add", f: bin((*T).Add), shapes: [][]int{{n}, {n}}},
		{name: "Mul/row", f: bin((*T).Mul), shapes: [][]int{{r, 31}, {31}}},
		{name: "Sub/col", f: bin((*T).Sub), shapes: [][]int{{r, 31}, {r, 1}}},
		{name: "Div", f: bin((*T).Div), shapes: [][]int{{n}, {n}}, positive: true},
		{name: "Pow", f: bin((*T).Pow), shapes: [][]int{{n}, {n}}, positive: true},
		{name: "Maximum/transposed", f: bin(func(a, b *T) *T { return a.T().Maximum(b) }), shapes: [][]int{{31, r}, {r, 31}}},
		{name: "Exp", f: un((*T).Exp), shapes: [][]int{{n}}},
		{name: "Log", f: un((*T).Log), shapes: [][]int{{n}}, positive: true},
		{name: "Tanh/sliced", f: un(func(a *T) *T { return a.Slice(1, 3, 20).Tanh() }), shapes: [][]int{{r, 31}}},
		{name: "Sigmoid", f: un((*T).Sigmoid), shapes: [][]int{{n}}},
		{name: "ReLU", f: un((*T).ReLU), shapes: [][]int{{n}}},
		{name: "Sqrt", f: un((*T).Sqrt), shapes: [][]int{{n}}, positive: true},
		{name: "Sin", f: un((*T).Sin), shapes: [][]int{{n}}},
		{name: "MulScalar/broadcast", f: un(func(a *T) *T { return a.BroadcastTo(3, n).MulScalar(1.5) }), shapes: [][]int{{n}}},
		{name: "PowScalar", f: un(func(a *T) *T { return a.PowScalar(2.5) }), shapes: [][]int{{n}}, positive: true},
		{name: "Where", f: bin(func(a, b *T) *T { return tensor.Where(a.GtScalar(0), a, b) }), shapes: [][]int{{n}, {n}}},
		{name: "Sum/all", reduction: true, f: un(func(a *T) *T { return a.Sum() }), shapes: [][]int{{n}}},
		{name: "Sum/inner", reduction: true, f: un(func(a *T) *T { return a.Sum(1) }), shapes: [][]int{{r, 31}}},
		{name: "Mean/outer", reduction: true, f: un(func(a *T) *T { return a.Mean(0) }), shapes: [][]int{{r, 31}}},
		{name: "Max/middle", reduction: true, f: un(func(a *T) *T { return a.Max(1) }), shapes: [][]int{{1, r, 31}}},
		{name: "Min/transposed", reduction: true, f: un(func(a *T) *T { return a.T().Min(1) }), shapes: [][]int{{r, 31}}},
		{name: "Norm", reduction: true, f: un(func(a *T) *T { return a.Norm() }), shapes: [][]int{{n}}},
		{name: "Concat", f: bin(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, 0).Exp() }), shapes: [][]int{{n}, {n}}},
		{name: "Index", f: un(func(a *T) *T { return a.Index(-1).Square() }), shapes: [][]int{{r, 31}}},
	}
}

func inputs(c gpuCase, dt tensor.DType) []*T {
	var xs []*T
	for _, s := range c.shapes {
		lo, hi := -1.0, 1.0
		if c.positive {
			lo, hi = 0.5, 2
		}
		xs = append(xs, tensor.RandUniform(lo, hi, s, tensor.On(device.CPU()), tensor.WithDType(dt)))
	}
	return xs
}

// run evaluates f and its gradients (with a fixed head gradient) on a
// device.
func run(f func([]*T) *T, xs []*T, d device.Device) (*T, []*T) {
	in := make([]*T, len(xs))
	for i, x := range xs {
		in[i] = x.Detach().To(d)
		in[i].AttachGrad()
	}
	var y *T
	autograd.Record(func() { y = f(in) })
	head := tensor.Arange(0, float64(y.Size()), 1, tensor.On(d), tensor.WithDType(y.DType())).
		DivScalar(float64(y.Size()) + 1).AddScalar(0.5).Reshape(y.Shape()...)
	grads := autograd.Grad([]*T{y}, in, autograd.HeadGrads(head))
	return y, grads
}

func TestOpsAgreeWithCPU(t *testing.T) {
	needGPU(t)
	for _, n := range []int{1, 31, 1025, 65537} {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			for _, c := range cases(n) {
				t.Run(fmt.Sprintf("%s/%d/%v", c.name, n, dt), func(t *testing.T) {
					tensor.Seed(uint64(n))
					xs := inputs(c, dt)
					yc, gc := run(c.f, xs, device.CPU())
					yg, gg := run(c.f, xs, gpu)
					if yg.Device() != gpu {
						t.Fatalf("result on %v", yg.Device())
					}
					compare(t, "forward", yc, yg, tol(dt, c.reduction))
					for i := range gc {
						compare(t, fmt.Sprintf("gradient %d", i), gc[i], gg[i], tol(dt, c.reduction))
					}
				})
			}
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
	for _, c := range cases(n) {
		switch c.name {
		case "Add", "Exp", "Sum/all", "Sum/inner", "Mean/outer", "Norm", "Mul/row", "Sub/col":
		default:
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			tensor.Seed(16)
			xs := inputs(c, tensor.Float32)
			yc, gc := run(c.f, xs, device.CPU())
			yg, gg := run(c.f, xs, gpu)
			compare(t, "forward", yc, yg, tol(tensor.Float32, c.reduction))
			for i := range gc {
				compare(t, fmt.Sprintf("gradient %d", i), gc[i], gg[i], tol(tensor.Float32, c.reduction))
			}
		})
	}
}

func TestNNAgreeWithCPU(t *testing.T) {
	needGPU(t)
	lab := tensor.Array([]float64{3, 0, 1, 9, 2})
	nnCases := []gpuCase{
		{name: "MatMul", reduction: true, f: bin((*T).MatMul), shapes: [][]int{{33, 65}, {65, 17}}},
		{name: "MatMul/batched-T", reduction: true, f: bin(func(a, b *T) *T { return a.MatMul(b.Transpose(0, 2, 1)) }), shapes: [][]int{{3, 9, 20}, {3, 7, 20}}},
		{name: "Conv2D", reduction: true, f: func(x []*T) *T { return tensor.Conv2D(x[0], x[1], x[2], 2, 1) }, shapes: [][]int{{2, 3, 9, 8}, {4, 3, 3, 3}, {4}}},
		{name: "MaxPool2D", f: un(func(a *T) *T { return tensor.MaxPool2D(a, 3, 2, 1) }), shapes: [][]int{{2, 3, 9, 8}}},
		{name: "SoftmaxCE", reduction: true, f: un(func(a *T) *T {
			return tensor.SoftmaxCrossEntropy(a, lab.AsType(a.DType()).To(a.Device()))
		}), shapes: [][]int{{5, 10}}},
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, c := range nnCases {
			t.Run(fmt.Sprintf("%s/%v", c.name, dt), func(t *testing.T) {
				tensor.Seed(4)
				xs := inputs(c, dt)
				yc, gc := run(c.f, xs, device.CPU())
				yg, gg := run(c.f, xs, gpu)
				compare(t, "forward", yc, yg, tol(dt, c.reduction))
				for i := range gc {
					compare(t, fmt.Sprintf("gradient %d", i), gc[i], gg[i], tol(dt, c.reduction))
				}
			})
		}
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
