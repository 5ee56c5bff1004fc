package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// The conversions of the half kernels against device/half.go, bit for bit:
// every one of the 65,536 half patterns widened, and every half value, the
// points between neighbours (ties, and one float32 ulp either side), the
// float32 edge cases (NaN payloads, infinities, zeros, subnormals, the
// overflow thresholds) and random float32 bits narrowed; on the assembly
// path (where the CPU has it) and the Go loops, at every length mod 8.

func convPaths(t *testing.T, f func(t *testing.T)) {
	t.Run("go", func(t *testing.T) { goPath(func() { f(t) }) })
	if haveSIMD {
		t.Run("asm", func(t *testing.T) { asmPath(func() { f(t) }) })
	}
}

// float32Cases returns float32 bit patterns that exercise the narrowing
// of dt: every half value widened, the midpoints between neighbouring
// half values and the float32s next to them, edge cases and random bits.
func float32Cases(dt device.DType) []uint32 {
	var v []uint32
	for h := range 1 << 16 {
		b := math.Float32bits(device.HalfToFloat32(dt, uint16(h)))
		v = append(v, b)
		if h&0x7fff < 0x7c00 || dt == device.BFloat16 && h&0x7fff < 0x7f80 {
			// The midpoint to the next half value up in magnitude, and
			// its float32 neighbours.
			nb := math.Float32bits(device.HalfToFloat32(dt, uint16(h+1)))
			mid := math.Float32bits(float32((float64(math.Float32frombits(b)) + float64(math.Float32frombits(nb))) / 2))
			v = append(v, mid, mid-1, mid+1)
		}
	}
	v = append(v,
		0x7fc00000, 0xffc00000, 0x7fc12345, 0xffd00001, 0x7f800001, 0xff812345, 0x7fbfffff, 0x7fffffff, 0xffffffff,
		0x7f800000, 0xff800000, 0, 0x80000000, 1, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000,
		0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, // bfloat16's overflow
		0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001, 0x477fffff, 0xc77ff000, // float16's
		0x33000000, 0x33000001, 0x32ffffff, 0x33800000, 0x33c00000, 0x38800000, 0x387fffff, 0x387fe000,
	)
	r := rand.New(rand.NewPCG(1, 2))
	for range 1 << 16 {
		v = append(v, r.Uint32())
	}
	return v
}

func TestHalfConvWiden(t *testing.T) {
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		t.Run(dt.String(), func(t *testing.T) {
			convPaths(t, func(t *testing.T) {
				src := make([]uint16, 1<<16)
				for i := range src {
					src[i] = uint16(i)
				}
				for _, off := range []int{0, 1, 3, 7} { // lengths mod 8 and unaligned starts
					s := src[off:]
					d := make([]float32, len(s))
					widenHalf(dt, d, s)
					for i, h := range s {
						if got, want := math.Float32bits(d[i]), math.Float32bits(device.HalfToFloat32(dt, h)); got != want {
							t.Fatalf("widen %#04x = %#08x, want %#08x", h, got, want)
						}
					}
				}
			})
		})
	}
}

func TestHalfConvNarrow(t *testing.T) {
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		t.Run(dt.String(), func(t *testing.T) {
			cases := float32Cases(dt)
			src := make([]float32, len(cases))
			for i, b := range cases {
				src[i] = math.Float32frombits(b)
			}
			convPaths(t, func(t *testing.T) {
				for _, off := range []int{0, 1, 5} {
					s := src[off:]
					d := make([]uint16, len(s)+3)
					d[len(s)] = 0xabcd
					narrowHalf(dt, d[:len(s)], s)
					if d[len(s)] != 0xabcd {
						t.Fatal("narrowHalf wrote past the end")
					}
					for i, f := range s {
						if want := device.HalfFromFloat32(dt, f); d[i] != want {
							t.Fatalf("narrow %#08x = %#04x, want %#04x", math.Float32bits(f), d[i], want)
						}
					}
				}
			})
		})
	}
}

func TestHalfConvStrided(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		src := make([]uint16, 1000)
		for i := range src {
			src[i] = uint16(r.Uint32())
		}
		for _, st := range []int{0, 1, 2, 7} {
			for _, n := range []int{0, 1, 9, 100} {
				d := make([]float32, n)
				widenStrided(dt, d, src, 5, st)
				for i := range d {
					want := device.HalfToFloat32(dt, src[5+i*st])
					if math.Float32bits(d[i]) != math.Float32bits(want) {
						t.Fatalf("%v stride %d: element %d = %v, want %v", dt, st, i, d[i], want)
					}
				}
			}
		}
	}
}
