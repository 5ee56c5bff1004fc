// Package multidevice_test runs package tensor against a second device: a
// fake "cuda:0" whose backend delegates to the CPU backend but hides its
// buffers from the host, as a GPU's are. It lives in a package of its own
// because registering a CUDA provider changes the whole process (the list
// of available devices, the default device).
package multidevice_test

import (
	"errors"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
	"github.com/tapegrad/tapegrad/tensor"
)

type T = tensor.Tensor

// fakeBuf is a buffer of the fake device: not a device.HostBuffer.
type fakeBuf struct{ b *cpu.Buffer }

func (f *fakeBuf) Len() int            { return f.b.Len() }
func (f *fakeBuf) DType() device.DType { return f.b.DType() }

func un(b device.Buffer) device.Buffer { return b.(*fakeBuf).b }

type fakeBackend struct {
	allocs, frees atomic.Int64
	downloads     atomic.Int64
	rec           errRecord // the device-side error record, as CUDA's (sticky_test.go)
}

var cb = cpu.Get()

func (*fakeBackend) Device() device.Device { return device.CUDA(0) }
func (f *fakeBackend) Alloc(dt device.DType, n int) (device.Buffer, error) {
	b, err := cb.Alloc(dt, n)
	if err != nil {
		return nil, err
	}
	f.allocs.Add(1)
	return &fakeBuf{b.(*cpu.Buffer)}, nil
}
func (f *fakeBackend) Free(b device.Buffer) { f.frees.Add(1); cb.Free(un(b)) }
func (*fakeBackend) Upload(dst device.Buffer, src any) {
	switch src.(type) {
	case []float32, []float64, []int32, []int64:
	default:
		panic("fake: Upload from a device buffer")
	}
	cb.Upload(un(dst), src)
}
func (f *fakeBackend) Download(dst any, src device.Buffer, l device.Layout) error {
	f.downloads.Add(1)
	if err := cb.Download(dst, un(src), l); err != nil {
		return err
	}
	return f.rec.take()
}
func (f *fakeBackend) Synchronize() error { return f.rec.take() }
func (*fakeBackend) Copy(dst device.Buffer, dl device.Layout, src device.Buffer, sl device.Layout) {
	cb.Copy(un(dst), dl, un(src), sl)
}
func (*fakeBackend) Fill(dst device.Buffer, dl device.Layout, v float64) { cb.Fill(un(dst), dl, v) }
func (*fakeBackend) Arange(dst device.Buffer, n int, start, step float64) {
	cb.Arange(un(dst), n, start, step)
}
func (*fakeBackend) Random(dst device.Buffer, n int, dist device.Dist, seed, counter uint64, a, b float64) {
	cb.Random(un(dst), n, dist, seed, counter, a, b)
}
func (*fakeBackend) Unary(op device.UnaryOp, dst, src device.Buffer, sl device.Layout) {
	cb.Unary(op, un(dst), un(src), sl)
}
func (*fakeBackend) Scalar(op device.ScalarOp, dst, src device.Buffer, sl device.Layout, s float64) {
	cb.Scalar(op, un(dst), un(src), sl, s)
}
func (*fakeBackend) Binary(op device.BinaryOp, dst, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout) {
	cb.Binary(op, un(dst), un(a), al, un(b), bl)
}
func (*fakeBackend) AddScaled(dst, a device.Buffer, al device.Layout, alpha float64, b device.Buffer, bl device.Layout, beta float64) {
	cb.AddScaled(un(dst), un(a), al, alpha, un(b), bl, beta)
}
func (*fakeBackend) Where(dst, c device.Buffer, cl device.Layout, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout) {
	cb.Where(un(dst), un(c), cl, un(a), al, un(b), bl)
}
func (*fakeBackend) Reduce(op device.ReduceOp, dst, src device.Buffer, sl device.Layout, axes []int) {
	cb.Reduce(op, un(dst), un(src), sl, axes)
}
func (*fakeBackend) ArgReduce(op device.ArgOp, dst, src device.Buffer, sl device.Layout, axis int) {
	cb.ArgReduce(op, un(dst), un(src), sl, axis)
}
func (*fakeBackend) CumSum(dst, src device.Buffer, sl device.Layout, axis int, reverse bool) {
	cb.CumSum(un(dst), un(src), sl, axis, reverse)
}
func (*fakeBackend) MatMul(dst device.Buffer, dl device.MatLayout, a device.Buffer, al device.MatLayout, b device.Buffer, bl device.MatLayout, batch, m, n, k int) {
	cb.MatMul(un(dst), dl, un(a), al, un(b), bl, batch, m, n, k)
}

