package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// These tests compare the assembly kernels with the Go loops bit for bit:
// every operation with an assembly kernel, both dtypes, lengths 0..67 and a
// few longer ones, destinations and operands at every offset modulo a
// 32-byte vector, in place and not, with ordinary and non-temporal stores,
// on data full of NaNs (with payloads, both signs, signalling), infinities,
// signed zeros and subnormals.

func needSIMD(t *testing.T) {
	t.Helper()
	if !haveSIMD {
		t.Skip("no assembly kernels on this CPU")
	}
}

// goPath runs f with the Go loops.
func goPath(f func()) {
	old := useSIMD
	useSIMD = false
	defer func() { useSIMD = old }()
	f()
}

// asmPath runs f with the assembly kernels.
func asmPath(f func()) {
	old := useSIMD
	useSIMD = true
	defer func() { useSIMD = old }()
	f()
}

func specials[T float]() []T {
	if unsafe.Sizeof(T(0)) == 4 {
		var v []T
		for _, b := range []uint32{
			0x7fc00000, 0xffc00000, 0x7fc12345, 0xffd00001, 0x7f800001, 0xff812345, // NaNs
			0x7f800000, 0xff800000, 0, 0x80000000, 1, 0x80000001, 0x007fffff, 0x7f7fffff, 0xff7fffff,
		} {
			v = append(v, T(math.Float32frombits(b)))
		}
		return append(v, 1, -1, 2, 0.5, -0.5, 3)
	}
	var v []T
	for _, b := range []uint64{
		0x7ff8000000000000, 0xfff8000000000000, 0x7ff8000000012345, 0xfffc000000000001, 0x7ff0000000000001, 0xfff0000000012345,
		0x7ff0000000000000, 0xfff0000000000000, 0, 0x8000000000000000, 1, 0x8000000000000001, 0x000fffffffffffff, 0x7fefffffffffffff, 0xffefffffffffffff,
	} {
		v = append(v, T(math.Float64frombits(b)))
	}
	return append(v, 1, -1, 2, 0.5, -0.5, 3)
}

// fillData fills x with specials and random values of every magnitude.
func fillData[T float](r *rand.Rand, x []T) {
	sp := specials[T]()
	for i := range x {
		switch r.IntN(4) {
		case 0:
			x[i] = sp[r.IntN(len(sp))]
		case 1:
			x[i] = T(r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20)))
		default:
			x[i] = T(r.Float64()*2 - 1)
		}
	}
}

var pools = map[uintptr]any{}

// pool returns the test data, specials and random values; callers copy
// from it.
func pool[T float]() []T {
	size := unsafe.Sizeof(T(0))
	if p, ok := pools[size]; ok {
		return p.([]T)
	}
	x := make([]T, 300000)
	fillData(rand.New(rand.NewPCG(1, 2)), x)
	pools[size] = x
	return x
}

func bits[T float](v T) uint64 {
	if unsafe.Sizeof(v) == 4 {
		return uint64(math.Float32bits(float32(v)))
	}
	return math.Float64bits(float64(v))
}

// sameBits compares got and want bit for bit; with anyNaN, any two NaNs
// are equal.
func sameBits[T float](t *testing.T, what string, got, want []T, anyNaN bool) bool {
	t.Helper()
	for i := range want {
		if bits(got[i]) != bits(want[i]) && !(anyNaN && got[i] != got[i] && want[i] != want[i]) {
			t.Errorf("%s: element %d of %d: asm %v (%#x), Go %v (%#x)", what, i, len(want), got[i], bits(got[i]), want[i], bits(want[i]))
			return false
		}
	}
	return true
}

// lengths are the run lengths tested.
var simdLengths = func() []int {
	var l []int
	for n := 0; n <= 67; n++ {
		l = append(l, n)
	}
	return append(l, 100, 255, 1000, 4099, 70001)
}()

// offsets are (destination, first operand, second operand) element offsets.
var simdOffsets = [][3]int{{0, 0, 0}, {1, 0, 0}, {0, 1, 3}, {3, 5, 7}, {7, 2, 1}, {5, 5, 5}, {2, 6, 4}}

