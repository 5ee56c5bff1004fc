package tensor_test

import (
	"testing"

	"github.com/tapegrad/tapegrad/tensor"
)

// BenchmarkHalf compares operations on bfloat16 and float16 tensors with
// the same operations in float32 on the CPU, where the half types are
// storage formats converted to float32 around each operation:
//
//	go test ./tensor -run '^$' -bench Half -benchtime 20x
func BenchmarkHalf(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16, tensor.Float16} {
		const n = 1 << 20
		x := tensor.RandNormal(0, 1, []int{1024, 1024}, tensor.WithDType(dt))
		y := tensor.RandNormal(0, 1, []int{1024, 1024}, tensor.WithDType(dt))
		a := tensor.RandNormal(0, 1, []int{256, 256}, tensor.WithDType(dt))
		x32 := x.AsType(tensor.Float32)
		cases := []struct {
			name string
			f    func()
		}{
			{"Add/1M", func() { x.Add(y).Release() }},
			{"Exp/1M", func() { x.Exp().Release() }},
			{"Sum/1M", func() { x.Sum().Release() }},
			{"Softmax/1024x1024", func() { x.Softmax(1).Release() }},
			{"MatMul/256", func() { a.MatMul(a).Release() }},
		}
		if dt != tensor.Float32 {
			cases = append(cases, struct {
				name string
				f    func()
			}{"FromFloat32/1M", func() { x32.AsType(dt).Release() }})
		}
		for _, c := range cases {
			b.Run(dt.String()+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(n * dt.Size()))
				for b.Loop() {
					c.f()
				}
			})
		}
	}
}
