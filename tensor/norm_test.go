package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// The fused LayerNorm and RMSNorm against the same formulas composed from
// tensor operations, beyond the op-test table's finite differences and
// second-order checks (internal/optest): larger shapes, both dtypes,
// inputs far from 0, and gradients of gradients.

// composedNorm is LayerNorm (RMSNorm with rms) from elementary recorded
// operations, as package nn computed it before the fused kernels.
func composedNorm(x *tensor.Tensor, axes int, w, b *tensor.Tensor, eps float64, rms bool) *tensor.Tensor {
	ax := make([]int, axes)
	for i := range ax {
		ax[i] = x.Rank() - axes + i
	}
	xc := x
	if !rms {
		xc = x.Sub(x.MeanKeepDims(ax...))
	}
	y := xc.Mul(xc.Square().MeanKeepDims(ax...).AddScalar(eps).Rsqrt())
	if w != nil {
		y = y.Mul(w)
	}
	if b != nil {
		y = y.Add(b)
	}
	return y
}

func fusedNorm(x *tensor.Tensor, axes int, w, b *tensor.Tensor, eps float64, rms bool) *tensor.Tensor {
	if rms {
		return x.RMSNorm(axes, w, eps)
	}
	return x.LayerNorm(axes, w, b, eps)
}

// relErr returns max |got − want| / max |want|.
func relErr(got, want *tensor.Tensor) float64 {
	g, w := got.Float64s(), want.Float64s()
	d, m := 0.0, 0.0
	for i := range w {
		d = math.Max(d, math.Abs(g[i]-w[i]))
		m = math.Max(m, math.Abs(w[i]))
	}
	if math.IsNaN(d) || len(g) != len(w) {
		return math.Inf(1)
	}
	return d / math.Max(m, 1e-300)
}

type normCase struct {
	shape     []int
	axes      int
	w, b, rms bool
	offset    float64
}

func (c normCase) String() string {
	kind := "LayerNorm"
	if c.rms {
		kind = "RMSNorm"
	}
	return fmt.Sprintf("%s%v/axes=%d/w=%v/b=%v/offset=%g", kind, c.shape, c.axes, c.w, c.b, c.offset)
}

var normCases = []normCase{
	{shape: []int{5, 7}, axes: 1, w: true, b: true},
	{shape: []int{4, 3, 128}, axes: 1, w: true, b: true},
	{shape: []int{4, 3, 8}, axes: 2, w: true},
	{shape: []int{40, 64}, axes: 1},
	{shape: []int{3, 1100}, axes: 1, b: true},
	{shape: []int{33, 16}, axes: 1, w: true, b: true, offset: 100},
	{shape: []int{6, 40}, axes: 1, w: true, rms: true},
	{shape: []int{2, 3, 50}, axes: 2, rms: true},
}

// normParts returns y and the gradients of ⟨y, head⟩ with respect to x,
// w and b (those that are given) for norm.
func normParts(norm func(x *tensor.Tensor, axes int, w, b *tensor.Tensor, eps float64, rms bool) *tensor.Tensor,
	c normCase, x, w, b, head *tensor.Tensor, create bool) []*tensor.Tensor {
	vars := []*tensor.Tensor{x}
	for _, v := range []*tensor.Tensor{w, b} {
		if v != nil {
			vars = append(vars, v)
		}
	}
	for _, v := range vars {
		v.AttachGrad()
	}
	var y *tensor.Tensor
	opts := []autograd.Option{autograd.HeadGrads(head)}
	if create {
		opts = append(opts, autograd.CreateGraph())
	}
	var gs []*tensor.Tensor
	autograd.Record(func() {
		y = norm(x, c.axes, w, b, 1e-5, c.rms)
		gs = autograd.Grad([]*tensor.Tensor{y}, vars, opts...)
	})
	return append([]*tensor.Tensor{y}, gs...)
}

