package cpu

import (
	"fmt"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// BenchmarkAdamStep times an AdamW step over the parameters of the
// Fashion-MNIST MLP (235,146) and of examples/charlm's model (839,026),
// float32, with the AVX2 kernel and with the Go loop
// (TAPEGRAD_CPU_SIMD=off for the latter everywhere).
func BenchmarkAdamStep(b *testing.B) {
	for _, n := range []int{235146, 839026} {
		w, m, v, g := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range w {
			w[i], g[i] = float32(i%17)*0.01, float32(i%13)*0.001
		}
		p := device.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 10, WeightDecay: 0.1, Decoupled: true}
		for _, path := range []struct {
			name string
			run  func(func())
		}{{"asm", asmPath}, {"go", goPath}} {
			b.Run(fmt.Sprintf("%d/%s", n, path.name), func(b *testing.B) {
				b.SetBytes(int64(7 * 4 * n)) // w, m, v read and written, g read
				for b.Loop() {
					path.run(func() { adamStep(w, m, v, g, p) })
				}
			})
		}
	}
}