func (*fakeBackend) Im2Col(dst, src device.Buffer, sl device.Layout, g device.ConvGeom) {
	cb.Im2Col(un(dst), un(src), sl, g)
}
func (*fakeBackend) Col2Im(dst, src device.Buffer, g device.ConvGeom) { cb.Col2Im(un(dst), un(src), g) }
func (*fakeBackend) MaxPool(dst, idx, src device.Buffer, sl device.Layout, g device.ConvGeom) {
	cb.MaxPool(un(dst), un(idx), un(src), sl, g)
}
func (*fakeBackend) PoolScatter(dx, dy, idx device.Buffer, g device.ConvGeom) {
	cb.PoolScatter(un(dx), un(dy), un(idx), g)
}
func (f *fakeBackend) Gather(dst, src, idx device.Buffer, g device.GatherGeom) {
	if f.rec.checkGeom(device.IndexGather, idx, g) {
		cb.Gather(un(dst), un(src), un(idx), g)
	} else {
		cb.Fill(un(dst), device.Contiguous([]int{dst.Len()}), math.NaN())
	}
}
func (f *fakeBackend) ScatterAdd(dst, src, idx device.Buffer, g device.GatherGeom) {
	if f.rec.checkGeom(device.IndexScatterAdd, idx, g) {
		cb.ScatterAdd(un(dst), un(src), un(idx), g)
	} else {
		cb.Fill(un(dst), device.Contiguous([]int{dst.Len()}), math.NaN())
	}
}
func (*fakeBackend) PoolGather(dst, src, idx device.Buffer, g device.ConvGeom) {
	cb.PoolGather(un(dst), un(src), un(idx), g)
}
func (f *fakeBackend) SoftmaxCE(loss, prob, logits, labels device.Buffer, n, c int) {
	f.rec.check(device.IndexSoftmaxCE, labels, 0, n, c)
	cb.SoftmaxCE(un(loss), un(prob), un(logits), un(labels), n, c)
}

// unOpt is un for an optional buffer (nil stays nil).
func unOpt(b device.Buffer) device.Buffer {
	if b == nil {
		return nil
	}
	return un(b)
}
func (*fakeBackend) LayerNorm(y, mean, rstd, x, w, b device.Buffer, p device.NormParams) {
	cb.LayerNorm(un(y), unOpt(mean), un(rstd), un(x), unOpt(w), unOpt(b), p)
}
func (*fakeBackend) LayerNormGrad(dx, dw, db, dy, x, mean, rstd, w device.Buffer, p device.NormParams) {
	cb.LayerNormGrad(un(dx), unOpt(dw), unOpt(db), un(dy), un(x), unOpt(mean), un(rstd), unOpt(w), p)
}
func (f *fakeBackend) SoftmaxCEGrad(d, prob, labels, g device.Buffer, gl device.Layout, n, c int) {
	cb.SoftmaxCEGrad(un(d), un(prob), un(labels), un(g), gl, n, c)
	if i := f.rec.check(device.IndexSoftmaxCEGrad, labels, 0, n, c); i >= 0 {
		cb.Fill(un(d), device.Layout{Shape: []int{c}, Strides: []int{1}, Offset: i * c}, math.NaN())
	}
}
func (*fakeBackend) Attention(out, lse, q, k, v device.Buffer, g device.AttentionGeom) {
	cb.Attention(un(out), un(lse), un(q), un(k), un(v), g)
}
func (*fakeBackend) AttentionGrad(dq, dk, dv, dout, q, k, v, out, lse device.Buffer, g device.AttentionGeom) {
	cb.AttentionGrad(un(dq), un(dk), un(dv), un(dout), un(q), un(k), un(v), un(out), un(lse), g)
}
func (*fakeBackend) SGDStep(w, v, g device.Buffer, n int, p device.SGDParams) {
	var vv device.Buffer
	if v != nil {
		vv = un(v)
	}
	cb.SGDStep(un(w), vv, un(g), n, p)
}
func (*fakeBackend) AdamStep(w, m, v, g device.Buffer, n int, p device.AdamParams) {
	cb.AdamStep(un(w), un(m), un(v), un(g), n, p)
}

type provider struct{ be *fakeBackend }

func (provider) Count() int { return 1 }
func (p provider) Open(i int) (device.Backend, error) {
	if i != 0 {
		return nil, errors.New("fake: no such device")
	}
	return p.be, nil
}

var fake = &fakeBackend{}

var gpu = device.CUDA(0)

func TestMain(m *testing.M) {
	// Fix tensor's default device to the CPU before the fake CUDA device
	// exists, then register it.
	os.Setenv(device.EnvVar, "cpu")
	tensor.Zeros(nil)
	device.Register(device.KindCUDA, provider{fake})
	os.Exit(m.Run())
}

func values(t *testing.T, what string, got *T, want ...float64) {
	t.Helper()
	v := got.Float64s()
	if len(v) != len(want) {
		t.Fatalf("%s = %v, want %v", what, v, want)
	}
	for i := range v {
		if v[i] != want[i] {
			t.Fatalf("%s = %v, want %v", what, v, want)
		}
	}
}

