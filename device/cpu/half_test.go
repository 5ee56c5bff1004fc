package cpu_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
)

// The half dtypes on the CPU: storage, Upload/Download, Copy between every
// pair of dtypes through every layout kind, Fill; and device.WithHalf over
// this backend against the float32 methods.

var allDTypes = []device.DType{device.Float32, device.Float64, device.Int32, device.Int64, device.BFloat16, device.Float16}

// hbuf returns a buffer of dtype dt holding vals (converted as Upload
// converts float64s).
func hbuf(t testing.TB, dt device.DType, vals []float64) device.Buffer {
	b := alloc(t, dt, len(vals))
	be.Upload(b, append([]float64(nil), vals...))
	return b
}

// read returns every element of b as float64 (exact for the floats).
func read(t testing.TB, b device.Buffer) []float64 {
	out := make([]float64, b.Len())
	if err := be.Download(out, b, device.Contiguous([]int{b.Len()})); err != nil {
		t.Fatal(err)
	}
	return out
}

// convRef converts the value v of an element of dtype src to dtype dst
// by the rules of Copy.
func convRef(v float64, src, dst device.DType) float64 {
	switch dst {
	case device.BFloat16, device.Float16:
		if src == device.Int64 {
			v = device.Int64ToFloat64Odd(int64(v))
		}
		return float64(device.HalfToFloat32(dst, device.HalfFromFloat64(dst, v)))
	case device.Float32:
		return float64(float32(v))
	case device.Int32:
		return float64(device.FloatToInt32(v))
	case device.Int64:
		return float64(device.FloatToInt64(v))
	}
	return v
}

func TestHalfCopy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, shape := range [][]int{{3, 5}, {4, 5, 6}, {2, 5000}} {
		for _, kind := range kindsFor(shape) {
			o := makeOperand(r, shape, kind)
			for _, sdt := range allDTypes {
				src := hbuf(t, sdt, o.buf)
				sv := gather(read(t, src), o.l)
				for _, ddt := range allDTypes {
					if !sdt.IsHalf() && !ddt.IsHalf() {
						continue
					}
					// A dense and a strided (every other element)
					// destination.
					n := o.l.Size()
					d := alloc(t, ddt, 2*n+1)
					be.Fill(d, device.Contiguous([]int{2*n + 1}), -5)
					dl := device.Contiguous(shape)
					for i := range dl.Strides {
						dl.Strides[i] *= 2
					}
					dl.Offset = 1
					be.Copy(d, dl, src, o.l)
					got := read(t, d)
					want := make([]float64, 2*n+1)
					for i := range want {
						want[i] = -5
					}
					for i, v := range sv {
						want[1+2*i] = convRef(v, sdt, ddt)
					}
					compareBits(t, sdt.String()+"→"+ddt.String()+" "+kind, got, want)
				}
			}
		}
	}
	// Special values, dense.
	sp := []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, 65520, -1e6, 0x1p-25, 1e-40, 3.5, -2.5, 1e20}
	for _, sdt := range []device.DType{device.Float32, device.Float64, device.BFloat16, device.Float16} {
		src := hbuf(t, sdt, sp)
		sv := read(t, src)
		for _, ddt := range allDTypes {
			if !sdt.IsHalf() && !ddt.IsHalf() {
				continue
			}
			d := alloc(t, ddt, len(sp))
			l := device.Contiguous([]int{len(sp)})
			be.Copy(d, l, src, l)
			want := make([]float64, len(sp))
			for i, v := range sv {
				want[i] = convRef(v, sdt, ddt)
			}
			compareBits(t, "specials "+sdt.String()+"→"+ddt.String(), read(t, d), want)
		}
	}
}