// layout is one arrangement of a destination and up to two operands in
// backing arrays with room around them; alias 1 or 2 puts the destination
// on that operand.
type layout struct {
	n     int
	offs  [3]int
	alias int
	st    stores
}

func (l layout) String() string {
	return fmt.Sprintf("n=%d offs=%v alias=%d stores=%d", l.n, l.offs, l.alias, l.st)
}

func layouts(both bool) []layout {
	var ls []layout
	for _, n := range simdLengths {
		if simdRace && n > 1000 {
			continue
		}
		for k, o := range simdOffsets {
			if (n > 4099 || simdRace) && k > 2 {
				break
			}
			for _, st := range []stores{cached, ntFenced, ntUnfenced} {
				if st == ntUnfenced && k > 0 {
					continue
				}
				ls = append(ls, layout{n: n, offs: o, st: st})
				if k < 3 {
					ls = append(ls, layout{n: n, offs: o, alias: 1, st: st})
					if both {
						ls = append(ls, layout{n: n, offs: o, alias: 2, st: st})
					}
				}
			}
		}
	}
	return ls
}

// run sets up operands for l from seed, calls f on them with the Go loops
// and with the assembly kernels, and compares the destinations (and the
// guard elements around them).
//
// Where both operands of a commutative addition or multiplication are NaNs,
// the result is the first operand's NaN, and which one is first in the Go
// loop is the compiler's choice (it differs between normal and -race
// builds). So for the operations that contain one (anyNaN), the result need
// only be a NaN where the Go loop's is.
func run[T float](t *testing.T, what string, l layout, seed uint64, anyNaN bool, f func(d, a, b []T)) {
	t.Helper()
	const pad = 8
	p := pool[T]()
	o := int(seed*7919) % (len(p) / 2)
	mk := func() ([]T, []T, []T, []T) {
		m := l.n + 2*pad
		ab, bb, db := make([]T, m), make([]T, m), make([]T, m)
		copy(ab, p[o:])
		copy(bb, p[(o+m)%(len(p)/2):])
		copy(db, p[(o+2*m)%(len(p)/2):])
		a, b := ab[l.offs[1]:l.offs[1]+l.n], bb[l.offs[2]:l.offs[2]+l.n]
		d := db[l.offs[0] : l.offs[0]+l.n]
		switch l.alias {
		case 1:
			db, d = ab, a
		case 2:
			db, d = bb, b
		}
		return db, d, a, b
	}
	wb, wd, wa, wbv := mk()
	goPath(func() { f(wd, wa, wbv) })
	gb, gd, ga, gbv := mk()
	asmPath(func() {
		f(gd, ga, gbv)
		if l.st == ntUnfenced {
			ntFence()
		}
	})
	if sameBits(t, what+" "+l.String(), gd, wd, anyNaN) {
		sameBits(t, what+" "+l.String()+" (whole buffer)", gb, wb, anyNaN)
	}
}

func forDTypes(t *testing.T, f32 func(t *testing.T), f64 func(t *testing.T)) {
	t.Run("float32", f32)
	t.Run("float64", f64)
}

func testUnary[T float](t *testing.T) {
	for op := range device.UnaryOp(device.NumUnaryOps) {
		switch op {
		case device.Exp, device.Tanh, device.Sigmoid:
			if !isF32[T]() || !haveFMA {
				continue // float32 only (fastmath kernels)
			}
		case device.Log, device.Sin, device.Cos, device.Sign:
			continue // no assembly kernel
		}
		for i, l := range layouts(false) {
			run(t, op.String(), l, uint64(i), false, func(d, a, _ []T) { unaryKernel(op, d, a, l.st) })
		}
	}
}

func TestSIMDUnary(t *testing.T) {
	needSIMD(t)
	forDTypes(t, testUnary[float32], testUnary[float64])
}

