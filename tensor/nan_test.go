package tensor_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// NaN and infinity semantics (see "NaN and infinity" in the package
// documentation), on every available device and both dtypes. The general
// behaviour of the operations on finite values is tested elsewhere.

// nan, inf and negz are declared in forward_test.go.
var (
	negInf = math.Inf(-1)
	negZ   = negz
)

// specials are the values every elementwise operation is tried on.
var specials = []float64{nan, inf, negInf, 0, negZ, 1, -1, 2, 0.5, 1000, -1000}

type env struct {
	dev device.Device
	dt  tensor.DType
}

func (e env) String() string { return fmt.Sprintf("%v/%v", e.dev, e.dt) }

func (e env) vec(v ...float64) *tensor.Tensor {
	return tensor.FromSlice(v, []int{len(v)}, tensor.On(e.dev), tensor.WithDType(e.dt))
}

func (e env) mat(r, c int, v ...float64) *tensor.Tensor {
	return tensor.FromSlice(v, []int{r, c}, tensor.On(e.dev), tensor.WithDType(e.dt))
}

// round gives the value of v in the env's dtype.
func (e env) round(v float64) float64 {
	if e.dt == tensor.Float32 {
		return float64(float32(v))
	}
	return v
}

func forEach(t *testing.T, fn func(t *testing.T, e env)) {
	for _, d := range device.Available() {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			e := env{d, dt}
			t.Run(e.String(), func(t *testing.T) { fn(t, e) })
		}
	}
}

// close reports whether got matches want: NaN for NaN, infinities and
// zeros exactly (with the sign of zero when signed is set), other values
// to a relative 1e-6 (float32 transcendental functions may be an ulp off).
func closeTo(got, want float64, signed bool) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(got)
	case math.IsInf(want, 0) || want == 0:
		return got == want && (!signed || math.Signbit(got) == math.Signbit(want))
	}
	return math.Abs(got-want) <= 1e-6*math.Abs(want)
}

func checkVals(t *testing.T, what string, got *tensor.Tensor, want []float64, signed bool) {
	t.Helper()
	g := got.Float64s()
	if len(g) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(g), len(want))
	}
	for i := range want {
		if !closeTo(g[i], want[i], signed) {
			t.Errorf("%s: element %d = %v, want %v", what, i, g[i], want[i])
		}
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x
}

// b2f is declared in forward_test.go.

func TestNaNUnary(t *testing.T) {
	ops := []struct {
		name   string
		f      func(*tensor.Tensor) *tensor.Tensor
		ref    func(float64) float64
		signed bool // the sign of a zero result is specified
	}{
		{"Neg", (*tensor.Tensor).Neg, func(x float64) float64 { return -x }, true},
		{"Abs", (*tensor.Tensor).Abs, math.Abs, true},
		{"Sign", (*tensor.Tensor).Sign, sign, true},
		{"Exp", (*tensor.Tensor).Exp, math.Exp, false},
		{"Log", (*tensor.Tensor).Log, math.Log, false},
		{"Sqrt", (*tensor.Tensor).Sqrt, math.Sqrt, true},
		{"Square", (*tensor.Tensor).Square, func(x float64) float64 { return x * x }, false},
		{"Recip", (*tensor.Tensor).Recip, func(x float64) float64 { return 1 / x }, true},
		{"Tanh", (*tensor.Tensor).Tanh, math.Tanh, false},
		{"Sigmoid", (*tensor.Tensor).Sigmoid, sigmoid, false},
		{"ReLU", (*tensor.Tensor).ReLU, func(x float64) float64 { return max(x, 0) }, false},
		{"Sin", (*tensor.Tensor).Sin, math.Sin, false},
		{"Cos", (*tensor.Tensor).Cos, math.Cos, false},
	}
	forEach(t, func(t *testing.T, e env) {
		x := e.vec(specials...)
		for _, op := range ops {
			want := make([]float64, len(specials))
			for i, v := range specials {
				want[i] = e.round(op.ref(e.round(v)))
			}
			checkVals(t, op.name, op.f(x), want, op.signed)
			// A strided view takes the other kernel path.
			xs := e.mat(len(specials), 2, interleave(specials)...).T().Index(0)
			checkVals(t, op.name+"/strided", op.f(xs), want, op.signed)
		}
	})
}

func interleave(v []float64) []float64 {
	out := make([]float64, 0, 2*len(v))
	for _, x := range v {
		out = append(out, x, 7)
	}
	return out
}

