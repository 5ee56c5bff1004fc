package tensor

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// ScaledDotProductAttention returns softmax(scale·q·kᵀ + mask)·v for
// queries q of shape [..., L, D], keys k [..., S, D] and values v
// [..., S, DV]; the leading (batch, head) axes broadcast as MatMul
// broadcasts them, and the result is [..., L, DV]. scale is usually
// 1/√D. With causal, query i attends to the keys j <= i only (the mask is
// −Inf above the main diagonal of the L×S scores, aligned at the top left,
// as PyTorch's is_causal); without it the mask is 0.
//
// Every query sees key 0, so a row has no visible key only when S = 0:
// its result is 0 (the empty sum), as for the composed formula, and its
// gradients are 0 (PyTorch's NaN rows come from masks that hide every
// key of a row, which this causal mask never does). A row with a NaN or
// +Inf score, or whose scores are all −Inf (from infinite or NaN inputs),
// gives NaN, as the composed formula does.
//
// Forward and backward are one fused operation each where D and DV are
// at most [device.AttentionMaxDim]: the L×S scores are never stored
// (blocks of them are recomputed from the saved per-row log-sum-exp in the
// backward pass); larger widths are composed from MatMul, MaskedFill and
// Softmax. It is differentiable in q, k and v to any order: with
// CreateGraph the backward pass is composed of recorded operations.
//
// Operands of different dtypes or devices, integer operands, shapes that
// do not fit or leading axes that do not broadcast panic with a *Error
// (ErrDType, ErrDevice, ErrShape); a non-finite scale with ErrArgument.
func ScaledDotProductAttention(q, k, v *Tensor, scale float64, causal bool) *Tensor {
	const op = "ScaledDotProductAttention"
	if h, ok := Autocasting(); ok {
		q, k, v = castLow(q, h), castLow(k, h), castLow(v, h)
	}
	for _, t := range []*Tensor{q, k, v} {
		t.live(op)
	}
	for _, t := range []*Tensor{k, v} {
		switch {
		case t.st.dev != q.st.dev:
			fail(ErrDevice, op, "q, k and v are on different devices; move them with To", q, k, v)
		case t.st.dt != q.st.dt:
			fail(ErrDType, op, "q, k and v have different dtypes; convert them with AsType", q, k, v)
		}
	}
	q.needFloat(op)
	qs, ks, vs := q.shape, k.shape, v.shape
	if len(qs) < 2 || len(ks) < 2 || len(vs) < 2 || qs[len(qs)-1] != ks[len(ks)-1] || ks[len(ks)-2] != vs[len(vs)-2] {
		fail(ErrShape, op, "want q [..., L, D], k [..., S, D] and v [..., S, DV]", q, k, v)
	}
	if math.IsNaN(scale) || math.IsInf(scale, 0) {
		fail(ErrArgument, op, fmt.Sprintf("scale %v is not finite", scale), q, k, v)
	}
	l, d := qs[len(qs)-2], qs[len(qs)-1]
	s, dv := ks[len(ks)-2], vs[len(vs)-1]
	batch := batchShape(op, q, k, v)
	nb := 1
	for _, n := range batch {
		nb *= n
	}
	if d > device.AttentionMaxDim || dv > device.AttentionMaxDim {
		return composedAttention(q, k, v, scale, causal)
	}
	q = q.BroadcastTo(append(append([]int(nil), batch...), l, d)...)
	k = k.BroadcastTo(append(append([]int(nil), batch...), s, d)...)
	v = v.BroadcastTo(append(append([]int(nil), batch...), s, dv)...)
	g := device.AttentionGeom{Batch: nb, L: l, S: s, D: d, DV: dv, Scale: scale, Causal: causal}
	qd, kd, vd := q.denseCopy(op), k.denseCopy(op), v.denseCopy(op)
	be := q.st.be
	out := empty(op, be, q.st.dt, append(append([]int(nil), batch...), l, dv))
	// The softmax statistics of half tensors stay in float32.
	lse := empty(op, be, q.st.dt.Compute(), []int{nb, l})
	be.Attention(out.st.buf, lse.st.buf, qd.st.buf, kd.st.buf, vd.st.buf, g)
	if recording(q, k, v) {
		record(out, op, func(c *bctx) {
			if c.create {
				dq, dk, dvv := composedAttentionGrad(c.in(0), c.in(1), c.in(2), c.g, scale, causal)
				c.set(0, dq)
				c.set(1, dk)
				c.set(2, dvv)
				return
			}
			gd := c.g.denseCopy(op)
			o := c.use(out)
			qi, ki, vi := c.use(qd), c.use(kd), c.use(vd)
			dq := empty(op, be, q.st.dt, append(append([]int(nil), batch...), l, d))
			dk := empty(op, be, q.st.dt, append(append([]int(nil), batch...), s, d))
			dvt := empty(op, be, q.st.dt, append(append([]int(nil), batch...), s, dv))
			be.AttentionGrad(dq.st.buf, dk.st.buf, dvt.st.buf, gd.st.buf, qi.st.buf, ki.st.buf, vi.st.buf,
				o.st.buf, lse.st.buf, g)
			c.set(0, dq)
			c.set(1, dk)
			c.set(2, dvt)
		}, q, k, v)
	}
	return out
}

