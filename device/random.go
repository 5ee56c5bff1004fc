package device

import "math"

// RandomSpec documents the random number generator every backend implements,
// so that the same seed gives the same tensors on every device.
//
// The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC 2011). Its key is the 64-bit seed (low word first);
// its 128-bit counter is (low word of c, high word of c, 0, 0) for a 64-bit
// block number c. One block gives four 32-bit words. A call that fills n
// elements starting at counter C uses blocks C, C+1, ... and consumes
// [RandomBlocks](dtype, n) of them:
//
//   - Float32: element i takes block C + i/4. Uniform uses word i%4: u =
//     float32(w>>8)·2⁻²⁴ in [0, 1), value = a + float32((b−a)·u) rounded
//     step by step in float32; a value that rounds up to b is replaced by
//     the largest float32 below b, so that values stay in [a, b). Normal
//     uses the pair of words (2p, 2p+1) with p = (i%4)/2 for a Box–Muller
//     transform computed in float64: u1 = (w₀+1)·2⁻³², u2 = w₁·2⁻³²,
//     r = √(−2 ln u1), and z = r·cos(2πu2) for even i, r·sin(2πu2) for
//     odd i; value = float32(a + b·z).
//   - Float64: element i takes block C + i/2. Uniform uses the 64-bit word
//     pair (2j, 2j+1), j = i%2, high word first: u = (bits>>11)·2⁻⁵³,
//     value = a + (b−a)·u, with b replaced in the same way. Normal uses
//     all four words: u1 from words (0,1) as ((bits>>11)+1)·2⁻⁵³, u2 from
//     words (2,3) as (bits>>11)·2⁻⁵³, and cos for even i, sin for odd i.
//
// Uniform values are bitwise identical across backends. Normal values use
// log, sqrt, sin and cos, whose last-bit rounding may differ between math
// libraries; after rounding to float32 they agree except in rare cases.
const RandomSpec = "philox4x32-10"

const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox returns the four words of block c under key seed.
func Philox(seed, c uint64) [4]uint32 {
	c0, c1, c2, c3 := uint32(c), uint32(c>>32), uint32(0), uint32(0)
	k0, k1 := uint32(seed), uint32(seed>>32)
	for r := 0; r < 10; r++ {
		p0 := uint64(philoxM0) * uint64(c0)
		p1 := uint64(philoxM1) * uint64(c2)
		hi0, lo0 := uint32(p0>>32), uint32(p0)
		hi1, lo1 := uint32(p1>>32), uint32(p1)
		c0, c1, c2, c3 = hi1^c1^k0, lo1, hi0^c3^k1, lo0
		k0 += philoxW0
		k1 += philoxW1
	}
	return [4]uint32{c0, c1, c2, c3}
}

// RandomBlocks returns how many Philox blocks a call filling n elements of
// dtype dt consumes.
func RandomBlocks(dt DType, n int) uint64 {
	if dt == Float64 {
		return uint64((n + 1) / 2)
	}
	return uint64((n + 3) / 4)
}

// RandomFloat32 fills dst with the float32 stream that starts at block
// counter, as [RandomSpec] defines. Element i of dst is element first+i of
// the stream, so a caller may fill a stream in independent chunks.
func RandomFloat32(dst []float32, first int, dist Dist, seed, counter uint64, a, b float64) {
	lo, hi, span := float32(a), float32(b), float32(b)-float32(a)
	var w [4]uint32
	blk := uint64(math.MaxUint64)
	for j := range dst {
		i := first + j
		if c := counter + uint64(i/4); c != blk {
			blk = c
			w = Philox(seed, c)
		}
		if dist == Uniform {
			u := float32(w[i%4]>>8) * (1.0 / (1 << 24))
			v := lo + float32(span*u)
			if v >= hi && hi > lo {
				v = math.Nextafter32(hi, lo) // rounded up to b: stay in [a, b)
			}
			dst[j] = v
			continue
		}
		p := (i % 4) / 2
		u1 := (float64(w[2*p]) + 1) * (1.0 / (1 << 32))
		u2 := float64(w[2*p+1]) * (1.0 / (1 << 32))
		dst[j] = float32(a + float64(b*boxMuller(u1, u2, i%2 == 1)))
	}
}

// RandomFloat64 is [RandomFloat32] for float64 streams.
func RandomFloat64(dst []float64, first int, dist Dist, seed, counter uint64, a, b float64) {
	var w [4]uint32
	blk := uint64(math.MaxUint64)
	for j := range dst {
		i := first + j
		if c := counter + uint64(i/2); c != blk {
			blk = c
			w = Philox(seed, c)
		}
		if dist == Uniform {
			k := 2 * (i % 2)
			bits := uint64(w[k])<<32 | uint64(w[k+1])
			u := float64(bits>>11) * (1.0 / (1 << 53))
			v := a + float64((b-a)*u)
			if v >= b && b > a {
				v = math.Nextafter(b, a) // rounded up to b: stay in [a, b)
			}
			dst[j] = v
			continue
		}
		b0 := uint64(w[0])<<32 | uint64(w[1])
		b1 := uint64(w[2])<<32 | uint64(w[3])
		u1 := (float64(b0>>11) + 1) * (1.0 / (1 << 53))
		u2 := float64(b1>>11) * (1.0 / (1 << 53))
		dst[j] = a + float64(b*boxMuller(u1, u2, i%2 == 1))
	}
}

func boxMuller(u1, u2 float64, odd bool) float64 {
	r := math.Sqrt(-2 * math.Log(u1))
	t := 2 * math.Pi * u2
	if odd {
		return r * math.Sin(t)
	}
	return r * math.Cos(t)
}

// The explicit float64(...) conversions above keep the Go compiler from
// fusing a multiply and an add into one FMA instruction (the Go spec allows
// fusion but not across an explicit conversion), so results match backends
// that round each step.