func TestHalfBuffers(t *testing.T) {
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		b := alloc(t, dt, 5)
		if b.Len() != 5 || b.DType() != dt || len(b.Uint16s()) != 5 || b.Float32s() != nil {
			t.Fatalf("%v buffer: Len %d, DType %v, %d bits", dt, b.Len(), b.DType(), len(b.Uint16s()))
		}
		if _, ok := device.HostSlice(b).([]uint16); !ok {
			t.Errorf("%v: HostSlice is %T", dt, device.HostSlice(b))
		}
		bits := []uint16{0x3c00, 0x8000, 0x7c00, 0x0001, 0xffff}
		be.Upload(b, bits)
		if got := b.Uint16s(); !slices.Equal(got, bits) {
			t.Errorf("%v: Upload of bits gave %#x", dt, got)
		}
		out := make([]uint16, 3)
		l := device.Layout{Shape: []int{3}, Strides: []int{2}}
		if err := be.Download(out, b, l); err != nil || !slices.Equal(out, []uint16{0x3c00, 0x7c00, 0xffff}) {
			t.Errorf("%v: strided Download of bits = %#x, %v", dt, out, err)
		}
		be.Fill(b, device.Contiguous([]int{5}), 1.0/3)
		if got := read(t, b)[4]; got != convRef(1.0/3, device.Float64, dt) {
			t.Errorf("%v: Fill(1/3) = %v", dt, got)
		}
		// Large buffers come from the cache, per dtype.
		big := alloc(t, dt, 1<<20)
		be.Free(big)
		again := alloc(t, dt, 1<<20)
		if again.DType() != dt || again.Len() != 1<<20 || len(again.Uint16s()) != 1<<20 {
			t.Errorf("%v: cached buffer %v %d", dt, again.DType(), again.Len())
		}
		be.Free(again)
	}
	if err := be.Download(make([]uint16, 2), alloc(t, device.Float32, 2), device.Contiguous([]int{2})); err == nil {
		t.Error("Download of a float32 buffer into []uint16: no error")
	}
	w := cpu.WrapHalf(device.Float16, []uint16{0x3c00})
	if w.DType() != device.Float16 || read(t, w)[0] != 1 {
		t.Errorf("WrapHalf: %v %v", w.DType(), read(t, w))
	}
}