// TestNaNEdgeCases spells out the cases the documentation names.
func TestNaNEdgeCases(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		checkVals(t, "Log(0, -0, -1, Inf, -Inf, NaN)", e.vec(0, negZ, -1, inf, negInf, nan).Log(), []float64{negInf, negInf, nan, inf, nan, nan}, false)
		checkVals(t, "Sqrt(-1, -0, Inf, -Inf)", e.vec(-1, negZ, inf, negInf).Sqrt(), []float64{nan, negZ, inf, nan}, true)
		checkVals(t, "1/0, -1/0, 0/0, Inf/Inf, 1/-0", e.vec(1, -1, 0, inf, 1).Div(e.vec(0, 0, 0, inf, negZ)), []float64{inf, negInf, nan, nan, negInf}, true)
		checkVals(t, "Inf-Inf, Inf+(-Inf), Inf*0", tensor.Stack([]*tensor.Tensor{
			e.vec(inf).Sub(e.vec(inf)), e.vec(inf).Add(e.vec(negInf)), e.vec(inf).Mul(e.vec(0))}, 0), []float64{nan, nan, nan}, false)
		checkVals(t, "RDivScalar(0)", e.vec(0, negZ, inf).RDivScalar(1), []float64{inf, negInf, 0}, true)

		// Exp overflows to +Inf and underflows to 0.
		big := 710.0
		if e.dt == tensor.Float32 {
			big = 89
			checkVals(t, "Exp(88.7) float32", e.vec(88.7).Exp(), []float64{e.round(math.Exp(e.round(88.7)))}, false)
		} else {
			checkVals(t, "Exp(709) float64", e.vec(709).Exp(), []float64{math.Exp(709)}, false)
		}
		checkVals(t, "Exp overflow", e.vec(big, 1e30, inf, -1e30, negInf).Exp(), []float64{inf, inf, inf, 0, 0}, false)

		// Sigmoid and Tanh saturate without NaN.
		sat := []float64{negInf, -1e30, -1000, -100, -50, -20, 0, 20, 50, 100, 1000, 1e30, inf}
		for name, y := range map[string]*tensor.Tensor{"Sigmoid": e.vec(sat...).Sigmoid(), "Tanh": e.vec(sat...).Tanh()} {
			v := y.Float64s()
			lo := -1.0
			if name == "Sigmoid" {
				lo = 0
			}
			for i, x := range v {
				if math.IsNaN(x) || x < lo || x > 1 || (i > 0 && x < v[i-1]) {
					t.Errorf("%s(%v) = %v (previous %v)", name, sat[i], x, v[max(i-1, 0)])
				}
			}
			if v[0] != lo || v[len(v)-1] != 1 {
				t.Errorf("%s at ±Inf: %v, %v", name, v[0], v[len(v)-1])
			}
		}

		// AsType: float64 values beyond float32 become ±Inf; NaN stays NaN.
		if e.dt == tensor.Float64 {
			checkVals(t, "AsType(Float32)", e.vec(1e300, -1e300, nan, 1e-300).AsType(tensor.Float32), []float64{inf, negInf, nan, 0}, false)
		}
		// Full and Scalar hold any value.
		checkVals(t, "Full(NaN)", tensor.Full(nan, []int{2}, tensor.On(e.dev), tensor.WithDType(e.dt)), []float64{nan, nan}, false)
		if v := tensor.Scalar(negInf, tensor.On(e.dev), tensor.WithDType(e.dt)).Item(); v != negInf {
			t.Errorf("Item of -Inf: %v", v)
		}
	})
	if err := tensor.Maybe(func() { tensor.Arange(0, nan, 1) }); !errors.Is(err, tensor.ErrArgument) {
		t.Errorf("Arange to NaN: %v", err)
	}
	if err := tensor.Maybe(func() { tensor.Arange(0, inf, 1) }); !errors.Is(err, tensor.ErrArgument) {
		t.Errorf("Arange to Inf: %v", err)
	}
	if got := tensor.Array([]float64{nan, inf, negInf, negZ}).String(); got != "[ nan  inf -inf   -0]" {
		t.Errorf("String: %q", got)
	}
}

