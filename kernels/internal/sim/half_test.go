//go:build kernelsim

package sim

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
	"github.com/tapegrad/tapegrad/kernels"
)

// The half dtypes' copies and fills (module index), bitwise against the
// reference conversions of package device (device/half.go) and the CPU
// backend's Copy and Fill.

var halfDTs = []device.DType{device.BFloat16, device.Float16}

// halfRef is the reference conversion of element i of the host buffer src
// to dtype d, as the little-endian bytes of one d element: package
// device's functions, composed as device.Backend's Copy documents.
func halfRef(src device.Buffer, i int, d device.DType) []byte {
	hs := device.HostSlice(src.(device.HostBuffer))
	var f32 float32 // the value, when src is a half type (exact)
	var half uint16 // the half result, when d is a half type
	toHalf := d.IsHalf()
	switch x := hs.(type) {
	case []float32:
		half = device.HalfFromFloat32(d, x[i])
	case []float64:
		half = device.HalfFromFloat64(d, x[i])
	case []int32:
		half = device.HalfFromFloat64(d, float64(x[i]))
	case []int64:
		half = device.HalfFromFloat64(d, device.Int64ToFloat64Odd(x[i]))
	case []uint16:
		f32 = device.HalfToFloat32(src.DType(), x[i])
		switch {
		case d == src.DType():
			half = x[i]
		case toHalf:
			half = device.HalfFromFloat32(d, f32)
		}
	}
	out := make([]byte, d.Size())
	switch d {
	case device.BFloat16, device.Float16:
		binary.LittleEndian.PutUint16(out, half)
	case device.Float32:
		binary.LittleEndian.PutUint32(out, math.Float32bits(f32))
	case device.Float64:
		binary.LittleEndian.PutUint64(out, math.Float64bits(float64(f32)))
	case device.Int32:
		binary.LittleEndian.PutUint32(out, uint32(device.FloatToInt32(float64(f32))))
	case device.Int64:
		binary.LittleEndian.PutUint64(out, uint64(device.FloatToInt64(float64(f32))))
	}
	return out
}

// halfInputs returns the test inputs of dtype s: for the half types every
// bit pattern, for float32 the edges of both half formats (each with its
// neighbours), signed zeros, infinities, NaNs with payloads, subnormals and
// random bit patterns; for float64 values at and next to every rounding
// tie of both formats (where rounding twice would go wrong) and random bit
// patterns; for the integers values around 2²⁴, 2⁵³ and 2⁶³ and random
// magnitudes of every size.
func halfInputs(s device.DType, rng *rand.Rand) device.Buffer {
	switch s {
	case device.BFloat16, device.Float16:
		bits := make([]uint16, 1<<16)
		for i := range bits {
			bits[i] = uint16(i)
		}
		return cpu.WrapHalf(s, bits)
	case device.Float32:
		var v []float32
		add := func(b uint32) {
			for _, sign := range []uint32{0, 0x80000000} {
				for d := -3; d <= 3; d++ {
					v = append(v, math.Float32frombits(b+uint32(d)|sign))
				}
			}
		}
		for _, b := range []uint32{3, 0x00800000, 0x33000000, 0x33400000, 0x337fffff, 0x33800000, 0x38000000,
			0x387fc000, 0x387fe000, 0x38800000, 0x3f800000, 0x3f808000, 0x3f818000, 0x3f801000, 0x3f803000,
			0x477fe000, 0x477fefff, 0x477ff000, 0x47800000, 0x7f7f8000, 0x7f7fffff, 0x7f800003, 0x7fc00000,
			0x7fffffff, 0x7f802000} {
			add(b)
		}
		for len(v) < 1<<17 {
			v = append(v, math.Float32frombits(rng.Uint32()))
		}
		for len(v) < 1<<18 { // values in float16's range, half of them at ties
			x := rng.Uint32()&0x0fffffff | 0x30000000
			if len(v)%2 == 0 {
				x = x&^0x1fff | 0x1000
			}
			v = append(v, math.Float32frombits(x|rng.Uint32()&0x80000000))
		}
		return cpu.Wrap(v)
	case device.Float64:
		var v []float64
		for len(v) < 1<<17 {
			// A half value (bits h of dt) plus half an ulp of it, then
			// nudged by a few float64 ulps either way or by an amount
			// below float32's precision.
			dt := halfDTs[len(v)%2]
			h := uint16(rng.Uint32())
			x := float64(device.HalfToFloat32(dt, h))
			if math.IsNaN(x) || math.IsInf(x, 0) {
				v = append(v, x)
				continue
			}
			ulp := math.Abs(float64(device.HalfToFloat32(dt, h^1)) - x)
			tie := x + math.Copysign(ulp/2, x)
			switch len(v) / 2 % 4 {
			case 0:
				v = append(v, tie)
			case 1:
				v = append(v, math.Nextafter(tie, math.Inf(1)), math.Nextafter(tie, math.Inf(-1)))
			case 2:
				v = append(v, tie+math.Copysign(math.Abs(tie)*0x1p-40, x), tie-math.Copysign(math.Abs(tie)*0x1p-40, x))
			default:
				v = append(v, math.Float64frombits(rng.Uint64()))
			}
		}
		v = append(v, 0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 65520, 65519.99999999,
			-65520, 0x1p-25, 0x1p-25+0x1p-60, -0x1p-25, 0x1p-150, 3.4028235677973366e38, 1e300, -1e-300)
		return cpu.Wrap(v)
	case device.Int32:
		// 2²⁸ + 2²⁰ + 1: above bfloat16's tie, which float32 alone would round to
		// (and then to even).
		v := []int32{0, 1, -1, 65504, 65519, 65520, 65535, 1<<24 + 1, 1<<24 + 3, math.MaxInt32, math.MinInt32, 1<<28 + 1<<20 + 1, -(1<<28 + 1<<20 + 1)}
		for len(v) < 1<<15 {
			v = append(v, int32(rng.Uint32())>>rng.IntN(32))
		}
		return cpu.Wrap(v)
	}
	v := []int64{0, 1, -1, 65520, 1<<53 + 1, 1<<53 + 3, -(1<<53 + 1), 1<<62 + 1<<54 + 1, math.MaxInt64, math.MinInt64,
		(1<<24+1)<<30 + 1, (1<<24 + 1) << 30, -((1<<8 + 1) << 40), (1<<8+1)<<40 + 1}
	for len(v) < 1<<15 {
		v = append(v, int64(rng.Uint64())>>rng.IntN(64))
	}
	return cpu.Wrap(v)
}