func testScalar[T float](t *testing.T) {
	sp := specials[T]()
	for op := range device.ScalarOp(device.NumScalarOps) {
		if op == device.PowS || op == device.RPowS {
			continue
		}
		for i, l := range layouts(false) {
			s := sp[i%len(sp)]
			if i%3 == 0 {
				s = T(0.75)
			}
			anyNaN := op == device.AddS || op == device.MulS
			run(t, fmt.Sprintf("%v s=%v", op, s), l, uint64(i), anyNaN, func(d, a, _ []T) { scalarKernel(op, d, a, s, l.st) })
		}
	}
}

// TestSIMDFastMath: the float32 exp, tanh and sigmoid kernels against the
// Go loops over their whole interesting range, densely: every float32
// exponent, values near the clamps and the small-argument branch of tanh.
func TestSIMDFastMath(t *testing.T) {
	needSIMD(t)
	if !haveFMA {
		t.Skip("no FMA on this CPU")
	}
	var x []float32
	for i := -120_000; i <= 120_000; i++ {
		x = append(x, float32(i)/1000)
	}
	for e := -149; e <= 127; e++ {
		for k := 0; k < 64; k++ {
			v := float32(math.Ldexp(1+float64(k)/64, e))
			x = append(x, v, -v)
		}
	}
	for _, v := range []float64{-104, -103.97, -87.34, 88.72, 88.73, 89, 9.1, -9.1, 2.4e-4, -2.4e-4, 0.625, -0.625, 40, -40} {
		f := float32(v)
		x = append(x, f, math.Nextafter32(f, 0), math.Nextafter32(f, 1000))
	}
	x = append(x, specials[float32]()...)
	for _, op := range []device.UnaryOp{device.Exp, device.Tanh, device.Sigmoid} {
		for _, st := range []stores{cached, ntFenced} {
			want, got := make([]float32, len(x)), make([]float32, len(x))
			goPath(func() { unaryKernel(op, want, x, st) })
			asmPath(func() { unaryKernel(op, got, x, st) })
			sameBits(t, fmt.Sprintf("%v stores=%d", op, st), got, want, false)
		}
	}
}

func TestSIMDScalar(t *testing.T) {
	needSIMD(t)
	forDTypes(t, testScalar[float32], testScalar[float64])
}

func testBinary[T float](t *testing.T) {
	sp := specials[T]()
	for op := range device.BinaryOp(device.NumBinaryOps) {
		if op == device.Pow {
			continue
		}
		anyNaN := op == device.Add || op == device.Mul || op == device.TanhGrad || op == device.SigmoidGrad
		for i, l := range layouts(true) {
			run(t, "VV "+op.String(), l, uint64(i), anyNaN, func(d, a, b []T) { binaryVV(op, d, a, b, l.st) })
			if l.alias == 2 {
				continue
			}
			s := sp[i%len(sp)]
			if i%3 == 0 {
				s = T(0.75)
			}
			run(t, fmt.Sprintf("VS %v s=%v", op, s), l, uint64(i), anyNaN, func(d, a, _ []T) { binaryVS(op, d, a, s, l.st) })
			run(t, fmt.Sprintf("SV %v s=%v", op, s), l, uint64(i), anyNaN, func(d, a, _ []T) { binarySV(op, d, s, a, l.st) })
		}
	}
}

func TestSIMDBinary(t *testing.T) {
	needSIMD(t)
	forDTypes(t, testBinary[float32], testBinary[float64])
}

func testAddScaled[T float](t *testing.T) {
	nan := T(math.NaN())
	coefs := [][2]T{{1, 1}, {1, -0.5}, {1, 3}, {0.9, 0.1}, {-1, 2}, {2, 1}, {0, 1}, {1, 0}, {nan, 1}, {1, nan}, {-nan, 2}, {nan, -nan}}
	for i, l := range layouts(true) {
		c := coefs[i%len(coefs)]
		run(t, fmt.Sprintf("AddScaled %v", c), l, uint64(i), true, func(d, a, b []T) {
			if useSIMD { // the kernel itself, with l's stores
				simdAddScaled(d, a, b, c[0], c[1], l.st)
				return
			}
			al := device.Contiguous([]int{len(a)})
			addScaled(d, a, al, c[0], b, al, c[1])
		})
	}
	// The real dispatch: n above the non-temporal threshold, split over
	// goroutines.
	n := ntBytes/int(unsafe.Sizeof(T(0))) + 1001
	l := layout{n: n, offs: [3]int{1, 2, 3}}
	run(t, "AddScaled large", l, 1, true, func(d, a, b []T) {
		al := device.Contiguous([]int{n})
		addScaled(d, a, al, 0.25, b, al, -3)
	})
}

