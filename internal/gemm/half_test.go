package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// SgemmHalf against Sgemm of the widened operands, bit for bit: every
// transposition, padded leading dimensions, shapes with partial panels,
// products split across goroutines (both operands shared), super-blocks.

func widenTest(d []float32, s []uint16) {
	for i := range d {
		d[i] = math.Float32frombits(uint32(s[i]) << 16) // bfloat16
	}
}

func TestSgemmHalf(t *testing.T) {
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		shapes := [][3]int{{1, 1, 1}, {5, 7, 3}, {6, 16, 256}, {13, 33, 300}, {70, 9, 40}, {200, 130, 600}, {64, 300, 70}}
		for _, s := range shapes {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					m, n, k := s[0], s[1], s[2]
					ra, ca := m, k
					if tA {
						ra, ca = k, m
					}
					rb, cb := k, n
					if tB {
						rb, cb = n, k
					}
					lda, ldb, ldc := ca+3, cb+1, n+2
					a16, b16 := make([]uint16, ra*lda), make([]uint16, rb*ldb)
					for i := range a16 {
						a16[i] = uint16(math.Float32bits(float32(r.NormFloat64())) >> 16)
					}
					for i := range b16 {
						b16[i] = uint16(math.Float32bits(float32(r.NormFloat64())) >> 16)
					}
					a32, b32 := make([]float32, len(a16)), make([]float32, len(b16))
					widenTest(a32, a16)
					widenTest(b32, b16)
					want, got := make([]float32, m*ldc), make([]float32, m*ldc)
					for i := range got {
						got[i] = float32(i) // beta 0: overwritten, padding kept
						want[i] = float32(i)
					}
					Sgemm(tA, tB, m, n, k, 1, a32, lda, b32, ldb, 0, want, ldc)
					SgemmHalf(tA, tB, m, n, k, a16, lda, b16, ldb, got, ldc, widenTest)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%v tA=%v tB=%v: element %d = %v, want %v", s, tA, tB, i, got[i], want[i])
						}
					}
				}
			}
		}
	})
}

func TestSgemmHalfSuperBlocks(t *testing.T) {
	old := sharedMax
	sharedMax = 1 << 12
	defer func() { sharedMax = old }()
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range [][3]int{{90, 400, 100}, {400, 90, 100}} {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			m, n, k := s[0], s[1], s[2]
			a16, b16 := make([]uint16, m*k), make([]uint16, k*n)
			for i := range a16 {
				a16[i] = uint16(r.Uint32()&0x3fff | 0x3000)
			}
			for i := range b16 {
				b16[i] = uint16(r.Uint32()&0x3fff | 0x3000)
			}
			a32, b32 := make([]float32, len(a16)), make([]float32, len(b16))
			widenTest(a32, a16)
			widenTest(b32, b16)
			want, got := make([]float32, m*n), make([]float32, m*n)
			Sgemm(false, false, m, n, k, 1, a32, k, b32, n, 0, want, n)
			SgemmHalf(false, false, m, n, k, a16, k, b16, n, got, n, widenTest)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("element %d = %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}
