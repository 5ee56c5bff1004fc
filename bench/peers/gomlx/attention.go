package main

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's documented style
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
)

// attentionDim is the head width D of the attention cases.
const attentionDim = 32

// attentionLengths are the sequence lengths T of the attention cases, as
// in tapegrad's harness (-quick: 128 only).
func attentionLengths(quick bool) []int {
	if quick {
		return []int{128}
	}
	return []int{128, 512, 2048}
}

// attentionHeads is B·H for length t (tapegrad's B = 32, 4, 1 with 4
// heads).
func attentionHeads(t int) int {
	switch {
	case t <= 128:
		return 128
	case t <= 512:
		return 16
	}
	return 4
}

// attention: causal scaled-dot-product attention on q, k, v [B·H, T, 32],
// forward and backward in one compiled graph: the scores by DotGeneral
// (batch axis 0), graph.MaskedSoftmax with a lower-triangular mask, the
// product with v, and graph.Gradient of Σ y∘g with respect to q, k and v
// (g a fixed output gradient). The check compares sampled rows of y and
// dq with float64 loops.
func attention(r *peerkit.Runner, t int) {
	name := fmt.Sprintf("attention/%d", t)
	if !r.Opt.Want(name) {
		return
	}
	bh, d := attentionHeads(t), attentionDim
	n := bh * t * d
	in, ts := inputSets(1, 4, func(_, j int) *tensors.Tensor {
		return onDevice(peerkit.Fill(n, uint64(60+j)), bh, t, d)
	})
	scale := 1 / math.Sqrt(float64(d))
	fn := func(x []*Node) []*Node {
		q, k, v, g := x[0], x[1], x[2], x[3]
		s := MulScalar(DotGeneral(q, []int{2}, []int{0}, k, []int{2}, []int{0}), scale) // [BH, T, T]
		mask := BroadcastToDims(InsertAxes(LowerTriangular(q.Graph(), t), 0), bh, t, t)
		y := DotGeneral(MaskedSoftmax(s, mask, -1), []int{2}, []int{0}, v, []int{1}, []int{0}) // [BH, T, D]
		grads := Gradient(ReduceAllSum(Mul(y, g)), q, k, v)
		return append([]*Node{y}, grads...)
	}
	runCase(r, caseSpec{
		c: peerkit.Case{Name: name, Size: int64(t), Flops: 6 * int64(bh) * int64(t) * int64(t) * int64(d),
			Note: fmt.Sprintf("causal, q k v [%d, %d, %d] (B·H, T, D), DotGeneral, MaskedSoftmax with LowerTriangular, Gradient of sum(y*g), forward+backward in one graph; flops 6·B·H·T²·D", bh, t, d)},
		inputs:   in,
		variants: []variant{{"DotGeneral+MaskedSoftmax", fn}},
		check: func(c int, outs []*tensors.Tensor) error {
			h := make([][]float32, 4)
			for j := range h {
				h[j] = flat(ts[c][j])
			}
			return checkAttention(h, flat(outs[0]), flat(outs[1]), bh, t, d, scale)
		},
	})
}

// checkAttention compares rows 0, 1, T/2 and T−1 of the first and last
// heads of the output and of dq with float64 loops.
func checkAttention(h [][]float32, out, dq []float32, bh, t, d int, scale float64) error {
	q, k, v, g := h[0], h[1], h[2], h[3]
	for _, hd := range []int{0, bh - 1} {
		for _, i := range []int{0, 1, t / 2, t - 1} {
			base := hd * t * d
			p := make([]float64, i+1)
			m := math.Inf(-1)
			for j := range p {
				for c := 0; c < d; c++ {
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
				for c := 0; c < d; c++ {
					o[c] += p[j] * float64(v[base+j*d+c])
				}
			}
			delta := 0.0
			for c := 0; c < d; c++ {
				delta += float64(g[base+i*d+c]) * o[c]
			}
			want := make([]float64, d)
			for j := range p {
				dp := 0.0
				for c := 0; c < d; c++ {
					dp += float64(g[base+i*d+c]) * float64(v[base+j*d+c])
				}
				for c := 0; c < d; c++ {
					want[c] += scale * p[j] * (dp - delta) * float64(k[base+j*d+c])
				}
			}
			for c := 0; c < d; c++ {
				if e := math.Abs(float64(out[base+i*d+c]) - o[c]); e > 1e-4*(1+math.Abs(o[c])) {
					return fmt.Errorf("head %d row %d: out[%d] = %v, want %v", hd, i, c, out[base+i*d+c], o[c])
				}
				if e := math.Abs(float64(dq[base+i*d+c]) - want[c]); e > 1e-4*(1+math.Abs(want[c])) {
					return fmt.Errorf("head %d row %d: dq[%d] = %v, want %v", hd, i, c, dq[base+i*d+c], want[c])
				}
			}
		}
	}
	return nil
}