func TestSIMDAddScaled(t *testing.T) {
	needSIMD(t)
	forDTypes(t, testAddScaled[float32], testAddScaled[float64])
}

func testConvert[D, S float](t *testing.T) {
	for i, l := range layouts(false) {
		if l.alias != 0 {
			continue
		}
		r := rand.New(rand.NewPCG(uint64(i), 7))
		src := make([]S, l.n+8)
		fillData(r, src)
		s := src[l.offs[1] : l.offs[1]+l.n]
		want, got := make([]D, l.n+8), make([]D, l.n+8)
		goPath(func() { convertCopy(want[l.offs[0]:l.offs[0]+l.n], s, l.st) })
		asmPath(func() {
			convertCopy(got[l.offs[0]:l.offs[0]+l.n], s, l.st)
			if l.st == ntUnfenced {
				ntFence()
			}
		})
		sameBits(t, "convert "+l.String(), got, want, false)
	}
}

func TestSIMDConvert(t *testing.T) {
	needSIMD(t)
	t.Run("32to64", testConvert[float64, float32])
	t.Run("64to32", testConvert[float32, float64])
}

// sumLanesRef is sumLanes written out from its documentation.
func sumLanesRef[T float](x []T, sq bool) float64 {
	var acc [4][8]float64
	q := len(x) / 4 / 8 * 8
	for i, v := range x {
		f := float64(v)
		if sq {
			f = float64(f * f)
		}
		if len(x) < splitMin {
			acc[0][i%8] += f
		} else {
			p := min(i/q, 3)
			acc[p][(i-p*q)%8] += f
		}
	}
	l := acc[0]
	if len(x) >= splitMin {
		for j := range l {
			l[j] = (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j])
		}
	}
	t0, t1, t2, t3 := l[0]+l[4], l[1]+l[5], l[2]+l[6], l[3]+l[7]
	return (t0 + t2) + (t1 + t3)
}

func testSum[T float](t *testing.T) {
	for i, n := range append(simdLengths, splitMin-1, splitMin, splitMin+17, 1<<16, 1<<16+15) {
		for _, off := range []int{0, 1, 3, 6} {
			r := rand.New(rand.NewPCG(uint64(i), uint64(off)))
			buf := make([]T, n+8)
			for j := range buf {
				buf[j] = T(r.NormFloat64() * 100)
			}
			if n > 10 && off == 3 {
				buf[off+n/2] = T(math.Inf(1)) // + a NaN or an infinity
				if n%2 == 0 {
					buf[off+n/3] = T(math.NaN())
				}
			}
			x := buf[off : off+n]
			for _, sq := range []bool{false, true} {
				ref := sumLanesRef(x, sq)
				var g, a float64
				goPath(func() { g = sumLanes(x, sq) })
				asmPath(func() { a = sumLanes(x, sq) })
				if !sameFloat(g, ref) || !sameFloat(a, ref) {
					t.Errorf("n=%d off=%d sq=%v: asm %v, Go %v, reference %v", n, off, sq, a, g, ref)
				}
			}
		}
	}
}

func TestSIMDSum(t *testing.T) {
	needSIMD(t)
	forDTypes(t, testSum[float32], testSum[float64])
}