func wantErr(t *testing.T, what string, fn func(), kind error, parts ...string) {
	t.Helper()
	err := tensor.Maybe(fn)
	var te *tensor.Error
	if !errors.Is(err, kind) || !errors.As(err, &te) {
		t.Errorf("%s: error %v, want %v", what, err, kind)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: message %q does not contain %q", what, err, p)
		}
	}
}

func TestRegistry(t *testing.T) {
	av := device.Available()
	if len(av) != 2 || av[0] != device.CPU() || av[1] != gpu {
		t.Fatalf("Available() = %v, want [cpu cuda:0]", av)
	}
	if be, err := device.Lookup(gpu); err != nil || be != device.Backend(fake) {
		t.Fatalf("Lookup(cuda:0) = %v, %v", be, err)
	}
	_, err := device.Lookup(device.CUDA(1))
	if !errors.Is(err, device.ErrUnavailable) || !strings.Contains(err.Error(), "has 1") {
		t.Errorf("Lookup(cuda:1) error %v", err)
	}
	// Default prefers the GPU when TAPEGRAD_DEVICE is unset, and honours
	// it when set.
	t.Setenv(device.EnvVar, "")
	os.Unsetenv(device.EnvVar)
	if d := device.Default(); d != gpu {
		t.Errorf("Default() with a GPU and no %s = %v, want cuda:0", device.EnvVar, d)
	}
	t.Setenv(device.EnvVar, "cpu")
	if d := device.Default(); d != device.CPU() {
		t.Errorf("Default() with %s=cpu = %v", device.EnvVar, d)
	}
	t.Setenv(device.EnvVar, "cuda")
	if d := device.Default(); d != gpu {
		t.Errorf("Default() with %s=cuda = %v", device.EnvVar, d)
	}
	t.Setenv(device.EnvVar, "cuda:1")
	func() {
		defer func() {
			if err, ok := recover().(error); !ok || !errors.Is(err, device.ErrUnavailable) || !strings.Contains(err.Error(), "cuda:1") {
				t.Errorf("Default() with %s=cuda:1 on a 1-GPU machine: panic %v, want an error matching ErrUnavailable", device.EnvVar, err)
			}
		}()
		device.Default()
	}()
}

func TestOpsOnDevice(t *testing.T) {
	x := tensor.Array([][]float64{{1, 2, 3}, {4, 5, 6}}, tensor.On(gpu))
	if x.Device() != gpu {
		t.Fatalf("Array(On(cuda:0)) is on %v", x.Device())
	}
	y := x.Add(x.T().T()).Mul(tensor.Scalar(0.5, tensor.On(gpu), tensor.WithDType(tensor.Float64)))
	if y.Device() != gpu {
		t.Errorf("result on %v", y.Device())
	}
	values(t, "ops on the device", y, 1, 2, 3, 4, 5, 6)
	values(t, "reduction on the device", x.Sum(0), 5, 7, 9)
	values(t, "matmul on the device", x.MatMul(x.T()), 14, 32, 32, 77)
	// The fused LayerNorm on the device, through the fake backend's
	// LayerNorm and LayerNormGrad (optional buffers passed as nil).
	ln := x.LayerNorm(1, nil, nil, 0)
	values(t, "LayerNorm on the device", ln, -math.Sqrt(1.5), 0, math.Sqrt(1.5), -math.Sqrt(1.5), 0, math.Sqrt(1.5))
	wx := x.Clone()
	wx.AttachGrad()
	w := tensor.Array([]float64{1, 2, 3}, tensor.On(gpu))
	w.AttachGrad()
	var loss *T
	autograd.Record(func() { loss = wx.RMSNorm(1, w, 0).Sum() })
	loss.Backward()
	if wx.Grad().Device() != gpu || w.Grad().Device() != gpu {
		t.Errorf("RMSNorm gradients on %v and %v", wx.Grad().Device(), w.Grad().Device())
	}
	if s := x.String(); s != "[[1 2 3]\n [4 5 6]]" {
		t.Errorf("String on the device = %q", s)
	}
	if x.Sum().Item() != 21 {
		t.Errorf("Item on the device = %v", x.Sum().Item())
	}
	tensor.Seed(3)
	r1 := tensor.RandUniform(0, 1, []int{10}, tensor.On(gpu)).Float32s()
	tensor.Seed(3)
	r2 := tensor.RandUniform(0, 1, []int{10}).Float32s()
	for i := range r1 {
		if r1[i] != r2[i] {
			t.Fatalf("the same seed gives other numbers on another device: %v vs %v", r1, r2)
		}
	}
}

