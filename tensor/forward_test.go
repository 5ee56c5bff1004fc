package tensor_test

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/tapegrad/tapegrad/internal/optable"
	"github.com/tapegrad/tapegrad/internal/optest"
	"github.com/tapegrad/tapegrad/tensor"
)

var (
	inf    = math.Inf(1)
	nan    = math.NaN()
	negz   = math.Copysign(0, -1)
	dtypes = []tensor.DType{tensor.Float32, tensor.Float64}
)

// edgeValues are the operands of the elementwise edge-value tests.
var edgeValues = []float64{0, negz, 1, -1, 0.5, -2.5, 3, 100, -100, 1e-30, inf, -inf, nan, 710, -750}

// round returns v rounded to dtype dt, as float64.
func round(v float64, dt tensor.DType) float64 {
	if dt == tensor.Float32 {
		return float64(float32(v))
	}
	return v
}

// ulpDiff is the shared table's ULPDiff.
var ulpDiff = optest.ULPDiff

// sameBits is the shared table's SameBits.
var sameBits = optest.SameBits

// TestUnaryEdgeValues applies every unary operation of the op table
// (internal/optable) to the edge values and compares with the row's
// float64 reference: bit for bit in float64, within the row's CPU32ULPs
// of the rounded reference in float32.
func TestUnaryEdgeValues(t *testing.T) {
	type unaryOp struct {
		name string
		f    func(*T) *T
		ref  func(float64) float64
		ulps uint64 // allowed error for float32 (fast transcendental functions)
	}
	var ops []unaryOp
	for _, row := range optable.Of(optable.Unary) {
		f, err := optest.UnaryMethod(row)
		if err != nil {
			continue // reported by TestOpTableCoverage
		}
		ops = append(ops, unaryOp{row.Method, f, row.Ref1, row.Test.CPU32ULPs})
	}
	if len(ops) == 0 {
		t.Fatal("no unary operation in the op table")
	}
	for _, dt := range dtypes {
		x := tensor.FromSlice(edgeValues, []int{len(edgeValues)}, tensor.WithDType(dt))
		for _, op := range ops {
			got := op.f(x).Float64s()
			for i, v := range edgeValues {
				in := round(v, dt)
				want := round(op.ref(in), dt)
				ok := sameBits(got[i], want)
				if !ok && dt == tensor.Float32 && op.ulps > 0 {
					ok = ulpDiff(got[i], want, dt) <= op.ulps
				}
				if !ok {
					t.Errorf("%v %s(%v) = %v, want %v", dt, op.name, in, got[i], want)
				}
			}
		}
	}
	// The documented special values, spelled out.
	for _, dt := range dtypes {
		a := func(v ...float64) *T { return tensor.FromSlice(v, []int{len(v)}, tensor.WithDType(dt)) }
		checks := []struct {
			name string
			got  *T
			want []float64
		}{
			{"Log(0, -0, -1, inf)", a(0, negz, -1, inf).Log(), []float64{-inf, -inf, nan, inf}},
			{"Sqrt(-1, -0, inf)", a(-1, negz, inf).Sqrt(), []float64{nan, negz, inf}},
			{"Abs(-0)", a(negz).Abs(), []float64{0}},
			{"Neg(0)", a(0).Neg(), []float64{negz}},
			{"Recip(±0)", a(0, negz).Recip(), []float64{inf, -inf}},
			{"Exp(±inf)", a(inf, -inf).Exp(), []float64{inf, 0}},
			{"Tanh(±inf)", a(inf, -inf).Tanh(), []float64{1, -1}},
			{"Sigmoid(±inf, 0)", a(inf, -inf, 0).Sigmoid(), []float64{1, 0, 0.5}},
			{"Sin(inf)", a(inf).Sin(), []float64{nan}},
			{"ReLU(nan, -inf)", a(nan, -inf).ReLU(), []float64{nan, 0}},
			{"Sign(nan, -0, -3)", a(nan, negz, -3).Sign(), []float64{nan, negz, -1}},
		}
		for _, c := range checks {
			got := c.got.Float64s()
			for i := range got {
				if !sameBits(got[i], c.want[i]) {
					t.Errorf("%v %s = %v, want %v", dt, c.name, got, c.want)
					break
				}
			}
		}
	}
}

// nanMax is NumPy's maximum: NaN if either operand is NaN.
func nanMax(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	if a > b {
		return a
	}
	return b
}

func nanMin(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	if a < b {
		return a
	}
	return b
}

func b2f(c bool) float64 {
	if c {
		return 1
	}
	return 0
}

