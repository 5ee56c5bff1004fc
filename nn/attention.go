package nn

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/tensor"
)

// ScaledDotProductAttention returns softmax(q·kᵀ/√D + mask)·v for queries q
// of shape [..., L, D], keys k [..., S, D] and values v [..., S, Dv], the
// leading (batch, head) axes broadcast as MatMul broadcasts them; usually
// all three are [B, H, T, D]. The result is [..., L, Dv]. With causal,
// query i attends to keys 0 … i only: the mask is −Inf above the main
// diagonal of the L×S score matrix (aligned at the top left), as
// torch.nn.functional.scaled_dot_product_attention with is_causal=True;
// without it the mask is 0. It is differentiable in q, k and v, to any
// order.
//
// Operands of different dtypes or devices, or shapes that do not fit,
// panic with a *tensor.Error (ErrDType, ErrDevice, ErrShape) with Op
// "ScaledDotProductAttention". It is [tensor.ScaledDotProductAttention]
// with scale 1/√D: one fused operation forward and backward, which never
// stores the L×S matrix (see there, also for S = 0; D = 0 takes scale 1,
// all its scores being 0).
func ScaledDotProductAttention(q, k, v *tensor.Tensor, causal bool) *tensor.Tensor {
	d := 0
	if s := q.Shape(); len(s) > 0 {
		d = s[len(s)-1]
	}
	return tensor.ScaledDotProductAttention(q, k, v, 1/math.Sqrt(float64(max(d, 1))), causal)
}

// MultiHeadAttention is multi-head self-attention over [B, T, E] inputs,
// the math of PyTorch's MultiheadAttention (batch_first=True, query = key
// = value = x, no dropout):
//
//	[q k v] = x·InProj.W + InProj.B        (one fused [E, 3E] projection)
//	split q, k, v into Heads heads of D = E/Heads: [B, Heads, T, D]
//	o = ScaledDotProductAttention(q, k, v, Causal)
//	y = merge(o)·OutProj.W + OutProj.B    ([B, T, E])
//
// Its parameters are named as PyTorch's: "in_proj_weight" and
// "in_proj_bias" (InProj's W and B), "out_proj.weight" and
// "out_proj.bias"; the weights are [in, out], the transpose of PyTorch's
// (as for [Dense]). The columns of InProj.W are the q, k and v projections
// in that order, as the rows of PyTorch's in_proj_weight. Nil biases are
// left out (bias=False).
//
// An input that is not [B, T, E], or an E that is not divisible by Heads,
// panics with a *tensor.Error of kind ErrShape (Op "MultiHeadAttention").
type MultiHeadAttention struct {
	InProj  *Dense // W [E, 3E], B [3E] or nil
	OutProj *Dense // W [E, E], B [E] or nil
	Heads   int
	Causal  bool
}

// NewMultiHeadAttention returns self-attention for embedding size e with
// the given number of heads (which must divide e), initialised as
// PyTorch's: InProj.W Glorot-uniform, OutProj.W uniform in ±1/√e, biases
// zero (none without bias), gradients attached.
func NewMultiHeadAttention(e, heads int, causal, bias bool, opts ...tensor.Option) *MultiHeadAttention {
	if heads <= 0 || e%heads != 0 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "NewMultiHeadAttention",
			Detail: fmt.Sprintf("%d heads for embedding size %d; the heads must divide it", heads, e)})
	}
	a := 1 / math.Sqrt(float64(e))
	m := &MultiHeadAttention{
		InProj:  &Dense{W: GlorotUniform(e, 3*e, []int{e, 3 * e}, opts...)},
		OutProj: &Dense{W: tensor.RandUniform(-a, a, []int{e, e}, opts...)},
		Heads:   heads, Causal: causal,
	}
	if bias {
		m.InProj.B = tensor.Zeros([]int{3 * e}, opts...)
		m.OutProj.B = tensor.Zeros([]int{e}, opts...)
	}
	for _, p := range m.Params() {
		p.AttachGrad()
	}
	return m
}

// Forward applies self-attention to x, [B, T, E].
func (m *MultiHeadAttention) Forward(x *tensor.Tensor) *tensor.Tensor {
	const op = "MultiHeadAttention"
	if x.Rank() != 3 {
		fail(tensor.ErrShape, op, "want input [B, T, E]", x)
	}
	xs := x.Shape()
	b, t, e := xs[0], xs[1], xs[2]
	if m.Heads <= 0 || e%m.Heads != 0 {
		fail(tensor.ErrShape, op, fmt.Sprintf("embedding size %d is not divisible by %d heads", e, m.Heads), x)
	}
	h := m.Heads
	d := e / h
	// [B, T, 3E] → [B, T, 3, H, D] → [3, B, H, T, D].
	qkv := m.InProj.Forward(x).Reshape(b, t, 3, h, d).Transpose(2, 0, 3, 1, 4)
	o := ScaledDotProductAttention(qkv.Index(0), qkv.Index(1), qkv.Index(2), m.Causal)
	// [B, H, T, D] → [B, T, H, D] → [B, T, E].
	return m.OutProj.Forward(o.Transpose(0, 2, 1, 3).Reshape(b, t, e))
}

// Params returns InProj's and OutProj's parameters.
func (m *MultiHeadAttention) Params() []*tensor.Tensor { return tensorsOf(m.NamedParameters()) }

// NamedParameters returns "in_proj_weight", "in_proj_bias",
// "out_proj.weight" and "out_proj.bias" (the biases unless nil).
func (m *MultiHeadAttention) NamedParameters() []NamedTensor {
	return append(named("in_proj_weight", m.InProj.W, "in_proj_bias", m.InProj.B),
		prefixed("out_proj", m.OutProj.NamedParameters())...)
}
