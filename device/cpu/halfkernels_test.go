package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
)

// The half kernels (cpu.Backend's device.HalfKernels) against the scratch
// path of device.WithHalf (the same backend with the half kernels hidden),
// bit for bit: every elementwise operation of the op table and every
// reduction, in bfloat16 and float16, on dense, offset, permuted, strided
// and broadcast operands, at sizes around the kernels' block and large
// enough to be split across goroutines, on data with NaN payloads,
// infinities, signed zeros, subnormals and values beyond float16's range.
// The reductions are also checked against a float64 reference.

var _ device.HalfKernels = cpu.Get()

// scratchPath is device.WithHalf over the CPU backend without its half
// kernels: every half operation on float32 scratch buffers.
var scratchPath = device.WithHalf(struct{ device.Backend }{be})

// kernelPath is device.WithHalf over the CPU backend, which offers the
// half operations to its kernels.
var kernelPath = device.WithHalf(be)

var halfDTypes = []device.DType{device.BFloat16, device.Float16}

// halfSpecials are bit patterns of both half dtypes: NaNs (quiet and
// signalling, payloads, both signs), infinities, zeros, subnormals, the
// largest values, 1 and its neighbours.
var halfSpecials = map[device.DType][]uint16{
	device.BFloat16: {0x7fc0, 0xffc0, 0x7fc1, 0xff81, 0x7f81, 0x7f80, 0xff80, 0, 0x8000, 1, 0x8001, 0x007f, 0x7f7f, 0xff7f, 0x3f80, 0x3f81, 0x3f7f, 0xbf80},
	device.Float16:  {0x7e00, 0xfe00, 0x7e01, 0xfd01, 0x7c01, 0x7c00, 0xfc00, 0, 0x8000, 1, 0x8001, 0x03ff, 0x7bff, 0xfbff, 0x3c00, 0x3c01, 0x3bff, 0xbc00},
}

// halfData returns n elements of dt: mostly normal values of a few sizes
// (some beyond float16's range, as float32 results can be), some specials.
func halfData(r *rand.Rand, dt device.DType, n int, special bool) []uint16 {
	v := make([]uint16, n)
	sp := halfSpecials[dt]
	for i := range v {
		switch x := r.IntN(20); {
		case special && x == 0:
			v[i] = sp[r.IntN(len(sp))]
		case special && x == 1:
			v[i] = uint16(r.Uint32())
		default:
			f := r.NormFloat64() * []float64{1, 1, 1, 0.01, 30, 3000}[r.IntN(6)]
			v[i] = device.HalfFromFloat64(dt, f)
		}
	}
	return v
}

// halfOperand is an operand of a layout kind (makeOperand's) holding half
// data.
func halfOperand(r *rand.Rand, dt device.DType, shape []int, kind string, special bool) (*cpu.Buffer, device.Layout) {
	o := makeOperand(r, shape, kind)
	return cpu.WrapHalf(dt, halfData(r, dt, len(o.buf), special)), o.l
}

// bitsOf returns a copy of a half buffer's bits.
func bitsOf(b *cpu.Buffer) []uint16 { return append([]uint16(nil), b.Uint16s()...) }

func compareHalfBits(t *testing.T, what string, got, want []uint16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: element %d = %#04x, want %#04x (scratch path)", what, i, got[i], want[i])
		}
	}
}

// halfShapes are the shapes of the elementwise tests: empty, one element,
// around the block of 1024 elements, small multi-dimensional ones, and
// large ones split across goroutines (dense; and 2-d for the other
// layouts).
func halfShapes() [][]int {
	s := [][]int{{0}, {1}, {7}, {1023}, {1024}, {1025}, {3, 5}, {4, 5, 6}, {3, 0}, {}, {9, 700}, {70, 35}, {300, 333}}
	if !testing.Short() {
		s = append(s, []int{2*32768 + 13})
	}
	return s
}

// halfKinds returns the layout kinds a shape is tested with.
func halfKinds(shape []int) []string {
	switch n := device.NumElements(shape); {
	case len(shape) == 0:
		return []string{"dense", "offset"}
	case n > 50000 && testing.Short():
		return []string{"dense", "permuted"}
	case n > 50000:
		return []string{"dense", "permuted", "bcast0", "bcastLast", "scalar"}
	}
	return layoutKinds
}

func TestHalfKernelsUnaryScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, dt := range halfDTypes {
		for _, shape := range halfShapes() {
			for _, kind := range halfKinds(shape) {
				x, xl := halfOperand(r, dt, shape, kind, true)
				n := xl.Size()
				what := fmt.Sprintf("%v %v %s", dt, shape, kind)
				for op := range device.UnaryOp(device.NumUnaryOps) {
					want, got := alloc(t, dt, n), alloc(t, dt, n)
					scratchPath.Unary(op, want, x, xl)
					kernelPath.Unary(op, got, x, xl)
					compareHalfBits(t, what+" "+op.String(), bitsOf(got), bitsOf(want))
				}
				for op := range device.ScalarOp(device.NumScalarOps) {
					for _, v := range []float64{1.5, -0.3, 2} {
						want, got := alloc(t, dt, n), alloc(t, dt, n)
						scratchPath.Scalar(op, want, x, xl, v)
						kernelPath.Scalar(op, got, x, xl, v)
						compareHalfBits(t, fmt.Sprintf("%s %v %v", what, op, v), bitsOf(got), bitsOf(want))
					}
				}
			}
		}
	}
}

// binaryKindPairs returns the layout kinds of the operand pairs a shape is
// tested with.
func binaryKindPairs(shape []int) [][2]string {
	var p [][2]string
	if device.NumElements(shape) > 50000 && testing.Short() {
		return [][2]string{{"dense", "dense"}, {"permuted", "bcast0"}}
	}
	if device.NumElements(shape) > 50000 || len(shape) == 0 {
		for _, k := range [][2]string{{"dense", "dense"}, {"dense", "bcast0"}, {"bcastLast", "dense"}, {"permuted", "strided"},
			{"dense", "scalar"}, {"scalar", "dense"}, {"dense", "bcastLast"}, {"bcast0", "permuted"}} {
			if len(shape) > 0 || k[0] != "permuted" && k[1] != "permuted" && k[0] != "bcast0" && k[1] != "bcast0" && k[0] != "bcastLast" && k[1] != "bcastLast" {
				p = append(p, k)
			}
		}
		return p
	}
	for _, a := range layoutKinds {
		for _, b := range layoutKinds {
			p = append(p, [2]string{a, b})
		}
	}
	return p
}

func TestHalfKernelsBinary(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, dt := range halfDTypes {
		for _, shape := range halfShapes() {
			for _, k := range binaryKindPairs(shape) {
				a, al := halfOperand(r, dt, shape, k[0], true)
				b, bl := halfOperand(r, dt, shape, k[1], true)
				n := al.Size()
				what := fmt.Sprintf("%v %v %s,%s", dt, shape, k[0], k[1])
				for op := range device.BinaryOp(device.NumBinaryOps) {
					want, got := alloc(t, dt, n), alloc(t, dt, n)
					scratchPath.Binary(op, want, a, al, b, bl)
					kernelPath.Binary(op, got, a, al, b, bl)
					compareHalfBits(t, what+" "+op.String(), bitsOf(got), bitsOf(want))
				}
				for _, ab := range [][2]float64{{1, 1}, {1, -0.3}, {0.9, -0.3}} {
					want, got := alloc(t, dt, n), alloc(t, dt, n)
					scratchPath.AddScaled(want, a, al, ab[0], b, bl, ab[1])
					kernelPath.AddScaled(got, a, al, ab[0], b, bl, ab[1])
					compareHalfBits(t, fmt.Sprintf("%s AddScaled %v", what, ab), bitsOf(got), bitsOf(want))
				}
				if k[0] == "dense" {
					// In place: dst is a.
					for _, op := range []device.BinaryOp{device.Add, device.Mul, device.Maximum, device.Div} {
						x1 := cpu.WrapHalf(dt, bitsOf(a))
						x2 := cpu.WrapHalf(dt, bitsOf(a))
						scratchPath.Binary(op, x1, x1, al, b, bl)
						kernelPath.Binary(op, x2, x2, al, b, bl)
						compareHalfBits(t, what+" in place "+op.String(), bitsOf(x2), bitsOf(x1))
					}
					x1 := cpu.WrapHalf(dt, bitsOf(a))
					x2 := cpu.WrapHalf(dt, bitsOf(a))
					scratchPath.AddScaled(x1, x1, al, 1, b, bl, -0.3)
					kernelPath.AddScaled(x2, x2, al, 1, b, bl, -0.3)
					compareHalfBits(t, what+" AddScaled in place", bitsOf(x2), bitsOf(x1))
				}
			}
		}
	}
}