// testLanes4 checks the four-run kernels on runs of different lengths
// (empty ones too) and sumLanes4 against sumLanes.
func testLanes4[T float](t *testing.T) {
	p := pool[T]()
	ls := []int{0, 1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 31, 33, 64, 100, 1000, 4099}
	r := rand.New(rand.NewPCG(3, 4))
	for it := 0; it < 3000; it++ {
		var runs [4][]T
		for k := range runs {
			n, o := ls[r.IntN(len(ls))], r.IntN(8)+10000*k
			runs[k] = p[o : o+n]
		}
		if it == 0 {
			runs = [4][]T{}
		}
		for _, sq := range []bool{false, true} {
			var got, want [4][8]float64
			goPath(func() { lanes4(&runs, sq, &want) })
			asmPath(func() { lanes4(&runs, sq, &got) })
			for k := range got {
				for j := range got[k] {
					if !sameFloat(got[k][j], want[k][j]) {
						t.Fatalf("lengths %d %d %d %d sq=%v: run %d lane %d: asm %v, Go %v",
							len(runs[0]), len(runs[1]), len(runs[2]), len(runs[3]), sq, k, j, got[k][j], want[k][j])
					}
				}
			}
			for _, path := range []func(func()){goPath, asmPath} {
				path(func() {
					s := sumLanes4(&runs, sq)
					for k := range s {
						if !sameFloat(s[k], sumLanes(runs[k], sq)) {
							t.Fatalf("sumLanes4 differs from sumLanes for run %d of %d", k, len(runs[k]))
						}
					}
				})
			}
		}
	}
}

func sameFloat(u, v float64) bool {
	return math.Float64bits(u) == math.Float64bits(v) || u != u && v != v
}

func TestSIMDLanes4(t *testing.T) {
	needSIMD(t)
	forDTypes(t, testLanes4[float32], testLanes4[float64])
}

// colSumsRef is colSums written out from its documentation, one column at
// a time.
func colSumsRef[T float](acc []float64, x []T, rows []int, lo int, sq bool) {
	at := func(k, j int) float64 {
		f := float64(x[rows[k]+lo+j])
		if sq {
			f = float64(f * f)
		}
		return f
	}
	for j := range acc {
		k := 0
		for ; k+4 <= len(rows); k += 4 {
			acc[j] += (at(k, j) + at(k+1, j)) + (at(k+2, j) + at(k+3, j))
		}
		for ; k < len(rows); k++ {
			acc[j] += at(k, j)
		}
	}
}

// testColSums checks the column-sum kernels against the Go loops and the
// reference: column counts around the blocks of 16 and 4 and the prefetch
// distance, row counts around the groups of four and the batches, rows at
// any offset (unaligned, overlapping, repeated, out of order), data full
// of specials, accumulators that start nonzero.
func testColSums[T float](t *testing.T) {
	p := pool[T]()
	r := rand.New(rand.NewPCG(5, 6))
	cols := []int{0, 1, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100, 129, 1025}
	nrows := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 15, 16, 17, 33}
	if simdRace {
		cols, nrows = []int{0, 1, 5, 17, 65, 129}, []int{0, 1, 4, 5, 9, 17}
	}
	for _, n := range cols {
		for _, m := range nrows {
			for it := 0; it < 3; it++ {
				// Three arrangements: rows evenly spaced by a multiple of
				// 4 KiB, by an odd stride, and at random offsets.
				rows := make([]int, m)
				lo := r.IntN(9)
				stride := 4096 / int(unsafe.Sizeof(T(0)))
				if it == 1 {
					stride = n + r.IntN(7)
				}
				for k := range rows {
					if it == 2 {
						rows[k] = r.IntN(len(p) - n - lo)
					} else {
						rows[k] = 3 + k*stride
					}
				}
				for _, sq := range []bool{false, true} {
					start := make([]float64, n)
					for j := range start {
						start[j] = r.NormFloat64()
					}
					want, ref, got := append([]float64(nil), start...), append([]float64(nil), start...), append([]float64(nil), start...)
					x := p
					if it < 2 && m > 0 && rows[m-1]+lo+n > len(p) {
						continue
					}
					goPath(func() { colSums(want, x, rows, lo, sq) })
					colSumsRef(ref, x, rows, lo, sq)
					asmPath(func() { colSums(got, x, rows, lo, sq) })
					for j := range want {
						if !sameFloat(want[j], ref[j]) {
							t.Fatalf("n=%d m=%d arrangement %d sq=%v: column %d: Go %v, reference %v", n, m, it, sq, j, want[j], ref[j])
						}
						if !sameFloat(got[j], want[j]) {
							t.Fatalf("n=%d m=%d arrangement %d sq=%v: column %d: asm %v (%#x), Go %v (%#x)",
								n, m, it, sq, j, got[j], math.Float64bits(got[j]), want[j], math.Float64bits(want[j]))
						}
					}
				}
			}
		}
	}
}