// binaryRefs are the binary operations of the op table (internal/optable)
// with their tensor methods and float64 references.
func binaryRefs(t *testing.T) []binaryRef {
	var ops []binaryRef
	for _, row := range optable.Of(optable.Binary) {
		f, err := optest.BinaryMethod(row)
		if err != nil {
			continue // fused backward rules (no Method), or reported by TestOpTableCoverage
		}
		ops = append(ops, binaryRef{row.Method, f, row.Ref2, row.Test.CPU32ULPs})
	}
	if len(ops) == 0 {
		t.Fatal("no binary operation in the op table")
	}
	return ops
}

type binaryRef struct {
	name string
	f    func(a, b *T) *T
	ref  func(a, b float64) float64
	ulps uint64 // allowed error for float32
}

// matches reports whether got is want (the reference, rounded to dt)
// bit for bit, or within ulps in float32.
func matches(got, want float64, dt tensor.DType, ulps uint64) bool {
	return sameBits(got, want) || dt == tensor.Float32 && ulps > 0 && ulpDiff(got, want, dt) <= ulps
}

// TestBinaryEdgeValues applies every binary operation of the op table to
// all pairs of edge values (through broadcasting a column against a row)
// and compares with the row's float64 reference (Go's IEEE arithmetic):
// bit for bit, the sign of zero included, or within the row's CPU32ULPs in
// float32.
func TestBinaryEdgeValues(t *testing.T) {
	vals := []float64{0, negz, 1, -2.5, 0.5, 3, inf, -inf, nan}
	n := len(vals)
	for _, dt := range dtypes {
		col := tensor.FromSlice(vals, []int{n, 1}, tensor.WithDType(dt))
		row := tensor.FromSlice(vals, []int{n}, tensor.WithDType(dt))
		for _, op := range binaryRefs(t) {
			out := op.f(col, row)
			if s := out.Shape(); len(s) != 2 || s[0] != n || s[1] != n {
				t.Fatalf("%s: shape %v", op.name, s)
			}
			got := out.Float64s()
			for i, a := range vals {
				for j, b := range vals {
					a, b := round(a, dt), round(b, dt)
					want := round(op.ref(a, b), dt)
					if g := got[i*n+j]; !matches(g, want, dt, op.ulps) {
						t.Errorf("%v %s(%v, %v) = %v, want %v", dt, op.name, a, b, g, want)
					}
				}
			}
		}
	}
}

// TestScalarEdgeValues applies every scalar operation of the op table to
// the edge values with edge scalars and compares with the row's float64
// reference, as TestBinaryEdgeValues does.
func TestScalarEdgeValues(t *testing.T) {
	vals := []float64{0, negz, 1, -2.5, 0.5, 3, inf, -inf, nan}
	scalars := []float64{0, negz, 2, -1.5, 0.5, inf, nan}
	type scalarOp struct {
		name string
		f    func(a *T, s float64) *T
		ref  func(x, s float64) float64
		ulps uint64
	}
	var ops []scalarOp
	for _, row := range optable.Of(optable.Scalar) {
		f, err := optest.ScalarMethod(row)
		if err != nil {
			continue // reported by TestOpTableCoverage
		}
		ops = append(ops, scalarOp{row.Method, f, row.Ref2, row.Test.CPU32ULPs})
	}
	if len(ops) == 0 {
		t.Fatal("no scalar operation in the op table")
	}
	for _, dt := range dtypes {
		x := tensor.FromSlice(vals, []int{len(vals)}, tensor.WithDType(dt))
		for _, op := range ops {
			for _, s := range scalars {
				got := op.f(x, s).Float64s()
				for i, v := range vals {
					v, s := round(v, dt), round(s, dt)
					if want := round(op.ref(v, s), dt); !matches(got[i], want, dt, op.ulps) {
						t.Errorf("%v %s(%v, %v) = %v, want %v", dt, op.name, v, s, got[i], want)
					}
				}
			}
		}
	}
	// Float32 tensors take the scalar rounded to float32.
	x := tensor.Array([]float32{1})
	if got, want := x.MulScalar(0.1).Item(), float64(float32(0.1)); got != want {
		t.Errorf("float32 MulScalar(0.1) = %v, want %v", got, want)
	}
}

