package tensor_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// The half dtypes: construction, conversions and their edge cases,
// reading, printing, the AsType matrix, autograd and the typed errors.
// The op-test table runs in both half dtypes in TestOpTableHalf.

var halfTypes = []tensor.DType{tensor.BFloat16, tensor.Float16}

var allTypes = []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int32, tensor.Int64, tensor.BFloat16, tensor.Float16}

func halfSame(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || a != a && b != b
}

// halfRound is the reference rounding of v to dt (device's scalar
// conversions, exhaustively tested there), widened back.
func halfRound(dt tensor.DType, v float64) float64 {
	return float64(device.HalfToFloat32(dt, device.HalfFromFloat64(dt, v)))
}

func TestHalfConversionEdges(t *testing.T) {
	negZero := math.Copysign(0, -1)
	inf := math.Inf(1)
	cases := []struct {
		in       float64
		bf16, fp float64 // the expected values
	}{
		{0, 0, 0},
		{negZero, negZero, negZero},
		{inf, inf, inf},
		{-inf, -inf, -inf},
		{1, 1, 1},
		{-2.5, -2.5, -2.5},
		{65504, 65536, 65504},                    // float16's largest; bfloat16 rounds up
		{65519.99, 65536, 65504},                 // below float16's overflow threshold
		{65520, 65536, inf},                      // float16 overflows to Inf (ties to even)
		{-1e6, -999424, -inf},                    // float16 overflows to −Inf
		{1e39, inf, inf},                         // beyond float32's range: Inf in both
		{1 + 0x1p-8, 1, 1 + 0x1p-8},              // bfloat16 tie: to even (1)
		{1 + 3*0x1p-8, 1 + 0x1p-6, 1 + 3*0x1p-8}, // bfloat16 tie: to even (up)
		{1 + 0x1p-11, 1, 1},                      // float16 tie: to even (1)
		{1 + 0x1p-11 + 0x1p-40, 1, 1 + 0x1p-10},  // just above the tie: up (one rounding from float64)
		{0x1p-24, 0x1p-24, 0x1p-24},              // float16's smallest subnormal
		{0x1p-25, 0x1p-25, 0},                    // its half: a tie, to even (0)
		{1.5 * 0x1p-25, 1.5 * 0x1p-25, 0x1p-24},
		{-0x1p-26, -0x1p-26, negZero}, // underflow keeps the sign
		{0x1p-133, 0x1p-133, 0},       // bfloat16's smallest subnormal
		{0x1p-140, 0, 0},              // below float32's range as a tie: 0
	}
	for _, dt := range halfTypes {
		vals := make([]float64, len(cases))
		want := make([]float64, len(cases))
		for i, c := range cases {
			vals[i] = c.in
			want[i] = c.fp
			if dt == tensor.BFloat16 {
				want[i] = c.bf16
			}
		}
		vals = append(vals, math.NaN(), -math.NaN())
		from64 := tensor.FromSlice(vals, []int{len(vals)}, tensor.WithDType(dt))
		viaAs := tensor.FromSlice(vals, []int{len(vals)}, tensor.WithDType(tensor.Float64)).AsType(dt)
		arr := tensor.Array(vals, tensor.WithDType(dt))
		for _, x := range []*tensor.Tensor{from64, viaAs, arr} {
			if x.DType() != dt {
				t.Fatalf("%v: dtype %v", dt, x.DType())
			}
			got := x.Float64s()
			for i := range cases {
				if !halfSame(got[i], want[i]) {
					t.Errorf("%v: %v converts to %v, want %v", dt, cases[i].in, got[i], want[i])
				}
			}
			for i := len(cases); i < len(vals); i++ {
				if got[i] == got[i] || math.Signbit(got[i]) != math.Signbit(vals[i]) {
					t.Errorf("%v: NaN %v converts to %v", dt, vals[i], got[i])
				}
			}
			// Float32s widens exactly too.
			for i, v := range x.Float32s() {
				if !halfSame(float64(v), got[i]) {
					t.Errorf("%v: Float32s[%d] = %v, Float64s %v", dt, i, v, got[i])
				}
			}
		}
		// From float32 the rounding is the same (the float32 inputs that
		// are exact).
		f32 := []float32{1 + 0x1p-8, 65520, float32(math.Inf(-1)), float32(negZero), 0x1p-25}
		x := tensor.FromSlice(f32, []int{len(f32)}, tensor.WithDType(dt))
		for i, v := range x.Float64s() {
			if w := halfRound(dt, float64(f32[i])); !halfSame(v, w) {
				t.Errorf("%v: float32 %v converts to %v, want %v", dt, f32[i], v, w)
			}
		}
		// Integers round once, even beyond 2^53.
		big := []int64{1<<60 + 1<<52 + 1, -(1<<40 + 1<<32), 257, 2049}
		xi := tensor.FromSlice(big, []int{4}, tensor.WithDType(dt))
		for i, v := range xi.Float64s() {
			if w := halfRound(dt, device.Int64ToFloat64Odd(big[i])); v != w {
				t.Errorf("%v: int64 %d converts to %v, want %v", dt, big[i], v, w)
			}
		}
		if got := tensor.Array([]int{257}, tensor.WithDType(dt)).Item(); got != halfRound(dt, 257) {
			t.Errorf("%v: Array(257) = %v", dt, got)
		}
		// Full and Zeros.
		if got := tensor.Full(1.0/3, []int{2}, tensor.WithDType(dt)).Float64s(); got[0] != halfRound(dt, 1.0/3) || got[1] != got[0] {
			t.Errorf("%v: Full(1/3) = %v", dt, got)
		}
		if z := tensor.Zeros([]int{3}, tensor.WithDType(dt)); z.DType() != dt || z.Sum().Item() != 0 {
			t.Errorf("%v: Zeros", dt)
		}
	}
}

