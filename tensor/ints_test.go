package tensor_test

import (
	"errors"
	"math"
	"math/big"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// The integer dtypes: construction, conversion, reading, views, and the
// typed errors of the operations they do not take.

func TestIntConstruction(t *testing.T) {
	a := tensor.Array([][]int{{1, -2}, {1 << 40, 4}}, tensor.WithDType(tensor.Int64))
	if a.DType() != tensor.Int64 || !slices.Equal(a.Shape(), []int{2, 2}) {
		t.Fatalf("Array: %v %v", a.DType(), a.Shape())
	}
	if got := a.Int64s(); !slices.Equal(got, []int64{1, -2, 1 << 40, 4}) {
		t.Errorf("Int64s = %v", got)
	}
	if got := a.Ints(); !slices.Equal(got, []int{1, -2, 1 << 40, 4}) {
		t.Errorf("Ints = %v", got)
	}
	// 2^53+1 is exact in int64 (it would round through float64).
	big := tensor.FromSlice([]int64{1<<53 + 1}, []int{1})
	if big.DType() != tensor.Int64 || big.Int64s()[0] != 1<<53+1 {
		t.Errorf("FromSlice int64: %v %v", big.DType(), big.Int64s())
	}
	i32 := tensor.FromSlice([]int32{7, -8}, []int{2})
	if i32.DType() != tensor.Int32 || !slices.Equal(i32.Int64s(), []int64{7, -8}) {
		t.Errorf("FromSlice int32: %v %v", i32.DType(), i32.Int64s())
	}
	if got := tensor.Full(-3.9, []int{2}, tensor.WithDType(tensor.Int32)).Int64s(); !slices.Equal(got, []int64{-3, -3}) {
		t.Errorf("Full(-3.9) int32 = %v, want toward zero", got)
	}
	if got := tensor.Arange(5, -4, -3, tensor.WithDType(tensor.Int64)).Int64s(); !slices.Equal(got, []int64{5, 2, -1}) {
		t.Errorf("Arange int64 = %v", got)
	}
	if got := tensor.Arange(1<<53, 1<<53+4, 1, tensor.WithDType(tensor.Int64)).Int64s(); !slices.Equal(got, []int64{1 << 53, 1<<53 + 1, 1<<53 + 2, 1<<53 + 3}) {
		t.Errorf("Arange above 2^53 = %v, want exact integers", got)
	}
	for _, f := range []func(){
		func() { tensor.Arange(0, 2, 0.5, tensor.WithDType(tensor.Int64)) },
		func() { tensor.Arange(0.5, 2, 1, tensor.WithDType(tensor.Int32)) },
		func() { tensor.Arange(0, 1<<32, 1<<31, tensor.WithDType(tensor.Int32)) },
	} {
		expectKind(t, tensor.ErrArgument, f)
	}
	if s, want := a.String(), "[[            1            -2]\n [1099511627776             4]]"; s != want {
		t.Errorf("String = %q, want %q", s, want)
	}
	if s := tensor.FromSlice([]int64{1<<53 + 1}, nil).String(); s != "9007199254740993" {
		t.Errorf("0-d String = %q", s)
	}
}

func TestIntAsType(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	f := tensor.Array([]float64{2.9, -2.9, nan, inf, -inf, 3e9, -3e9, 1e19, -0.5}, tensor.WithDType(tensor.Float64))
	if got := f.AsType(tensor.Int32).Int64s(); !slices.Equal(got, []int64{2, -2, 0, math.MaxInt32, math.MinInt32, math.MaxInt32, math.MinInt32, math.MaxInt32, 0}) {
		t.Errorf("float64 to int32 = %v", got)
	}
	if got := f.AsType(tensor.Int64).Int64s(); !slices.Equal(got, []int64{2, -2, 0, math.MaxInt64, math.MinInt64, 3e9, -3e9, math.MaxInt64, 0}) {
		t.Errorf("float64 to int64 = %v", got)
	}
	if got := f.AsType(tensor.Float32).AsType(tensor.Int64).Int64s(); got[5] != 3e9 || got[3] != math.MaxInt64 {
		t.Errorf("float32 to int64 = %v", got)
	}
	i := tensor.FromSlice([]int64{1<<32 + 5, -1, 1<<24 + 1, math.MaxInt64}, []int{4})
	if got := i.AsType(tensor.Int32).Int64s(); !slices.Equal(got, []int64{5, -1, 1<<24 + 1, -1}) {
		t.Errorf("int64 to int32 = %v, want the low 32 bits", got)
	}
	if got := i.AsType(tensor.Float32).Float64s(); got[2] != 1<<24 || got[3] != 0x1p63 {
		t.Errorf("int64 to float32 = %v, want rounding to nearest even", got)
	}
	if got := i.AsType(tensor.Float64).Float64s(); got[0] != 1<<32+5 {
		t.Errorf("int64 to float64 = %v", got)
	}
	i32 := tensor.FromSlice([]int32{-7, 9}, []int{2})
	if got := i32.AsType(tensor.Int64).Int64s(); !slices.Equal(got, []int64{-7, 9}) {
		t.Errorf("int32 to int64 = %v", got)
	}
	// Every pair, through a strided view.
	dts := []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int32, tensor.Int64}
	for _, from := range dts {
		for _, to := range dts {
			x := tensor.Array([][]int{{1, 2, 3}, {-4, 5, -6}}, tensor.WithDType(from)).Transpose()
			y := x.AsType(to)
			if y.DType() != to || !slices.Equal(y.Int64s(), []int64{1, -4, 2, 5, 3, -6}) {
				t.Errorf("%v to %v: %v %v", from, to, y.DType(), y.Int64s())
			}
		}
	}
	// Converting to an integer records nothing: no gradient flows through.
	w := tensor.Array([]float64{1.5, 2.5})
	w.AttachGrad()
	var r *tensor.Tensor
	autograd.Record(func() { r = w.AsType(tensor.Int64) })
	if r.RequiresGrad() {
		t.Error("an integer result requires a gradient")
	}
}

