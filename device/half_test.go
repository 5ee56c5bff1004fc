package device_test

import (
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// halfRef converts float32s to a 16-bit format the slow way: the nearest
// of the format's finite values, sorted, ties to the even encoding, with
// the format's overflow threshold.
type halfRef struct {
	vals []float64 // the finite non-negative values, increasing
	bits []uint16  // their encodings
	inf  float64   // magnitudes from here up become Inf
}

func newHalfRef(toF32 func(uint16) float32) *halfRef {
	r := &halfRef{}
	for h := range 1 << 15 { // non-negative encodings
		v := float64(toF32(uint16(h)))
		if math.IsInf(v, 0) || v != v {
			continue
		}
		r.vals, r.bits = append(r.vals, v), append(r.bits, uint16(h))
	}
	idx := make([]int, len(r.vals))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return r.vals[idx[a]] < r.vals[idx[b]] })
	vs, bs := make([]float64, len(idx)), make([]uint16, len(idx))
	for i, k := range idx {
		vs[i], bs[i] = r.vals[k], r.bits[k]
	}
	r.vals, r.bits = vs, bs
	top := r.vals[len(r.vals)-1]
	ulp := top - r.vals[len(r.vals)-2]
	r.inf = top + ulp/2 // the tie rounds to even: the largest finite value is odd
	return r
}

func (r *halfRef) convert(f float32) (uint16, bool) { return r.convert64(float64(f)) }

func (r *halfRef) convert64(v float64) (uint16, bool) {
	if v != v {
		return 0, false // NaN: checked separately
	}
	sign := uint16(0)
	if math.Signbit(v) {
		sign, v = 0x8000, -v
	}
	if v >= r.inf {
		return sign | 0x7f80, true // bfloat16's Inf; float16's is fixed by the caller
	}
	i := sort.SearchFloat64s(r.vals, v)
	if i < len(r.vals) && r.vals[i] == v {
		return sign | r.bits[i], true
	}
	if i == len(r.vals) { // above the largest finite value, below the overflow threshold
		return sign | r.bits[i-1], true
	}
	lo, hi := i-1, i
	dl, dh := v-r.vals[lo], r.vals[hi]-v
	switch {
	case dl < dh:
		return sign | r.bits[lo], true
	case dh < dl:
		return sign | r.bits[hi], true
	case r.bits[lo]&1 == 0:
		return sign | r.bits[lo], true
	}
	return sign | r.bits[hi], true
}

func checkHalf(t *testing.T, name string, to func(float32) uint16, from func(uint16) float32, infBits uint16, xs func(yield func(float32) bool)) {
	t.Helper()
	ref := newHalfRef(from)
	bad := 0
	for f := range xs {
		got := to(f)
		want, ok := ref.convert(f)
		if !ok {
			g := from(got)
			if g == g || math.Signbit(float64(g)) != math.Signbit(float64(f)) {
				t.Errorf("%s(NaN %#x) = %#x, not a NaN of the same sign", name, math.Float32bits(f), got)
				bad++
			}
		} else {
			if want&0x7fff == 0x7f80 {
				want = want&0x8000 | infBits
			}
			if got != want {
				t.Errorf("%s(%v = %#x) = %#x, want %#x", name, f, math.Float32bits(f), got, want)
				bad++
			}
		}
		if bad > 10 {
			t.Fatal("too many errors")
		}
	}
}

// sample yields the float32s near every 16-bit value (each, its
// neighbours, the midpoints to the next value and one ulp either side of
// them), specials, and random ones; with TAPEGRAD_EXHAUSTIVE=1 every
// float32.
func sample(from func(uint16) float32) func(yield func(float32) bool) {
	return func(yield func(float32) bool) {
		if os.Getenv("TAPEGRAD_EXHAUSTIVE") == "1" {
			for b := uint64(0); b < 1<<32; b++ {
				if !yield(math.Float32frombits(uint32(b))) {
					return
				}
			}
			return
		}
		var xs []float32
		for h := range 1 << 16 {
			v := from(uint16(h))
			n := from(uint16(h + 1))
			xs = append(xs, v, math.Nextafter32(v, float32(math.Inf(1))), math.Nextafter32(v, float32(math.Inf(-1))))
			if !math.IsInf(float64(v), 0) && !math.IsInf(float64(n), 0) && v == v && n == n {
				mid := float32((float64(v) + float64(n)) / 2)
				xs = append(xs, mid, math.Nextafter32(mid, float32(math.Inf(1))), math.Nextafter32(mid, float32(math.Inf(-1))))
			}
		}
		xs = append(xs, 65504, 65519.99, 65520, 65536, math.MaxFloat32, -math.MaxFloat32, 1e-45, -1e-45,
			float32(math.Ldexp(1, -25)), float32(math.Ldexp(1, -24)), float32(math.Ldexp(1.5, -25)),
			float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.Float32frombits(0xff800001),
			math.Float32frombits(0x7fa00000), 0, float32(math.Copysign(0, -1)))
		r := rand.New(rand.NewPCG(1, 2))
		for range 1 << 20 {
			xs = append(xs, math.Float32frombits(r.Uint32()))
		}
		for _, x := range xs {
			if !yield(x) {
				return
			}
		}
	}
}