func TestLayerNormMatchesComposed(t *testing.T) {
	for _, c := range normCases {
		trail := c.shape[len(c.shape)-c.axes:]
		// float64 inputs, and the float32 inputs rounded from them.
		x64 := tensor.RandNormal(c.offset, 1, c.shape, tensor.WithDType(tensor.Float64))
		head64 := tensor.RandNormal(0, 1, c.shape, tensor.WithDType(tensor.Float64))
		var w64, b64 *tensor.Tensor
		if c.w {
			w64 = tensor.RandUniform(0.5, 1.5, trail, tensor.WithDType(tensor.Float64))
		}
		if c.b && !c.rms {
			b64 = tensor.RandUniform(-1, 1, trail, tensor.WithDType(tensor.Float64))
		}
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
			t.Run(c.String()+"/"+dt.String(), func(t *testing.T) {
				in := func(v *tensor.Tensor) *tensor.Tensor {
					if v == nil {
						return nil
					}
					return v.AsType(dt)
				}
				// The reference: composed, in float64, from the rounded inputs.
				round64 := func(v *tensor.Tensor) *tensor.Tensor {
					if v == nil {
						return nil
					}
					return v.AsType(dt).AsType(tensor.Float64)
				}
				ref := normParts(composedNorm, c, round64(x64), round64(w64), round64(b64), round64(head64), false)
				fused := normParts(fusedNorm, c, in(x64), in(w64), in(b64), in(head64), false)
				comp := normParts(composedNorm, c, in(x64), in(w64), in(b64), in(head64), false)
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 2e-6
				}
				names := []string{"y", "dx", "dw/db", "db"}
				for i := range ref {
					if e := relErr(fused[i], ref[i]); e > tol {
						t.Errorf("fused %s: relative error %.3g against the float64 composition, want <= %.3g", names[i], e, tol)
					}
					// The composition in the same dtype: float32 differs
					// from the reference by its own rounding (more for
					// inputs far from 0, where it loses digits to x − μ).
					if e := relErr(comp[i], ref[i]); e > 1e3*tol {
						t.Errorf("composed %s: relative error %.3g, want <= %.3g", names[i], e, 1e3*tol)
					}
				}
				// Inference (nothing recorded) gives the same bits.
				if y := fusedNorm(in(x64), c.axes, in(w64), in(b64), 1e-5, c.rms); relErr(y, fused[0]) != 0 {
					t.Errorf("unrecorded forward differs from the recorded one")
				}
			})
		}
	}
}

// TestLayerNormCreateGraph differentiates the gradients of the fused
// operations (recorded from composed operations under CreateGraph) and
// compares with the composition's second derivatives.
func TestLayerNormCreateGraph(t *testing.T) {
	for _, c := range []normCase{
		{shape: []int{4, 6}, axes: 1, w: true, b: true},
		{shape: []int{3, 2, 5}, axes: 2, w: true, rms: true},
		{shape: []int{3, 5}, axes: 1},
	} {
		t.Run(c.String(), func(t *testing.T) {
			trail := c.shape[len(c.shape)-c.axes:]
			x := tensor.RandNormal(0, 1, c.shape, tensor.WithDType(tensor.Float64))
			head := tensor.RandNormal(0, 1, c.shape, tensor.WithDType(tensor.Float64))
			v := tensor.RandNormal(0, 1, c.shape, tensor.WithDType(tensor.Float64))
			var w, b *tensor.Tensor
			if c.w {
				w = tensor.RandUniform(0.5, 1.5, trail, tensor.WithDType(tensor.Float64))
			}
			if c.b {
				b = tensor.RandUniform(-1, 1, trail, tensor.WithDType(tensor.Float64))
			}
			second := func(norm func(*tensor.Tensor, int, *tensor.Tensor, *tensor.Tensor, float64, bool) *tensor.Tensor) []*tensor.Tensor {
				xs, ws := x.Clone(), w
				if w != nil {
					ws = w.Clone()
				}
				vars := []*tensor.Tensor{xs}
				if ws != nil {
					vars = append(vars, ws)
				}
				for _, t := range vars {
					t.AttachGrad()
				}
				var out []*tensor.Tensor
				autograd.Record(func() {
					y := norm(xs, c.axes, ws, b, 1e-5, c.rms)
					g := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{xs}, autograd.HeadGrads(head), autograd.CreateGraph())
					// ⟨dx, v⟩ differentiated again with respect to x (and w).
					out = autograd.Grad([]*tensor.Tensor{g[0].Mul(v).Sum()}, vars)
				})
				return out
			}
			want, got := second(composedNorm), second(fusedNorm)
			for i := range want {
				if e := relErr(got[i], want[i]); e > 1e-12 || math.IsNaN(e) {
					t.Errorf("second derivative %d: relative error %.3g", i, e)
				}
			}
		})
	}
}

