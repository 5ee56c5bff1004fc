package cpu

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// BenchmarkExpKernel times the float32 transcendental kernels on a 64K run
// in the cache, next to the standard library's exp and two memory-bound
// kernels for scale (TAPEGRAD_CPU_SIMD=off gives the Go loops).
func BenchmarkExpKernel(b *testing.B) {
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = float32(i%200)/10 - 10
	}
	d := make([]float32, len(x))
	bench := func(name string, fn func()) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(8 * len(x)))
			for b.Loop() {
				fn()
			}
		})
	}
	for _, op := range []device.UnaryOp{device.Exp, device.Tanh, device.Sigmoid, device.Neg, device.ReLU} {
		bench(op.String(), func() { unaryKernel(op, d, x, cached) })
	}
	bench("math.Exp", func() {
		for i, v := range x {
			d[i] = float32(math.Exp(float64(v)))
		}
	})
}