func TestReductionSpecialValues(t *testing.T) {
	for _, dt := range dtypes {
		a := func(v ...float64) *T { return tensor.FromSlice(v, []int{len(v)}, tensor.WithDType(dt)) }
		checks := []struct {
			name string
			got  *T
			want []float64
		}{
			{"Sum with NaN", a(1, nan, 2).Sum(), []float64{nan}},
			{"Sum inf-inf", a(inf, -inf).Sum(), []float64{nan}},
			{"Sum inf", a(inf, 1).Sum(), []float64{inf}},
			{"Mean with NaN", a(nan, 1).Mean(), []float64{nan}},
			{"Max with NaN first", a(nan, 1, 2).Max(), []float64{nan}},
			{"Max with NaN last", a(1, 2, nan).Max(), []float64{nan}},
			{"Min with NaN middle", a(1, nan, -2).Min(), []float64{nan}},
			{"Max of -inf", a(-inf, -inf).Max(), []float64{-inf}},
			{"Min with inf", a(inf, 3).Min(), []float64{3}},
			{"Norm with inf", a(inf, 1).Norm(), []float64{inf}},
			{"Norm with NaN", a(nan, 1).Norm(), []float64{nan}},
			{"Norm 3-4", a(3, -4).Norm(), []float64{5}},
			{"ArgMax NaN", a(1, nan, 5).ArgMax(0), []float64{1}},
			{"ArgMin ties", a(2, 0, 0).ArgMin(0), []float64{1}},
		}
		for _, c := range checks {
			got := c.got.Float64s()
			if len(got) != len(c.want) {
				t.Errorf("%v %s: %v", dt, c.name, got)
				continue
			}
			for i := range got {
				if !sameBits(got[i], round(c.want[i], dt)) {
					t.Errorf("%v %s = %v, want %v", dt, c.name, got, c.want)
					break
				}
			}
		}
		// NaN in one row leaves the other rows alone, along either axis.
		m := tensor.FromSlice([]float64{1, nan, 3, 4, 5, 6}, []int{2, 3}, tensor.WithDType(dt))
		expectValues(t, dt.String()+" Max rows", m.Max(1), []float64{nan, 6})
		expectValues(t, dt.String()+" Max cols", m.Max(0), []float64{4, nan, 6})
		expectValues(t, dt.String()+" Min cols", m.Min(0), []float64{1, nan, 3})
		expectValues(t, dt.String()+" Sum rows", m.Sum(1), []float64{nan, 15})
	}
}

// expectValues compares t's values with want (NaN matches NaN).
func expectValues(t *testing.T, what string, got *T, want []float64) {
	t.Helper()
	v := got.Float64s()
	if len(v) != len(want) {
		t.Errorf("%s: %d values %v, want %v", what, len(v), v, want)
		return
	}
	for i := range v {
		if !(v[i] == round(want[i], got.DType()) || math.IsNaN(v[i]) && math.IsNaN(want[i])) {
			t.Errorf("%s = %v, want %v", what, v, want)
			return
		}
	}
}

func expectShape(t *testing.T, what string, got *T, want ...int) {
	t.Helper()
	s := got.Shape()
	if len(s) != len(want) {
		t.Errorf("%s: shape %v, want %v", what, s, want)
		return
	}
	for i := range s {
		if s[i] != want[i] {
			t.Errorf("%s: shape %v, want %v", what, s, want)
			return
		}
	}
}