// TestNaNPow compares Pow, PowScalar and the scalar's Pow with Go's
// math.Pow on every pair of special values (math.Pow's special cases are
// C99's, as NumPy's).
func TestNaNPow(t *testing.T) {
	vals := append(append([]float64(nil), specials...), 3, -3, -0.5, 1.5)
	forEach(t, func(t *testing.T, e env) {
		n := len(vals)
		x := e.mat(n, 1, vals...) // a column
		y := e.mat(1, n, vals...) // a row
		got := x.Pow(y).Float64s()
		for i, a := range vals {
			for j, b := range vals {
				want := e.round(math.Pow(e.round(a), e.round(b)))
				if !closeTo(got[i*n+j], want, false) {
					t.Errorf("Pow(%v, %v) = %v, want %v", a, b, got[i*n+j], want)
				}
			}
		}
		for _, s := range vals {
			got := e.vec(vals...).PowScalar(s).Float64s()
			for i, a := range vals {
				want := e.round(math.Pow(e.round(a), e.round(s)))
				if !closeTo(got[i], want, false) {
					t.Errorf("PowScalar(%v, %v) = %v, want %v", a, s, got[i], want)
				}
			}
		}
	})
}

func TestNaNBinary(t *testing.T) {
	ops := []struct {
		name string
		f    func(a, b *tensor.Tensor) *tensor.Tensor
		ref  func(a, b float64) float64
	}{
		{"Add", (*tensor.Tensor).Add, func(a, b float64) float64 { return a + b }},
		{"Sub", (*tensor.Tensor).Sub, func(a, b float64) float64 { return a - b }},
		{"Mul", (*tensor.Tensor).Mul, func(a, b float64) float64 { return a * b }},
		{"Div", (*tensor.Tensor).Div, func(a, b float64) float64 { return a / b }},
		// NaN propagates from either side, as NumPy's maximum/minimum.
		{"Maximum", (*tensor.Tensor).Maximum, func(a, b float64) float64 { return max(a, b) }},
		{"Minimum", (*tensor.Tensor).Minimum, func(a, b float64) float64 { return min(a, b) }},
		// Every comparison with NaN is false, except Ne.
		{"Eq", (*tensor.Tensor).Eq, func(a, b float64) float64 { return b2f(a == b) }},
		{"Ne", (*tensor.Tensor).Ne, func(a, b float64) float64 { return b2f(a != b) }},
		{"Lt", (*tensor.Tensor).Lt, func(a, b float64) float64 { return b2f(a < b) }},
		{"Le", (*tensor.Tensor).Le, func(a, b float64) float64 { return b2f(a <= b) }},
		{"Gt", (*tensor.Tensor).Gt, func(a, b float64) float64 { return b2f(a > b) }},
		{"Ge", (*tensor.Tensor).Ge, func(a, b float64) float64 { return b2f(a >= b) }},
	}
	scalarOps := []struct {
		name string
		f    func(a *tensor.Tensor, s float64) *tensor.Tensor
		ref  func(a, s float64) float64
	}{
		{"AddScalar", (*tensor.Tensor).AddScalar, func(a, s float64) float64 { return a + s }},
		{"SubScalar", (*tensor.Tensor).SubScalar, func(a, s float64) float64 { return a - s }},
		{"RSubScalar", (*tensor.Tensor).RSubScalar, func(a, s float64) float64 { return s - a }},
		{"MulScalar", (*tensor.Tensor).MulScalar, func(a, s float64) float64 { return a * s }},
		{"DivScalar", (*tensor.Tensor).DivScalar, func(a, s float64) float64 { return a / s }},
		{"RDivScalar", (*tensor.Tensor).RDivScalar, func(a, s float64) float64 { return s / a }},
		{"MaximumScalar", (*tensor.Tensor).MaximumScalar, func(a, s float64) float64 { return max(a, s) }},
		{"MinimumScalar", (*tensor.Tensor).MinimumScalar, func(a, s float64) float64 { return min(a, s) }},
		{"EqScalar", (*tensor.Tensor).EqScalar, func(a, s float64) float64 { return b2f(a == s) }},
		{"NeScalar", (*tensor.Tensor).NeScalar, func(a, s float64) float64 { return b2f(a != s) }},
		{"LtScalar", (*tensor.Tensor).LtScalar, func(a, s float64) float64 { return b2f(a < s) }},
		{"LeScalar", (*tensor.Tensor).LeScalar, func(a, s float64) float64 { return b2f(a <= s) }},
		{"GtScalar", (*tensor.Tensor).GtScalar, func(a, s float64) float64 { return b2f(a > s) }},
		{"GeScalar", (*tensor.Tensor).GeScalar, func(a, s float64) float64 { return b2f(a >= s) }},
	}
	forEach(t, func(t *testing.T, e env) {
		n := len(specials)
		col, row := e.mat(n, 1, specials...), e.mat(1, n, specials...)
		for _, op := range ops {
			// All pairs at once, by broadcasting; and elementwise with
			// both operands dense, to take the other kernel paths.
			want := make([]float64, n*n)
			var av, bv []float64
			for i, a := range specials {
				for j, b := range specials {
					want[i*n+j] = e.round(op.ref(e.round(a), e.round(b)))
					av, bv = append(av, a), append(bv, b)
				}
			}
			checkVals(t, op.name+"/broadcast", op.f(col, row), want, false)
			checkVals(t, op.name+"/dense", op.f(e.vec(av...), e.vec(bv...)), want, false)
			checkVals(t, op.name+"/scalar-broadcast", op.f(e.vec(av...), e.vec(nan)), fill(len(av), func(i int) float64 { return e.round(op.ref(av[i], nan)) }), false)
		}
		x := e.vec(specials...)
		for _, op := range scalarOps {
			for _, s := range specials {
				want := make([]float64, n)
				for i, a := range specials {
					want[i] = e.round(op.ref(e.round(a), e.round(s)))
				}
				checkVals(t, fmt.Sprintf("%s(%v)", op.name, s), op.f(x, s), want, false)
			}
		}
		// Where picks by cond != 0, and NaN is not 0.
		checkVals(t, "Where(NaN cond)", tensor.Where(e.vec(nan, 0, negZ, inf), e.vec(1, 1, 1, 1), e.vec(2, 2, 2, 2)), []float64{1, 2, 2, 1}, false)
		checkVals(t, "Where(NaN values)", tensor.Where(e.vec(1, 0), e.vec(nan, nan), e.vec(inf, inf)), []float64{nan, inf}, false)
	})
}

