package tensor_test

import (
	"math"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// The semantics of Split, Chunk, SliceStep, Tril, Triu, MaskedFill,
// CausalMask, CumSum and NormKeepDims beyond what the op-test table
// checks (its finite-difference and second-order checks, the float32
// results against float64, CPU against GPU): values against loops,
// PyTorch's chunk lengths, views, and the typed errors.

func iota64(shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i)
	}
	return tensor.FromSlice(v, shape, tensor.On(device.CPU()))
}

func wantShape(t *testing.T, what string, x *tensor.Tensor, shape ...int) {
	t.Helper()
	if !slices.Equal(x.Shape(), shape) {
		t.Errorf("%s: shape %v, want %v", what, x.Shape(), shape)
	}
}

func wantVals(t *testing.T, what string, x *tensor.Tensor, want ...float64) {
	t.Helper()
	got := x.Float64s()
	if len(got) != len(want) {
		t.Errorf("%s: %v, want %v", what, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Errorf("%s: %v, want %v", what, got, want)
			return
		}
	}
}

func TestSplitChunk(t *testing.T) {
	x := iota64(5, 2)
	p := x.Split([]int{1, 0, 4}, 0)
	wantShape(t, "Split piece 0", p[0], 1, 2)
	wantShape(t, "Split piece 1", p[1], 0, 2)
	wantVals(t, "Split piece 2", p[2], 2, 3, 4, 5, 6, 7, 8, 9)
	q := iota64(2, 3).Split([]int{2, 1}, -1)
	wantVals(t, "Split axis -1", q[0], 0, 1, 3, 4)
	wantVals(t, "Split axis -1", q[1], 2, 5)
	if n := len(iota64(2, 0).Split(nil, 1)); n != 0 {
		t.Errorf("Split of an empty axis into no pieces gave %d", n)
	}

	// torch.chunk's lengths: ceil(d/n) each, the last shorter, possibly
	// fewer than n pieces; n empty pieces of an empty axis.
	for _, c := range []struct {
		d, n int
		want []int
	}{{5, 4, []int{2, 2, 1}}, {6, 3, []int{2, 2, 2}}, {7, 3, []int{3, 3, 1}}, {3, 5, []int{1, 1, 1}}, {1, 1, []int{1}}, {0, 3, []int{0, 0, 0}}, {10, 4, []int{3, 3, 3, 1}}} {
		ps := iota64(2, c.d).Chunk(c.n, 1)
		var got []int
		for _, p := range ps {
			got = append(got, p.Shape()[1])
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Chunk(%d) of length %d: lengths %v, want %v", c.n, c.d, got, c.want)
		}
	}
	wantVals(t, "Chunk values", iota64(7).Chunk(3, 0)[2], 6)

	// The pieces are views: a later write to t shows through them.
	y := iota64(4)
	pieces := y.Chunk(2, 0)
	y.Assign(tensor.FromSlice([]float64{9, 8, 7, 6}, []int{4}, tensor.On(device.CPU())))
	wantVals(t, "Chunk view after Assign", pieces[1], 7, 6)
}

func TestSliceStep(t *testing.T) {
	x := iota64(3, 7)
	wantVals(t, "step 3", x.SliceStep(1, 0, 7, 3), 0, 3, 6, 7, 10, 13, 14, 17, 20)
	wantVals(t, "negative bounds", x.SliceStep(-1, -6, -1, 2), 1, 3, 5, 8, 10, 12, 15, 17, 19)
	wantVals(t, "rows", x.SliceStep(0, 1, 3, 5), 7, 8, 9, 10, 11, 12, 13)
	wantShape(t, "empty", x.SliceStep(1, 4, 4, 2), 3, 0)
	wantVals(t, "transposed", x.T().SliceStep(0, 1, 7, 4).SliceStep(1, 0, 3, 2), 1, 15, 5, 19)
	wantShape(t, "step past the end", x.SliceStep(1, 2, 7, 100), 3, 1)

	// The gradient lands at the positions taken.
	a := iota64(2, 5)
	a.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = a.SliceStep(1, 1, 5, 2).MulScalar(3) })
	y.Backward()
	wantVals(t, "gradient", a.Grad(), 0, 3, 0, 3, 0, 0, 3, 0, 3, 0)
}

