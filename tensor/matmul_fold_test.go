package tensor_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/tensor"
)

// TestMatMulFoldBits: a batch of products with one matrix b (a Dense layer
// on [B, T, E]) runs as one product of B·T rows; every entry must have the
// bits of the separate products, in both dtypes, and the gradient of b
// (one product over K = B·T) must match the sum of the per-entry
// gradients to rounding.
func TestMatMulFoldBits(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		a := tensor.RandNormal(0, 1, []int{3, 37, 70}, tensor.WithDType(dt))
		b := tensor.RandNormal(0, 1, []int{70, 45}, tensor.WithDType(dt))
		got := a.MatMul(b)
		for i := range 3 {
			want := a.Index(i).MatMul(b)
			g, w := got.Index(i).Float64s(), want.Float64s()
			for j := range w {
				if math.Float64bits(g[j]) != math.Float64bits(w[j]) {
					t.Fatalf("%v entry %d element %d: %v, want %v (the separate product)", dt, i, j, g[j], w[j])
				}
			}
		}
	}
}