// Every float32 tried converts to the nearest 16-bit value (ties to even),
// overflows and NaNs as the package doc says; run
//
//	TAPEGRAD_EXHAUSTIVE=1 go test ./device -run Half -v
//
// to try every float32 (4 min 11 s on the 2-core CI machine, both formats).
func TestHalfFromFloat32(t *testing.T) {
	checkHalf(t, "Float32ToBFloat16", device.Float32ToBFloat16, device.BFloat16ToFloat32, 0x7f80, sample(device.BFloat16ToFloat32))
	checkHalf(t, "Float32ToFloat16", device.Float32ToFloat16, device.Float16ToFloat32, 0x7c00, sample(device.Float16ToFloat32))
}

// Every 16-bit value converts to float32 exactly and back to itself (NaNs
// to NaNs of the same sign).
func TestHalfRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		to   func(float32) uint16
		from func(uint16) float32
	}{
		{"bfloat16", device.Float32ToBFloat16, device.BFloat16ToFloat32},
		{"float16", device.Float32ToFloat16, device.Float16ToFloat32},
	} {
		for h := range 1 << 16 {
			f := c.from(uint16(h))
			back := c.to(f)
			if f != f {
				if b := c.from(back); b == b || math.Signbit(float64(b)) != (h&0x8000 != 0) {
					t.Errorf("%s NaN %#x: %#x after the round trip", c.name, h, back)
				}
				continue
			}
			if back != uint16(h) {
				t.Errorf("%s %#x = %v: %#x after the round trip", c.name, h, f, back)
			}
		}
	}
	// Known values.
	for _, c := range []struct {
		f      float32
		bf, hf uint16
	}{
		{1, 0x3f80, 0x3c00}, {-2, 0xc000, 0xc000}, {65504, 0x4780, 0x7bff}, {1.0 / 3, 0x3eab, 0x3555},
		{float32(math.Ldexp(1, -24)), 0x3380, 0x0001}, {1e-8, 0x322c, 0x0000},
	} {
		if got := device.Float32ToBFloat16(c.f); got != c.bf {
			t.Errorf("Float32ToBFloat16(%v) = %#x, want %#x", c.f, got, c.bf)
		}
		if got := device.Float32ToFloat16(c.f); got != c.hf {
			t.Errorf("Float32ToFloat16(%v) = %#x, want %#x", c.f, got, c.hf)
		}
	}
}

// Float64ToBFloat16 and Float64ToFloat16 round once: float64s just beside
// the midpoints between 16-bit values (where float64 → float32 → 16 bits
// would round twice, to the wrong side) and random ones agree with the
// reference; so do the int64s converted through Int64ToFloat64Odd.
func TestHalfFromFloat64(t *testing.T) {
	for _, c := range []struct {
		name string
		to   func(float64) uint16
		from func(uint16) float32
		inf  uint16
	}{
		{"Float64ToBFloat16", device.Float64ToBFloat16, device.BFloat16ToFloat32, 0x7f80},
		{"Float64ToFloat16", device.Float64ToFloat16, device.Float16ToFloat32, 0x7c00},
	} {
		ref := newHalfRef(c.from)
		var xs []float64
		for h := range 1 << 16 {
			v, n := float64(c.from(uint16(h))), float64(c.from(uint16(h+1)))
			if math.IsInf(v, 0) || math.IsInf(n, 0) || v != v || n != n {
				continue
			}
			mid := (v + n) / 2
			xs = append(xs, v, mid, math.Nextafter(mid, math.Inf(1)), math.Nextafter(mid, math.Inf(-1)))
		}
		r := rand.New(rand.NewPCG(3, 4))
		for range 1 << 18 {
			xs = append(xs, math.Float64frombits(r.Uint64()), r.NormFloat64()*1e3, math.Ldexp(r.Float64(), -r.IntN(160)))
		}
		xs = append(xs, math.MaxFloat64, -math.MaxFloat64, 1e300, 5e-324, -5e-324, math.Copysign(0, -1), math.Inf(-1))
		for _, v := range []int64{math.MaxInt64, math.MinInt64, 1<<53 + 1, -(1<<60 + 1<<52 + 1), 1<<62 + 1<<54 + 1} {
			xs = append(xs, device.Int64ToFloat64Odd(v))
		}
		bad := 0
		for _, x := range xs {
			got := c.to(x)
			want, ok := ref.convert64(x)
			if !ok {
				continue
			}
			if want&0x7fff == 0x7f80 {
				want = want&0x8000 | c.inf
			}
			if got != want {
				t.Errorf("%s(%v = %#x) = %#x, want %#x", c.name, x, math.Float64bits(x), got, want)
				if bad++; bad > 10 {
					t.Fatal("too many errors")
				}
			}
		}
		if g := c.from(c.to(math.NaN())); g == g {
			t.Errorf("%s(NaN) = %v", c.name, g)
		}
	}
	// Int64ToFloat64Odd is exact up to 2⁵³ and otherwise odd and within
	// one float64 step.
	for _, v := range []int64{0, -1, 1 << 53, -(1 << 53), 1<<53 + 1, 1<<63 - 1, -1 << 63, 1<<60 + 3} {
		f := device.Int64ToFloat64Odd(v)
		if v >= -(1<<53) && v <= 1<<53 {
			if f != float64(v) {
				t.Errorf("Int64ToFloat64Odd(%d) = %v", v, f)
			}
			continue
		}
		m, _ := math.Frexp(math.Abs(f))
		if mant := uint64(math.Ldexp(m, 53)); mant&1 == 0 && float64(v) != f {
			t.Errorf("Int64ToFloat64Odd(%d) = %v: even and inexact", v, f)
		}
	}
}
