package cuda

import (
	"fmt"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// Every elementwise operation of the op table (internal/optable), on
// float32, float64 and (through device.WithHalf, which offers them to the
// backend's device.HalfKernels) bfloat16 and float16, launches its own
// kernel with the argument layout of its kind: dense and strided for unary
// and scalar ops, every variant for binary ops. A row added to the table
// is checked here with no edit.
func TestOpTableLaunches(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	dense := device.Contiguous([]int{3, 4})
	transposed := device.Layout{Shape: []int{4, 3}, Strides: []int{1, 4}}
	bcast := func(strides ...int) device.Layout { return device.Layout{Shape: []int{3, 4}, Strides: strides} }
	check := func(what, want string, ok bool, args any) {
		t.Helper()
		l := lastLaunch(t, ctx)
		if l.name != want || !ok {
			t.Errorf("%s launched %s with %+v, want %s", what, l.name, args, want)
		}
	}
	for _, dt := range []device.DType{device.Float32, device.Float64, device.BFloat16, device.Float16} {
		be := device.Backend(b)
		if dt.IsHalf() {
			be = device.WithHalf(b)
		}
		x := alloc(t, b, dt, 12)
		y := alloc(t, b, dt, 12)
		d := alloc(t, b, dt, 12)
		for op := range device.UnaryOp(device.NumUnaryOps) {
			what := fmt.Sprintf("Unary %v %v", op, dt)
			be.Unary(op, d, x, dense)
			a := decode[mapArgs](lastLaunch(t, ctx))
			check(what+" dense", kernels.UnaryName(op, dt, false), a.N == 12 && a.Dst == d.ptr && a.Src == x.ptr, a)
			be.Unary(op, d, x, transposed)
			sa := decode[mapStridedArgs](lastLaunch(t, ctx))
			check(what+" strided", kernels.UnaryName(op, dt, true), sa.Shape.N == 12 && sa.X.Strides[0] == 1 && sa.X.Strides[1] == 4, sa)
		}
		for op := range device.ScalarOp(device.NumScalarOps) {
			what := fmt.Sprintf("Scalar %v %v", op, dt)
			be.Scalar(op, d, x, dense, -1.25)
			a := decode[mapArgs](lastLaunch(t, ctx))
			check(what+" dense", kernels.ScalarName(op, dt, false), a.N == 12 && a.S == -1.25 && a.Src == x.ptr, a)
			be.Scalar(op, d, x, transposed, 3)
			sa := decode[mapStridedArgs](lastLaunch(t, ctx))
			check(what+" strided", kernels.ScalarName(op, dt, true), sa.S == 3 && sa.Shape.N == 12, sa)
		}
		pairs := []struct {
			v      kernels.Variant
			al, bl device.Layout
		}{
			{kernels.VV, dense, dense}, {kernels.VS, dense, bcast(0, 0)}, {kernels.SV, bcast(0, 0), dense},
			{kernels.Row, dense, bcast(0, 1)}, {kernels.RowR, bcast(0, 1), dense},
			{kernels.Col, dense, bcast(1, 0)}, {kernels.ColR, bcast(1, 0), dense},
		}
		for op := range device.BinaryOp(device.NumBinaryOps) {
			for _, p := range pairs {
				be.Binary(op, d, x, p.al, y, p.bl)
				a := decode[zipArgs](lastLaunch(t, ctx))
				check(fmt.Sprintf("Binary %v %v %s", op, dt, kernels.Variants[p.v]), kernels.BinaryName(op, dt, p.v),
					a.N == 12 && a.A == x.ptr && a.B == y.ptr && a.Dst == d.ptr, a)
			}
			be.Binary(op, d, x, transposed, y, device.Contiguous([]int{4, 3}))
			sa := decode[zipStridedArgs](lastLaunch(t, ctx))
			check(fmt.Sprintf("Binary %v %v strided", op, dt), kernels.BinaryName(op, dt, kernels.Strided), sa.Shape.N == 12, sa)
		}
	}
}