func TestMixedDevices(t *testing.T) {
	c := tensor.Ones([]int{2})
	g := tensor.Ones([]int{2}, tensor.On(gpu))
	parts := []string{"device mismatch", "devices cpu, cuda:0", "To"}
	wantErr(t, "Add", func() { c.Add(g) }, tensor.ErrDevice, append(parts, "Add")...)
	wantErr(t, "MatMul", func() { g.MatMul(c) }, tensor.ErrDevice, "MatMul", "cuda:0, cpu")
	wantErr(t, "Where", func() { tensor.Where(c, g, g) }, tensor.ErrDevice, "Where")
	wantErr(t, "Concat", func() { tensor.Concat([]*T{g, c}, 0) }, tensor.ErrDevice, "Concat")
	wantErr(t, "Stack", func() { tensor.Stack([]*T{c, g}, 0) }, tensor.ErrDevice, "Stack")
	wantErr(t, "Maximum", func() { c.Maximum(g) }, tensor.ErrDevice, "Maximum")
	wantErr(t, "LayerNorm", func() { c.LayerNorm(1, g, nil, 1e-5) }, tensor.ErrDevice, "LayerNorm", "cpu, cuda:0")
	wantErr(t, "RMSNorm", func() { g.RMSNorm(1, c, 1e-5) }, tensor.ErrDevice, "RMSNorm")
	values(t, "operands unchanged", g, 1, 1)

	// A head gradient on another device.
	x := tensor.Ones([]int{2}, tensor.On(gpu))
	x.AttachGrad()
	var y *T
	autograd.Record(func() { y = x.MulScalar(3) })
	wantErr(t, "head gradient device", func() { y.Backward(c) }, tensor.ErrDevice, "head gradient device")
	y.Backward(g)
	values(t, "gradient on the device", x.Grad(), 3, 3)
	if x.Grad().Device() != gpu {
		t.Errorf("gradient of a cuda:0 tensor is on %v", x.Grad().Device())
	}
}

func TestTo(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		h := tensor.Arange(0, 6, 1, tensor.WithDType(dt)).Reshape(2, 3)
		d := h.To(gpu)
		if d.Device() != gpu || d.DType() != dt {
			t.Fatalf("To(cuda:0): %v %v", d.Device(), d.DType())
		}
		values(t, "host to device", d, 0, 1, 2, 3, 4, 5)
		values(t, "transposed host to device", h.T().To(gpu), 0, 3, 1, 4, 2, 5)
		back := d.T().To(device.CPU())
		if back.Device() != device.CPU() {
			t.Fatalf("To(cpu) is on %v", back.Device())
		}
		values(t, "transposed device to host", back, 0, 3, 1, 4, 2, 5)
		if d.To(gpu) != d || h.To(device.CPU()) != h {
			t.Error("To the same device should return the receiver")
		}
	}
	// Gradients flow back across devices.
	x := tensor.Array([]float64{1, -2, 3})
	x.AttachGrad()
	var y *T
	autograd.Record(func() { y = x.To(gpu).Square().Sum().To(device.CPU()) })
	y.Backward()
	values(t, "gradient across devices", x.Grad(), 2, -4, 6)
	if x.Grad().Device() != device.CPU() {
		t.Errorf("gradient of a cpu tensor is on %v", x.Grad().Device())
	}
	f := func(xs []*T) *T {
		a := xs[0].To(gpu)
		return a.Exp().MatMul(xs[1].To(gpu)).Tanh().To(device.CPU()).Mul(xs[0].Sum())
	}
	tensor.Seed(4)
	in := []*T{
		tensor.RandUniform(-1, 1, []int{2, 3}, tensor.WithDType(tensor.Float64)),
		tensor.RandUniform(-1, 1, []int{3, 2}, tensor.WithDType(tensor.Float64)),
	}
	if err := autograd.CheckGrad(f, in, autograd.CheckOptions{}); err != nil {
		t.Error(err)
	}
	// CheckGrad on device inputs.
	gin := []*T{in[0].To(gpu), in[1].To(gpu)}
	g := func(xs []*T) *T { return xs[0].MatMul(xs[1]).Sigmoid().Sum(0) }
	if err := autograd.CheckGrad(g, gin, autograd.CheckOptions{}); err != nil {
		t.Error(err)
	}
}

func TestReleaseFreesDeviceMemory(t *testing.T) {
	x := tensor.Zeros([]int{100}, tensor.On(gpu))
	before := fake.frees.Load()
	x.Release()
	if got := fake.frees.Load() - before; got != 1 {
		t.Errorf("Release freed %d device buffers, want 1", got)
	}
	wantErr(t, "use after Release", func() { x.Sum() }, tensor.ErrReleased, "Sum")
	x.Release()
	if got := fake.frees.Load() - before; got != 1 {
		t.Errorf("a second Release freed again (%d)", got)
	}
}