func TestTrilTriu(t *testing.T) {
	for _, dt := range dtypes {
		for _, k := range []int{-3, -1, 0, 1, 2, 5} {
			x := iota64(2, 3, 4).AddScalar(1).AsType(dt)
			lo, up := x.Tril(k).Float64s(), x.Triu(k).Float64s()
			for b := range 2 {
				for i := range 3 {
					for j := range 4 {
						p := b*12 + i*4 + j
						v := float64(p + 1)
						wl, wu := 0.0, 0.0
						if j-i <= k {
							wl = v
						}
						if j-i >= k {
							wu = v
						}
						if lo[p] != wl || up[p] != wu {
							t.Fatalf("%v k=%d (%d,%d,%d): Tril %v Triu %v, want %v %v", dt, k, b, i, j, lo[p], up[p], wl, wu)
						}
					}
				}
			}
		}
	}
	// NaN and infinities in the removed part become 0, as in PyTorch.
	x := tensor.FromSlice([]float64{1, math.NaN(), math.Inf(1), 2}, []int{2, 2}, tensor.On(device.CPU()))
	wantVals(t, "Tril of NaN", x.Tril(0), 1, 0, math.Inf(1), 2)
	wantVals(t, "Triu of Inf", x.Triu(0), 1, math.NaN(), 0, 2)
	wantShape(t, "Tril of an empty matrix", iota64(0, 3).Tril(0), 0, 3)
}

func TestMaskedFillCausal(t *testing.T) {
	x := iota64(2, 3)
	m := tensor.FromSlice([]float64{1, 0, math.NaN()}, []int{3}, tensor.On(device.CPU()))
	wantVals(t, "MaskedFill broadcast", x.MaskedFill(m, -1), -1, 1, -1, -1, 4, -1)
	wantVals(t, "CausalMask", tensor.CausalMask(3, tensor.On(device.CPU())), 0, 1, 1, 0, 0, 1, 0, 0, 0)
	if c := tensor.CausalMask(2, tensor.On(device.CPU()), tensor.WithDType(tensor.Float64)); c.DType() != tensor.Float64 {
		t.Errorf("CausalMask dtype %v", c.DType())
	}
	wantShape(t, "CausalMask(0)", tensor.CausalMask(0, tensor.On(device.CPU())), 0, 0)

	// Causal attention weights: row i spreads over positions 0..i only.
	s := tensor.Zeros([]int{3, 3}, tensor.On(device.CPU()), tensor.WithDType(tensor.Float64))
	p := s.MaskedFill(tensor.CausalMask(3, tensor.On(device.CPU()), tensor.WithDType(tensor.Float64)), math.Inf(-1)).Softmax(-1)
	wantVals(t, "causal softmax", p, 1, 0, 0, 0.5, 0.5, 0, 1.0/3, 1.0/3, 1.0/3)
}

func TestCumSum(t *testing.T) {
	x := iota64(2, 3)
	wantVals(t, "axis 0", x.CumSum(0), 0, 1, 2, 3, 5, 7)
	wantVals(t, "axis -1", x.CumSum(-1), 0, 1, 3, 3, 7, 12)
	wantVals(t, "transposed", x.T().CumSum(1), 0, 3, 1, 5, 2, 7)
	wantShape(t, "empty", iota64(2, 0).CumSum(1), 2, 0)
	// Float32 sums accumulate in float64: 1e8 + 1 − 1e8 is 1, where a
	// float32 accumulator would give 0.
	f := tensor.FromSlice([]float32{1e8, 1, -1e8}, []int{3}, tensor.On(device.CPU()))
	wantVals(t, "float32 accumulation", f.CumSum(0), 1e8, 1e8, 1)
	n := tensor.FromSlice([]float64{1, math.NaN(), 2, math.Inf(1)}, []int{4}, tensor.On(device.CPU()))
	wantVals(t, "NaN propagates", n.CumSum(0), 1, math.NaN(), math.NaN(), math.NaN())

	// The gradient: the reversed cumulative sum of the head gradient.
	a := iota64(4)
	a.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = a.CumSum(0) })
	y.Backward(tensor.FromSlice([]float64{1, 10, 100, 1000}, []int{4}, tensor.On(device.CPU())))
	wantVals(t, "gradient", a.Grad(), 1111, 1110, 1100, 1000)
}

