package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
)

// BenchmarkHalfAdd times a dense Add of n elements through the half
// kernels, through the scratch path, and in float32 (bytes: 6 an element
// in half, 12 in float32).
func BenchmarkHalfAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1 << 16, 1 << 20, 1 << 24} {
		l := device.Contiguous([]int{n})
		for _, dt := range halfDTypes {
			x, y, d := cpu.WrapHalf(dt, halfData(r, dt, n, false)), cpu.WrapHalf(dt, halfData(r, dt, n, false)), cpu.WrapHalf(dt, make([]uint16, n))
			b.Run(fmt.Sprintf("%v/kernels/%d", dt, n), func(b *testing.B) {
				b.SetBytes(int64(6 * n))
				for b.Loop() {
					kernelPath.Binary(device.Add, d, x, l, y, l)
				}
			})
			if n <= 1<<20 {
				b.Run(fmt.Sprintf("%v/scratch/%d", dt, n), func(b *testing.B) {
					b.SetBytes(int64(6 * n))
					for b.Loop() {
						scratchPath.Binary(device.Add, d, x, l, y, l)
					}
				})
			}
		}
		x, y, d := alloc(b, device.Float32, n), alloc(b, device.Float32, n), alloc(b, device.Float32, n)
		b.Run(fmt.Sprintf("float32/%d", n), func(b *testing.B) {
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				be.Binary(device.Add, d, x, l, y, l)
			}
		})
	}
}

// BenchmarkHalfSum times the sum of n elements through the half kernels.
func BenchmarkHalfSum(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1 << 20, 1 << 24} {
		for _, dt := range halfDTypes {
			x, d := cpu.WrapHalf(dt, halfData(r, dt, n, false)), cpu.WrapHalf(dt, make([]uint16, n/1024))
			for _, rows := range []int{1, n / 1024} {
				l := device.Contiguous([]int{rows, n / rows})
				b.Run(fmt.Sprintf("%v/%dx%d", dt, rows, n/rows), func(b *testing.B) {
					b.SetBytes(int64(2 * n))
					for b.Loop() {
						kernelPath.Reduce(device.Sum, d, x, l, []int{1})
					}
				})
			}
		}
	}
}

// BenchmarkHalfMatMul times the MLP's first-layer product through the half
// GEMM (widening while packing) and through the scratch path.
func BenchmarkHalfMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	m, k, n := 256, 784, 512
	for _, dt := range halfDTypes {
		x, y, d := cpu.WrapHalf(dt, halfData(r, dt, m*k, false)), cpu.WrapHalf(dt, halfData(r, dt, k*n, false)), cpu.WrapHalf(dt, make([]uint16, m*n))
		al, bl, dl := device.MatLayout{RowStride: k, ColStride: 1}, device.MatLayout{RowStride: n, ColStride: 1}, device.MatLayout{RowStride: n, ColStride: 1}
		for _, p := range []struct {
			name string
			be   device.Backend
		}{{"kernels", kernelPath}, {"scratch", scratchPath}} {
			b.Run(fmt.Sprintf("%v/%s", dt, p.name), func(b *testing.B) {
				for b.Loop() {
					p.be.MatMul(d, dl, x, al, y, bl, 1, m, n, k)
				}
			})
		}
	}
}

// BenchmarkHalfCopy converts 4M elements between float32 and each half
// dtype with Copy (AsType, autocast's casts, WithHalf's scratch buffers).
func BenchmarkHalfCopy(b *testing.B) {
	const n = 1 << 22
	be := cpu.Get()
	l := device.Contiguous([]int{n})
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		f, _ := be.Alloc(device.Float32, n)
		h, _ := be.Alloc(dt, n)
		for _, dir := range []string{"narrow", "widen"} {
			b.Run(dt.String()+"/"+dir, func(b *testing.B) {
				b.SetBytes(6 * n)
				for b.Loop() {
					if dir == "narrow" {
						be.Copy(h, l, f, l)
					} else {
						be.Copy(f, l, h, l)
					}
				}
			})
		}
		be.Free(f)
		be.Free(h)
	}
}