func TestEmptyTensors(t *testing.T) {
	for _, dt := range dtypes {
		e := tensor.Zeros([]int{0}, tensor.WithDType(dt))
		e2 := tensor.Zeros([]int{2, 0}, tensor.WithDType(dt))
		name := dt.String() + " "
		expectShape(t, name+"Exp", e.Exp(), 0)
		expectShape(t, name+"Add", e2.Add(e2), 2, 0)
		expectShape(t, name+"broadcast Add", e2.Add(e), 2, 0)
		expectShape(t, name+"broadcast 0-d", e2.Mul(tensor.Scalar(3, tensor.WithDType(dt))), 2, 0)
		expectShape(t, name+"broadcast [2,1]", e2.Mul(tensor.Ones([]int{2, 1}, tensor.WithDType(dt))), 2, 0)
		expectShape(t, name+"AddScalar", e2.AddScalar(1), 2, 0)
		expectShape(t, name+"T", e2.T(), 0, 2)
		expectShape(t, name+"T.Exp", e2.T().Exp(), 0, 2)
		expectValues(t, name+"Sum", e.Sum(), []float64{0})
		expectValues(t, name+"Sum 2-d", e2.Sum(), []float64{0})
		expectValues(t, name+"Sum axis 1", e2.Sum(1), []float64{0, 0})
		expectShape(t, name+"Sum axis 0", e2.Sum(0), 0)
		expectValues(t, name+"Mean", e.Mean(), []float64{nan})
		expectValues(t, name+"Mean axis 1", e2.Mean(1), []float64{nan, nan})
		expectValues(t, name+"Norm", e.Norm(), []float64{0})
		expectShape(t, name+"Max axis 0", e2.Max(0), 0)
		for _, f := range []func(){func() { e.Max() }, func() { e2.Min(1) }, func() { e2.MaxKeepDims() }, func() { e.ArgMax(0) }} {
			if err := tensor.Maybe(f); !errors.Is(err, tensor.ErrShape) {
				t.Errorf("%sreduction to an extreme of nothing: %v, want ErrShape", name, err)
			}
		}
		expectShape(t, name+"Reshape", e2.Reshape(0, 5), 0, 5)
		expectShape(t, name+"Reshape -1", e2.Reshape(3, -1, 2), 3, 0, 2)
		expectShape(t, name+"Flatten", e2.Flatten(), 0)
		c := tensor.Concat([]*T{e2, tensor.Ones([]int{2, 3}, tensor.WithDType(dt)), e2}, 1)
		expectShape(t, name+"Concat", c, 2, 3)
		expectValues(t, name+"Concat", c, []float64{1, 1, 1, 1, 1, 1})
		expectShape(t, name+"Concat of empties", tensor.Concat([]*T{e, e}, 0), 0)
		expectShape(t, name+"Stack", tensor.Stack([]*T{e, e}, 0), 2, 0)
		expectShape(t, name+"Slice to empty", tensor.Ones([]int{3}, tensor.WithDType(dt)).Slice(0, 2, 2), 0)
		// Empty views at the end of their buffer.
		o := tensor.Ones([]int{2, 3}, tensor.WithDType(dt))
		for _, v := range []*T{o.Slice(0, 2, 2), o.Slice(1, 3, 3), o.Slice(1, 3, 3).T(), o.Index(1).Slice(0, 3, 3)} {
			expectValues(t, name+"empty view at the end", v.Exp().Add(v).Reshape(-1), nil)
			expectValues(t, name+"Sum of an empty view at the end", v.Sum(), []float64{0})
			expectShape(t, name+"Clone of an empty view at the end", v.Clone(), v.Shape()...)
		}
		mm := tensor.Zeros([]int{2, 0}, tensor.WithDType(dt)).MatMul(tensor.Zeros([]int{0, 3}, tensor.WithDType(dt)))
		expectValues(t, name+"MatMul k=0", mm, []float64{0, 0, 0, 0, 0, 0})
		expectShape(t, name+"MatMul m=0", tensor.Zeros([]int{0, 3}, tensor.WithDType(dt)).MatMul(tensor.Ones([]int{3, 2}, tensor.WithDType(dt))), 0, 2)
		expectShape(t, name+"MatMul batch 0", tensor.Zeros([]int{0, 2, 3}, tensor.WithDType(dt)).MatMul(tensor.Ones([]int{3, 2}, tensor.WithDType(dt))), 0, 2, 2)
		expectValues(t, name+"dot of empties", e.MatMul(e), []float64{0})
		if s := e2.String(); s != "[[]\n []]" {
			t.Errorf("%sString of [2,0] = %q", name, s)
		}
		if n := len(e2.Float32s()); n != 0 {
			t.Errorf("%sFloat32s of empty: %d values", name, n)
		}
		expectValues(t, name+"Where", tensor.Where(e, e, e), nil)
	}
}

// pseudo returns n deterministic values in [-1, 1) that are exact in
// float32 (multiples of 2^-12).
func pseudo(n int, seed uint64) []float64 {
	out := make([]float64, n)
	s := seed*0x9E3779B97F4A7C15 + 1
	for i := range out {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		out[i] = float64(int64(s>>52)-2048) / 2048
	}
	return out
}

func compareNear(t *testing.T, what string, got, want []float64, dt tensor.DType, ulps uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		w := round(want[i], dt)
		// The sign of a zero result is not checked here.
		if d := ulpDiff(got[i], w, dt); d > ulps && !(got[i] == 0 && w == 0) {
			t.Fatalf("%s: element %d = %v, want %v (%d ulp)", what, i, got[i], w, d)
		}
	}
}

// The sizes of the large-and-odd tests: odd sizes around the blocking and
// splitting thresholds, and sizes that take the multi-goroutine paths.
var oddSizes = []int{31, 1025, 4097, 65537, 1 << 17}

