package cpu

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// BenchmarkReduceOuter reduces a [4096, 4096] tensor over its first axis
// (x.Sum(0), the bench harness's reduce/sum/outer/16777216 case), 64 MiB of
// float32 that do not fit in the caches, with the assembly kernels ("asm")
// and the Go loops ("go"); the bytes are those read.
func BenchmarkReduceOuter(b *testing.B) {
	const rows, cols = 4096, 4096
	l := device.Contiguous([]int{rows, cols})
	for _, c := range []struct {
		name string
		op   device.ReduceOp
		dt   device.DType
	}{
		{"sum/float32", device.Sum, device.Float32},
		{"norm2/float32", device.Norm2, device.Float32},
		{"sum/float64", device.Sum, device.Float64},
	} {
		var x, d *Buffer
		var size int
		if c.dt == device.Float32 {
			v := make([]float32, rows*cols)
			for i := range v {
				v[i] = float32(i%1000) / 100
			}
			x, d, size = Wrap(v), Wrap(make([]float32, cols)), int(unsafe.Sizeof(v[0]))
		} else {
			v := make([]float64, rows*cols)
			for i := range v {
				v[i] = float64(i%1000) / 100
			}
			x, d, size = Wrap(v), Wrap(make([]float64, cols)), int(unsafe.Sizeof(v[0]))
		}
		for _, path := range []struct {
			name string
			run  func(func())
		}{{"asm", asmPath}, {"go", goPath}} {
			if path.name == "asm" && !haveSIMD {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", c.name, path.name), func(b *testing.B) {
				b.SetBytes(int64(rows * cols * size))
				path.run(func() {
					for b.Loop() {
						Get().Reduce(c.op, d, x, l, []int{0})
					}
				})
			})
		}
	}
}
