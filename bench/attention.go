package main

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
)

// The attention cases: causal scaled-dot-product attention, forward and
// backward, float32, head width 32 (examples/charlm's), at sequence
// lengths T with fewer (batch, head) pairs for longer T.

// attentionHeadDim is D of the attention cases; attentionHeads is H.
const attentionHeadDim, attentionHeads = 32, 4

// attentionLengths are the sequence lengths T of the attention cases
// (-quick: the shortest only).
func attentionLengths(quick bool) []int {
	if quick {
		return []int{128}
	}
	return []int{128, 512, 2048}
}

// attentionBatch is B for length t: 32 sequences of 128 (charlm's batch
// and context), 4 of 512, 1 of 2048 (B·H = 128, 16, 4).
func attentionBatch(t int) int {
	switch {
	case t <= 128:
		return 32
	case t <= 512:
		return 4
	}
	return 1
}

// attentionFlops is the useful arithmetic of one forward and backward
// pass: six T×T×D products per head (q·kᵀ and p·v forward; dv, dp, dq
// and dk backward), half of each under the causal mask, 2 flops per
// multiply-add: 6·B·H·T²·D. The recomputation of q·kᵀ in the backward
// pass is not counted.
func attentionFlops(b, t int) int64 {
	return 6 * int64(b*attentionHeads) * int64(t) * int64(t) * attentionHeadDim
}

// attention measures attention/T: nn.ScaledDotProductAttention (the fused
// tensor.ScaledDotProductAttention) on q, k, v [B, 4, T, 32] with
// gradients attached, recorded, then Backward with a fixed output
// gradient. The check compares sampled rows of the output and of q's
// gradient with float64 loops.
func (s *suite) attention(t int) {
	name := fmt.Sprintf("attention/%d", t)
	if !s.want(name) {
		return
	}
	b := attentionBatch(t)
	shape := []int{b, attentionHeads, t, attentionHeadDim}
	c := Case{Name: name, Size: int64(t), Flops: attentionFlops(b, t),
		Note: fmt.Sprintf("causal, q k v [%d, %d, %d, %d], nn.ScaledDotProductAttention (fused forward and backward), forward+backward; flops 6·B·H·T²·D", b, attentionHeads, t, attentionHeadDim)}
	s.run(c, func() prepared {
		in, host := s.inputs(1, shape, shape, shape, shape)
		q, k, v, g := in[0][0], in[0][1], in[0][2], in[0][3]
		for _, x := range []*T{q, k, v} {
			x.AttachGrad()
		}
		step := func() *T {
			var y *T
			autograd.Record(func() { y = nn.ScaledDotProductAttention(q, k, v, true) })
			y.Backward(g)
			return y
		}
		return prepared{
			fn: func(int) { step() },
			check: func(int) (string, error) {
				y := step()
				return "", checkAttention(host[0], y.Float32s(), q.Grad().Float32s(), b*attentionHeads, t)
			},
			cleanup: releaseAll(in),
		}
	})
}

// checkAttention compares rows of the output and of dq (for the first
// and last head, first, middle and last rows) with a float64 reference
// computed from the host values of q, k, v and the output gradient.
func checkAttention(host [][]float32, out, dq []float32, heads, t int) error {
	const d = attentionHeadDim
	scale := 1 / math.Sqrt(d)
	q, k, v, g := host[0], host[1], host[2], host[3]
	for _, h := range []int{0, heads - 1} {
		for _, i := range []int{0, 1, t / 2, t - 1} {
			base := h * t * d
			p := make([]float64, i+1)
			m := math.Inf(-1)
			for j := range p {
				for c := range d {
					p[j] += float64(q[base+i*d+c]) * float64(k[base+j*d+c])
				}
				p[j] *= scale
				m = math.Max(m, p[j])
			}
			sum := 0.0
			for j := range p {
				p[j] = math.Exp(p[j] - m)
				sum += p[j]
			}
			o := make([]float64, d)
			for j := range p {
				p[j] /= sum
				for c := range d {
					o[c] += p[j] * float64(v[base+j*d+c])
				}
			}
			delta := 0.0
			for c := range d {
				delta += float64(g[base+i*d+c]) * o[c]
			}
			want := make([]float64, d)
			for j := range p {
				dp := 0.0
				for c := range d {
					dp += float64(g[base+i*d+c]) * float64(v[base+j*d+c])
				}
				for c := range d {
					want[c] += scale * p[j] * (dp - delta) * float64(k[base+j*d+c])
				}
			}
			for c := range d {
				if e := math.Abs(float64(out[base+i*d+c]) - o[c]); e > 1e-4 {
					return fmt.Errorf("head %d row %d: out[%d] = %v, want %v", h, i, c, out[base+i*d+c], o[c])
				}
				if e := math.Abs(float64(dq[base+i*d+c]) - want[c]); e > 1e-4*(1+math.Abs(want[c])) {
					return fmt.Errorf("head %d row %d: dq[%d] = %v, want %v", h, i, c, dq[base+i*d+c], want[c])
				}
			}
		}
	}
	return nil
}