func TestSIMDColSums(t *testing.T) {
	needSIMD(t)
	forDTypes(t, testColSums[float32], testColSums[float64])
}

// TestReduceOuterPaths: sums, means and norms over leading axes give the
// same bits with the Go loops and the assembly, with one goroutine and
// several (the columns split among them, or the rows in fixed chunks).
// TestReduceLarge checks the values.
func TestReduceOuterPaths(t *testing.T) {
	be := Get()
	p := pool[float64]()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	// Column splits, fixed chunks of few columns, fixed chunks of short
	// rows interleaved (the last two shapes: a last chunk of 11 rows, of 8).
	for _, shape := range [][]int{{5, 7}, {9, 300}, {33, 1001}, {2, 3, 257}, {70001, 3}, {513, 1030}, {6001, 700}, {8200, 512}} {
		n := device.NumElements(shape)
		if simdRace && n > 100000 {
			continue
		}
		x := make([]float64, n+3)
		for i := range x {
			x[i] = p[i%len(p)]
			if i%5 != 0 && (x[i] != x[i] || math.IsInf(x[i], 0)) {
				x[i] = 0.5 // a NaN or an infinity now and then, not everywhere
			}
		}
		l := device.Contiguous(shape)
		l.Offset = 3
		axes := []int{0}
		if len(shape) == 3 {
			axes = []int{0, 1}
		}
		nk := shape[len(shape)-1]
		for _, dt := range []device.DType{device.Float32, device.Float64} {
			src := Wrap(x)
			if dt == device.Float32 {
				x32 := make([]float32, len(x))
				for i, v := range x {
					x32[i] = float32(v)
				}
				src = Wrap(x32)
			}
			for _, op := range []device.ReduceOp{device.Sum, device.Mean, device.Norm2} {
				var first []float64
				for _, procs := range []int{1, 2, 3} {
					runtime.GOMAXPROCS(procs)
					for _, path := range []func(func()){goPath, asmPath} {
						var got *Buffer
						path(func() {
							got = Wrap(make([]float64, nk))
							if dt == device.Float32 {
								got = Wrap(make([]float32, nk))
							}
							be.Reduce(op, got, src, l, axes)
						})
						v := make([]float64, nk)
						for j := range v {
							if dt == device.Float32 {
								v[j] = float64(got.f32[j])
							} else {
								v[j] = got.f64[j]
							}
						}
						if first == nil {
							first = v
							continue
						}
						for j := range v {
							if !sameFloat(v[j], first[j]) {
								t.Fatalf("%v %v over %v of %v, GOMAXPROCS %d: column %d: %v, want %v", op, dt, axes, shape, procs, j, v[j], first[j])
							}
						}
					}
				}
			}
		}
	}
}

