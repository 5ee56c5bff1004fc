package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// oldComposedSDPA is the composed attention nn.ScaledDotProductAttention
// ran before the fused operation: batched MatMul, scale, an additive
// constant causal mask (0 or −Inf), Softmax, MatMul. It keeps the B·H×T×T
// scores and probabilities for the backward pass.
func oldComposedSDPA(q, k, v, mask *T, scale float64) *T {
	s := q.MatMul(k.Transpose(0, 1, 3, 2)).MulScalar(scale)
	if mask != nil {
		s = s.Add(mask)
	}
	return s.Softmax(-1).MatMul(v)
}

// BenchmarkSDPA times causal attention forward and backward, float32,
// D = 32, at the shapes of the benchmark harness's attention cases: the
// fused operation against the composed one, in the same run.
//
//	go test ./tensor -run '^$' -bench SDPA -benchtime 2s
func BenchmarkSDPA(b *testing.B) {
	for _, sh := range []struct{ bb, h, t int }{{32, 4, 128}, {4, 4, 512}, {1, 4, 2048}} {
		const d = 32
		shape := []int{sh.bb, sh.h, sh.t, d}
		q, k, v, g := tensor.RandNormal(0, 1, shape), tensor.RandNormal(0, 1, shape), tensor.RandNormal(0, 1, shape), tensor.RandNormal(0, 1, shape)
		for _, x := range []*T{q, k, v} {
			x.AttachGrad()
		}
		vals := make([]float32, sh.t*sh.t)
		for i := range sh.t {
			for j := i + 1; j < sh.t; j++ {
				vals[i*sh.t+j] = float32(math.Inf(-1))
			}
		}
		mask := tensor.FromSlice(vals, []int{sh.t, sh.t})
		scale := 1 / math.Sqrt(d)
		for _, impl := range []struct {
			name string
			f    func() *T
		}{
			{"fused", func() *T { return tensor.ScaledDotProductAttention(q, k, v, scale, true) }},
			{"composed", func() *T { return oldComposedSDPA(q, k, v, mask, scale) }},
		} {
			b.Run(fmt.Sprintf("%s/BH=%d/T=%d", impl.name, sh.bb*sh.h, sh.t), func(b *testing.B) {
				for b.Loop() {
					var y *T
					autograd.Record(func() { y = impl.f() })
					y.Backward(g)
				}
			})
		}
	}
}
