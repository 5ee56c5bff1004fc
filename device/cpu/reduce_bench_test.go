package cpu

import (
	"fmt"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// BenchmarkReduceOuter reduces 16M elements over the first axis, x.Sum(0):
// [16384, 1024] is the bench harness's reduce/sum/outer/16777216 case,
// [4096, 4096] a square one; 64 MiB of float32 (128 MiB of float64), more
// than the caches hold. "asm" runs the assembly kernels, "go" the Go loops;
// the bytes are those read.
func BenchmarkReduceOuter(b *testing.B) {
	for _, c := range []struct {
		op         device.ReduceOp
		dt         device.DType
		rows, cols int
	}{
		{device.Sum, device.Float32, 16384, 1024},
		{device.Sum, device.Float32, 4096, 4096},
		{device.Norm2, device.Float32, 16384, 1024},
		{device.Sum, device.Float64, 16384, 1024},
	} {
		n := c.rows * c.cols
		var x, d *Buffer
		size := 4
		if c.dt == device.Float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(i%1000) / 100
			}
			x, d = Wrap(v), Wrap(make([]float32, c.cols))
		} else {
			v := make([]float64, n)
			for i := range v {
				v[i] = float64(i%1000) / 100
			}
			x, d, size = Wrap(v), Wrap(make([]float64, c.cols)), 8
		}
		l := device.Contiguous([]int{c.rows, c.cols})
		for _, path := range []struct {
			name string
			run  func(func())
		}{{"asm", asmPath}, {"go", goPath}} {
			if path.name == "asm" && !haveSIMD {
				continue
			}
			b.Run(fmt.Sprintf("%v/%v/%dx%d/%s", c.op, c.dt, c.rows, c.cols, path.name), func(b *testing.B) {
				b.SetBytes(int64(n * size))
				path.run(func() {
					for b.Loop() {
						Get().Reduce(c.op, d, x, l, []int{0})
					}
				})
			})
		}
	}
}