// TestHalfCopyDense runs every copy kernel with a half side over
// halfInputs, contiguous, and compares each element with halfRef.
func TestHalfCopyDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	grid := [3]int{16, 1, 1}
	for s := range device.DType(device.NumDTypes) {
		src := halfInputs(s, rng)
		n := src.Len()
		gs := newAny(src)
		for d := range device.DType(device.NumDTypes) {
			if !s.IsHalf() && !d.IsHalf() {
				continue
			}
			name := kernels.CopyName(s, d)
			got := anyDev{Alloc(n * d.Size()), d}
			l := device.Contiguous([]int{n})
			launch(t, name, &CopyArgs{Dst: got.at(0), Src: gs.at(0), Shape: shapeOf(l), VD: viewOf(l), VS: viewOf(l)}, grid, 128)
			g, bad := got.Bytes(), 0
			for i := range n {
				want := halfRef(src, i, d)
				if w := d.Size(); string(g[i*w:(i+1)*w]) != string(want) {
					if bad++; bad <= 5 {
						t.Errorf("%s: element %d (%s): got % x, want % x", name, i, elemString(src, i), g[i*w:(i+1)*w], want)
					}
				}
			}
			if bad > 5 {
				t.Errorf("%s: %d elements differ in all", name, bad)
			}
			got.Free()
		}
		gs.Free()
	}
}

func elemString(b device.Buffer, i int) string {
	switch x := device.HostSlice(b.(device.HostBuffer)).(type) {
	case []float32:
		return fmt.Sprintf("%v %#08x", x[i], math.Float32bits(x[i]))
	case []float64:
		return fmt.Sprintf("%v %#016x", x[i], math.Float64bits(x[i]))
	case []int32:
		return fmt.Sprint(x[i])
	case []int64:
		return fmt.Sprint(x[i])
	case []uint16:
		return fmt.Sprintf("%#04x", x[i])
	}
	return "?"
}

// TestHalfCopyStridedFill runs the copies with a half side into a
// transposed, offset destination, and the half fills on a strided layout,
// against the CPU backend.
func TestHalfCopyStridedFill(t *testing.T) {
	vals := []float64{1, -2.5, 1e-8, 70000, math.Inf(-1), 1 + 0x1p-8 + 0x1p-30, math.NaN(), 65519, -0.0, 3e9}
	for len(vals) < 300 {
		vals = append(vals, rand.NormFloat64()*1e3)
	}
	dl := device.Layout{Shape: []int{3, 100}, Strides: []int{1, 3}, Offset: 2} // transposed, offset
	sl := device.Layout{Shape: []int{3, 100}, Strides: []int{101, 1}, Offset: 1}
	for s := range device.DType(device.NumDTypes) {
		for d := range device.DType(device.NumDTypes) {
			if !s.IsHalf() && !d.IsHalf() {
				continue
			}
			name := kernels.CopyName(s, d)
			src := hostOf(s, append([]float64{9}, append(vals, make([]float64, 4)...)...))
			init := make([]float64, 302)
			for i := range init {
				init[i] = 5
			}
			want := hostOf(d, init)
			got, gs := newAny(want), newAny(src)
			launch(t, name, &CopyArgs{Dst: got.at(0), Src: gs.at(0), Shape: shapeOf(sl), VD: viewOf(dl), VS: viewOf(sl)}, ewGrid, ewBlock)
			be.Copy(want, dl, src, sl)
			sameBytes(t, name, got, want)
			got.Free()
			gs.Free()
		}
	}
	for _, dt := range halfDTs {
		for _, v := range []float64{-3.7, 1 + 0x1p-8 + 0x1p-30, 1 + 0x1p-11 + 0x1p-40, 65520, -1e30, 0x1p-25, math.NaN(), math.Copysign(0, -1)} {
			want := hostOf(dt, make([]float64, 302))
			got := newAny(want)
			launch(t, kernels.FillName(dt, true), &FillArgs{Dst: got.at(0), V: v, Shape: shapeOf(dl), VD: viewOf(dl)}, ewGrid, ewBlock)
			be.Fill(want, dl, v)
			sameBytes(t, fmt.Sprintf("%s %v", kernels.FillName(dt, true), v), got, want)
			got.Free()
		}
	}
}
