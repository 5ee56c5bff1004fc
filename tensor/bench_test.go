package tensor_test

import (
	"fmt"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// Sizes of the benchmarks, in float32 elements.
var benchSizes = []int{1 << 10, 1 << 20, 1 << 24}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}

// BenchmarkCopy is the roofline: Go's built-in copy of the same bytes that
// a unary op reads and writes.
func BenchmarkCopy(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			src, dst := make([]float32, n), make([]float32, n)
			b.SetBytes(int64(8 * n))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

func BenchmarkUnary(b *testing.B) {
	ops := map[string]func(*tensor.Tensor) *tensor.Tensor{
		"Neg": (*tensor.Tensor).Neg, "Exp": (*tensor.Tensor).Exp, "ReLU": (*tensor.Tensor).ReLU, "Tanh": (*tensor.Tensor).Tanh,
	}
	for _, name := range []string{"Neg", "ReLU", "Exp", "Tanh"} {
		for _, n := range benchSizes {
			b.Run(name+"/"+sizeName(n), func(b *testing.B) {
				x := tensor.RandUniform(-1, 1, []int{n})
				b.SetBytes(int64(8 * n))
				for b.Loop() {
					ops[name](x).Release()
				}
			})
		}
	}
}

func BenchmarkScalar(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("MulScalar/"+sizeName(n), func(b *testing.B) {
			x := tensor.RandUniform(-1, 1, []int{n})
			b.SetBytes(int64(8 * n))
			for b.Loop() {
				x.MulScalar(2).Release()
			}
		})
	}
}

func BenchmarkBinary(b *testing.B) {
	for _, n := range benchSizes {
		b.Run("Add/"+sizeName(n), func(b *testing.B) {
			x, y := tensor.RandUniform(-1, 1, []int{n}), tensor.RandUniform(-1, 1, []int{n})
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				x.Add(y).Release()
			}
		})
		b.Run("Mul/"+sizeName(n), func(b *testing.B) {
			x, y := tensor.RandUniform(-1, 1, []int{n}), tensor.RandUniform(-1, 1, []int{n})
			b.SetBytes(int64(12 * n))
			for b.Loop() {
				x.Mul(y).Release()
			}
		})
	}
}

func BenchmarkBroadcast(b *testing.B) {
	for _, n := range benchSizes {
		r := n / 1024
		b.Run("Row/"+sizeName(n), func(b *testing.B) {
			x, y := tensor.RandUniform(-1, 1, []int{r, 1024}), tensor.RandUniform(-1, 1, []int{1024})
			b.SetBytes(int64(8 * n))
			for b.Loop() {
				x.Add(y).Release()
			}
		})
		b.Run("Col/"+sizeName(n), func(b *testing.B) {
			x, y := tensor.RandUniform(-1, 1, []int{r, 1024}), tensor.RandUniform(-1, 1, []int{r, 1})
			b.SetBytes(int64(8 * n))
			for b.Loop() {
				x.Add(y).Release()
			}
		})
	}
}

func BenchmarkReduce(b *testing.B) {
	for _, n := range benchSizes {
		r := n / 1024
		x := tensor.RandUniform(-1, 1, []int{r, 1024})
		for _, c := range []struct {
			name string
			f    func() *tensor.Tensor
		}{
			{"SumAll", func() *tensor.Tensor { return x.Sum() }},
			{"SumInner", func() *tensor.Tensor { return x.Sum(1) }},
			{"SumOuter", func() *tensor.Tensor { return x.Sum(0) }},
			{"MaxAll", func() *tensor.Tensor { return x.Max() }},
			{"Norm", func() *tensor.Tensor { return x.Norm() }},
		} {
			b.Run(c.name+"/"+sizeName(n), func(b *testing.B) {
				b.SetBytes(int64(4 * n))
				for b.Loop() {
					c.f()
				}
			})
		}
	}
}

func BenchmarkMatMul(b *testing.B) {
	for _, s := range [][3]int{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {256, 784, 512}, {256, 512, 10}} {
		m, k, n := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			x, y := tensor.RandUniform(-1, 1, []int{m, k}), tensor.RandUniform(-1, 1, []int{k, n})
			b.ReportMetric(0, "ns/op")
			for b.Loop() {
				x.MatMul(y).Release()
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkSeed is the walk-through's workload y = sum(2·x·x), recorded,
// then differentiated, at float32.
func BenchmarkSeed(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			x := tensor.RandUniform(-1, 1, []int{n})
			x.AttachGrad()
			for b.Loop() {
				var y *tensor.Tensor
				autograd.Record(func() { y = x.MulScalar(2).Mul(x).Sum() })
				y.Backward()
			}
		})
	}
}

// BenchmarkOverhead measures the host cost of recording and differentiating
// small operations: a chain of 100 elementwise ops on 16 elements.
func BenchmarkOverhead(b *testing.B) {
	x := tensor.RandUniform(-1, 1, []int{16})
	x.AttachGrad()
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			autograd.Record(func() {
				y := x
				for i := 0; i < 100; i++ {
					y = y.MulScalar(1.0001)
				}
			})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/recorded-op")
	})
	b.Run("forward+backward", func(b *testing.B) {
		for b.Loop() {
			var y *tensor.Tensor
			autograd.Record(func() {
				y = x
				for i := 0; i < 100; i++ {
					y = y.MulScalar(1.0001)
				}
				y = y.Sum()
			})
			y.Backward()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/op-fwd+bwd")
	})
	b.Run("unrecorded", func(b *testing.B) {
		for b.Loop() {
			y := x
			for i := 0; i < 100; i++ {
				y = y.MulScalar(1.0001)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/op")
	})
}