func TestIntViews(t *testing.T) {
	a := tensor.Array([][]int{{1, 2, 3}, {4, 5, 6}}, tensor.WithDType(tensor.Int64))
	check := func(what string, x *tensor.Tensor, want []int64) {
		t.Helper()
		if x.DType() != tensor.Int64 || !slices.Equal(x.Int64s(), want) {
			t.Errorf("%s = %v %v, want %v", what, x.DType(), x.Int64s(), want)
		}
	}
	check("Transpose", a.Transpose(), []int64{1, 4, 2, 5, 3, 6})
	check("Transpose.Contiguous", a.Transpose().Contiguous(), []int64{1, 4, 2, 5, 3, 6})
	check("Reshape", a.Reshape(3, 2), []int64{1, 2, 3, 4, 5, 6})
	check("Slice", a.Slice(1, 1, 3), []int64{2, 3, 5, 6})
	check("Index", a.Index(1), []int64{4, 5, 6})
	check("BroadcastTo", a.Index(0).BroadcastTo(2, 3), []int64{1, 2, 3, 1, 2, 3})
	check("Concat", tensor.Concat([]*tensor.Tensor{a, a.Slice(0, 0, 1)}, 0), []int64{1, 2, 3, 4, 5, 6, 1, 2, 3})
	check("Stack", tensor.Stack([]*tensor.Tensor{a.Index(0), a.Index(1)}, 1), []int64{1, 4, 2, 5, 3, 6})
	check("Clone", a.Clone(), []int64{1, 2, 3, 4, 5, 6})
	check("Squeeze", a.ExpandDims(0).Squeeze(0), []int64{1, 2, 3, 4, 5, 6})
	if got := a.Float32s(); !slices.Equal(got, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("Float32s = %v", got)
	}
	if got := a.Index(1).Slice(0, 2, 3).Item(); got != 6 {
		t.Errorf("Item = %v", got)
	}
}

func expectKind(t *testing.T, kind error, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, kind) {
			t.Errorf("got panic %v, want %v", r, kind)
		}
	}()
	f()
}

