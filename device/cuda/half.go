package cuda

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The half dtypes' own kernels (modules half_bf16 and half_f16): the
// elementwise methods and Reduce on BFloat16 and Float16 buffers, through
// device.HalfKernels. device.WithHalf offers these calls here first; a
// method declines (false, nothing launched) when the buffers are not all
// of one half dtype, and WithHalf then runs its float32 scratch path.

// halfVec is the number of halves a thread of a dense half kernel takes
// per step (one 16-byte vector).
const halfVec = 8

var (
	kHalfUnary  [device.NumUnaryOps][2][2]int // [op][half index][strided]
	kHalfScalar [device.NumScalarOps][2][2]int
	kHalfBinary [device.NumBinaryOps][2][numVariants]int
	kHalfAxpby  [2][2]int // [half index][strided]
	kHalfReduce [device.NumReduceOps][2][3]int
)

// halfDTypes are the half dtypes by half index.
var halfDTypes = [2]device.DType{device.BFloat16, device.Float16}

// registerHalf registers the kernels of the half modules (called from the
// kernel table's init).
func registerHalf() {
	for h, dt := range halfDTypes {
		m := kernels.HalfModule(dt)
		for op := range device.UnaryOp(device.NumUnaryOps) {
			kHalfUnary[op][h][0] = reg(m, kernels.UnaryName(op, dt, false))
			kHalfUnary[op][h][1] = reg(m, kernels.UnaryName(op, dt, true))
		}
		for op := range device.ScalarOp(device.NumScalarOps) {
			kHalfScalar[op][h][0] = reg(m, kernels.ScalarName(op, dt, false))
			kHalfScalar[op][h][1] = reg(m, kernels.ScalarName(op, dt, true))
		}
		for op := range device.BinaryOp(device.NumBinaryOps) {
			for v := range numVariants {
				kHalfBinary[op][h][v] = reg(m, kernels.BinaryName(op, dt, kernels.Variant(v)))
			}
		}
		kHalfAxpby[h][0] = reg(m, kernels.AxpbyName(dt, false))
		kHalfAxpby[h][1] = reg(m, kernels.AxpbyName(dt, true))
		for op := range device.ReduceOp(device.NumReduceOps) {
			for p := range 3 {
				kHalfReduce[op][h][p] = reg(m, kernels.ReduceName(op, dt, kernels.Pass(p)))
			}
		}
	}
}

// halfIndex returns the half index of dst's dtype when dst and every
// operand are of that one half dtype.
func halfIndex(dst device.Buffer, operands ...device.Buffer) (int, bool) {
	dt := bufOf(dst).dt
	if !dt.IsHalf() {
		return 0, false
	}
	for _, x := range operands {
		if bufOf(x).dt != dt {
			return 0, false
		}
	}
	if dt == device.Float16 {
		return 1, true
	}
	return 0, true
}

var _ device.HalfKernels = (*Backend)(nil)

// HalfUnary writes op(src) to dst, both of one half dtype.
func (b *Backend) HalfUnary(op device.UnaryOp, dst, src device.Buffer, sl device.Layout) bool {
	h, ok := halfIndex(dst, src)
	if ok {
		b.launchMap(kHalfUnary[op][h], dst, src, sl, 0, halfVec)
	}
	return ok
}

// HalfScalar writes op(src, v) to dst, both of one half dtype (v rounded
// to float32, as the float32 kernels round it).
func (b *Backend) HalfScalar(op device.ScalarOp, dst, src device.Buffer, sl device.Layout, v float64) bool {
	h, ok := halfIndex(dst, src)
	if ok {
		b.launchMap(kHalfScalar[op][h], dst, src, sl, v, halfVec)
	}
	return ok
}

// HalfBinary writes op(a, b) to dst, all of one half dtype, with the
// variant kernel the layouts allow (as Binary).
func (b *Backend) HalfBinary(op device.BinaryOp, dst, a device.Buffer, al device.Layout, bb device.Buffer, bl device.Layout) bool {
	h, ok := halfIndex(dst, a, bb)
	if ok {
		b.launchZip(&kHalfBinary[op][h], dst, a, al, bb, bl, 1, 1, halfVec)
	}
	return ok
}

// HalfAddScaled writes alpha·a + beta·b to dst, all of one half dtype.
func (b *Backend) HalfAddScaled(dst, a device.Buffer, al device.Layout, alpha float64, bb device.Buffer, bl device.Layout, beta float64) bool {
	h, ok := halfIndex(dst, a, bb)
	if ok {
		b.launchZip(axpbyIDs(kHalfAxpby[h], al, bl), dst, a, al, bb, bl, alpha, beta, halfVec)
	}
	return ok
}

// HalfReduce reduces src over axes into dst, both of one half dtype, with
// Reduce's plans: double partials, the result rounded once.
func (b *Backend) HalfReduce(op device.ReduceOp, dst, src device.Buffer, sl device.Layout, axes []int) bool {
	h, ok := halfIndex(dst, src)
	if ok {
		b.reduce(op, kHalfReduce[op][h], dst, src, sl, axes)
	}
	return ok
}
