package device_test

import (
	"math"
	"math/bits"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// philoxRef is a straightforward Philox4x32-10 with a full 128-bit counter,
// written from the paper (Salmon et al., SC 2011) independently of
// device.Philox: ten rounds of two 32×32→64 multiplications, the key bumped
// by the Weyl constants between rounds.
func philoxRef(ctr [4]uint32, key [2]uint32) [4]uint32 {
	const (
		m0, m1 = 0xD2511F53, 0xCD9E8D57
		w0, w1 = 0x9E3779B9, 0xBB67AE85
	)
	x := ctr
	k := key
	for round := 0; round < 10; round++ {
		if round > 0 {
			k[0] += w0
			k[1] += w1
		}
		hi0, lo0 := bits.Mul32(m0, x[0])
		hi1, lo1 := bits.Mul32(m1, x[2])
		x = [4]uint32{hi1 ^ x[1] ^ k[0], lo1, hi0 ^ x[3] ^ k[1], lo0}
	}
	return x
}

// The known-answer vectors of the Random123 distribution (kat_vectors):
// counter, key, result.
var philoxKAT = []struct {
	ctr  [4]uint32
	key  [2]uint32
	want [4]uint32
}{
	{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
	{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
	{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
}

func TestPhiloxKnownAnswers(t *testing.T) {
	// The reference reproduces the published vectors...
	for _, v := range philoxKAT {
		if got := philoxRef(v.ctr, v.key); got != v.want {
			t.Fatalf("reference Philox(%08x, %08x) = %08x, want %08x", v.ctr, v.key, got, v.want)
		}
	}
	// ...and device.Philox, whose counter is (low c, high c, 0, 0), gives
	// the first vector directly.
	if got := device.Philox(0, 0); got != philoxKAT[0].want {
		t.Fatalf("device.Philox(0, 0) = %08x, want %08x", got, philoxKAT[0].want)
	}
	// For every other key and counter it agrees with the reference on
	// counters of that layout.
	seeds := []uint64{0, 1, 0xffffffff, 0xffffffff_ffffffff, 0xa4093822_299f31d0, 0x5eed_7a9e_67ad, 1 << 32}
	ctrs := []uint64{0, 1, 2, 0xffffffff, 1 << 32, 0xffffffff_ffffffff, 0x85a308d3_243f6a88, 12345678901234}
	for _, s := range seeds {
		for _, c := range ctrs {
			want := philoxRef([4]uint32{uint32(c), uint32(c >> 32), 0, 0}, [2]uint32{uint32(s), uint32(s >> 32)})
			if got := device.Philox(s, c); got != want {
				t.Errorf("device.Philox(%#x, %#x) = %08x, want %08x", s, c, got, want)
			}
		}
	}
}

func TestRandomBlocks(t *testing.T) {
	cases := []struct {
		dt   device.DType
		n    int
		want uint64
	}{
		{device.Float32, 0, 0}, {device.Float32, 1, 1}, {device.Float32, 4, 1}, {device.Float32, 5, 2}, {device.Float32, 1001, 251},
		{device.Float64, 0, 0}, {device.Float64, 1, 1}, {device.Float64, 2, 1}, {device.Float64, 3, 2}, {device.Float64, 1001, 501},
	}
	for _, c := range cases {
		if got := device.RandomBlocks(c.dt, c.n); got != c.want {
			t.Errorf("RandomBlocks(%v, %d) = %d, want %d", c.dt, c.n, got, c.want)
		}
	}
}

// TestRandomSpec recomputes a few elements from the words of their Philox
// block, as RandomSpec describes.
func TestRandomSpec(t *testing.T) {
	const seed, ctr = 77, 5
	f32 := make([]float32, 9)
	device.RandomFloat32(f32, 0, device.Uniform, seed, ctr, -2, 3)
	for i, got := range f32 {
		w := device.Philox(seed, ctr+uint64(i/4))[i%4]
		u := float32(w>>8) * (1.0 / (1 << 24))
		if want := float32(-2) + float32(float32(5)*u); got != want {
			t.Errorf("float32 uniform element %d = %v, want %v", i, got, want)
		}
	}
	f64 := make([]float64, 5)
	device.RandomFloat64(f64, 0, device.Uniform, seed, ctr, 1, 2)
	for i, got := range f64 {
		w := device.Philox(seed, ctr+uint64(i/2))
		b := uint64(w[2*(i%2)])<<32 | uint64(w[2*(i%2)+1])
		if want := 1 + float64(b>>11)/(1<<53); got != want {
			t.Errorf("float64 uniform element %d = %v, want %v", i, got, want)
		}
	}
	n32 := make([]float32, 4)
	device.RandomFloat32(n32, 0, device.Normal, seed, ctr, 0, 1)
	w := device.Philox(seed, ctr)
	for i, got := range n32 {
		p := i / 2
		u1 := (float64(w[2*p]) + 1) / (1 << 32)
		u2 := float64(w[2*p+1]) / (1 << 32)
		z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
		if i%2 == 1 {
			z = math.Sqrt(-2*math.Log(u1)) * math.Sin(2*math.Pi*u2)
		}
		if want := float32(z); got != want {
			t.Errorf("float32 normal element %d = %v, want %v", i, got, want)
		}
	}
}

// TestRandomChunked checks that a stream filled in chunks starting at
// arbitrary elements equals the stream filled in one call.
func TestRandomChunked(t *testing.T) {
	const n = 1037
	for _, dist := range []device.Dist{device.Uniform, device.Normal} {
		whole32 := make([]float32, n)
		device.RandomFloat32(whole32, 0, dist, 99, 1000, 0.5, 2)
		whole64 := make([]float64, n)
		device.RandomFloat64(whole64, 0, dist, 99, 1000, 0.5, 2)
		for _, cuts := range [][]int{{1}, {3, 4, 5}, {7, 64, 65, 500, 1001}, {2, 4, 6, 8}} {
			c32 := make([]float32, n)
			c64 := make([]float64, n)
			lo := 0
			for _, hi := range append(cuts, n) {
				device.RandomFloat32(c32[lo:hi], lo, dist, 99, 1000, 0.5, 2)
				device.RandomFloat64(c64[lo:hi], lo, dist, 99, 1000, 0.5, 2)
				lo = hi
			}
			for i := range whole32 {
				if math.Float32bits(c32[i]) != math.Float32bits(whole32[i]) {
					t.Fatalf("dist %d cuts %v: float32 element %d = %v, whole stream %v", dist, cuts, i, c32[i], whole32[i])
				}
				if math.Float64bits(c64[i]) != math.Float64bits(whole64[i]) {
					t.Fatalf("dist %d cuts %v: float64 element %d = %v, whole stream %v", dist, cuts, i, c64[i], whole64[i])
				}
			}
		}
	}
	// A stream started at counter c+k equals the whole stream from element
	// 4k (float32) or 2k (float64) on.
	shift32 := make([]float32, n-40)
	device.RandomFloat32(shift32, 0, device.Uniform, 99, 1010, 0.5, 2)
	whole := make([]float32, n)
	device.RandomFloat32(whole, 0, device.Uniform, 99, 1000, 0.5, 2)
	for i := range shift32 {
		if shift32[i] != whole[i+40] {
			t.Fatalf("counter offset: element %d = %v, want %v", i, shift32[i], whole[i+40])
		}
	}
}

// TestRandomUniformUpperBound: a word whose top 24 bits are all ones gives
// u = 1 − 2⁻²⁴, and a + float32((b−a)·u) rounds up to b for some ranges
// (b = 2 for [1, 2)). Values must stay below b (regression).
func TestRandomUniformUpperBound(t *testing.T) {
	const seed, ctr = 1, 6318945 // word 1 of this block is 0xffffff3d
	if w := device.Philox(seed, ctr)[1]; w>>8 != 0xffffff {
		t.Fatalf("Philox(%d, %d)[1] = %08x; the test needs a word with its top 24 bits set", seed, ctr, w)
	}
	for _, r := range [][2]float64{{1, 2}, {10, 20}, {0, 1}, {-3, 2}, {-1, 0}} {
		dst := make([]float32, 4)
		device.RandomFloat32(dst, 0, device.Uniform, seed, ctr, r[0], r[1])
		if dst[1] >= float32(r[1]) || dst[1] < float32(r[1])-float32(r[1]-r[0])*1e-6 {
			t.Errorf("RandomFloat32 uniform in [%v, %v) gave %v from the largest word", r[0], r[1], dst[1])
		}
	}
}

func TestRandomDistributions(t *testing.T) {
	const n = 100000
	u := make([]float64, n)
	device.RandomFloat64(u, 0, device.Uniform, 3, 0, -2, 5)
	u32 := make([]float32, n)
	device.RandomFloat32(u32, 0, device.Uniform, 3, 0, -2, 5)
	for i := range u {
		if u[i] < -2 || u[i] >= 5 || u32[i] < -2 || u32[i] >= 5 {
			t.Fatalf("uniform element %d = %v / %v outside [-2, 5)", i, u[i], u32[i])
		}
	}
	checkMoments(t, "uniform64", u, 1.5, 7/math.Sqrt(12))
	nv := make([]float64, n)
	device.RandomFloat64(nv, 0, device.Normal, 4, 0, 3, 2)
	checkMoments(t, "normal64", nv, 3, 2)
	n32 := make([]float32, n)
	device.RandomFloat32(n32, 0, device.Normal, 4, 0, -1, 0.5)
	f := make([]float64, n)
	for i, v := range n32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("normal32 element %d = %v", i, v)
		}
		f[i] = float64(v)
	}
	checkMoments(t, "normal32", f, -1, 0.5)
}

func checkMoments(t *testing.T, name string, x []float64, mean, std float64) {
	t.Helper()
	s := 0.0
	for _, v := range x {
		s += v
	}
	m := s / float64(len(x))
	ss := 0.0
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	sd := math.Sqrt(ss / float64(len(x)))
	// Five standard errors of the mean; 2% on the standard deviation.
	if math.Abs(m-mean) > 5*std/math.Sqrt(float64(len(x))) {
		t.Errorf("%s: mean %v, want %v", name, m, mean)
	}
	if math.Abs(sd-std) > 0.02*std {
		t.Errorf("%s: std %v, want %v", name, sd, std)
	}
}