func TestIntRefusals(t *testing.T) {
	a := tensor.Array([]int{1, 2, 3}, tensor.WithDType(tensor.Int64))
	f := tensor.Array([]float32{1, 2, 3})
	for name, op := range map[string]func(){
		"Add":         func() { a.Add(a) },
		"Mul mixed":   func() { a.Mul(f) },
		"Eq mixed":    func() { a.Eq(f) },
		"Lt int32":    func() { a.Lt(a.AsType(tensor.Int32)) },
		"MulScalar":   func() { a.MulScalar(2) },
		"Exp":         func() { a.Exp() },
		"Neg":         func() { a.Neg() },
		"Sum":         func() { a.Sum() },
		"Max":         func() { a.Max() },
		"ArgMax":      func() { a.ArgMax(0) },
		"MatMul":      func() { a.Reshape(1, 3).MatMul(a.Reshape(3, 1)) },
		"Softmax":     func() { a.Softmax(0) },
		"AttachGrad":  func() { a.AttachGrad() },
		"RandUniform": func() { tensor.RandUniform(0, 1, []int{2}, tensor.WithDType(tensor.Int32)) },
		"RandNormal":  func() { tensor.RandNormal(0, 1, []int{2}, tensor.WithDType(tensor.Int64)) },
		"Where":       func() { tensor.Where(a, a, a) },
		"OneHot dtype": func() {
			tensor.OneHot(a, 4, tensor.WithDType(tensor.Int64))
		},
	} {
		t.Run(name, func(t *testing.T) { expectKind(t, tensor.ErrDType, op) })
	}
	expectKind(t, tensor.ErrDType, func() { a.AsType(tensor.DType(9)) })
}

func TestArgMaxInt64(t *testing.T) {
	x := tensor.Array([][]float64{{1, 9, 3}, {7, 2, 7}})
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		got := x.AsType(dt).ArgMax(1)
		if got.DType() != tensor.Int64 || !slices.Equal(got.Int64s(), []int64{1, 0}) {
			t.Errorf("%v ArgMax = %v %v", dt, got.DType(), got.Int64s())
		}
		got = x.AsType(dt).ArgMin(0)
		if got.DType() != tensor.Int64 || !slices.Equal(got.Int64s(), []int64{0, 1, 0}) {
			t.Errorf("%v ArgMin = %v %v", dt, got.DType(), got.Int64s())
		}
	}
}

func TestIntLabels(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		logits := tensor.RandNormal(0, 1, []int{4, 5}, tensor.WithDType(dt))
		for _, ldt := range []tensor.DType{tensor.Int32, tensor.Int64} {
			li := tensor.Array([]int{0, 4, 2, 2}, tensor.WithDType(ldt))
			lf := tensor.Array([]int{0, 4, 2, 2}, tensor.WithDType(dt))
			grad := func(l *tensor.Tensor) ([]float64, []float64) {
				x := logits.Clone()
				x.AttachGrad()
				var loss *tensor.Tensor
				autograd.Record(func() { loss = tensor.SoftmaxCrossEntropy(x, l).Sum() })
				loss.Backward()
				return loss.Float64s(), x.Grad().Float64s()
			}
			vi, gi := grad(li)
			vf, gf := grad(lf)
			if !slices.Equal(vi, vf) || !slices.Equal(gi, gf) {
				t.Errorf("%v logits, %v labels: loss %v grad %v, with float labels %v %v", dt, ldt, vi, gi, vf, gf)
			}
			oh := tensor.OneHot(li, 5)
			if oh.DType() != tensor.Float32 || !slices.Equal(oh.Float64s()[:5], []float64{1, 0, 0, 0, 0}) {
				t.Errorf("OneHot of %v labels: %v %v", ldt, oh.DType(), oh.Float64s())
			}
			if oh := tensor.OneHot(li, 5, tensor.WithDType(tensor.Float64)); oh.DType() != tensor.Float64 {
				t.Errorf("OneHot WithDType(Float64) gave %v", oh.DType())
			}
			for _, bad := range [][]int{{0, 5, 1, 1}, {0, -1, 1, 1}} {
				// Read back: on CUDA the error surfaces at the next
				// synchronisation rather than at the operation.
				expectKind(t, tensor.ErrIndex, func() {
					tensor.SoftmaxCrossEntropy(logits, tensor.Array(bad, tensor.WithDType(ldt))).Float64s()
				})
				expectKind(t, tensor.ErrIndex, func() { tensor.OneHot(tensor.Array(bad, tensor.WithDType(ldt)), 5).Float64s() })
			}
		}
		// An int64 label far outside the classes stays outside after the
		// conversion to the logits' float dtype.
		expectKind(t, tensor.ErrIndex, func() {
			tensor.SoftmaxCrossEntropy(logits, tensor.FromSlice([]int64{1 << 62, 0, 0, 0}, []int{4})).Float64s()
		})
	}
}