func fill(n int, f func(int) float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestNaNReductions(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		// Rows: plain, with NaN, with +Inf, with both infinities, all -Inf.
		rows := [][]float64{
			{1, 2, 3, 4},
			{1, nan, 3, 4},
			{1, inf, 3, 4},
			{negInf, 2, inf, 4},
			{negInf, negInf, negInf, negInf},
			{4, 3, 2, nan},
		}
		var flat []float64
		for _, r := range rows {
			flat = append(flat, r...)
		}
		m := e.mat(len(rows), 4, flat...)
		want := map[string][]float64{
			"Sum":  {10, nan, inf, nan, negInf, nan},
			"Mean": {2.5, nan, inf, nan, negInf, nan},
			"Max":  {4, nan, inf, inf, negInf, nan},
			"Min":  {1, nan, 1, negInf, negInf, nan},
			"Norm": {math.Sqrt(30), nan, inf, inf, inf, nan},
		}
		red := map[string]func(*tensor.Tensor, ...int) *tensor.Tensor{
			"Sum": (*tensor.Tensor).Sum, "Mean": (*tensor.Tensor).Mean, "Max": (*tensor.Tensor).Max,
			"Min": (*tensor.Tensor).Min, "Norm": (*tensor.Tensor).Norm,
		}
		for name, f := range red {
			checkVals(t, name+"(axis 1)", f(m, 1), want[name], false)
			// The same reduction over the outer axis of the transpose, and
			// over a non-contiguous gather.
			checkVals(t, name+"(axis 0 of T)", f(m.T(), 0), want[name], false)
			checkVals(t, name+"(axes 1, 2)", f(m.Reshape(len(rows), 2, 2).Transpose(0, 2, 1), 1, 2), want[name], false)
			// Everything at once: one NaN poisons all but Max/Min... no:
			// NaN propagates through every reduction.
			checkVals(t, name+"(all)", f(m), []float64{nan}, false)
		}
		// Large reductions split into chunks still propagate NaN, wherever
		// it sits.
		for _, pos := range []int{0, 70000, 1<<18 - 1} {
			v := make([]float64, 1<<18)
			for i := range v {
				v[i] = float64(i % 100)
			}
			v[pos] = nan
			x := e.vec(v...)
			for name, f := range red {
				checkVals(t, fmt.Sprintf("%s of 2^18 with NaN at %d", name, pos), f(x), []float64{nan}, false)
			}
			checkVals(t, "Max over the outer axis", x.Reshape(1<<16, 4).Max(0), fill(4, func(i int) float64 {
				if i == pos%4 {
					return nan
				}
				return float64(96 + i)
			}), false)
		}
		// Zero elements: Sum is 0, Mean is NaN (0/0), Max and Min have no
		// identity and panic with ErrShape.
		z := tensor.Zeros([]int{2, 0}, tensor.On(e.dev), tensor.WithDType(e.dt))
		checkVals(t, "Sum of empty", z.Sum(1), []float64{0, 0}, false)
		checkVals(t, "Mean of empty", z.Mean(1), []float64{nan, nan}, false)
		if err := tensor.Maybe(func() { z.Max(1) }); !errors.Is(err, tensor.ErrShape) {
			t.Errorf("Max of empty: %v", err)
		}
		// Norm accumulates float32 in float64, so it overflows only when
		// the result does.
		if e.dt == tensor.Float32 {
			checkVals(t, "Norm float32 1e30", e.vec(1e30, 1e30).Norm(), []float64{e.round(math.Sqrt2 * 1e30)}, false)
		} else {
			checkVals(t, "Norm float64 1e200", e.vec(1e200, 1e200).Norm(), []float64{inf}, false)
		}

		// ArgMax and ArgMin: the first NaN wins; otherwise the first
		// extreme.
		arg := e.mat(6, 4,
			1, nan, 3, nan,
			nan, 5, 6, 7,
			1, inf, inf, 2,
			negInf, negInf, 0, negInf,
			2, 2, 2, 2,
			inf, negInf, negInf, inf)
		checkVals(t, "ArgMax", arg.ArgMax(1), []float64{1, 0, 1, 2, 0, 0}, false)
		checkVals(t, "ArgMin", arg.ArgMin(1), []float64{1, 0, 0, 0, 0, 1}, false)
		checkVals(t, "ArgMax(axis 0 of T)", arg.T().ArgMax(0), []float64{1, 0, 1, 2, 0, 0}, false)
		checkVals(t, "ArgMin(-1)", arg.ArgMin(-1), []float64{1, 0, 0, 0, 0, 1}, false)
	})
}