// TestHalfKernelsDecline checks that the kernels leave what they do not
// handle (mixed dtypes) to the scratch path, having done nothing.
func TestHalfKernelsDecline(t *testing.T) {
	l := device.Contiguous([]int{5})
	h := cpu.WrapHalf(device.BFloat16, []uint16{0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0})
	f := cpu.WrapHalf(device.Float16, []uint16{1, 2, 3, 4, 5})
	d := cpu.WrapHalf(device.BFloat16, make([]uint16, 5))
	f32 := alloc(t, device.Float32, 5)
	if be.HalfUnary(device.Neg, f32, h, l) || be.HalfBinary(device.Add, d, h, l, f, l) ||
		be.HalfAddScaled(d, h, l, 1, f, l, 1) || be.HalfScalar(device.AddS, f, h, l, 1) ||
		be.HalfReduce(device.Sum, f32, h, l, []int{0}) {
		t.Fatal("a half kernel accepted mixed dtypes")
	}
	for _, v := range d.Uint16s() {
		if v != 0 {
			t.Fatal("a declined half kernel wrote its destination")
		}
	}
}

func TestHalfKernelsReduce(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	type rcase struct {
		shape []int
		axes  [][]int
		kinds []string
	}
	all := []string{"dense", "offset", "permuted", "strided", "bcast0"}
	cases := []rcase{
		{[]int{7}, [][]int{{0}}, all},
		{[]int{1025}, [][]int{{0}}, all},
		{[]int{3, 5}, [][]int{{0}, {1}, {0, 1}}, all},
		{[]int{4, 5, 6}, [][]int{{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}}, all},
		{[]int{200, 180}, [][]int{{0}, {1}, {0, 1}}, all},
		{[]int{5, 0}, [][]int{{0}, {1}}, []string{"dense"}},
		{[]int{33, 300}, [][]int{{0}, {1}}, []string{"dense", "permuted"}},
		{[]int{1<<17 + 5}, [][]int{{0}}, []string{"dense"}}, // long runs in chunks, split across goroutines
		{[]int{300, 333}, [][]int{{1}, {0}}, []string{"dense"}},
	}
	if !testing.Short() {
		cases = append(cases,
			rcase{[]int{1<<17 + 5}, [][]int{{0}}, []string{"strided"}},
			rcase{[]int{3, 70000}, [][]int{{1}, {0}}, []string{"dense", "permuted"}},
			rcase{[]int{70000, 3}, [][]int{{0}}, []string{"dense"}},   // few columns, many rows
			rcase{[]int{4100, 1024}, [][]int{{0}}, []string{"dense"}}, // many short rows, interleaved
			rcase{[]int{20, 17000}, [][]int{{1}}, []string{"dense"}},  // rows of splitMin and more
			rcase{[]int{2, 20000}, [][]int{{0}}, []string{"dense"}},   // few long rows
		)
	}
	for _, dt := range halfDTypes {
		for _, c := range cases {
			for _, kind := range c.kinds {
				for _, special := range []bool{false, true} {
					x, xl := halfOperand(r, dt, c.shape, kind, special)
					for _, axes := range c.axes {
						keep := 1
						for i, d := range c.shape {
							if !containsInt(axes, i) {
								keep *= d
							}
						}
						for _, op := range allReduceOps {
							what := fmt.Sprintf("%v %v %s over %v of %v (specials %v)", op, dt, kind, axes, c.shape, special)
							want, got := alloc(t, dt, keep+2), alloc(t, dt, keep+2)
							copy(got.Uint16s(), []uint16{0x1234, 0x1234})
							copy(want.Uint16s(), got.Uint16s())
							got.Uint16s()[keep], got.Uint16s()[keep+1] = 0x1234, 0x4321
							want.Uint16s()[keep], want.Uint16s()[keep+1] = 0x1234, 0x4321
							scratchPath.Reduce(op, want, x, xl, axes)
							kernelPath.Reduce(op, got, x, xl, axes)
							compareHalfBits(t, what, bitsOf(got), bitsOf(want))
							if !special && xl.Size() > 0 { // (an empty reduction's Max is NaN, naiveReduce's 0)
								checkHalfReduce(t, what, op, dt, x, xl, axes, bitsOf(got)[:keep])
							}
						}
					}
				}
			}
		}
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkHalfReduce checks a half reduction against the float64 reduction
// of the widened elements: within half a unit in the last place of the
// half dtype, plus float32 rounding of the accumulated terms.
func checkHalfReduce(t *testing.T, what string, op device.ReduceOp, dt device.DType, x *cpu.Buffer, xl device.Layout, axes []int, got []uint16) {
	t.Helper()
	hb := x.Uint16s()
	vals := make([]float64, len(hb))
	for i, h := range hb {
		vals[i] = float64(device.HalfToFloat32(dt, h))
	}
	g := gather(vals, xl)
	want := naiveReduce(op, g, xl.Shape, axes)
	scale := 0.0
	for _, v := range g {
		scale += math.Abs(v) + v*v
	}
	ulp := 1.0 / 256
	if dt == device.Float16 {
		ulp = 1.0 / 2048
	}
	for i, w := range want {
		v := float64(device.HalfToFloat32(dt, got[i]))
		if math.IsNaN(w) && math.IsNaN(v) {
			continue
		}
		tol := ulp*math.Abs(w) + 1e-6*scale
		if dt == device.Float16 && math.Abs(w) > 65504 {
			tol = math.Inf(1) // overflow to Inf
		}
		if dt == device.Float16 && math.Abs(w) < 1.0/16384 {
			tol += 1.0 / (1 << 25) // float16 subnormals
		}
		if !(math.Abs(v-w) <= tol) {
			t.Fatalf("%s: element %d = %v, want %v (float64 reference)", what, i, v, w)
		}
	}
}

var _ device.HalfMatMuler = cpu.Get()

// TestHalfMatMul checks the half MatMul (GEMM widening while it packs)
// against the scratch path bit for bit: plain, transposed and padded
// operands, padded and batched outputs, products split across goroutines,
// k = 0, and operands strided both ways (declined: the scratch path).
func TestHalfMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	type mcase struct {
		batch, m, n, k int
		tA, tB         bool
		pad            int // extra row stride of a, b and dst
		strided        bool
	}
	cases := []mcase{
		{1, 1, 1, 1, false, false, 0, false}, {1, 3, 5, 4, false, false, 0, false}, {1, 7, 9, 13, true, false, 2, false},
		{1, 7, 9, 13, false, true, 1, false}, {1, 7, 9, 13, true, true, 3, false}, {3, 6, 17, 5, false, false, 1, false},
		{5, 20, 30, 40, true, false, 0, false}, {1, 4, 6, 0, false, false, 1, false}, {2, 5, 6, 7, false, false, 0, true},
		{1, 130, 150, 200, false, false, 0, false}, {1, 150, 130, 200, true, true, 5, false},
	}
	for _, dt := range halfDTypes {
		for _, c := range cases {
			// op(A) is m×k: stored m×k, or k×m when transposed.
			mat := func(rows, cols int, trans bool) (*cpu.Buffer, device.MatLayout) {
				sr, sc := rows, cols
				if trans {
					sr, sc = cols, rows
				}
				rs := sc + c.pad
				ml := device.MatLayout{RowStride: rs, ColStride: 1, BatchStride: sr*rs + 3}
				if trans {
					ml.RowStride, ml.ColStride = 1, rs
				}
				if c.strided {
					ml = device.MatLayout{RowStride: 2 * cols, ColStride: 2, BatchStride: 2*rows*cols + 1}
				}
				size := c.batch * max(ml.BatchStride, 1)
				return cpu.WrapHalf(dt, halfData(r, dt, size+1, false)), ml
			}
			a, al := mat(c.m, c.k, c.tA)
			b, bl := mat(c.k, c.n, c.tB)
			dl := device.MatLayout{RowStride: c.n + c.pad, ColStride: 1, BatchStride: c.m*(c.n+c.pad) + 2}
			init := halfData(r, dt, c.batch*dl.BatchStride, false)
			want, got := cpu.WrapHalf(dt, append([]uint16(nil), init...)), cpu.WrapHalf(dt, append([]uint16(nil), init...))
			scratchPath.MatMul(want, dl, a, al, b, bl, c.batch, c.m, c.n, c.k)
			kernelPath.MatMul(got, dl, a, al, b, bl, c.batch, c.m, c.n, c.k)
			compareHalfBits(t, fmt.Sprintf("%v MatMul %+v", dt, c), bitsOf(got), bitsOf(want))
			direct := cpu.WrapHalf(dt, append([]uint16(nil), init...))
			if ok := be.HalfMatMul(direct, dl, a, al, b, bl, c.batch, c.m, c.n, c.k); ok == c.strided {
				t.Fatalf("%v %+v: HalfMatMul reports %v", dt, c, ok)
			} else if ok {
				compareHalfBits(t, fmt.Sprintf("%v HalfMatMul %+v", dt, c), bitsOf(direct), bitsOf(want))
			}
		}
	}
}