// WithHalf over the CPU backend: each method with half buffers gives the
// float32 method's results on the widened operands, rounded once; in-place
// destinations, padded outputs and pass-through operands behave.
func TestWithHalf(t *testing.T) {
	hb := device.WithHalf(be)
	if device.WithHalf(hb) != hb || device.Unwrap(hb) != device.Backend(be) || device.Unwrap(be) != device.Backend(be) {
		t.Fatal("WithHalf is not idempotent or Unwrap does not undo it")
	}
	r := rand.New(rand.NewPCG(7, 8))
	rnd := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return v
	}
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		round := func(v []float64) []float64 {
			out := make([]float64, len(v))
			for i, x := range v {
				out[i] = convRef(x, device.Float64, dt)
			}
			return out
		}
		// pair returns a half buffer of vals (rounded) and a float32 one
		// of the same values.
		pair := func(vals []float64) (device.Buffer, device.Buffer) {
			h := hbuf(t, dt, vals)
			return h, hbuf(t, device.Float32, read(t, h))
		}
		check := func(what string, h, f device.Buffer) {
			t.Helper()
			compareBits(t, dt.String()+" "+what, read(t, h), round(read(t, f)))
		}
		const n = 37
		l := device.Contiguous([]int{n})

		// Binary and AddScaled in place (dst == a).
		ah, af := pair(rnd(n))
		bh, bf := pair(rnd(n))
		hb.Binary(device.Mul, ah, ah, l, bh, l)
		be.Binary(device.Mul, af, af, l, bf, l)
		check("Binary in place", ah, af)
		ah, af = pair(rnd(n))
		hb.AddScaled(ah, ah, l, 0.9, bh, l, -0.3)
		be.AddScaled(af, af, l, 0.9, bf, l, -0.3)
		check("AddScaled in place", ah, af)

		// Reduce into a destination longer than the result: the tail
		// is left alone.
		xh, xf := pair(rnd(6 * 7))
		dh, df := pair(rnd(7 + 3))
		sl := device.Contiguous([]int{6, 7})
		hb.Reduce(device.Sum, dh, xh, sl, []int{0})
		be.Reduce(device.Sum, df, xf, sl, []int{0})
		check("Reduce", dh, df)

		// MatMul into padded rows: the padding keeps its values.
		m, k, nn := 3, 4, 5
		ah, af = pair(rnd(m * k))
		bh, bf = pair(rnd(k * nn))
		dh, df = pair(rnd(m * (nn + 2)))
		dl := device.MatLayout{RowStride: nn + 2, ColStride: 1}
		al := device.MatLayout{RowStride: k, ColStride: 1}
		bl := device.MatLayout{RowStride: nn, ColStride: 1}
		hb.MatMul(dh, dl, ah, al, bh, bl, 1, m, nn, k)
		be.MatMul(df, dl, af, al, bf, bl, 1, m, nn, k)
		check("MatMul padded", dh, df)

		// ScatterAdd with Int64 indices passed through.
		idx := hbuf(t, device.Int64, []float64{2, 0, 2, 1})
		sh, sf := pair(rnd(4 * 3))
		dh, df = pair(rnd(3 * 3))
		g := device.GatherGeom{Outer: 1, N: 3, M: 4, Inner: 3, IdxStrides: [3]int{0, 1, 0}}
		hb.ScatterAdd(dh, sh, idx, g)
		be.ScatterAdd(df, sf, idx, g)
		check("ScatterAdd", dh, df)

		// LayerNorm: Float64 statistics passed through, half x, w, b.
		p := device.NormParams{Rows: 3, Cols: 8, Eps: 1e-5}
		xh, xf = pair(rnd(24))
		wh, wf := pair(rnd(8))
		bh, bf = pair(rnd(8))
		yh, yf := pair(rnd(24))
		var mh, mf device.Buffer = alloc(t, device.Float64, 3), alloc(t, device.Float64, 3)
		rh, rf := alloc(t, device.Float64, 3), alloc(t, device.Float64, 3)
		hb.LayerNorm(yh, mh, rh, xh, wh, bh, p)
		be.LayerNorm(yf, mf, rf, xf, wf, bf, p)
		check("LayerNorm", yh, yf)
		compareBits(t, dt.String()+" LayerNorm statistics", append(read(t, mh), read(t, rh)...), append(read(t, mf), read(t, rf)...))

		// Optimiser steps update their half buffers in place.
		wh, wf = pair(rnd(n))
		vh, vf := pair(rnd(n))
		gh, gf := pair(rnd(n))
		sp := device.SGDParams{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01, Nesterov: true}
		hb.SGDStep(wh, vh, gh, n, sp)
		be.SGDStep(wf, vf, gf, n, sp)
		check("SGDStep w", wh, wf)
		check("SGDStep v", vh, vf)
		wh, wf = pair(rnd(n))
		mh, mf = pair(rnd(n))
		vh, vf = pair(rand32abs(rnd(n)))
		ap := device.AdamParams{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 3, WeightDecay: 0.1, Decoupled: true}
		hb.AdamStep(wh, mh, vh, gh, n, ap)
		be.AdamStep(wf, mf, vf, gf, n, ap)
		check("AdamStep w", wh, wf)
		check("AdamStep m", mh, mf)
		check("AdamStep v", vh, vf)

		// Random: the float32 stream rounded once, uniform values below
		// the upper bound; Arange from float64, rounded once.
		const rn = 1 << 14
		uh, uf := alloc(t, dt, rn), alloc(t, device.Float32, rn)
		hb.Random(uh, rn, device.Uniform, 3, 9, -1, 1)
		be.Random(uf, rn, device.Uniform, 3, 9, -1, 1)
		want := round(read(t, uf))
		for i, v := range read(t, uh) {
			if want[i] >= 1 {
				want[i] = float64(device.HalfToFloat32(dt, device.HalfFromFloat64(dt, 1)-1))
			}
			if v != want[i] || v >= 1 || v < -1 {
				t.Fatalf("%v Random uniform %d = %v, want %v", dt, i, v, want[i])
			}
		}
		ah = alloc(t, dt, 300)
		hb.Arange(ah, 300, 0.5, 1.25)
		for i, v := range read(t, ah) {
			if w := convRef(0.5+float64(i)*1.25, device.Float64, dt); v != w {
				t.Fatalf("%v Arange %d = %v, want %v", dt, i, v, w)
			}
		}
	}
	// Without half buffers the methods are the backend's own.
	x := hbuf(t, device.Float32, rnd(10))
	y1, y2 := alloc(t, device.Float32, 10), alloc(t, device.Float32, 10)
	l := device.Contiguous([]int{10})
	hb.Unary(device.Exp, y1, x, l)
	be.Unary(device.Exp, y2, x, l)
	compareBits(t, "float32 through WithHalf", read(t, y1), read(t, y2))
}