// naiveMatMul is the IEEE reference: every term, summed in order.
func naiveMatMul2D(a []float64, b []float64, m, k, n int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for l := 0; l < k; l++ {
				s += a[i*k+l] * b[l*n+j]
			}
			out[i*n+j] = s
		}
	}
	return out
}

func TestNaNMatMul(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		// 0·NaN and 0·Inf are NaN: so is every entry whose sum has such a
		// term, whatever the layout of the operands (a GEMM that skips
		// zeros would give finite values).
		cases := []struct {
			name    string
			m, k, n int
			a, b    []float64
		}{
			{"0·NaN", 1, 2, 1, []float64{0, 1}, []float64{nan, 2}},
			{"0·Inf", 2, 2, 1, []float64{0, 1, 1, 1}, []float64{inf, 2}},
			{"Inf·0", 1, 2, 2, []float64{inf, 1}, []float64{0, 1, 1, 1}},
			{"NaN row", 3, 3, 3, []float64{1, 2, 3, 4, nan, 6, 7, 8, 9}, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}},
			{"Inf-Inf", 1, 2, 1, []float64{1, 1}, []float64{inf, negInf}},
			{"mixed", 4, 3, 5,
				[]float64{0, 1, 2, 0, 0, 0, inf, 1, 0, negInf, 0, nan},
				[]float64{1, 0, nan, 2, 0, 0, inf, 1, 0, negInf, 3, 0, 0, 1, 1}},
		}
		for _, c := range cases {
			want := naiveMatMul2D(c.a, c.b, c.m, c.k, c.n)
			a, b := e.mat(c.m, c.k, c.a...), e.mat(c.k, c.n, c.b...)
			checkVals(t, c.name, a.MatMul(b), want, false)
			// Transposed operands, and the product computed as (bᵀaᵀ)ᵀ.
			checkVals(t, c.name+"/T operands", a.T().Contiguous().T().MatMul(b.T().Contiguous().T()), want, false)
			checkVals(t, c.name+"/(BᵀAᵀ)ᵀ", b.T().MatMul(a.T()).T(), want, false)
			// Batched, with a broadcast batch axis.
			checkVals(t, c.name+"/batched", a.BroadcastTo(3, c.m, c.k).MatMul(b).Index(2), want, false)
		}
	})
}