// AsType converts between every pair of dtypes: values that every dtype
// holds exactly round-trip, floats convert to integers toward zero (NaN to
// 0, saturating), and half ↔ half conversions widen then round once.
func TestHalfAsTypeMatrix(t *testing.T) {
	exact := []float64{0, 1, -3, 100, 255, -128}
	for _, src := range allTypes {
		x := tensor.FromSlice(exact, []int{2, 3}, tensor.WithDType(src))
		for _, dst := range allTypes {
			y := x.AsType(dst)
			if y.DType() != dst || !slices.Equal(y.Shape(), []int{2, 3}) {
				t.Errorf("%v → %v: %v %v", src, dst, y.DType(), y.Shape())
			}
			if got := y.Float64s(); !slices.Equal(got, exact) {
				t.Errorf("%v → %v: %v, want %v", src, dst, got, exact)
			}
			// Through a transposed view, too.
			if got := x.T().AsType(dst).T().Float64s(); !slices.Equal(got, exact) {
				t.Errorf("%v → %v transposed: %v", src, dst, got)
			}
		}
	}
	for _, dt := range halfTypes {
		x := tensor.FromSlice([]float64{2.5, -2.5, math.NaN(), math.Inf(1), math.Inf(-1), 0.75}, []int{6}, tensor.WithDType(dt))
		if got := x.AsType(tensor.Int64).Int64s(); !slices.Equal(got, []int64{2, -2, 0, math.MaxInt64, math.MinInt64, 0}) {
			t.Errorf("%v → int64: %v", dt, got)
		}
		if got := x.AsType(tensor.Int32).Int64s(); !slices.Equal(got, []int64{2, -2, 0, math.MaxInt32, math.MinInt32, 0}) {
			t.Errorf("%v → int32: %v", dt, got)
		}
		if got := x.Int64s(); !slices.Equal(got, []int64{2, -2, 0, math.MaxInt64, math.MinInt64, 0}) {
			t.Errorf("%v Int64s: %v", dt, got)
		}
	}
	// bfloat16 ↔ float16: float16's subnormals are normal in bfloat16, and
	// bfloat16's range overflows float16.
	bf := tensor.FromSlice([]float64{1e5, 0x1p-24, 1 + 0x1p-7, math.Copysign(0, -1)}, []int{4}, tensor.WithDType(tensor.BFloat16))
	got := bf.AsType(tensor.Float16).Float64s()
	want := []float64{math.Inf(1), 0x1p-24, 1 + 0x1p-7, math.Copysign(0, -1)}
	for i := range want {
		if !halfSame(got[i], want[i]) {
			t.Errorf("bfloat16 → float16 [%d]: %v, want %v", i, got[i], want[i])
		}
	}
	fp := tensor.FromSlice([]float64{1 + 0x1p-10, 65504, 0x1p-24}, []int{3}, tensor.WithDType(tensor.Float16))
	if got := fp.AsType(tensor.BFloat16).Float64s(); !slices.Equal(got, []float64{1, 65536, 0x1p-24}) {
		t.Errorf("float16 → bfloat16: %v", got)
	}
}

