package cpu

import (
	"os"
	"unsafe"
)

// useSIMD selects the assembly kernels (kernels_amd64.s, AVX2) for the
// contiguous runs of the elementwise operations, AddScaled, float32/float64
// conversions and the Sum, Mean and Norm2 reductions, where the CPU has them.
// They give the same bits as the Go loops. Setting the environment variable
// TAPEGRAD_CPU_SIMD=off before the program starts keeps the Go loops (to
// compare the two; tests switch the variable directly).
var useSIMD = haveSIMD && os.Getenv("TAPEGRAD_CPU_SIMD") != "off"

// SIMD reports whether the CPU backend uses its assembly kernels.
func SIMD() bool { return useSIMD }

// ntBytes is the size of a destination from which the assembly kernels write
// with non-temporal stores, which skip reading the destination's cache lines
// first but leave the result in memory rather than in the caches: 1 MiB,
// twice the L2 cache of a Zen 3 core, as Go's memmove does for copies.
const ntBytes = 1 << 20

// stores says how an assembly kernel writes its destination.
type stores uint8

const (
	cached     stores = iota // ordinary stores
	ntFenced                 // non-temporal stores, then an SFENCE
	ntUnfenced               // non-temporal stores; the caller runs ntFence after its last call
)

// storesFor returns how an operation writing n elements of T writes them.
func storesFor[T float](n int) stores {
	if n*int(unsafe.Sizeof(T(0))) >= ntBytes {
		return ntFenced
	}
	return cached
}

// deferFence returns the stores for the many kernel calls of a walk over
// row segments (an SFENCE after every row costs 20% at 4 KiB rows) and the
// function to call after the last of them.
func deferFence(st stores) (stores, func()) {
	if st == ntFenced && useSIMD {
		return ntUnfenced, ntFence
	}
	return st, func() {}
}

// splitMin is the length from which sumLanes splits a run in two halves.
const splitMin = 1 << 14

// sumLanes returns the sum of x, or of the squares of x with sq, in float64.
//
// The order of the additions is fixed: a run of splitMin elements or more
// is split at h = (len(x)/2) &^ 15; element i of each half is added to lane
// i mod 16 of that half's 16 accumulators, in order (lanes); the second
// half's lanes are added to the first's (a shorter run is one second half);
// and the 16 lanes are combined by combineLanes. The assembly version reads
// the two halves side by side into four-lane AVX2 accumulators, in the same
// order, so the result is the same bits with and without it, on every
// machine. Squares are rounded before they are added (no fused multiply-add).
func sumLanes[T float](x []T, sq bool) float64 {
	h := 0
	if len(x) >= splitMin {
		h = len(x) / 2 &^ 15
	}
	la, lb := lanesPair(x[:h], x[h:], sq)
	for j := range la {
		la[j] += lb[j]
	}
	return combineLanes(&la)
}

// sumLanes2 returns sumLanes(a, sq) and sumLanes(b, sq) for runs shorter
// than splitMin, read side by side.
func sumLanes2[T float](a, b []T, sq bool) (float64, float64) {
	var z [16]float64 // the lanes of the empty first halves
	la, lb := lanesPair(a, b, sq)
	for j := range la {
		la[j] = z[j] + la[j]
		lb[j] = z[j] + lb[j]
	}
	return combineLanes(&la), combineLanes(&lb)
}

// combineLanes returns ((l0+l4)+(l8+l12) + (l2+l6)+(l10+l14)) +
// ((l1+l5)+(l9+l13) + (l3+l7)+(l11+l15)).
func combineLanes(l *[16]float64) float64 {
	var s [4]float64
	for j := range s {
		s[j] = (l[j] + l[4+j]) + (l[8+j] + l[12+j])
	}
	return (s[0] + s[2]) + (s[1] + s[3])
}

// lanesPair returns lanes(a, sq) and lanes(b, sq).
func lanesPair[T float](a, b []T, sq bool) (la, lb [16]float64) {
	if useSIMD && simdLanes(a, b, sq, &la, &lb) {
		return la, lb
	}
	return lanes(a, sq), lanes(b, sq)
}

// lanes adds element i of x (or its square, with sq) to lane i mod 16, in order.
func lanes[T float](x []T, sq bool) [16]float64 {
	var a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15 float64
	i := 0
	if sq {
		for ; i+16 <= len(x); i += 16 {
			b := (*[16]T)(x[i : i+16])
			v0, v1, v2, v3 := float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])
			a0, a1, a2, a3 = a0+float64(v0*v0), a1+float64(v1*v1), a2+float64(v2*v2), a3+float64(v3*v3)
			v0, v1, v2, v3 = float64(b[4]), float64(b[5]), float64(b[6]), float64(b[7])
			a4, a5, a6, a7 = a4+float64(v0*v0), a5+float64(v1*v1), a6+float64(v2*v2), a7+float64(v3*v3)
			v0, v1, v2, v3 = float64(b[8]), float64(b[9]), float64(b[10]), float64(b[11])
			a8, a9, a10, a11 = a8+float64(v0*v0), a9+float64(v1*v1), a10+float64(v2*v2), a11+float64(v3*v3)
			v0, v1, v2, v3 = float64(b[12]), float64(b[13]), float64(b[14]), float64(b[15])
			a12, a13, a14, a15 = a12+float64(v0*v0), a13+float64(v1*v1), a14+float64(v2*v2), a15+float64(v3*v3)
		}
	} else {
		for ; i+16 <= len(x); i += 16 {
			b := (*[16]T)(x[i : i+16])
			a0, a1, a2, a3 = a0+float64(b[0]), a1+float64(b[1]), a2+float64(b[2]), a3+float64(b[3])
			a4, a5, a6, a7 = a4+float64(b[4]), a5+float64(b[5]), a6+float64(b[6]), a7+float64(b[7])
			a8, a9, a10, a11 = a8+float64(b[8]), a9+float64(b[9]), a10+float64(b[10]), a11+float64(b[11])
			a12, a13, a14, a15 = a12+float64(b[12]), a13+float64(b[13]), a14+float64(b[14]), a15+float64(b[15])
		}
	}
	acc := [16]float64{a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15}
	for j, v := range x[i:] {
		f := float64(v)
		if sq {
			f = float64(f * f)
		}
		acc[j] += f
	}
	return acc
}
