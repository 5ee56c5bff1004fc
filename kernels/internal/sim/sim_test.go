//go:build kernelsim

package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
	"github.com/tapegrad/tapegrad/internal/optable"
	"github.com/tapegrad/tapegrad/kernels"
)

var (
	be  = cpu.Get()
	dts = []device.DType{device.Float32, device.Float64}
	// Elementwise launches: a few blocks of a few warps, so that the
	// grid-stride loops go round more than once.
	ewGrid  = [3]int{3, 1, 1}
	ewBlock = 64
)

// TestMain refuses to test a stale build of the kernel sources.
func TestMain(m *testing.M) {
	want, err := WantSourcesID("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if got := SourcesID(); got != want {
		fmt.Fprintf(os.Stderr, "sim: built from kernel sources %s, but the sources are now %s; run\n"+
			"\tCGO_CXXFLAGS=\"-O2 -g -DTG_SIM_SOURCES=%s\" go test -tags kernelsim ./kernels/internal/sim\n"+
			"(Go's build cache does not see the .cu files this package includes) or kernels/check.sh\n", got, want, want)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestArgLayout(t *testing.T) {
	sizes := map[string]uintptr{
		"TgMapArgs": unsafe.Sizeof(MapArgs{}), "TgMapStridedArgs": unsafe.Sizeof(MapStridedArgs{}),
		"TgZipArgs": unsafe.Sizeof(ZipArgs{}), "TgZipStridedArgs": unsafe.Sizeof(ZipStridedArgs{}),
		"TgWhereArgs": unsafe.Sizeof(WhereArgs{}), "TgCopyArgs": unsafe.Sizeof(CopyArgs{}),
		"TgFillArgs": unsafe.Sizeof(FillArgs{}), "TgArangeArgs": unsafe.Sizeof(ArangeArgs{}),
		"TgRandomArgs": unsafe.Sizeof(RandomArgs{}), "TgReduceInnerArgs": unsafe.Sizeof(ReduceInnerArgs{}),
		"TgReduceOuterArgs": unsafe.Sizeof(ReduceOuterArgs{}), "TgReduceFinalArgs": unsafe.Sizeof(ReduceFinalArgs{}),
		"TgArgReduceArgs": unsafe.Sizeof(ArgReduceArgs{}), "TgGemmArgs": unsafe.Sizeof(GemmArgs{}),
		"TgConvArgs": unsafe.Sizeof(ConvArgs{}), "TgPoolArgs": unsafe.Sizeof(PoolArgs{}),
		"TgSoftmaxArgs": unsafe.Sizeof(SoftmaxArgs{}), "TgSoftmaxGradArgs": unsafe.Sizeof(SoftmaxGradArgs{}),
		"TgSGDArgs": unsafe.Sizeof(SGDArgs{}), "TgAdamArgs": unsafe.Sizeof(AdamArgs{}),
		"TgScanArgs": unsafe.Sizeof(ScanArgs{}), "TgGatherArgs": unsafe.Sizeof(GatherArgs{}),
		"TgNormArgs": unsafe.Sizeof(NormArgs{}), "TgNormGradArgs": unsafe.Sizeof(NormGradArgs{}),
		"TgAttnArgs": unsafe.Sizeof(AttnArgs{}),
	}
	for _, a := range kernels.Args {
		if sizes[a.Name] != uintptr(a.Size) {
			t.Errorf("%s: %d bytes here, %d in package kernels", a.Name, sizes[a.Name], a.Size)
		}
	}
}

// Every kernel of every module exists, and does nothing with all-zero
// arguments (n = 0, no rows, no outputs).
func TestAllKernelsExist(t *testing.T) {
	for _, m := range kernels.ModuleNames {
		for _, k := range kernels.Kernels(m) {
			var err error
			g := [3]int{1, 1, 1}
			switch k.Args {
			case kernels.MapArgs:
				err = Launch(k.Name, &MapArgs{}, g, 32)
			case kernels.MapStridedArgs:
				err = Launch(k.Name, &MapStridedArgs{}, g, 32)
			case kernels.ZipArgs:
				err = Launch(k.Name, &ZipArgs{}, g, 32)
			case kernels.ZipStridedArgs:
				err = Launch(k.Name, &ZipStridedArgs{}, g, 32)
			case kernels.WhereArgs:
				err = Launch(k.Name, &WhereArgs{}, g, 32)
			case kernels.CopyArgs:
				err = Launch(k.Name, &CopyArgs{}, g, 32)
			case kernels.FillArgs:
				err = Launch(k.Name, &FillArgs{}, g, 32)
			case kernels.ArangeArgs:
				err = Launch(k.Name, &ArangeArgs{}, g, 32)
			case kernels.RandomArgs:
				err = Launch(k.Name, &RandomArgs{}, g, 32)
			case kernels.ReduceInnerArgs:
				err = Launch(k.Name, &ReduceInnerArgs{}, g, 32)
			case kernels.ReduceOuterArgs:
				err = Launch(k.Name, &ReduceOuterArgs{}, g, 32)
			case kernels.ReduceFinalArgs:
				err = Launch(k.Name, &ReduceFinalArgs{}, g, 32)
			case kernels.ArgReduceArgs:
				err = Launch(k.Name, &ArgReduceArgs{}, g, 32)
			case kernels.GemmArgs:
				err = Launch(k.Name, &GemmArgs{}, g, 256)
			case kernels.ConvArgs:
				err = Launch(k.Name, &ConvArgs{}, g, 32)
			case kernels.PoolArgs:
				err = Launch(k.Name, &PoolArgs{}, g, 32)
			case kernels.SoftmaxArgs:
				err = Launch(k.Name, &SoftmaxArgs{}, g, 256)
			case kernels.SoftmaxGradArgs:
				err = Launch(k.Name, &SoftmaxGradArgs{}, g, 32)
			case kernels.SGDArgs:
				err = Launch(k.Name, &SGDArgs{}, g, 32)
			case kernels.AdamArgs:
				err = Launch(k.Name, &AdamArgs{}, g, 32)
			case kernels.ScanArgs:
				err = Launch(k.Name, &ScanArgs{}, g, 32)
			case kernels.GatherArgs:
				err = Launch(k.Name, &GatherArgs{}, g, 32)
			case kernels.NormArgs:
				err = Launch(k.Name, &NormArgs{}, g, 32)
			case kernels.NormGradArgs:
				err = Launch(k.Name, &NormGradArgs{}, g, 32)
			case kernels.AttnArgs:
				err = Launch(k.Name, &AttnArgs{}, g, 128)
			default:
				err = fmt.Errorf("no case for %s", k.Args.Name)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}
}

// ---- helpers ----------------------------------------------------------------

// data returns n test values: mostly normal numbers, with the special
// values the semantics care about mixed in.
func data(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1, 2, 0.5,
		1e-40, -3e-39, 100, -100, 1e30, -1e30, 88.5, -95, 3, -2}
	x := make([]float64, n)
	for i := range x {
		if r.IntN(5) == 0 {
			x[i] = specials[r.IntN(len(specials))]
		} else {
			x[i] = r.NormFloat64() * 3
		}
	}
	return x
}

func esz(dt device.DType) int { return dt.Size() }

// dev is an operand in simulated device memory.
type dev struct {
	*Mem
	dt device.DType
}

func newDev(dt device.DType, vals []float64) dev {
	d := dev{Alloc(len(vals) * esz(dt)), dt}
	d.set(vals)
	return d
}

func (d dev) set(vals []float64) {
	if d.dt == device.Float32 {
		f := d.Float32s()
		for i, v := range vals {
			f[i] = float32(v)
		}
		return
	}
	copy(d.Float64s(), vals)
}

func (d dev) get() []float64 {
	if d.dt == device.Float32 {
		f := d.Float32s()
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	return append([]float64(nil), d.Float64s()...)
}

// at returns the address of element i.
func (d dev) at(i int) uintptr { return d.Addr(i * esz(d.dt)) }

// host returns a CPU buffer of dtype dt holding vals (rounded to dt).
func host(dt device.DType, vals []float64) device.Buffer {
	if dt == device.Float32 {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return cpu.Wrap(f)
	}
	return cpu.Wrap(append([]float64(nil), vals...))
}

func hostVals(b device.Buffer) []float64 {
	hb := b.(device.HostBuffer)
	if f := hb.Float32s(); f != nil {
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	return append([]float64(nil), hb.Float64s()...)
}

// ulps is the distance in units in the last place of dt between a and b;
// 0 means bitwise equal (any two NaNs are equal; -0 and +0 are not).
func ulps(dt device.DType, a, b float64) float64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.Inf(1)
	}
	ord := func(v float64) int64 {
		var u int64
		if dt == device.Float32 {
			bits := math.Float32bits(float32(v))
			u = int64(bits &^ (1 << 31))
			if bits>>31 != 0 {
				u = -u - 1
			}
		} else {
			bits := math.Float64bits(v)
			u = int64(bits &^ (1 << 63))
			if bits>>63 != 0 {
				u = -u - 1
			}
		}
		return u
	}
	d := ord(a) - ord(b)
	if d < 0 {
		d = -d
	}
	return float64(d)
}

// expect compares got with want element by element, within tol ulps.
func expect(t *testing.T, what string, dt device.DType, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if ulps(dt, got[i], want[i]) > tol {
			if bad < 5 {
				t.Errorf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

func shapeOf(l device.Layout) Shape {
	s := Shape{N: int64(l.Size()), NDim: int64(len(l.Shape))}
	for i := range s.Shape {
		s.Shape[i] = 1
	}
	for i, d := range l.Shape {
		s.Shape[i] = int64(d)
	}
	return s
}

func viewOf(l device.Layout) View {
	v := View{Offset: int64(l.Offset)}
	for i, st := range l.Strides {
		v.Strides[i] = int64(st)
	}
	return v
}

func launch[T any](t *testing.T, name string, args *T, grid [3]int, block int) {
	t.Helper()
	if err := Launch(name, args, grid, block); err != nil {
		t.Fatal(err)
	}
}

// The ops whose results come from the math library (the host's glibc in
// the simulator; Go's math or the CPU's fast float32 functions in the
// reference) have a tolerance in ulps in their op-table row (SimULPs);
// everything else must be bitwise equal. Float64 pow, sin and cos get more
// room (LooseF64) because the reference is less accurate than glibc (and
// CUDA): Go's math.Pow is off by up to tens of ulps for large results, and
// math.Sin(1e30) by about 60.
func opTol(k optable.Kind, name string, dt device.DType) float64 {
	r := optable.Find(k, name)
	if r == nil {
		panic("sim: no op-table row for " + name)
	}
	return f64Tol(dt, r.Test.SimULPs, r.Test.LooseF64)
}

func f64Tol(dt device.DType, tol float64, loose bool) float64 {
	if dt == device.Float64 && loose {
		return 128
	}
	return tol
}

// ---- elementwise --------------------------------------------------------------

// The strided test layout: a transposed [13][11][7] array at offset 3,
// seen as shape [7, 11, 13].
var stridedL = device.Layout{Shape: []int{7, 11, 13}, Strides: []int{1, 7, 77}, Offset: 3}

func TestUnary(t *testing.T) {
	const n = 1003
	x := data(n+8, 1)
	for _, dt := range dts {
		for op := range device.UnaryOp(len(kernels.UnaryOps)) {
			tol := opTol(optable.Unary, op.String(), dt)
			// Dense, at element offset 0 (vector path) and 1 (scalar path).
			for _, off := range []int{0, 1} {
				src, dst := newDev(dt, x), newDev(dt, make([]float64, n+off))
				launch(t, kernels.UnaryName(op, dt, false), &MapArgs{Dst: dst.at(off), Src: src.at(off), N: n}, ewGrid, ewBlock)
				want := host(dt, make([]float64, n))
				be.Unary(op, want, host(dt, x), device.Layout{Shape: []int{n}, Strides: []int{1}, Offset: off})
				expect(t, fmt.Sprintf("%s off %d", kernels.UnaryName(op, dt, false), off), dt, dst.get()[off:], hostVals(want), tol)
				src.Free()
				dst.Free()
			}
			src, dst := newDev(dt, x), newDev(dt, make([]float64, stridedL.Size()))
			launch(t, kernels.UnaryName(op, dt, true), &MapStridedArgs{Dst: dst.at(0), Src: src.at(0), Shape: shapeOf(stridedL), X: viewOf(stridedL)}, ewGrid, ewBlock)
			want := host(dt, make([]float64, stridedL.Size()))
			be.Unary(op, want, host(dt, x), stridedL)
			expect(t, kernels.UnaryName(op, dt, true), dt, dst.get(), hostVals(want), tol)
			src.Free()
			dst.Free()
		}
	}
}

func TestScalar(t *testing.T) {
	const n = 1001
	x := data(n+8, 2)
	svals := []float64{2, 0.5, -1.5, math.NaN(), 0, math.Copysign(0, -1), math.Inf(1), 3}
	for _, dt := range dts {
		for op := range device.ScalarOp(len(kernels.ScalarOps)) {
			tol := opTol(optable.Scalar, op.String(), dt)
			for si, s := range svals {
				off := si % 2
				src, dst := newDev(dt, x), newDev(dt, make([]float64, n+off))
				launch(t, kernels.ScalarName(op, dt, false), &MapArgs{Dst: dst.at(off), Src: src.at(off), N: n, S: s}, ewGrid, ewBlock)
				want := host(dt, make([]float64, n))
				be.Scalar(op, want, host(dt, x), device.Layout{Shape: []int{n}, Strides: []int{1}, Offset: off}, s)
				expect(t, fmt.Sprintf("%s s=%v off %d", kernels.ScalarName(op, dt, false), s, off), dt, dst.get()[off:], hostVals(want), tol)
				dst.Free()

				dst = newDev(dt, make([]float64, stridedL.Size()))
				launch(t, kernels.ScalarName(op, dt, true), &MapStridedArgs{Dst: dst.at(0), Src: src.at(0), S: s, Shape: shapeOf(stridedL), X: viewOf(stridedL)}, ewGrid, ewBlock)
				want = host(dt, make([]float64, stridedL.Size()))
				be.Scalar(op, want, host(dt, x), stridedL, s)
				expect(t, fmt.Sprintf("%s s=%v", kernels.ScalarName(op, dt, true), s), dt, dst.get(), hostVals(want), tol)
				src.Free()
				dst.Free()
			}
		}
	}
}

// zipCase sets up the operands of a dense binary variant: rows×cols
// outputs; a and b at element offset off; the CPU layouts that mean the
// same.
type zipCase struct {
	a, b   []float64
	al, bl device.Layout
}

func zipOperands(v kernels.Variant, rows, cols, off int, seed uint64) zipCase {
	n := rows * cols
	full := device.Layout{Shape: []int{rows, cols}, Strides: []int{cols, 1}, Offset: off}
	scalar := device.Layout{Shape: []int{rows, cols}, Strides: []int{0, 0}, Offset: off}
	row := device.Layout{Shape: []int{rows, cols}, Strides: []int{0, 1}, Offset: off}
	col := device.Layout{Shape: []int{rows, cols}, Strides: []int{1, 0}, Offset: off}
	c := zipCase{a: data(n+off, seed), b: data(n+off, seed+1), al: full, bl: full}
	switch v {
	case kernels.VS:
		c.bl = scalar
	case kernels.SV:
		c.al = scalar
	case kernels.Row:
		c.bl = row
	case kernels.RowR:
		c.al = row
	case kernels.Col:
		c.bl = col
	case kernels.ColR:
		c.al = col
	}
	// Make some pairs equal, for the comparisons.
	for i := 0; i < len(c.a) && i < len(c.b); i += 7 {
		c.b[i] = c.a[i]
	}
	return c
}

// at2 returns the values of the 2-D layout l of x, in row-major order.
func at2(x []float64, l device.Layout) []float64 {
	v := make([]float64, 0, l.Size())
	for i := range l.Shape[0] {
		for j := range l.Shape[1] {
			v = append(v, x[l.Offset+i*l.Strides[0]+j*l.Strides[1]])
		}
	}
	return v
}

// expectZip is expect for a binary op, with the row's Mag, when it has
// one, as the magnitude the error is measured against (results that
// cancel): a value passes within tol ulps of want or of Mag(a, b).
func expectZip(t *testing.T, what string, dt device.DType, op device.BinaryOp, got, want, a, b []float64, tol float64) {
	t.Helper()
	mag := optable.Find(optable.Binary, op.String()).Test.Mag
	if mag == nil {
		expect(t, what, dt, got, want, tol)
		return
	}
	bad := 0
	for i := range got {
		if ulps(dt, got[i], want[i]) <= tol {
			continue
		}
		m := math.Abs(mag(a[i], b[i]))
		u := math.Nextafter(m, math.Inf(1)) - m
		if dt == device.Float32 {
			u = float64(math.Nextafter32(float32(m), float32(math.Inf(1))) - float32(m))
		}
		if math.Abs(got[i]-want[i]) <= tol*u {
			continue
		}
		if bad < 5 {
			t.Errorf("%s: [%d] = %v, want %v (magnitude %v)", what, i, got[i], want[i], m)
		}
		bad++
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

func TestBinary(t *testing.T) {
	const rows, cols = 37, 27
	for _, dt := range dts {
		for op := range device.BinaryOp(len(kernels.BinaryOps)) {
			tol := opTol(optable.Binary, op.String(), dt)
			for v := kernels.VV; v < kernels.Strided; v++ {
				for _, off := range []int{0, 1} {
					name := kernels.BinaryName(op, dt, v)
					c := zipOperands(v, rows, cols, off, uint64(10*int(op)+int(v)))
					a, b, dst := newDev(dt, c.a), newDev(dt, c.b), newDev(dt, make([]float64, rows*cols+off))
					launch(t, name, &ZipArgs{Dst: dst.at(off), A: a.at(off), B: b.at(off), N: rows * cols, Cols: cols}, ewGrid, ewBlock)
					want := host(dt, make([]float64, rows*cols))
					be.Binary(op, want, host(dt, c.a), c.al, host(dt, c.b), c.bl)
					expectZip(t, fmt.Sprintf("%s off %d", name, off), dt, op, dst.get()[off:], hostVals(want), at2(c.a, c.al), at2(c.b, c.bl), tol)
					a.Free()
					b.Free()
					dst.Free()
				}
			}
			// Strided: a transposed, b broadcast along axis 0.
			name := kernels.BinaryName(op, dt, kernels.Strided)
			al := device.Layout{Shape: []int{rows, cols}, Strides: []int{1, rows}, Offset: 2}
			bl := device.Layout{Shape: []int{rows, cols}, Strides: []int{0, 1}, Offset: 1}
			xa, xb := data(rows*cols+2, 3), data(cols+1, 4)
			a, b, dst := newDev(dt, xa), newDev(dt, xb), newDev(dt, make([]float64, rows*cols))
			launch(t, name, &ZipStridedArgs{Dst: dst.at(0), A: a.at(0), B: b.at(0), Shape: shapeOf(al), VA: viewOf(al), VB: viewOf(bl)}, ewGrid, ewBlock)
			want := host(dt, make([]float64, rows*cols))
			be.Binary(op, want, host(dt, xa), al, host(dt, xb), bl)
			expectZip(t, name, dt, op, dst.get(), hostVals(want), at2(xa, al), at2(xb, bl), tol)
			a.Free()
			b.Free()
			dst.Free()
		}
	}
}

func TestAxpby(t *testing.T) {
	const n = 999
	for _, dt := range dts {
		for _, ab := range [][2]float64{{1, 1}, {1, -0.5}, {0.3, 1.7}, {-2, 0}} {
			xa, xb := data(n+1, 5), data(n+1, 6)
			for _, off := range []int{0, 1} {
				l := device.Layout{Shape: []int{n}, Strides: []int{1}, Offset: off}
				want := host(dt, make([]float64, n))
				be.AddScaled(want, host(dt, xa), l, ab[0], host(dt, xb), l, ab[1])
				// In place: dst is a.
				a, b := newDev(dt, xa), newDev(dt, xb)
				launch(t, kernels.AxpbyName(dt, false), &ZipArgs{Dst: a.at(off), A: a.at(off), B: b.at(off), N: n, Alpha: ab[0], Beta: ab[1]}, ewGrid, ewBlock)
				expect(t, fmt.Sprintf("%s %v off %d", kernels.AxpbyName(dt, false), ab, off), dt, a.get()[off:off+n], hostVals(want), 0)
				a.Free()
				b.Free()
			}
			al := device.Layout{Shape: []int{27, 37}, Strides: []int{1, 27}, Offset: 0}
			bl := device.Layout{Shape: []int{27, 37}, Strides: []int{1, 0}, Offset: 5}
			a, b, dst := newDev(dt, xa), newDev(dt, xb), newDev(dt, make([]float64, n))
			launch(t, kernels.AxpbyName(dt, true), &ZipStridedArgs{Dst: dst.at(0), A: a.at(0), B: b.at(0), Alpha: ab[0], Beta: ab[1], Shape: shapeOf(al), VA: viewOf(al), VB: viewOf(bl)}, ewGrid, ewBlock)
			want := host(dt, make([]float64, n))
			be.AddScaled(want, host(dt, xa), al, ab[0], host(dt, xb), bl, ab[1])
			expect(t, fmt.Sprintf("%s %v", kernels.AxpbyName(dt, true), ab), dt, dst.get(), hostVals(want), 0)
			a.Free()
			b.Free()
			dst.Free()
		}
	}
}

func TestWhere(t *testing.T) {
	cl := device.Layout{Shape: []int{7, 11, 13}, Strides: []int{143, 13, 1}, Offset: 1}
	al := stridedL
	bl := device.Layout{Shape: []int{7, 11, 13}, Strides: []int{0, 13, 1}, Offset: 2}
	xc := data(1002, 7)
	for i := range xc {
		if i%3 == 0 {
			xc[i] = 0
		}
	}
	xa, xb := data(1004, 8), data(150, 9)
	for _, dt := range dts {
		c, a, b, dst := newDev(dt, xc), newDev(dt, xa), newDev(dt, xb), newDev(dt, make([]float64, 1001))
		launch(t, kernels.WhereName(dt), &WhereArgs{Dst: dst.at(0), C: c.at(0), A: a.at(0), B: b.at(0), Shape: shapeOf(cl), VC: viewOf(cl), VA: viewOf(al), VB: viewOf(bl)}, ewGrid, ewBlock)
		want := host(dt, make([]float64, 1001))
		be.Where(want, host(dt, xc), cl, host(dt, xa), al, host(dt, xb), bl)
		expect(t, kernels.WhereName(dt), dt, dst.get(), hostVals(want), 0)
		c.Free()
		a.Free()
		b.Free()
		dst.Free()
	}
}

func TestCopyConvertFill(t *testing.T) {
	// Source: stridedL; destination: every other element of a larger
	// buffer, in a permuted order.
	dl := device.Layout{Shape: []int{7, 11, 13}, Strides: []int{2, 14, 154}, Offset: 1}
	xs := data(1004, 10)
	init := make([]float64, 2010)
	for i := range init {
		init[i] = 7
	}
	for _, sdt := range dts {
		for _, ddt := range dts {
			name := kernels.CopyName(sdt, ddt)
			src, dst := newDev(sdt, xs), newDev(ddt, init)
			launch(t, name, &CopyArgs{Dst: dst.at(0), Src: src.at(0), Shape: shapeOf(stridedL), VD: viewOf(dl), VS: viewOf(stridedL)}, ewGrid, ewBlock)
			want := host(ddt, init)
			be.Copy(want, dl, host(sdt, xs), stridedL)
			expect(t, name, ddt, dst.get(), hostVals(want), 0)
			dst.Free()
			if sdt != ddt {
				const n = 1001
				for _, off := range []int{0, 1} {
					name := kernels.ConvertName(sdt, ddt)
					dst := newDev(ddt, make([]float64, n+off))
					launch(t, name, &MapArgs{Dst: dst.at(off), Src: src.at(off), N: n}, ewGrid, ewBlock)
					want := host(ddt, make([]float64, n))
					be.Copy(want, device.Contiguous([]int{n}), host(sdt, xs), device.Layout{Shape: []int{n}, Strides: []int{1}, Offset: off})
					expect(t, fmt.Sprintf("%s off %d", name, off), ddt, dst.get()[off:], hostVals(want), 0)
					dst.Free()
				}
			}
			src.Free()
		}
	}
	for _, dt := range dts {
		for _, v := range []float64{-2.5, math.NaN(), 1e-40, math.Copysign(0, -1)} {
			const n = 1001
			for _, off := range []int{0, 1} {
				dst := newDev(dt, init[:n+off])
				launch(t, kernels.FillName(dt, false), &MapArgs{Dst: dst.at(off), N: n, S: v}, ewGrid, ewBlock)
				want := host(dt, init[:n+off])
				be.Fill(want, device.Layout{Shape: []int{n}, Strides: []int{1}, Offset: off}, v)
				expect(t, fmt.Sprintf("%s %v off %d", kernels.FillName(dt, false), v, off), dt, dst.get(), hostVals(want), 0)
				dst.Free()
			}
			dst := newDev(dt, init)
			launch(t, kernels.FillName(dt, true), &FillArgs{Dst: dst.at(0), V: v, Shape: shapeOf(dl), VD: viewOf(dl)}, ewGrid, ewBlock)
			want := host(dt, init)
			be.Fill(want, dl, v)
			expect(t, fmt.Sprintf("%s %v", kernels.FillName(dt, true), v), dt, dst.get(), hostVals(want), 0)
			dst.Free()
		}
		for _, c := range [][2]float64{{-3.25, 0.1}, {1e8, 1.0 / 3}, {0, -7}} {
			const n = 1001
			dst := newDev(dt, make([]float64, n))
			launch(t, kernels.ArangeName(dt), &ArangeArgs{Dst: dst.at(0), N: n, Start: c[0], Step: c[1]}, ewGrid, ewBlock)
			want := host(dt, make([]float64, n))
			be.Arange(want, n, c[0], c[1])
			expect(t, fmt.Sprintf("%s %v", kernels.ArangeName(dt), c), dt, dst.get(), hostVals(want), 0)
			dst.Free()
		}
	}
}

// ---- random -------------------------------------------------------------------

func TestRandom(t *testing.T) {
	const seed, counter = 0x0123456789abcdef, 1<<32 - 3 // the counter's low word wraps
	for _, dt := range dts {
		for _, dist := range []device.Dist{device.Uniform, device.Normal} {
			a, b := -2.0, 3.0
			if dist == device.Normal {
				a, b = 0.5, 2
			}
			for _, n := range []int{1001, 1000, 3} {
				for _, off := range []int{0, 1} {
					name := kernels.RandomName(dist, dt)
					dst := newDev(dt, make([]float64, n+off))
					launch(t, name, &RandomArgs{Dst: dst.at(off), N: int64(n), Seed: seed, Counter: counter, A: a, B: b}, ewGrid, ewBlock)
					want := make([]float64, n)
					if dt == device.Float32 {
						f := make([]float32, n)
						device.RandomFloat32(f, 0, dist, seed, counter, a, b)
						for i, v := range f {
							want[i] = float64(v)
						}
					} else {
						device.RandomFloat64(want, 0, dist, seed, counter, a, b)
					}
					// Uniform: bitwise. Normal: the host's log/sin/cos
					// against Go's.
					tol := 0.0
					if dist == device.Normal {
						tol = 1
						if dt == device.Float64 {
							tol = 64 // a + b*z cancels near 0
						}
					}
					expect(t, fmt.Sprintf("%s n=%d off %d", name, n, off), dt, dst.get()[off:], want, tol)
					dst.Free()
				}
			}
		}
	}
}

// ---- reductions -----------------------------------------------------------

// redData is reduction input: normal numbers, with a NaN and an Inf placed
// in some rows by the caller.
func redData(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 3))
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()*2 + 0.25
	}
	return x
}

// redTol: max and min are exact; sums differ from the CPU's in order only.
func redExpect(t *testing.T, what string, op device.ReduceOp, dt device.DType, got, want []float64) {
	t.Helper()
	if op == device.Max || op == device.Min {
		expect(t, what, dt, got, want, 0)
		return
	}
	if dt == device.Float32 {
		expect(t, what, dt, got, want, 1)
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if g != w && !(g != g && w != w) && !(math.Abs(g-w) <= 1e-12*math.Abs(w)) {
			t.Errorf("%s: [%d] = %v, want %v", what, i, g, w)
		}
	}
}

func TestReduceInner(t *testing.T) {
	// Input [2][3][run+5] at offset 4; reduce the first run elements of
	// each padded row: keep shape [2, 3] (strides not mergeable), run
	// contiguous.
	const run, pad, off = 5000, 5, 4
	l := device.Layout{Shape: []int{2, 3, run}, Strides: []int{3 * (run + pad), run + pad, 1}, Offset: off}
	x := redData(off+6*(run+pad), 11)
	x[off+1*(run+pad)+4321] = math.NaN()   // row 1, a late chunk
	x[off+2*(run+pad)+17] = math.Inf(1)    // row 2
	x[off+3*(run+pad)+2000] = math.Inf(-1) // row 3
	keep := device.Layout{Shape: []int{2, 3}, Strides: []int{3 * (run + pad), run + pad}, Offset: off}
	const block = 128
	for _, dt := range dts {
		for op := range device.ReduceOp(len(kernels.ReduceOps)) {
			want := host(dt, make([]float64, 6))
			be.Reduce(op, want, host(dt, x), l, []int{2})
			for _, chunk := range []int{run, 1024, 300} { // 1 and 5 chunks in block mode, 17 in warp mode
				chunks := (run + chunk - 1) / chunk
				items := 6 * chunks
				grid := items
				if chunk < 1024 {
					grid = (items + block/32 - 1) / (block / 32)
				}
				src, part, dst := newDev(dt, x), Alloc(8*items), newDev(dt, make([]float64, 6))
				launch(t, kernels.ReduceName(op, dt, kernels.Inner), &ReduceInnerArgs{Part: part.Addr(0), Src: src.at(0), Rows: 6, Run: run, Chunks: int64(chunks), Chunk: int64(chunk), Keep: shapeOf(keep), VKeep: viewOf(keep)}, [3]int{grid, 1, 1}, block)
				launch(t, kernels.ReduceName(op, dt, kernels.Final), &ReduceFinalArgs{Dst: dst.at(0), Part: part.Addr(0), Outputs: 6, Chunks: int64(chunks), Count: run}, [3]int{2, 1, 1}, block)
				redExpect(t, fmt.Sprintf("%s chunk %d", kernels.ReduceName(op, dt, kernels.Inner), chunk), op, dt, dst.get(), hostVals(want))
				src.Free()
				part.Free()
				dst.Free()
			}
		}
	}
}

func TestReduceOuter(t *testing.T) {
	// Input [3][1001][70] at offset 2; reduce axes 0 and 1 over the first
	// 1000 rows of each block: red shape [3, 1000] (not mergeable), 70
	// dense columns.
	const cols, off = 70, 2
	l := device.Layout{Shape: []int{3, 1000, cols}, Strides: []int{1001 * cols, cols, 1}, Offset: off}
	red := device.Layout{Shape: []int{3, 1000}, Strides: []int{1001 * cols, cols}}
	x := redData(off+3*1001*cols, 12)
	x[off+2*1001*cols+500*cols+5] = math.NaN() // column 5
	x[off+1*1001*cols+7*cols+9] = math.Inf(-1) // column 9
	const block = 64
	for _, dt := range dts {
		for op := range device.ReduceOp(len(kernels.ReduceOps)) {
			want := host(dt, make([]float64, cols))
			be.Reduce(op, want, host(dt, x), l, []int{0, 1})
			for _, chunk := range []int{3000, 512, 77} {
				chunks := (3000 + chunk - 1) / chunk
				src, part, dst := newDev(dt, x), Alloc(8*chunks*cols), newDev(dt, make([]float64, cols))
				launch(t, kernels.ReduceName(op, dt, kernels.Outer), &ReduceOuterArgs{Part: part.Addr(0), Src: src.at(0), Cols: cols, Rows: 3000, Chunks: int64(chunks), Chunk: int64(chunk), Base: off, Red: shapeOf(red), VRed: viewOf(red)}, [3]int{(cols + block - 1) / block, min(chunks, 5), 1}, block)
				launch(t, kernels.ReduceName(op, dt, kernels.Final), &ReduceFinalArgs{Dst: dst.at(0), Part: part.Addr(0), Outputs: cols, Chunks: int64(chunks), Count: 3000, Transposed: 1}, [3]int{3, 1, 1}, block)
				redExpect(t, fmt.Sprintf("%s chunk %d", kernels.ReduceName(op, dt, kernels.Outer), chunk), op, dt, dst.get(), hostVals(want))
				src.Free()
				part.Free()
				dst.Free()
			}
		}
	}
}

// With count 0, the final pass gives what the CPU gives for an empty
// reduction.
func TestReduceFinalEmpty(t *testing.T) {
	for _, dt := range dts {
		for op := range device.ReduceOp(len(kernels.ReduceOps)) {
			// The partial of an empty piece is the op's identity.
			id := map[device.ReduceOp]float64{device.Max: math.Inf(-1), device.Min: math.Inf(1)}[op]
			dst, part := newDev(dt, []float64{5, 5}), newDev(device.Float64, []float64{id})
			launch(t, kernels.ReduceName(op, dt, kernels.Final), &ReduceFinalArgs{Dst: dst.at(0), Part: part.at(0), Outputs: 1, Chunks: 1}, [3]int{1, 1, 1}, 32)
			want := host(dt, []float64{5, 5})
			be.Reduce(op, want, host(dt, nil), device.Layout{Shape: []int{1, 0}, Strides: []int{0, 1}}, []int{1})
			expect(t, kernels.ReduceName(op, dt, kernels.Final)+" empty", dt, dst.get()[:1], hostVals(want)[:1], 0)
			dst.Free()
			part.Free()
		}
	}
}

func TestArgReduce(t *testing.T) {
	for _, n := range []int{50, 3000} { // warp mode, block mode
		const rows = 8
		x := redData(rows*n, 13)
		// Row 1: two NaNs; row 2: ties of the maximum and minimum; row 3:
		// all equal; row 4: -0 and +0 only; row 5: infinities; row 6: NaN
		// first.
		x[1*n+n/3], x[1*n+n/2] = math.NaN(), math.NaN()
		x[2*n+5], x[2*n+n-3], x[2*n+n/2] = 50, 50, 50
		x[2*n+7], x[2*n+n-2] = -50, -50
		for j := range n {
			x[3*n+j] = 1.5
			x[4*n+j] = math.Copysign(0, float64(j%3-1))
		}
		x[5*n+n/4], x[5*n+n-1] = math.Inf(-1), math.Inf(1)
		x[6*n] = math.NaN()
		// Along axis 1 (stride 1) of [rows, n]; along axis 0 (stride rows)
		// of the same data seen as [n, rows].
		cases := []struct {
			l    device.Layout
			axis int
		}{
			{device.Layout{Shape: []int{rows, n}, Strides: []int{n, 1}}, 1},
			{device.Layout{Shape: []int{n, rows}, Strides: []int{rows, 1}}, 0},
		}
		for _, c := range cases {
			keep := device.Layout{Shape: []int{rows}, Strides: []int{c.l.Strides[1-c.axis]}}
			for _, dt := range dts {
				for op := range device.ArgOp(len(kernels.ArgOps)) {
					name := kernels.ArgReduceName(op, dt)
					src := newDev(dt, x)
					want := hostOf(device.Int64, make([]float64, rows))
					dst := newAny(want)
					grid := rows
					if n < 1024 {
						grid = 1
					}
					launch(t, name, &ArgReduceArgs{Dst: dst.at(0), Src: src.at(0), Outputs: rows, Len: int64(n), Stride: int64(c.l.Strides[c.axis]), Keep: shapeOf(keep), VKeep: viewOf(keep)}, [3]int{grid, 1, 1}, 128)
					be.ArgReduce(op, want, host(dt, x), c.l, c.axis)
					sameBytes(t, fmt.Sprintf("%s len %d axis %d", name, n, c.axis), dst, want)
					src.Free()
					dst.Free()
				}
			}
		}
	}
}

// ---- gemm -------------------------------------------------------------------

func TestGemm(t *testing.T) {
	type mat struct{ off, bs, rs, cs int }
	cases := []struct {
		batch, m, n, k int
		a, b           mat
		cld            int
		grid           [3]int
	}{
		// A transposed, B row-major and shared by the batch, C padded rows.
		{3, 70, 67, 37, mat{5, 70 * 37, 1, 70}, mat{2, 0, 67, 1}, 70, [3]int{2, 2, 3}},
		// A row-major, B transposed; a grid smaller than the work.
		{2, 33, 129, 64, mat{0, 33 * 64, 64, 1}, mat{1, 129 * 64, 1, 64}, 130, [3]int{1, 1, 1}},
		// k == 0 writes zeros; 1×1.
		{1, 5, 3, 0, mat{0, 0, 1, 1}, mat{0, 0, 1, 1}, 3, [3]int{1, 1, 1}},
		{1, 1, 1, 100, mat{0, 0, 100, 1}, mat{0, 0, 1, 1}, 1, [3]int{1, 1, 1}},
	}
	for _, c := range cases {
		span := func(x mat, r, cc int) int { return x.off + (c.batch-1)*x.bs + (r-1)*x.rs + (cc-1)*x.cs + 1 }
		na, nb := max(1, span(c.a, c.m, c.k)), max(1, span(c.b, c.k, c.n))
		xa, xb := redData(na, 21), redData(nb, 22)
		const coff = 3
		cbs := c.m * c.cld
		for _, dt := range dts {
			// C starts as NaN: every output must be written, nothing else.
			poison := make([]float64, coff+c.batch*cbs)
			for i := range poison {
				poison[i] = math.NaN()
			}
			a, b, cm := newDev(dt, xa), newDev(dt, xb), newDev(dt, poison)
			launch(t, kernels.GemmName(dt), &GemmArgs{C: cm.at(0), A: a.at(0), B: b.at(0),
				M: int64(c.m), N: int64(c.n), K: int64(c.k), Batch: int64(c.batch),
				AOff: int64(c.a.off), ABs: int64(c.a.bs), ARs: int64(c.a.rs), ACs: int64(c.a.cs),
				BOff: int64(c.b.off), BBs: int64(c.b.bs), BRs: int64(c.b.rs), BCs: int64(c.b.cs),
				COff: coff, CBs: int64(cbs), CLd: int64(c.cld)}, c.grid, 256)
			got := cm.get()
			av, bv := a.get(), b.get()
			eps := 0x1p-24
			if dt == device.Float64 {
				eps = 0x1p-53
			}
			bad := 0
			for bi := range c.batch {
				for r := range c.m {
					for cc := range c.cld {
						g := got[coff+bi*cbs+r*c.cld+cc]
						if cc >= c.n {
							if g == g {
								t.Fatalf("%s: wrote C[%d][%d][%d] outside the matrix", kernels.GemmName(dt), bi, r, cc)
							}
							continue
						}
						var ref, mag float64
						for kk := range c.k {
							p := av[c.a.off+bi*c.a.bs+r*c.a.rs+kk*c.a.cs] * bv[c.b.off+bi*c.b.bs+kk*c.b.rs+cc*c.b.cs]
							ref += p
							mag += math.Abs(p)
						}
						if !(math.Abs(g-ref) <= float64(c.k+2)*eps*mag) {
							if bad++; bad < 5 {
								t.Errorf("%s %dx%dx%d: C[%d][%d][%d] = %v, want %v", kernels.GemmName(dt), c.m, c.n, c.k, bi, r, cc, g, ref)
							}
						}
					}
				}
			}
			a.Free()
			b.Free()
			cm.Free()
		}
	}
}