func TestHalfStringAndRead(t *testing.T) {
	x := tensor.Array([][]float32{{1, 1.0 / 3}, {-2, 65520}}, tensor.WithDType(tensor.Float16))
	if s, want := x.String(), "[[       1 0.333252]\n [      -2      inf]]"; s != want {
		t.Errorf("float16 String = %q, want %q", s, want)
	}
	b := tensor.Scalar(1.0/3, tensor.WithDType(tensor.BFloat16))
	if s := b.String(); s != "0.333984" {
		t.Errorf("bfloat16 0-d String = %q", s)
	}
	if b.DType().String() != "bfloat16" || tensor.Float16.String() != "float16" {
		t.Errorf("dtype names %v %v", b.DType(), tensor.Float16)
	}
	if v := b.Item(); v != 0.333984375 {
		t.Errorf("Item = %v", v)
	}
}

// Random constructors draw the float32 stream and round it; uniform values
// stay below the upper bound even where they would round up to it.
func TestHalfRandom(t *testing.T) {
	for _, dt := range halfTypes {
		g := tensor.NewGenerator(7)
		u := tensor.RandUniform(0, 1, []int{1 << 16}, tensor.WithDType(dt), tensor.WithGenerator(g))
		g.Seed(7)
		u32 := tensor.RandUniform(0, 1, []int{1 << 16}, tensor.WithGenerator(g))
		top := 0.0
		v32 := u32.Float32s()
		for i, v := range u.Float64s() {
			w := halfRound(dt, float64(v32[i]))
			if w >= 1 {
				w = 1 - math.Ldexp(1, -int(map[bool]int{true: 8, false: 11}[dt == tensor.BFloat16]))
			}
			if v != w {
				t.Fatalf("%v: uniform %d = %v, want %v", dt, i, v, w)
			}
			top = math.Max(top, v)
		}
		if top >= 1 {
			t.Errorf("%v: uniform value %v not below 1", dt, top)
		}
		n := tensor.RandNormal(0, 1, []int{1000}, tensor.WithDType(dt))
		if m := n.AsType(tensor.Float32).Mean().Item(); n.DType() != dt || math.Abs(m) > 0.15 {
			t.Errorf("%v: normal mean %v", dt, m)
		}
		a := tensor.Arange(0, 300, 1, tensor.WithDType(dt))
		if v := a.Float64s(); v[257] != halfRound(dt, 257) || v[299] != halfRound(dt, 299) {
			t.Errorf("%v: Arange: %v %v", dt, v[257], v[299])
		}
	}
}

// Gradients of half tensors are half tensors, computed in float32 by each
// backward rule and rounded once per rule; AsType between float dtypes
// carries the gradient back.
func TestHalfAutograd(t *testing.T) {
	for _, dt := range halfTypes {
		w := tensor.Array([][]float32{{0.5, -1}, {2, 0.25}}, tensor.WithDType(dt))
		x := tensor.Array([][]float32{{1, 2}, {3, 4}}, tensor.WithDType(dt))
		w.AttachGrad()
		w32 := w.AsType(tensor.Float32).Detach()
		w32.AttachGrad()
		var y, y32 *tensor.Tensor
		autograd.Record(func() {
			y = x.MatMul(w).Tanh().Sum()
			y32 = x.AsType(tensor.Float32).MatMul(w32).Tanh().Sum()
		})
		y.Backward()
		y32.Backward()
		if y.DType() != dt || w.Grad().DType() != dt {
			t.Fatalf("%v: result %v, gradient %v", dt, y.DType(), w.Grad().DType())
		}
		g, g32 := w.Grad().Float64s(), w32.Grad().Float64s()
		for i := range g {
			if math.Abs(g[i]-g32[i]) > 4*0x1p-8*math.Max(math.Abs(g32[i]), 0.1) {
				t.Errorf("%v: gradient %v, float32 %v", dt, g, g32)
				break
			}
		}
		// Through AsType: a float32 computation from a half leaf.
		v := tensor.Array([]float32{1, 2, 3}, tensor.WithDType(dt))
		v.AttachGrad()
		var z *tensor.Tensor
		autograd.Record(func() { z = v.AsType(tensor.Float32).Square().Sum() })
		z.Backward()
		if gv := v.Grad(); gv.DType() != dt || !slices.Equal(gv.Float64s(), []float64{2, 4, 6}) {
			t.Errorf("%v: gradient through AsType %v %v", dt, gv.DType(), gv)
		}
	}
}