// TestSIMDDispatch runs whole operations above the non-temporal threshold,
// split across goroutines, through the backend with both paths.
func TestSIMDDispatch(t *testing.T) {
	needSIMD(t)
	be := Get()
	n := ntBytes/4 + 37
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float32, n+1), make([]float32, n+1)
	fillData(r, x)
	fillData(r, y)
	xb, yb := Wrap(x), Wrap(y)
	l := device.Layout{Shape: []int{n}, Strides: []int{1}, Offset: 1}
	for _, c := range []struct {
		name string
		f    func(d *Buffer)
	}{
		{"Unary ReLU", func(d *Buffer) { be.Unary(device.ReLU, d, xb, l) }},
		{"Unary Exp", func(d *Buffer) { be.Unary(device.Exp, d, xb, l) }},
		{"Unary Tanh", func(d *Buffer) { be.Unary(device.Tanh, d, xb, l) }},
		{"Unary Sigmoid", func(d *Buffer) { be.Unary(device.Sigmoid, d, xb, l) }},
		{"Scalar MulS", func(d *Buffer) { be.Scalar(device.MulS, d, xb, l, 3) }},
		{"Binary Maximum", func(d *Buffer) { be.Binary(device.Maximum, d, xb, l, yb, l) }},
		{"Binary row broadcast", func(d *Buffer) {
			be.Binary(device.Add, d, xb, device.Layout{Shape: []int{n / 1024, 1024}, Strides: []int{1024, 1}},
				yb, device.Layout{Shape: []int{n / 1024, 1024}, Strides: []int{0, 1}})
		}},
		{"Copy", func(d *Buffer) { be.Copy(d, device.Contiguous([]int{n}), Wrap(toF64(x)), l) }},
		{"Unary strided", func(d *Buffer) {
			be.Unary(device.Abs, d, xb, device.Layout{Shape: []int{n / 2, 2}, Strides: []int{1, n / 2}})
		}},
		{"Scalar strided", func(d *Buffer) {
			be.Scalar(device.RSubS, d, xb, device.Layout{Shape: []int{n / 2, 2}, Strides: []int{1, n / 2}}, 0.5)
		}},
		{"AddScaled row broadcast", func(d *Buffer) {
			be.AddScaled(d, xb, device.Layout{Shape: []int{n / 1024, 1024}, Strides: []int{1024, 1}}, 0.5,
				yb, device.Layout{Shape: []int{n / 1024, 1024}, Strides: []int{0, 1}}, -2)
		}},
		{"Copy strided", func(d *Buffer) {
			be.Copy(d, device.Contiguous([]int{n / 1024, 1000}), Wrap(toF64(x)), device.Layout{Shape: []int{n / 1024, 1000}, Strides: []int{1024, 1}, Offset: 1})
		}},
	} {
		want, got := Wrap(make([]float32, n)), Wrap(make([]float32, n))
		goPath(func() { c.f(want) })
		asmPath(func() { c.f(got) })
		sameBits(t, c.name, got.f32, want.f32, false)
	}
	for _, op := range []device.ReduceOp{device.Sum, device.Norm2} {
		want, got := Wrap(make([]float32, 1)), Wrap(make([]float32, 1))
		goPath(func() { be.Reduce(op, want, xb, l, []int{0}) })
		asmPath(func() { be.Reduce(op, got, xb, l, []int{0}) })
		if bits(got.f32[0]) != bits(want.f32[0]) && !(got.f32[0] != got.f32[0] && want.f32[0] != want.f32[0]) {
			t.Errorf("Reduce %v: asm %v, Go %v", op, got.f32[0], want.f32[0])
		}
	}
}

