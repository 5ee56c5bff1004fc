package cpu

import (
	"os"
	"unsafe"
)

// useSIMD selects the assembly kernels (kernels_amd64.s, AVX2) for the
// contiguous runs of the elementwise operations (float32 Exp, Tanh and
// Sigmoid too, where the CPU also has FMA), AddScaled, float32/float64
// conversions and the Sum, Mean and Norm2 reductions (along runs and over
// leading axes), where the CPU has them.
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

// splitMin is the length from which sumLanes splits a run in four.
const splitMin = 1 << 14

// sumLanes returns the sum of x, or of the squares of x with sq, in float64.
//
// The order of the additions is fixed. A run shorter than splitMin is added
// into 8 lanes, element i into lane i mod 8, in order (lanes); a longer run
// is split in four parts at multiples of q = (len(x)/4) &^ 7 (the last part
// takes the rest), each part is added into 8 lanes of its own, and the parts'
// lanes are added lane by lane, (p0+p1)+(p2+p3). Then the lanes l0..l7 are
// combined as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) (combineLanes). The
// assembly version reads the parts side by side into four-lane AVX2
// accumulators, in the same order; so the result is the same bits with and
// without it, on every machine, whatever the number of goroutines. Squares
// are rounded before they are added (no fused multiply-add).
func sumLanes[T float](x []T, sq bool) float64 {
	var runs [4][]T
	if len(x) < splitMin {
		runs[0] = x
		var out [4][8]float64
		lanes4(&runs, sq, &out)
		return combineLanes(&out[0])
	}
	q := len(x) / 4 &^ 7
	runs = [4][]T{x[:q], x[q : 2*q], x[2*q : 3*q], x[3*q:]}
	var out [4][8]float64
	lanes4(&runs, sq, &out)
	var l [8]float64
	for j := range l {
		l[j] = (out[0][j] + out[1][j]) + (out[2][j] + out[3][j])
	}
	return combineLanes(&l)
}

// sumLanes4 returns sumLanes(runs[k], sq) for up to four runs shorter than
// splitMin (nil runs give 0), read side by side.
func sumLanes4[T float](runs *[4][]T, sq bool) (s [4]float64) {
	var out [4][8]float64
	lanes4(runs, sq, &out)
	for k := range s {
		s[k] = combineLanes(&out[k])
	}
	return s
}

// combineLanes returns ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
func combineLanes(l *[8]float64) float64 {
	t0, t1, t2, t3 := l[0]+l[4], l[1]+l[5], l[2]+l[6], l[3]+l[7]
	return (t0 + t2) + (t1 + t3)
}

// lanes4 sets out[k] to lanes(runs[k], sq).
func lanes4[T float](runs *[4][]T, sq bool, out *[4][8]float64) {
	if useSIMD && simdLanes4(runs, sq, out) {
		return
	}
	for k := range runs {
		out[k] = lanes(runs[k], sq)
	}
}

// lanes adds element i of x (or its square, with sq) to lane i mod 8, in order.
func lanes[T float](x []T, sq bool) [8]float64 {
	var a0, a1, a2, a3, a4, a5, a6, a7 float64
	i := 0
	if sq {
		for ; i+8 <= len(x); i += 8 {
			b := (*[8]T)(x[i : i+8])
			v0, v1, v2, v3 := float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])
			a0, a1, a2, a3 = a0+float64(v0*v0), a1+float64(v1*v1), a2+float64(v2*v2), a3+float64(v3*v3)
			v0, v1, v2, v3 = float64(b[4]), float64(b[5]), float64(b[6]), float64(b[7])
			a4, a5, a6, a7 = a4+float64(v0*v0), a5+float64(v1*v1), a6+float64(v2*v2), a7+float64(v3*v3)
		}
	} else {
		for ; i+8 <= len(x); i += 8 {
			b := (*[8]T)(x[i : i+8])
			a0, a1, a2, a3 = a0+float64(b[0]), a1+float64(b[1]), a2+float64(b[2]), a3+float64(b[3])
			a4, a5, a6, a7 = a4+float64(b[4]), a5+float64(b[5]), a6+float64(b[6]), a7+float64(b[7])
		}
	}
	acc := [8]float64{a0, a1, a2, a3, a4, a5, a6, a7}
	for j, v := range x[i:] {
		f := float64(v)
		if sq {
			f = float64(f * f)
		}
		acc[j] += f
	}
	return acc
}