// batchShape returns the broadcast of the leading axes (all but the last
// two) of q, k and v.
func batchShape(op string, q, k, v *Tensor) []int {
	rank := max(len(q.shape), len(k.shape), len(v.shape)) - 2
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, t := range []*Tensor{q, k, v} {
		lead := t.shape[:len(t.shape)-2]
		off := rank - len(lead)
		for i, n := range lead {
			switch o := out[off+i]; {
			case o == n || n == 1:
			case o == 1:
				out[off+i] = n
			default:
				fail(ErrShape, op, fmt.Sprintf("the leading axes do not broadcast: lengths %d and %d", o, n), q, k, v)
			}
		}
	}
	return out
}

// lastTwoSwapped returns the permutation of rank axes that swaps the last
// two.
func lastTwoSwapped(rank int) []int {
	perm := make([]int, rank)
	for i := range perm {
		perm[i] = i
	}
	perm[rank-2], perm[rank-1] = rank-1, rank-2
	return perm
}

// attentionProbs returns softmax(scale·q·kᵀ + mask), composed of recorded
// operations.
func attentionProbs(q, k *Tensor, scale float64, causal bool) *Tensor {
	scores := q.MatMul(k.Transpose(lastTwoSwapped(len(k.shape))...)).MulScalar(scale)
	if causal {
		l, s := q.shape[len(q.shape)-2], k.shape[len(k.shape)-2]
		scores = scores.MaskedFill(triMask(q.st.dev, q.st.dt, l, s, 1, false), math.Inf(-1))
	}
	return scores.Softmax(-1)
}

// composedAttention is ScaledDotProductAttention composed of MatMul,
// MaskedFill and Softmax (an L×S matrix per head).
func composedAttention(q, k, v *Tensor, scale float64, causal bool) *Tensor {
	return attentionProbs(q, k, scale, causal).MatMul(v)
}

// composedAttentionGrad returns the gradients of attention with respect to
// q, k and v for the output gradient g, composed of recorded operations
// (the backward pass under CreateGraph):
//
//	P = softmax(scale·q·kᵀ + mask)   dV = Pᵀ·g   dP = g·vᵀ
//	dS = P∘(dP − rowsum(dP∘P))       dQ = scale·dS·k   dK = scale·dSᵀ·q
func composedAttentionGrad(q, k, v, g *Tensor, scale float64, causal bool) (dq, dk, dv *Tensor) {
	r := len(q.shape)
	p := attentionProbs(q, k, scale, causal)
	pt := p.Transpose(lastTwoSwapped(r)...)
	dv = pt.MatMul(g)
	dp := g.MatMul(v.Transpose(lastTwoSwapped(r)...))
	ds := p.Mul(dp.Sub(dp.Mul(p).SumKeepDims(r - 1)))
	dq = ds.MatMul(k).MulScalar(scale)
	dk = ds.Transpose(lastTwoSwapped(r)...).MatMul(q).MulScalar(scale)
	return dq, dk, dv
}