func toF64(x []float32) []float64 {
	y := make([]float64, len(x)+1)
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// TestReduceRowsPaired: the rows that reduceInner sums four at a time give
// the same bits as summing each row alone, in both paths.
func TestReduceRowsPaired(t *testing.T) {
	be := Get()
	p := pool[float32]()
	for _, rows := range []int{1, 2, 3, 7, 64, 1001} {
		for _, nr := range []int{1, 3, 16, 33, 1000, splitMin + 5} {
			if rows*nr > 1<<21 {
				continue
			}
			x := make([]float32, rows*nr+1)
			for i := range x {
				x[i] = p[i%len(p)]
				if x[i] != x[i] || math.IsInf(float64(x[i]), 0) {
					x[i] = 0.5
				}
			}
			l := device.Layout{Shape: []int{rows, nr}, Strides: []int{nr, 1}, Offset: 1}
			for _, op := range []device.ReduceOp{device.Sum, device.Mean, device.Norm2} {
				for _, path := range []func(func()){goPath, asmPath} {
					path(func() {
						got := Wrap(make([]float32, rows))
						be.Reduce(op, got, Wrap(x), l, []int{1})
						for i := 0; i < rows; i++ {
							row := x[1+i*nr : 1+(i+1)*nr]
							want := float32(finish(op, sumLanes(row, op == device.Norm2), nr))
							if bits(got.f32[i]) != bits(want) {
								t.Fatalf("rows=%d nr=%d %v row %d: %v, want %v", rows, nr, op, i, got.f32[i], want)
							}
						}
					})
				}
			}
		}
	}
}

// The Adam kernels give adamLoop's bits: both dtypes, the three modes,
// lengths around the vector width and across parallel chunks, ordinary
// values with a few specials in the gradients.
func TestSIMDAdam(t *testing.T) {
	needSIMD(t)
	testSIMDAdam[float32](t)
	testSIMDAdam[float64](t)
}

func testSIMDAdam[T float](t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	sp := specials[T]()
	for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 17, 63, 1000, 3*grain + 5} {
		w0, m0, v0, g0 := make([]T, n), make([]T, n), make([]T, n), make([]T, n)
		for i := range n {
			w0[i], m0[i], v0[i], g0[i] = T(r.NormFloat64()), T(r.NormFloat64()*0.1), T(r.Float64()*0.01), T(r.NormFloat64())
			if i%11 == 5 {
				g0[i] = sp[i%len(sp)]
			}
		}
		for _, p := range []device.AdamParams{
			{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
			{LR: 3e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Step: 7, WeightDecay: 0.1},
			{LR: 3e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-6, Step: 100, WeightDecay: 0.1, Decoupled: true},
		} {
			run := func(path func(func())) [4][]T {
				w, m, v, g := slices.Clone(w0), slices.Clone(m0), slices.Clone(v0), slices.Clone(g0)
				path(func() { adamStep(w, m, v, g, p) })
				return [4][]T{w, m, v, g}
			}
			want, got := run(goPath), run(asmPath)
			for k, name := range []string{"w", "m", "v", "g"} {
				for i := range n {
					a, b := got[k][i], want[k][i]
					if a != b && !(a != a && b != b) {
						t.Fatalf("%T n=%d %+v: %s[%d] = %v, Go loop %v", a, n, p, name, i, a, b)
					}
				}
			}
		}
	}
}

// The LayerNorm kernels (sqDev32, normAffine32, normGradSums32,
// normGradRow32) give the Go loops' bits: rows of every length around the vector width, a large
// common offset, with and without weight and bias.
func TestSIMDNorm(t *testing.T) {
	needSIMD(t)
	r := rand.New(rand.NewPCG(9, 10))
	for _, cols := range []int{1, 3, 4, 5, 8, 31, 128, 1027} {
		const rows = 7
		x, w, b := make([]float32, rows*cols), make([]float32, cols), make([]float32, cols)
		for i := range x {
			x[i] = float32(100 + r.NormFloat64())
		}
		for j := range w {
			w[j], b[j] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		for _, affine := range []bool{true, false} {
			ww, bb := w, b
			if !affine {
				ww, bb = nil, nil
			}
			p := device.NormParams{Rows: rows, Cols: cols, Eps: 1e-5}
			run := func(path func(func())) ([]float32, []float64, []float64) {
				y, mean, rstd := make([]float32, rows*cols), make([]float64, rows), make([]float64, rows)
				path(func() { layerNorm(y, mean, rstd, x, ww, bb, p) })
				return y, mean, rstd
			}
			gy, gm, gr := run(goPath)
			ay, am, ar := run(asmPath)
			if !slices.Equal(ay, gy) || !slices.Equal(am, gm) || !slices.Equal(ar, gr) {
				t.Fatalf("cols %d affine %v: assembly and Go loops differ", cols, affine)
			}
			// The backward, from the same statistics.
			dy := make([]float32, rows*cols)
			for i := range dy {
				dy[i] = float32(r.NormFloat64())
			}
			back := func(path func(func())) ([]float32, []float32, []float32) {
				dx := make([]float32, rows*cols)
				var dw, db []float32
				if affine {
					dw, db = make([]float32, cols), make([]float32, cols)
				}
				path(func() { layerNormGrad(dx, dw, db, dy, x, gm, gr, ww, p) })
				return dx, dw, db
			}
			gx, gw, gb := back(goPath)
			ax, aw, ab := back(asmPath)
			if !slices.Equal(ax, gx) || !slices.Equal(aw, gw) || !slices.Equal(ab, gb) {
				t.Fatalf("cols %d affine %v: backward: assembly and Go loops differ", cols, affine)
			}
		}
	}
}