func rand32abs(v []float64) []float64 {
	for i := range v {
		v[i] = math.Abs(v[i])
	}
	return v
}

// fastMatMul is the CPU backend with a device.HalfMatMuler that records
// its calls and, when it accepts, fills dst's first element with a marker
// instead of computing the product.
type fastMatMul struct {
	device.Backend
	accept bool
	calls  int
}

func (f *fastMatMul) HalfMatMul(dst device.Buffer, dl device.MatLayout, a device.Buffer, al device.MatLayout, b device.Buffer, bl device.MatLayout, batch, m, n, k int) bool {
	f.calls++
	if f.accept {
		f.Fill(dst, device.Contiguous([]int{1}), 7)
	}
	return f.accept
}

// WithHalf hands a MatMul of one half dtype to the backend's HalfMatMul,
// and computes it in float32 when HalfMatMul declines or the dtypes are
// mixed (then HalfMatMul is not asked).
func TestWithHalfMatMuler(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vals := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return v
	}
	ml := func(rows, cols int) device.MatLayout { return device.MatLayout{RowStride: cols, ColStride: 1} }
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		av, bv := vals(12), vals(20)
		want := hbuf(t, dt, make([]float64, 15))
		device.WithHalf(be).MatMul(want, ml(3, 5), hbuf(t, dt, av), ml(3, 4), hbuf(t, dt, bv), ml(4, 5), 1, 3, 5, 4)
		for _, accept := range []bool{false, true} {
			f := &fastMatMul{Backend: be, accept: accept}
			got := hbuf(t, dt, make([]float64, 15))
			device.WithHalf(f).MatMul(got, ml(3, 5), hbuf(t, dt, av), ml(3, 4), hbuf(t, dt, bv), ml(4, 5), 1, 3, 5, 4)
			switch g := read(t, got); {
			case f.calls != 1:
				t.Errorf("%v accept=%v: HalfMatMul called %d times", dt, accept, f.calls)
			case accept && (g[0] != 7 || g[1] != 0):
				t.Errorf("%v: an accepted HalfMatMul was overwritten: %v", dt, g)
			case !accept && !slices.Equal(g, read(t, want)):
				t.Errorf("%v: declined HalfMatMul: %v, want %v", dt, g, read(t, want))
			}
		}
		f := &fastMatMul{Backend: be, accept: true}
		got := hbuf(t, dt, make([]float64, 15))
		device.WithHalf(f).MatMul(got, ml(3, 5), hbuf(t, dt, av), ml(3, 4), hbuf(t, device.Float32, read(t, hbuf(t, dt, bv))), ml(4, 5), 1, 3, 5, 4)
		if f.calls != 0 || !slices.Equal(read(t, got), read(t, want)) {
			t.Errorf("%v with a float32 operand: HalfMatMul called %d times, result %v", dt, f.calls, read(t, got))
		}
	}
}