// Operations keep the float32/float64 rule for mixed dtypes: ErrDType.
func TestHalfMixedDTypes(t *testing.T) {
	b := tensor.Ones([]int{2}, tensor.WithDType(tensor.BFloat16))
	h := tensor.Ones([]int{2}, tensor.WithDType(tensor.Float16))
	f := tensor.Ones([]int{2})
	for name, fn := range map[string]func(){
		"bf16+f16":    func() { b.Add(h) },
		"bf16+f32":    func() { b.Add(f) },
		"matmul":      func() { b.Reshape(1, 2).MatMul(f.Reshape(2, 1)) },
		"where":       func() { tensor.Where(f, b, h) },
		"int half op": func() { tensor.Ones([]int{2}, tensor.WithDType(tensor.Int32)).Exp() },
	} {
		err := tensor.Maybe(fn)
		if !errors.Is(err, tensor.ErrDType) {
			t.Errorf("%s: error %v, want ErrDType", name, err)
		}
	}
	if got := tensor.Where(tensor.FromSlice([]float32{1, 0}, []int{2}, tensor.WithDType(tensor.BFloat16)), b, b.MulScalar(3)).Float64s(); !slices.Equal(got, []float64{1, 3}) {
		t.Errorf("Where = %v", got)
	}
}

// Half logits take integer labels of more classes than bfloat16 holds
// exactly (the labels stay float32); MaxPool2D's window indices beyond 256
// stay exact too.
func TestHalfLabelsAndPoolIndices(t *testing.T) {
	const classes = 300
	logits := tensor.RandNormal(0, 1, []int{4, classes})
	labels := tensor.FromSlice([]int64{299, 257, 0, 258}, []int{4})
	for _, dt := range halfTypes {
		lh := logits.AsType(dt)
		lh.AttachGrad()
		l32 := lh.AsType(tensor.Float32).Detach()
		l32.AttachGrad()
		var loss, loss32 *tensor.Tensor
		autograd.Record(func() {
			loss = tensor.SoftmaxCrossEntropy(lh, labels).Sum()
			loss32 = tensor.SoftmaxCrossEntropy(l32, labels).Sum()
		})
		if math.Abs(loss.Item()-loss32.Item()) > 0x1p-7*loss32.Item() {
			t.Errorf("%v: loss %v, float32 %v", dt, loss.Item(), loss32.Item())
		}
		loss.Backward()
		loss32.Backward()
		g, g32 := lh.Grad().Float64s(), l32.Grad().Float64s()
		// The −1 of each sample's label lands on the label's column.
		for i, lab := range []int{299, 257, 0, 258} {
			if k := i*classes + lab; math.Abs(g[k]-g32[k]) > 0x1p-6 {
				t.Errorf("%v: gradient at label %d: %v, float32 %v", dt, lab, g[k], g32[k])
			}
		}
		// The maxima (1) at row 1, odd columns: indices 601, 603, ...,
		// 1199, which bfloat16 would round.
		xv := make([]float32, 1200)
		for j := 601; j < 1200; j += 2 {
			xv[j] = 1
		}
		x := tensor.FromSlice(xv, []int{1, 1, 2, 600}, tensor.WithDType(dt))
		x.AttachGrad()
		var p *tensor.Tensor
		autograd.Record(func() { p = tensor.MaxPool2D(x, 2, 2, 0).Sum() })
		p.Backward()
		gx := x.Grad().Float64s()
		for j := 1; j < 600; j += 2 { // each window's maximum: row 1, odd column
			if gx[600+j] != 1 {
				t.Fatalf("%v: MaxPool2D gradient at column %d is %v", dt, j, gx[600+j])
			}
		}
	}
}

// A dtype that no backend supports fails with ErrDType; random
// integers are refused, naming the float dtypes.
func TestHalfErrors(t *testing.T) {
	err := tensor.Maybe(func() { tensor.Zeros([]int{2}, tensor.WithDType(tensor.DType(9))) })
	if !errors.Is(err, tensor.ErrDType) {
		t.Errorf("dtype 9: %v", err)
	}
	err = tensor.Maybe(func() { tensor.RandUniform(0, 1, []int{2}, tensor.WithDType(tensor.Int32)) })
	if err == nil || !strings.Contains(err.Error(), "bfloat16") {
		t.Errorf("RandUniform int32: %v", err)
	}
}
