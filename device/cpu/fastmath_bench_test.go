package cpu

import (
	"fmt"
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

// BenchmarkGELU times the float32 GELU and its fused derivative on a 64K
// run in the cache (x normal with σ = 1 and 3), next to the float64
// math.Erfc formula that they replaced (whose cost grows with |x|).
func BenchmarkGELU(b *testing.B) {
	for _, sigma := range []float64{1, 3} {
		x, g := make([]float32, 1<<16), make([]float32, 1<<16)
		for i := range x {
			// A deterministic spread of normal quantiles.
			x[i] = float32(sigma * math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/float64(len(x))-1))
			g[i] = float32(i%7) - 3
		}
		d := make([]float32, len(x))
		run := func(name string, fn func()) {
			b.Run(fmt.Sprintf("%s/sigma=%g", name, sigma), func(b *testing.B) {
				b.SetBytes(int64(8 * len(x)))
				for b.Loop() {
					fn()
				}
			})
		}
		run("GELU", func() { unaryKernel(device.GELU, d, x, cached) })
		run("GELUGrad", func() { binaryVV(device.GELUGrad, d, x, g, cached) })
		run("math.Erfc", func() {
			for i, v := range x {
				w := float64(v)
				d[i] = float32(0.5 * w * math.Erfc(-w/math.Sqrt2))
			}
		})
	}
}
