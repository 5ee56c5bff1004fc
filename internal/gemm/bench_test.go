package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShapes: square products and the MLP's (784→512→10, batch 256):
// forward x·W1, the backward products dW1 = xᵀ·dy and dx = dy·W1ᵀ, and the
// output layer h·W2.
var benchShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"256^3", false, false, 256, 256, 256},
	{"512^3", false, false, 512, 512, 512},
	{"1024^3", false, false, 1024, 1024, 1024},
	{"mlp_fwd_256x784x512", false, false, 256, 512, 784},
	{"mlp_dW_T(784x256)x256x512", true, false, 784, 512, 256},
	{"mlp_dx_256x512xT(784x512)", false, true, 256, 784, 512},
	{"mlp_out_256x512x10", false, false, 256, 10, 512},
	// The character transformer's (examples/charlm: 32×128 tokens, width
	// 128, MLP 512): the MLP's up projection forward, its dx and dW.
	{"gpt_up_4096x128x512", false, false, 4096, 512, 128},
	{"gpt_updx_4096x512xT(128x512)", false, true, 4096, 128, 512},
	{"gpt_updW_T(4096x128)x4096x512", true, false, 128, 512, 4096},
}

// Run with -bench . ; each shape reports GFLOP/s for this package (ours),
// the portable path (go) and gonum in the same run.
func BenchmarkSgemm(b *testing.B) { benchGemm[float32](b) }
func BenchmarkDgemm(b *testing.B) { benchGemm[float64](b) }

func benchGemm[T float](b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var impl gonum.Implementation
	tr := func(t bool) blas.Transpose {
		if t {
			return blas.Trans
		}
		return blas.NoTrans
	}
	for _, s := range benchShapes {
		lda, ldb := s.k, s.n
		if s.tA {
			lda = s.m
		}
		if s.tB {
			ldb = s.k
		}
		x, y, z := randSlice[T](r, s.m*s.k), randSlice[T](r, s.k*s.n), make([]T, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		run := func(name string, f func()) {
			b.Run(fmt.Sprintf("%s/%s", s.name, name), func(b *testing.B) {
				f()
				b.ResetTimer()
				for b.Loop() {
					f()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		ours := func() { gemmT(s.tA, s.tB, s.m, s.n, s.k, 1, x, lda, y, ldb, 0, z, s.n) }
		run("ours", ours)
		run("go", func() {
			forcePortable = true
			ours()
			forcePortable = false
		})
		run("gonum", func() {
			switch xx := any(x).(type) {
			case []float32:
				impl.Sgemm(tr(s.tA), tr(s.tB), s.m, s.n, s.k, 1, xx, lda, any(y).([]float32), ldb, 0, any(z).([]float32), s.n)
			case []float64:
				impl.Dgemm(tr(s.tA), tr(s.tB), s.m, s.n, s.k, 1, xx, lda, any(y).([]float64), ldb, 0, any(z).([]float64), s.n)
			}
		})
	}
}