func TestNaNShapeOps(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		v := []float64{nan, inf, negInf, negZ, 1, 2}
		x := e.mat(2, 3, v...)
		all := func(y *tensor.Tensor, want []float64, what string) { checkVals(t, what, y, want, true) }
		all(x.Reshape(3, 2), v, "Reshape")
		all(x.T().T(), v, "Transpose")
		all(x.T().Contiguous(), []float64{nan, negZ, inf, 1, negInf, 2}, "Contiguous")
		all(x.Clone(), v, "Clone")
		all(x.Index(0), v[:3], "Index")
		all(x.Slice(1, 1, 3), []float64{inf, negInf, 1, 2}, "Slice")
		all(x.Index(0).BroadcastTo(2, 3), append(v[:3:3], v[:3]...), "BroadcastTo")
		all(x.ExpandDims(0).Squeeze(), v, "ExpandDims/Squeeze")
		all(tensor.Concat([]*tensor.Tensor{x, x}, 0), append(v[:6:6], v...), "Concat")
		all(tensor.Stack([]*tensor.Tensor{x.Index(1), x.Index(0)}, 0), append(v[3:6:6], v[:3]...), "Stack")
		all(x.Detach(), v, "Detach")
		other := tensor.Float64
		if e.dt == tensor.Float64 {
			other = tensor.Float32
		}
		all(x.AsType(other), v, "AsType")
		if len(device.Available()) > 1 {
			all(x.To(device.CPU()), v, "To")
		}
	})
}

// grads runs f on x (attached) inside Record and returns x's gradient of
// sum(f(x)·head).
func grads(e env, xv []float64, head []float64, f func(x *tensor.Tensor) *tensor.Tensor) []float64 {
	x := e.vec(xv...)
	x.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = f(x) })
	y.Backward(tensor.FromSlice(head, y.Shape(), tensor.On(e.dev), tensor.WithDType(e.dt)))
	return x.Grad().Float64s()
}

func checkGrad(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if !closeTo(got[i], want[i], false) {
			t.Errorf("%s: gradient %d = %v, want %v (all: %v)", what, i, got[i], want[i], got)
			return
		}
	}
}