func TestElementwiseLargeAndOdd(t *testing.T) {
	for _, n := range oddSizes {
		av, bv := pseudo(n, 1), pseudo(n, 2)
		for _, dt := range dtypes {
			a := tensor.FromSlice(av, []int{n}, tensor.WithDType(dt))
			b := tensor.FromSlice(bv, []int{n}, tensor.WithDType(dt))
			ref := func(f func(x, y float64) float64) []float64 {
				out := make([]float64, n)
				for i := range out {
					out[i] = f(round(av[i], dt), round(bv[i], dt))
				}
				return out
			}
			name := fmt.Sprintf("%v n=%d", dt, n)
			compareNear(t, name+" Add", a.Add(b).Float64s(), ref(func(x, y float64) float64 { return x + y }), dt, 0)
			compareNear(t, name+" Mul", a.Mul(b).Float64s(), ref(func(x, y float64) float64 { return x * y }), dt, 0)
			compareNear(t, name+" Maximum", a.Maximum(b).Float64s(), ref(nanMax), dt, 0)
			compareNear(t, name+" Exp", a.Exp().Float64s(), ref(func(x, _ float64) float64 { return math.Exp(x) }), dt, 1)
			compareNear(t, name+" Tanh", a.Tanh().Float64s(), ref(func(x, _ float64) float64 { return math.Tanh(x) }), dt, 1)
			compareNear(t, name+" MulScalar", a.MulScalar(3).Float64s(), ref(func(x, _ float64) float64 { return 3 * x }), dt, 0)
			compareNear(t, name+" Gt", a.Gt(b).Float64s(), ref(func(x, y float64) float64 { return b2f(x > y) }), dt, 0)
		}
	}
}

// shapesFor returns 2-d shapes of about n elements with odd sides.
func shapesFor(n int) [][2]int {
	switch {
	case n < 100:
		return [][2]int{{3, 11}, {1, 31}}
	case n < 10000:
		return [][2]int{{5, 205}, {41, 25}}
	default:
		return [][2]int{{257, 511}, {3, 21845}, {21845, 3}}
	}
}

func TestBroadcastAndStridedLargeAndOdd(t *testing.T) {
	for _, n := range []int{31, 1025, 1 << 17} {
		for _, sh := range shapesFor(n) {
			r, c := sh[0], sh[1]
			av := pseudo(r*c, 3)
			rowv, colv := pseudo(c, 4), pseudo(r, 5)
			bv := pseudo(r*c, 6)
			for _, dt := range dtypes {
				a := tensor.FromSlice(av, []int{r, c}, tensor.WithDType(dt))
				row := tensor.FromSlice(rowv, []int{c}, tensor.WithDType(dt))
				col := tensor.FromSlice(colv, []int{r, 1}, tensor.WithDType(dt))
				bt := tensor.FromSlice(bv, []int{c, r}, tensor.WithDType(dt)) // read transposed
				name := fmt.Sprintf("%v %dx%d", dt, r, c)
				wantRow, wantCol, wantT, wantTT := make([]float64, r*c), make([]float64, r*c), make([]float64, r*c), make([]float64, r*c)
				for i := 0; i < r; i++ {
					for j := 0; j < c; j++ {
						x := round(av[i*c+j], dt)
						wantRow[i*c+j] = x - round(rowv[j], dt)
						wantCol[i*c+j] = x * round(colv[i], dt)
						wantT[i*c+j] = x + round(bv[j*r+i], dt)
						wantTT[i*c+j] = math.Abs(round(bv[j*r+i], dt))
					}
				}
				compareNear(t, name+" row broadcast", a.Sub(row).Float64s(), wantRow, dt, 0)
				compareNear(t, name+" row broadcast (left)", row.Neg().Add(a).Float64s(), wantRow, dt, 0)
				compareNear(t, name+" col broadcast", a.Mul(col).Float64s(), wantCol, dt, 0)
				compareNear(t, name+" col broadcast (left)", col.Mul(a).Float64s(), wantCol, dt, 0)
				compareNear(t, name+" transposed operand", a.Add(bt.T()).Float64s(), wantT, dt, 0)
				compareNear(t, name+" transposed unary", bt.T().Abs().Float64s(), wantTT, dt, 0)
				compareNear(t, name+" transposed copy", bt.T().Contiguous().Abs().Float64s(), wantTT, dt, 0)
			}
		}
	}
}

// naiveReduce reduces a dense row-major array of shape over axes in float64.
func naiveReduce(kind string, x []float64, shape []int, axes []int) []float64 {
	isRed := make([]bool, len(shape))
	for _, a := range axes {
		isRed[a] = true
	}
	strides := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		strides[i] = s
		s *= shape[i]
	}
	var kshape []int
	for i, d := range shape {
		if !isRed[i] {
			kshape = append(kshape, d)
		}
	}
	nk := 1
	for _, d := range kshape {
		nk *= d
	}
	acc := make([]float64, nk)
	cnt := make([]int, nk)
	for flat, v := range x {
		k := 0
		for i := range shape {
			if !isRed[i] {
				k = k*shape[i] + flat/strides[i]%shape[i]
			}
		}
		switch {
		case cnt[k] == 0 && (kind == "Max" || kind == "Min"):
			acc[k] = v
		case kind == "Max":
			acc[k] = math.Max(acc[k], v)
		case kind == "Min":
			acc[k] = math.Min(acc[k], v)
		case kind == "Norm":
			acc[k] += v * v
		default:
			acc[k] += v
		}
		cnt[k]++
	}
	for k := range acc {
		switch kind {
		case "Mean":
			acc[k] /= float64(cnt[k])
		case "Norm":
			acc[k] = math.Sqrt(acc[k])
		}
	}
	return acc
}