func TestIndexErrors(t *testing.T) {
	x := tensor.RandNormal(0, 1, []int{3, 4})
	i64 := func(v ...int) *tensor.Tensor { return tensor.Array(v, tensor.WithDType(tensor.Int64)) }
	expectKind(t, tensor.ErrDType, func() { x.IndexSelect(0, tensor.Array([]float32{0, 1})) })
	// The results are read back: on CUDA a bad index surfaces at the next
	// synchronisation rather than at the operation.
	expectKind(t, tensor.ErrIndex, func() { x.IndexSelect(0, i64(0, 3)).Float64s() })
	expectKind(t, tensor.ErrIndex, func() { x.IndexSelect(1, i64(-1)).Float64s() })
	expectKind(t, tensor.ErrAxis, func() { x.IndexSelect(2, i64(0)) })
	expectKind(t, tensor.ErrIndex, func() { x.Take(i64(12)).Float64s() })
	expectKind(t, tensor.ErrShape, func() { x.Gather(1, i64(0, 1)) })
	expectKind(t, tensor.ErrShape, func() { x.Gather(1, i64(0, 1, 2, 3, 0).Reshape(5, 1)) })
	expectKind(t, tensor.ErrIndex, func() { x.Gather(1, i64(0, 4, 1).Reshape(3, 1)).Float64s() })
	// The values, against plain indexing.
	v := x.Float64s()
	got := x.IndexSelect(1, i64(3, 0, 3)).Float64s()
	for r := 0; r < 3; r++ {
		for j, c := range []int{3, 0, 3} {
			if got[r*3+j] != v[r*4+c] {
				t.Fatalf("IndexSelect: %v", got)
			}
		}
	}
	if g := x.Gather(1, i64(2, 1, 0).Reshape(3, 1)).Float64s(); g[0] != v[2] || g[1] != v[5] || g[2] != v[8] {
		t.Errorf("Gather = %v", g)
	}
	if g := x.Take(i64(11, 0)).Float64s(); g[0] != v[11] || g[1] != v[0] {
		t.Errorf("Take = %v", g)
	}
	// Integer sources gather too, exactly.
	ids := tensor.FromSlice([]int64{1 << 60, 5, 1<<53 + 1}, []int{3})
	if g := ids.IndexSelect(0, i64(2, 0)).Int64s(); !slices.Equal(g, []int64{1<<53 + 1, 1 << 60}) {
		t.Errorf("IndexSelect of int64 = %v", g)
	}
}

func TestArgMaxAxes(t *testing.T) {
	x := tensor.RandNormal(0, 1, []int{3, 4, 5}, tensor.WithDType(tensor.Float64))
	v := x.Float64s()
	// Over axes 0 and 2: for each j, the row-major position (i, k) of the
	// maximum over i, k.
	got := x.ArgMax(0, 2).Int64s()
	for j := 0; j < 4; j++ {
		best, at := math.Inf(-1), -1
		for i := 0; i < 3; i++ {
			for k := 0; k < 5; k++ {
				if w := v[(i*4+j)*5+k]; w > best {
					best, at = w, i*5+k
				}
			}
		}
		if got[j] != int64(at) {
			t.Errorf("ArgMax(0, 2)[%d] = %d, want %d", j, got[j], at)
		}
	}
	// Over everything: the flat index, as NumPy's argmax.
	all := x.ArgMin().Int64s()
	at := 0
	for i, w := range v {
		if w < v[at] {
			at = i
		}
	}
	if len(all) != 1 || all[0] != int64(at) {
		t.Errorf("ArgMin() = %v, want [%d]", all, at)
	}
	if s := x.ArgMax(-1, 0).Shape(); !slices.Equal(s, []int{4}) {
		t.Errorf("ArgMax(-1, 0) shape %v", s)
	}
	if got := tensor.Scalar(3).ArgMax().Int64s(); !slices.Equal(got, []int64{0}) {
		t.Errorf("0-d ArgMax() = %v", got)
	}
	expectKind(t, tensor.ErrAxis, func() { x.ArgMax(1, 1) })
	expectKind(t, tensor.ErrShape, func() { tensor.Zeros([]int{2, 0, 3}).ArgMax(1, 2) })
	if s := tensor.Zeros([]int{0, 2, 3}).ArgMax(1, 2).Shape(); !slices.Equal(s, []int{0}) {
		t.Errorf("ArgMax over non-empty axes of an empty tensor: shape %v", s)
	}
}

