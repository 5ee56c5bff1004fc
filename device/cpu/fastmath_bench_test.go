package cpu

import (
	"math"
	"testing"
)

func BenchmarkExpKernel(b *testing.B) {
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = float32(i%200)/10 - 10
	}
	d := make([]float32, len(x))
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			unaryKernel(2+1, d, x, cached) // Exp
		}
	})
	b.Run("math", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			for i, v := range x {
				d[i] = float32(math.Exp(float64(v)))
			}
		}
	})
	b.Run("neg", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			unaryKernel(0, d, x, cached)
		}
	})
	b.Run("relu", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			unaryKernel(10, d, x, cached)
		}
	})
}
