package cpu

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/device"
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
			unaryKernel(device.Exp, d, x, cached)
		}
	})
	b.Run("tanh", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			unaryKernel(device.Tanh, d, x, cached)
		}
	})
	b.Run("sigmoid", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			unaryKernel(device.Sigmoid, d, x, cached)
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
			unaryKernel(device.Neg, d, x, cached)
		}
	})
	b.Run("relu", func(b *testing.B) {
		b.SetBytes(int64(8 * len(x)))
		for b.Loop() {
			unaryKernel(device.ReLU, d, x, cached)
		}
	})
}