func TestNaNBackward(t *testing.T) {
	forEach(t, func(t *testing.T, e env) {
		ones := func(n int) []float64 { return fill(n, func(int) float64 { return 1 }) }
		// A NaN in the head gradient reaches only the elements it belongs to.
		checkGrad(t, "Mul by NaN weight", grads(e, []float64{1, 2, 3}, []float64{1, nan, 1}, func(x *tensor.Tensor) *tensor.Tensor {
			return x.MulScalar(2)
		}), []float64{2, nan, 2})
		// Through a sum, it reaches everything.
		checkGrad(t, "Sum", grads(e, []float64{1, 2, 3}, []float64{nan}, func(x *tensor.Tensor) *tensor.Tensor { return x.Sum() }), []float64{nan, nan, nan})
		// Through views and broadcasting, exactly its sources.
		checkGrad(t, "views", grads(e, []float64{1, 2, 3, 4}, []float64{nan, 1, 1, 1, 1, 1}, func(x *tensor.Tensor) *tensor.Tensor {
			return x.Reshape(2, 2).T().Slice(0, 0, 1).BroadcastTo(3, 1, 2).Reshape(6)
		}), []float64{nan, 0, 3, 0})
		// Derivatives that are infinite where the function has a pole.
		checkGrad(t, "Log at 0", grads(e, []float64{0, negZ, 1}, ones(3), (*tensor.Tensor).Log), []float64{inf, negInf, 1})
		checkGrad(t, "Sqrt at 0", grads(e, []float64{0, 4}, ones(2), (*tensor.Tensor).Sqrt), []float64{inf, 0.25})
		checkGrad(t, "Recip at 0", grads(e, []float64{0}, ones(1), (*tensor.Tensor).Recip), []float64{negInf})
		checkGrad(t, "Div by 0", grads(e, []float64{0, 1}, ones(1), func(x *tensor.Tensor) *tensor.Tensor {
			return x.Index(1).Div(x.Index(0))
		}), []float64{negInf, inf})
		checkGrad(t, "PowScalar(0.5) at 0", grads(e, []float64{0, 4}, ones(2), func(x *tensor.Tensor) *tensor.Tensor { return x.PowScalar(0.5) }), []float64{inf, 0.25})
		// The exponent's gradient a^b·ln a is taken as 0 at a = 0.
		checkGrad(t, "Pow exponent at base 0", grads(e, []float64{0, 2}, ones(1), func(x *tensor.Tensor) *tensor.Tensor {
			return x.Index(0).Pow(x.Index(1))
		}), []float64{0, 0})
		// Overflow: the gradient of Exp is Exp.
		checkGrad(t, "Exp overflow", grads(e, []float64{1000, -1000}, ones(2), (*tensor.Tensor).Exp), []float64{inf, 0})
		// Saturated Sigmoid and Tanh have gradient 0, not NaN.
		sat := []float64{negInf, -1e30, -1000, 1000, 1e30, inf}
		checkGrad(t, "Sigmoid saturated", grads(e, sat, ones(6), (*tensor.Tensor).Sigmoid), make([]float64, 6))
		checkGrad(t, "Tanh saturated", grads(e, sat, ones(6), (*tensor.Tensor).Tanh), make([]float64, 6))
		// NaN inputs: NaN gradients, except where the rule does not read
		// the input: ReLU's gradient is 1 only where x > 0, so 0 at NaN.
		checkGrad(t, "Exp at NaN", grads(e, []float64{nan}, ones(1), (*tensor.Tensor).Exp), []float64{nan})
		checkGrad(t, "Abs at NaN", grads(e, []float64{nan}, ones(1), (*tensor.Tensor).Abs), []float64{nan})
		checkGrad(t, "ReLU at NaN", grads(e, []float64{nan, 1}, ones(2), (*tensor.Tensor).ReLU), []float64{0, 1})
		checkGrad(t, "Square at Inf", grads(e, []float64{inf}, ones(1), (*tensor.Tensor).Square), []float64{inf})
		// A scale of 0 times an infinite gradient is NaN (IEEE), not 0.
		checkGrad(t, "MulScalar(0) with Inf head", grads(e, []float64{1, 2}, []float64{inf, 1}, func(x *tensor.Tensor) *tensor.Tensor {
			return x.MulScalar(0)
		}), []float64{nan, 0})
		// Max with a NaN in the slice: the result is NaN, no element equals
		// it, and the gradient of the whole slice is NaN.
		checkGrad(t, "Max with NaN", grads(e, []float64{1, nan, 3, 4, 5, 6}, ones(2), func(x *tensor.Tensor) *tensor.Tensor {
			return x.Reshape(2, 3).Max(1)
		}), []float64{nan, nan, nan, 0, 0, 1})
		// Maximum with NaN: the gradient goes to the other operand.
		checkGrad(t, "Maximum with NaN", grads(e, []float64{nan, 1, 2, nan}, ones(2), func(x *tensor.Tensor) *tensor.Tensor {
			return x.Slice(0, 0, 2).Maximum(x.Slice(0, 2, 4))
		}), []float64{0, 0, 1, 1})
		// The Where trap: the branch not taken still runs its backward with
		// a zero gradient, and 0·Inf is NaN.
		checkGrad(t, "Where(x > 0, Log(x), 0) at 0", grads(e, []float64{0, 1}, ones(2), func(x *tensor.Tensor) *tensor.Tensor {
			return tensor.Where(x.GtScalar(0), x.Log(), tensor.Zeros(x.Shape(), tensor.On(e.dev), tensor.WithDType(e.dt)))
		}), []float64{nan, 1})
		// ...avoided by making the argument safe first.
		checkGrad(t, "Log(Where(x > 0, x, 1))", grads(e, []float64{0, 1}, ones(2), func(x *tensor.Tensor) *tensor.Tensor {
			safe := tensor.Where(x.GtScalar(0), x, tensor.Ones(x.Shape(), tensor.On(e.dev), tensor.WithDType(e.dt)))
			return tensor.Where(x.GtScalar(0), safe.Log(), tensor.Zeros(x.Shape(), tensor.On(e.dev), tensor.WithDType(e.dt)))
		}), []float64{0, 1})
		// MatMul backward propagates NaN along rows and columns (and 0·Inf).
		checkGrad(t, "MatMul with NaN", grads(e, []float64{1, 2, 3, 4}, ones(2), func(x *tensor.Tensor) *tensor.Tensor {
			w := tensor.FromSlice([]float64{nan, 1}, []int{2, 1}, tensor.On(e.dev), tensor.WithDType(e.dt))
			return x.Reshape(2, 2).MatMul(w).Reshape(2)
		}), []float64{nan, 1, nan, 1})
	})
}
