package cuda

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The device.HalfKernels methods against the fake driver: which kernel of
// which half module each call launches, with what arguments and grid, and
// that a call they have no kernel for launches nothing and reports false.
// (TestOpTableLaunches covers every op of the table in every variant.)

func launchNames(ctx *fakeContext, k int) []string {
	var out []string
	for _, l := range ctx.launches[k:] {
		out = append(out, l.name)
	}
	return out
}

func TestHalfKernelsModules(t *testing.T) {
	for _, dt := range halfDTypes {
		m := kernels.HalfModule(dt)
		want := kernels.KernelNames(m)
		if got := KernelNames(m); !reflect.DeepEqual(got, want) {
			t.Errorf("module %s: registered %d kernels, the module lists %d", m, len(got), len(want))
		}
	}
}

func TestHalfKernelsLaunches(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	for _, dt := range halfDTypes {
		n := 1 << 12
		x, y, d := alloc(t, b, dt, n), alloc(t, b, dt, n), alloc(t, b, dt, n)

		// Dense unary at an offset: the pointer advanced by 2-byte
		// elements; 8 halves per thread and step.
		if !b.HalfUnary(device.Sigmoid, d, x, device.Layout{Shape: []int{n - 8}, Strides: []int{1}, Offset: 8}) {
			t.Fatalf("HalfUnary %v declined", dt)
		}
		l := lastLaunch(t, ctx)
		if a := decode[mapArgs](l); l.name != kernels.UnaryName(device.Sigmoid, dt, false) || a.Src != x.ptr+16 || a.Dst != d.ptr || a.N != int64(n-8) ||
			l.grid[0] != uint32((n-8+threads*halfVec-1)/(threads*halfVec)) || l.block != block1D {
			t.Errorf("HalfUnary %v: %s %+v grid %v", dt, l.name, a, l.grid)
		}
		// Scalar: v travels as a float64.
		b.HalfScalar(device.PowS, d, x, device.Contiguous([]int{n}), 0.1)
		l = lastLaunch(t, ctx)
		if a := decode[mapArgs](l); l.name != kernels.ScalarName(device.PowS, dt, false) || a.S != 0.1 {
			t.Errorf("HalfScalar %v: %s %+v", dt, l.name, a)
		}
		// In-place binary with a column broadcast.
		b.HalfBinary(device.Mul, d, d, device.Contiguous([]int{64, 64}), y, device.Layout{Shape: []int{64, 64}, Strides: []int{1, 0}})
		l = lastLaunch(t, ctx)
		if a := decode[zipArgs](l); l.name != kernels.BinaryName(device.Mul, dt, kernels.Col) || a.Dst != d.ptr || a.A != d.ptr || a.B != y.ptr || a.Cols != 64 || a.N != int64(n) {
			t.Errorf("HalfBinary %v: %s %+v", dt, l.name, a)
		}
		// AddScaled: dense, then strided for a broadcast operand.
		b.HalfAddScaled(d, x, device.Contiguous([]int{n}), 0.5, y, device.Contiguous([]int{n}), -2)
		l = lastLaunch(t, ctx)
		if a := decode[zipArgs](l); l.name != kernels.AxpbyName(dt, false) || a.Alpha != 0.5 || a.Beta != -2 || a.N != int64(n) ||
			l.grid[0] != uint32(n/(threads*halfVec)) {
			t.Errorf("HalfAddScaled %v dense: %s %+v grid %v", dt, l.name, a, l.grid)
		}
		b.HalfAddScaled(d, x, device.Contiguous([]int{64, 64}), 1, y, device.Layout{Shape: []int{64, 64}, Strides: []int{0, 1}}, 1)
		l = lastLaunch(t, ctx)
		if a := decode[zipStridedArgs](l); l.name != kernels.AxpbyName(dt, true) || a.Shape.N != int64(n) || a.VB.Strides[0] != 0 {
			t.Errorf("HalfAddScaled %v strided: %s %+v", dt, l.name, a)
		}

		// Reductions: the inner plan, the outer plan, a middle axis (a
		// half copy to reorder first), an empty reduction (a half fill).
		out := alloc(t, b, dt, 64)
		k := len(ctx.launches)
		b.HalfReduce(device.Sum, out, x, device.Contiguous([]int{64, 64}), []int{1})
		if got, want := launchNames(ctx, k), []string{kernels.ReduceName(device.Sum, dt, kernels.Inner), kernels.ReduceName(device.Sum, dt, kernels.Final)}; !reflect.DeepEqual(got, want) {
			t.Errorf("HalfReduce %v inner: %v, want %v", dt, got, want)
		}
		ia, fa := decode[reduceInnerArgs](ctx.launches[k]), decode[reduceFinalArgs](ctx.launches[k+1])
		if ia.Src != x.ptr || ia.Rows != 64 || ia.Run != 64 || fa.Dst != out.ptr || fa.Part != ia.Part || fa.Count != 64 || fa.Transposed != 0 {
			t.Errorf("HalfReduce %v inner args %+v %+v", dt, ia, fa)
		}
		k = len(ctx.launches)
		b.HalfReduce(device.Norm2, out, x, device.Contiguous([]int{64, 64}), []int{0})
		if got, want := launchNames(ctx, k), []string{kernels.ReduceName(device.Norm2, dt, kernels.Outer), kernels.ReduceName(device.Norm2, dt, kernels.Final)}; !reflect.DeepEqual(got, want) {
			t.Errorf("HalfReduce %v outer: %v, want %v", dt, got, want)
		}
		if oa := decode[reduceOuterArgs](ctx.launches[k]); oa.Cols != 64 || oa.Rows != 64 || oa.Src != x.ptr {
			t.Errorf("HalfReduce %v outer args %+v", dt, oa)
		}
		k = len(ctx.launches)
		b.HalfReduce(device.Max, out, x, device.Contiguous([]int{4, 16, 64}), []int{1})
		if got, want := launchNames(ctx, k), []string{kernels.CopyName(dt, dt), kernels.ReduceName(device.Max, dt, kernels.Inner), kernels.ReduceName(device.Max, dt, kernels.Final)}; !reflect.DeepEqual(got, want) {
			t.Errorf("HalfReduce %v middle axis: %v, want %v", dt, got, want)
		}
		k = len(ctx.launches)
		b.HalfReduce(device.Mean, out, x, device.Layout{Shape: []int{8, 0}, Strides: []int{0, 1}}, []int{1})
		if got, want := launchNames(ctx, k), []string{kernels.FillName(dt, true)}; !reflect.DeepEqual(got, want) {
			t.Errorf("HalfReduce %v empty: %v, want %v", dt, got, want)
		}
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// Buffers that are not all of one half dtype: the methods decline, having
// launched nothing, and device.WithHalf computes in float32 scratch.
func TestHalfKernelsDecline(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	bf, f16, f32 := alloc(t, b, device.BFloat16, 16), alloc(t, b, device.Float16, 16), alloc(t, b, device.Float32, 16)
	l := device.Contiguous([]int{16})
	k := len(ctx.launches)
	for what, ok := range map[string]bool{
		"Unary f32":           b.HalfUnary(device.Exp, f32, f32, l),
		"Unary bf16<-f16":     b.HalfUnary(device.Exp, bf, f16, l),
		"Scalar f32<-bf16":    b.HalfScalar(device.AddS, f32, bf, l, 1),
		"Binary bf16,f16":     b.HalfBinary(device.Add, bf, bf, l, f16, l),
		"AddScaled f16,f32":   b.HalfAddScaled(f16, f16, l, 1, f32, l, 1),
		"Reduce f32<-f16":     b.HalfReduce(device.Sum, f32, f16, l, []int{0}),
		"Reduce float32 only": b.HalfReduce(device.Sum, f32, f32, l, []int{0}),
	} {
		if ok {
			t.Errorf("%s: accepted", what)
		}
	}
	if len(ctx.launches) != k {
		t.Fatalf("declined calls launched %v", launchNames(ctx, k))
	}
	// Through WithHalf, a mixed call takes the scratch path.
	device.WithHalf(b).Unary(device.Exp, bf, f16, l)
	got := strings.Join(launchNames(ctx, k), ",")
	if want := kernels.CopyName(device.Float16, device.Float32) + "," + kernels.UnaryName(device.Exp, device.Float32, false) + "," + kernels.CopyName(device.Float32, device.BFloat16); got != want {
		t.Errorf("mixed Unary through WithHalf launched %s, want %s", got, want)
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}