func TestNormKeepDims(t *testing.T) {
	x := tensor.FromSlice([]float64{3, 4, 6, 8}, []int{2, 2}, tensor.On(device.CPU()))
	wantShape(t, "axis 1", x.NormKeepDims(1), 2, 1)
	wantVals(t, "axis 1", x.NormKeepDims(1), 5, 10)
	wantShape(t, "all", x.NormKeepDims(), 1, 1)
	wantVals(t, "broadcasts back", x.Div(x.NormKeepDims(-1)), 0.6, 0.8, 0.6, 0.8)
}

// TestAxisOpErrors: the typed errors, naming the operation and the
// operand shapes.
func TestAxisOpErrors(t *testing.T) {
	x := iota64(2, 3)
	s := tensor.Scalar(1, tensor.On(device.CPU()), tensor.WithDType(tensor.Float64))
	f32 := tensor.Ones([]int{2, 3}, tensor.On(device.CPU()))
	for _, c := range []struct {
		name  string
		fn    func()
		kind  error
		parts []string
	}{
		{"Split sum", func() { x.Split([]int{1, 1}, 1) }, tensor.ErrShape, []string{"Split", "add up to 2", "length 3", "[2 3]"}},
		{"Split negative", func() { x.Split([]int{4, -1}, 1) }, tensor.ErrArgument, []string{"Split", "negative", "[2 3]"}},
		{"Split axis", func() { x.Split([]int{2}, 2) }, tensor.ErrAxis, []string{"Split", "axis 2 out of range for rank 2"}},
		{"Split 0-d", func() { s.Split([]int{1}, 0) }, tensor.ErrAxis, []string{"Split", "0-d"}},
		{"Chunk zero", func() { x.Chunk(0, 0) }, tensor.ErrArgument, []string{"Chunk", "0 chunks", "[2 3]"}},
		{"Chunk axis", func() { x.Chunk(2, -3) }, tensor.ErrAxis, []string{"Chunk", "axis -3"}},
		{"SliceStep step", func() { x.SliceStep(1, 0, 3, 0) }, tensor.ErrArgument, []string{"SliceStep", "step 0", "[2 3]"}},
		{"SliceStep range", func() { x.SliceStep(1, 0, 4, 2) }, tensor.ErrIndex, []string{"SliceStep", "[0, 4)", "length 3"}},
		{"SliceStep reversed", func() { x.SliceStep(0, 2, 1, 1) }, tensor.ErrIndex, []string{"SliceStep"}},
		{"SliceStep 0-d", func() { s.SliceStep(0, 0, 1, 1) }, tensor.ErrAxis, []string{"SliceStep", "0-d"}},
		{"Tril rank", func() { iota64(4).Tril(0) }, tensor.ErrShape, []string{"Tril", "at least 2 axes", "[4]"}},
		{"Triu rank", func() { s.Triu(0) }, tensor.ErrShape, []string{"Triu", "at least 2 axes"}},
		{"MaskedFill shape", func() { x.MaskedFill(iota64(2, 2, 3), 0) }, tensor.ErrShape, []string{"MaskedFill", "[2 3], [2 2 3]"}},
		{"MaskedFill broadcast", func() { x.MaskedFill(iota64(2), 0) }, tensor.ErrShape, []string{"MaskedFill", "cannot broadcast"}},
		{"MaskedFill dtype", func() { x.MaskedFill(f32, 0) }, tensor.ErrDType, []string{"MaskedFill", "float64, float32"}},
		{"CausalMask", func() { tensor.CausalMask(-1) }, tensor.ErrArgument, []string{"CausalMask", "-1"}},
		{"CumSum 0-d", func() { s.CumSum(0) }, tensor.ErrAxis, []string{"CumSum", "0-d"}},
		{"CumSum axis", func() { x.CumSum(-3) }, tensor.ErrAxis, []string{"CumSum", "axis -3 out of range for rank 2"}},
		{"NormKeepDims axis", func() { x.NormKeepDims(0, 0) }, tensor.ErrAxis, []string{"Norm", "repeated"}},
	} {
		checkErr(t, c.name, tensor.Maybe(c.fn), c.kind, c.parts...)
	}
}