// Integer comparisons are exact (2⁵³ and 2⁵³+1 differ), broadcast, and
// scalar comparisons decide for every integer as the real comparison does.
func TestIntComparisons(t *testing.T) {
	vals := []int64{math.MinInt64, -(1 << 53) - 1, -3, -2, -1, 0, 1, 2, 3, 1 << 53, 1<<53 + 1, math.MaxInt64}
	rel := map[string]func(x, y float64) bool{
		"Eq": func(x, y float64) bool { return x == y }, "Ne": func(x, y float64) bool { return x != y },
		"Lt": func(x, y float64) bool { return x < y }, "Le": func(x, y float64) bool { return x <= y },
		"Gt": func(x, y float64) bool { return x > y }, "Ge": func(x, y float64) bool { return x >= y },
	}
	irel := map[string]func(x, y int64) bool{
		"Eq": func(x, y int64) bool { return x == y }, "Ne": func(x, y int64) bool { return x != y },
		"Lt": func(x, y int64) bool { return x < y }, "Le": func(x, y int64) bool { return x <= y },
		"Gt": func(x, y int64) bool { return x > y }, "Ge": func(x, y int64) bool { return x >= y },
	}
	for _, dt := range []tensor.DType{tensor.Int64, tensor.Int32} {
		vs := vals
		if dt == tensor.Int32 {
			vs = []int64{math.MinInt32, -3, -2, -1, 0, 1, 2, 3, math.MaxInt32 - 1, math.MaxInt32}
		}
		n := len(vs)
		col := tensor.FromSlice(vs, []int{n, 1}).AsType(dt)
		row := tensor.FromSlice(vs, []int{n}).AsType(dt)
		ops := map[string]func(a, b *tensor.Tensor) *tensor.Tensor{
			"Eq": (*tensor.Tensor).Eq, "Ne": (*tensor.Tensor).Ne, "Lt": (*tensor.Tensor).Lt,
			"Le": (*tensor.Tensor).Le, "Gt": (*tensor.Tensor).Gt, "Ge": (*tensor.Tensor).Ge,
		}
		for name, f := range ops {
			got := f(col, row)
			if got.DType() != dt || !slices.Equal(got.Shape(), []int{n, n}) {
				t.Fatalf("%v %s: %v %v", dt, name, got.DType(), got.Shape())
			}
			g := got.Int64s()
			for i, x := range vs {
				for j, y := range vs {
					want := int64(0)
					if irel[name](x, y) {
						want = 1
					}
					if g[i*n+j] != want {
						t.Errorf("%v %d %s %d = %d, want %d", dt, x, name, y, g[i*n+j], want)
					}
				}
			}
		}
		sops := map[string]func(a *tensor.Tensor, s float64) *tensor.Tensor{
			"Eq": (*tensor.Tensor).EqScalar, "Ne": (*tensor.Tensor).NeScalar, "Lt": (*tensor.Tensor).LtScalar,
			"Le": (*tensor.Tensor).LeScalar, "Gt": (*tensor.Tensor).GtScalar, "Ge": (*tensor.Tensor).GeScalar,
		}
		scalars := []float64{0, 2, 2.5, -2.5, 1 << 53, 1<<53 + 2, math.Ldexp(1, 63), -math.Ldexp(1, 63), math.Ldexp(1, 31),
			-math.Ldexp(1, 31), math.MaxInt32, math.Inf(1), math.Inf(-1), math.NaN(), 1e300, -1e300}
		for name, f := range sops {
			for _, s := range scalars {
				g := f(row, s).Int64s()
				for j, x := range vs {
					// The real comparison: exact in big floats, since x may
					// not be a float64.
					bx, bs := new(big.Float).SetInt64(x), big.NewFloat(0)
					var want bool
					if s != s {
						want = name == "Ne"
					} else {
						if math.IsInf(s, 0) {
							bs.SetInf(s < 0)
						} else {
							bs.SetFloat64(s)
						}
						c := bx.Cmp(bs)
						want = rel[name](float64(c), 0)
					}
					w := int64(0)
					if want {
						w = 1
					}
					if g[j] != w {
						t.Errorf("%v %d %sScalar %v = %d, want %d", dt, x, name, s, g[j], w)
					}
				}
			}
		}
	}
}