var reductions = map[string]func(t *T, axes ...int) *T{
	"Sum": (*T).Sum, "Mean": (*T).Mean, "Max": (*T).Max, "Min": (*T).Min, "Norm": (*T).Norm,
}

func TestReductionsLargeAndOdd(t *testing.T) {
	cases := []struct {
		shape []int
		axes  [][]int
	}{
		{[]int{31}, [][]int{{0}}},
		{[]int{65537}, [][]int{{0}}},
		{[]int{1 << 17}, [][]int{{0}}},
		{[]int{3, 21845}, [][]int{{1}, {0}, {0, 1}}},
		{[]int{21845, 3}, [][]int{{0}, {1}}},
		{[]int{257, 511}, [][]int{{0}, {1}}},
		{[]int{31, 33, 35}, [][]int{{1}, {0}, {2}, {0, 2}, {1, 2}}},
		{[]int{2, 140003}, [][]int{{1}}},
	}
	for _, c := range cases {
		n := 1
		for _, d := range c.shape {
			n *= d
		}
		xv := pseudo(n, 7)
		for _, dt := range dtypes {
			x := tensor.FromSlice(xv, c.shape, tensor.WithDType(dt))
			xr := make([]float64, n)
			for i, v := range xv {
				xr[i] = round(v, dt)
			}
			for _, axes := range c.axes {
				for name, f := range reductions {
					want := naiveReduce(name, xr, c.shape, axes)
					got := f(x, axes...).Float64s()
					what := fmt.Sprintf("%v %s%v of %v", dt, name, axes, c.shape)
					if name == "Max" || name == "Min" {
						compareNear(t, what, got, want, dt, 0)
						continue
					}
					// Float32 results are float64 sums rounded once: at most
					// one ulp from the rounded naive sum. Float64 sums
					// differ from the naive order by rounding only.
					if dt == tensor.Float32 {
						compareNear(t, what, got, want, dt, 1)
					} else {
						for i := range got {
							if math.Abs(got[i]-want[i]) > 1e-12*float64(n) {
								t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestFloat32SumAccumulatesInFloat64: 2^24 plus ones. Summed in float32
// each one would be lost (2^24+1 rounds to 2^24).
func TestFloat32SumAccumulatesInFloat64(t *testing.T) {
	for _, ones := range []int{1000, 200000} {
		v := make([]float32, ones+1)
		v[0] = 1 << 24
		for i := 1; i < len(v); i++ {
			v[i] = 1
		}
		want := float64(1<<24 + ones)
		x := tensor.FromSlice(v, []int{len(v)})
		if got := x.Sum().Item(); got != want {
			t.Errorf("float32 Sum of 2^24 and %d ones = %v, want %v", ones, got, want)
		}
		if got, w := x.Mean().Item(), float64(float32(want/float64(len(v)))); got != w {
			t.Errorf("float32 Mean of 2^24 and %d ones = %v, want %v", ones, got, w)
		}
		// Along the outer axis of a 2-column matrix (column 0 is the data).
		m := tensor.Concat([]*T{x.ExpandDims(1), tensor.Zeros([]int{len(v), 1})}, 1)
		if got := m.Sum(0).Float64s(); got[0] != want || got[1] != 0 {
			t.Errorf("float32 column Sum of 2^24 and %d ones = %v, want [%v 0]", ones, got, want)
		}
		// Through the transposed (gather) path.
		if got := m.T().Sum(1).Float64s(); got[0] != want {
			t.Errorf("float32 transposed Sum of 2^24 and %d ones = %v, want %v", ones, got, want)
		}
	}
}

// TestReductionsReproducible: bitwise the same results on repeated runs
// and with 1 or 2 goroutines.
func TestReductionsReproducible(t *testing.T) {
	tensor.Seed(9)
	xs := []*T{
		tensor.RandNormal(0, 1, []int{300, 1000}),
		tensor.RandNormal(0, 1, []int{300001}),
		tensor.RandNormal(0, 1, []int{140001, 3}, tensor.WithDType(tensor.Float64)),
	}
	run := func() [][]float64 {
		var out [][]float64
		for _, x := range xs {
			for _, name := range []string{"Sum", "Mean", "Max", "Min", "Norm"} {
				f := reductions[name]
				out = append(out, f(x).Float64s(), f(x, 0).Float64s(), f(x, -1).Float64s(), f(x.T(), 0).Float64s())
			}
		}
		return out
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	first := run()
	for i, procs := range []int{2, 2, 1, 2} {
		runtime.GOMAXPROCS(procs)
		again := run()
		for j := range first {
			for k := range first[j] {
				if !sameBits(first[j][k], again[j][k]) {
					t.Fatalf("run %d (GOMAXPROCS %d): result %d element %d = %v, first run %v", i+1, procs, j, k, again[j][k], first[j][k])
				}
			}
		}
	}
}

func naiveMatMul(a, b []float64, batch, m, k, n int, bBatched bool) []float64 {
	out := make([]float64, batch*m*n)
	for i := 0; i < batch; i++ {
		bo := 0
		if bBatched {
			bo = i * k * n
		}
		for r := 0; r < m; r++ {
			for c := 0; c < n; c++ {
				s := 0.0
				for p := 0; p < k; p++ {
					s += a[i*m*k+r*k+p] * b[bo+p*n+c]
				}
				out[i*m*n+r*n+c] = s
			}
		}
	}
	return out
}

func TestMatMulAgainstNaive(t *testing.T) {
	cases := []struct{ batch, m, k, n int }{
		{1, 1, 1, 1}, {1, 31, 17, 9}, {1, 65, 33, 17}, {3, 31, 20, 9}, {1, 128, 96, 80}, {7, 5, 3, 1}, {2, 1, 40, 1},
	}
	for _, c := range cases {
		av, bv := pseudo(c.batch*c.m*c.k, 8), pseudo(c.batch*c.k*c.n, 9)
		for _, dt := range dtypes {
			ar := make([]float64, len(av))
			br := make([]float64, len(bv))
			for i := range av {
				ar[i] = round(av[i], dt)
			}
			for i := range bv {
				br[i] = round(bv[i], dt)
			}
			a := tensor.FromSlice(av, []int{c.batch, c.m, c.k}, tensor.WithDType(dt))
			b := tensor.FromSlice(bv, []int{c.batch, c.k, c.n}, tensor.WithDType(dt))
			b0 := b.Index(0)
			want := naiveMatMul(ar, br, c.batch, c.m, c.k, c.n, true)
			want0 := naiveMatMul(ar, br, c.batch, c.m, c.k, c.n, false)
			// The inputs are multiples of 2^-11 below 1, so every product
			// is exact and float64 sums of up to 128 terms are too.
			tolerance := func(dt tensor.DType) float64 {
				if dt == tensor.Float32 {
					return 1e-6 * float64(c.k) // Sgemm accumulates in float32
				}
				return 0
			}
			check := func(what string, got *T, want []float64) {
				t.Helper()
				v := got.Float64s()
				if len(v) != len(want) {
					t.Fatalf("%v %v %s: %d values, want %d", dt, c, what, len(v), len(want))
				}
				for i := range v {
					if math.Abs(v[i]-want[i]) > tolerance(dt) {
						t.Fatalf("%v %v %s: element %d = %v, want %v", dt, c, what, i, v[i], want[i])
					}
				}
			}
			check("batched", a.MatMul(b), want)
			check("broadcast b", a.MatMul(b0), want0)
			// The same products from transposed storage.
			at := a.Transpose(0, 2, 1).Contiguous().Transpose(0, 2, 1)
			bt := b.Transpose(0, 2, 1).Contiguous().Transpose(0, 2, 1)
			check("transposed views", at.MatMul(bt), want)
			check("transposed b0", at.MatMul(bt.Index(0)), want0)
			if c.batch == 1 {
				check("2-d", a.Index(0).MatMul(b0), want)
			}
		}
	}
	// Vector cases against the explicit formulas.
	v := tensor.Array([]float64{1, 2, 3})
	m := tensor.Array([][]float64{{1, 0}, {0, 1}, {1, 1}})
	expectValues(t, "vec·mat", v.MatMul(m), []float64{4, 5})
	expectShape(t, "vec·mat", v.MatMul(m), 2)
	expectValues(t, "mat·vec", m.T().MatMul(v), []float64{4, 5})
	expectValues(t, "dot", v.MatMul(v), []float64{14})
	expectShape(t, "dot", v.MatMul(v))
	expectShape(t, "vec·batched", v.MatMul(tensor.Ones([]int{4, 3, 2}, tensor.WithDType(tensor.Float64))), 4, 2)
	expectShape(t, "batched·vec", tensor.Ones([]int{4, 2, 3}, tensor.WithDType(tensor.Float64)).MatMul(v), 4, 2)
}

func TestShapeOpsForward(t *testing.T) {
	x := tensor.Arange(0, 24, 1, tensor.WithDType(tensor.Float64)).Reshape(2, 3, 4)
	expectValues(t, "Index(1).Index(-1)", x.Index(1).Index(-1), []float64{20, 21, 22, 23})
	expectValues(t, "Slice(2, -3, -1)", x.Slice(2, -3, -1).Index(0), []float64{1, 2, 5, 6, 9, 10})
	expectValues(t, "Transpose(2, 0, 1)", x.Transpose(2, 0, 1).Index(3), []float64{3, 7, 11, 15, 19, 23})
	expectValues(t, "Transpose()", x.Transpose().Index(0).Index(0), []float64{0, 12})
	expectValues(t, "T then Reshape (copy)", x.Index(0).T().Reshape(-1), []float64{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11})
	expectShape(t, "ExpandDims(-1)", x.ExpandDims(-1), 2, 3, 4, 1)
	expectShape(t, "ExpandDims(1)", x.ExpandDims(1), 2, 1, 3, 4)
	expectShape(t, "Squeeze()", tensor.Zeros([]int{1, 3, 1}).Squeeze(), 3)
	expectShape(t, "Squeeze(0)", tensor.Zeros([]int{1, 3, 1}).Squeeze(0), 3, 1)
	expectShape(t, "Squeeze of 0-d", tensor.Scalar(1).Squeeze())
	expectValues(t, "BroadcastTo", tensor.Array([]float64{1, 2}).BroadcastTo(2, 2), []float64{1, 2, 1, 2})
	expectValues(t, "Concat axis 1", tensor.Concat([]*T{x.Index(0).Slice(1, 0, 1), x.Index(1).Slice(1, 3, 4)}, 1), []float64{0, 15, 4, 19, 8, 23})
	expectValues(t, "Stack axis -1", tensor.Stack([]*T{tensor.Array([]float64{1, 2}), tensor.Array([]float64{3, 4})}, -1), []float64{1, 3, 2, 4})
	expectValues(t, "Where broadcast", tensor.Where(tensor.Array([][]float64{{1}, {0}}), tensor.Array([]float64{1, 2}), tensor.Scalar(-1, tensor.WithDType(tensor.Float64))), []float64{1, 2, -1, -1})
	expectValues(t, "SumKeepDims", x.SumKeepDims(0, 2), []float64{60, 92, 124})
	expectShape(t, "SumKeepDims", x.SumKeepDims(0, 2), 1, 3, 1)
	expectShape(t, "MeanKeepDims()", x.MeanKeepDims(), 1, 1, 1)
	expectValues(t, "Mean(-1)", x.Index(0).Mean(-1), []float64{1.5, 5.5, 9.5})
	expectValues(t, "ArgMax(1)", x.Neg().ArgMin(1).Index(0), []float64{2, 2, 2, 2})
	// Views share memory with their source; Clone and Contiguous of a
	// transposed view do not. Reshape of a view that cannot be viewed
	// copies.
	if x.Reshape(6, 4).Index(5).Index(3).Item() != 23 {
		t.Error("Reshape view reads the wrong element")
	}
	if c := x.T(); c.Contiguous() == c {
		t.Error("Contiguous of a transposed view returned the view")
	}
	if x.Contiguous() != x || x.AsType(tensor.Float64) != x || x.BroadcastTo(2, 3, 4) != x {
		t.Error("no-op conversions should return their receiver")
	}
	// Size-1 axes.
	unit := tensor.Ones([]int{1, 1, 1})
	expectShape(t, "1x1x1 Sum(1)", unit.Sum(1), 1, 1)
	expectValues(t, "1x1x1 Max", unit.Max(), []float64{1})
	expectShape(t, "1x1 MatMul", tensor.Ones([]int{1, 1}).MatMul(tensor.Ones([]int{1, 1})), 1, 1)
	// Accessors.
	if x.Rank() != 3 || x.Size() != 24 || x.DType() != tensor.Float64 || x.Device().String() != "cpu" {
		t.Errorf("accessors: rank %d size %d dtype %v device %v", x.Rank(), x.Size(), x.DType(), x.Device())
	}
	s := x.Shape()
	s[0] = 99
	if x.Shape()[0] != 2 {
		t.Error("Shape returns the tensor's own slice")
	}
}