func TestLayerNormErrors(t *testing.T) {
	x := tensor.Zeros([]int{2, 3}, tensor.WithDType(tensor.Float64))
	w3 := tensor.Ones([]int{3}, tensor.WithDType(tensor.Float64))
	w4 := tensor.Ones([]int{4}, tensor.WithDType(tensor.Float64))
	w32 := tensor.Ones([]int{3}, tensor.WithDType(tensor.Float32))
	ix := tensor.Zeros([]int{2, 3}, tensor.WithDType(tensor.Int64))
	for _, c := range []struct {
		name  string
		fn    func()
		kind  error
		parts []string
	}{
		{"axes 0", func() { x.LayerNorm(0, nil, nil, 1e-5) }, tensor.ErrAxis, []string{"LayerNorm", "last 0 axes of a 2-d"}},
		{"axes 3", func() { x.RMSNorm(3, nil, 1e-5) }, tensor.ErrAxis, []string{"RMSNorm", "last 3 axes"}},
		{"weight shape", func() { x.LayerNorm(1, w4, nil, 1e-5) }, tensor.ErrShape, []string{"LayerNorm", "weight", "[3]", "[2 3], [4]"}},
		{"bias shape", func() { x.LayerNorm(2, nil, w3, 1e-5) }, tensor.ErrShape, []string{"LayerNorm", "bias", "[2 3]"}},
		{"weight dtype", func() { x.RMSNorm(1, w32, 1e-5) }, tensor.ErrDType, []string{"RMSNorm", "float64, float32"}},
		{"int input", func() { ix.LayerNorm(1, nil, nil, 1e-5) }, tensor.ErrDType, []string{"LayerNorm", "int64"}},
		{"eps", func() { x.LayerNorm(1, nil, nil, -1) }, tensor.ErrArgument, []string{"LayerNorm", "eps -1"}},
		{"eps NaN", func() { x.RMSNorm(1, nil, math.NaN()) }, tensor.ErrArgument, []string{"RMSNorm", "eps NaN"}},
	} {
		checkErr(t, c.name, tensor.Maybe(c.fn), c.kind, c.parts...)
	}
}

// BenchmarkLayerNorm times LayerNorm forward and backward (dx, dweight,
// dbias) in float32, fused against composed from tensor operations, at the
// charlm example's shape (32·128 rows of 128) and at 4096×1024:
//
//	go test ./tensor -run '^$' -bench LayerNorm -benchtime 2s
func BenchmarkLayerNorm(b *testing.B) {
	for _, sh := range [][2]int{{32 * 128, 128}, {4096, 1024}} {
		for _, impl := range []struct {
			name string
			f    func(x *tensor.Tensor, axes int, w, b *tensor.Tensor, eps float64, rms bool) *tensor.Tensor
		}{{"composed", composedNorm}, {"fused", fusedNorm}} {
			b.Run(fmt.Sprintf("%dx%d/%s", sh[0], sh[1], impl.name), func(b *testing.B) {
				x := tensor.RandNormal(0, 1, []int{sh[0], sh[1]})
				w := tensor.RandUniform(0.5, 1.5, []int{sh[1]})
				bias := tensor.RandUniform(-1, 1, []int{sh[1]})
				head := tensor.RandNormal(0, 1, []int{sh[0], sh[1]})
				for _, t := range []*tensor.Tensor{x, w, bias} {
					t.AttachGrad()
				}
				// Read: x, dy; written: y, dx (4 passes over [rows, cols]).
				b.SetBytes(int64(4 * 4 * sh[0] * sh[1]))
				b.ResetTimer()
				for range b.N {
					var y *tensor.Tensor
					autograd.Record(func() { y = impl.f(x, 1, w, bias, 1e-5, false) })
					y.Backward(head)
					y.Release()
				}
				_ = x.Grad().Float32s()[0] // wait for the device
			})
		}
	}
}
