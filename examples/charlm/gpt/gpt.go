// Package gpt is the model of examples/charlm, importable so that the
// benchmark harness times the same model (its charlm/step case): a
// GPT-style character language model of token and learned position
// embeddings, pre-LayerNorm blocks of causal multi-head attention and a
// GELU MLP, a final LayerNorm and a linear head.
package gpt

import (
	"fmt"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// Shape is the architecture of a model: vocabulary size, blocks, attention
// heads, embedding width E and context length T.
type Shape struct {
	Vocab, Layers, Heads, Width, Context int
}

// Block is one pre-LayerNorm transformer block:
//
//	x = x + Attn(LN1(x))
//	x = x + MLP(LN2(x)),  MLP = Dense(E, 4E) → GELU → Dense(4E, E)
type Block struct {
	LN1  *nn.LayerNorm
	Attn *nn.MultiHeadAttention
	LN2  *nn.LayerNorm
	MLP  nn.Sequential
}

// Forward applies the block to x, [B, T, E].
func (b *Block) Forward(x *tensor.Tensor) *tensor.Tensor {
	x = x.Add(b.Attn.Forward(b.LN1.Forward(x)))
	return x.Add(b.MLP.Forward(b.LN2.Forward(x)))
}

// Children returns the block's layers under PyTorch's names.
func (b *Block) Children() []nn.Child {
	return []nn.Child{{Name: "ln1", Layer: b.LN1}, {Name: "attn", Layer: b.Attn}, {Name: "ln2", Layer: b.LN2}, {Name: "mlp", Layer: b.MLP}}
}

// Params returns the block's parameters in Children's order.
func (b *Block) Params() []*tensor.Tensor { return paramsOf(b) }

// Model is the character model: token and learned position embeddings, the
// blocks, a final LayerNorm and a linear head (not tied to the token
// embedding). Its parameter names are those of the PyTorch model in
// reference.py ("tok_emb.weight", "blocks.0.attn.in_proj_weight", ...).
type Model struct {
	Shape  Shape
	TokEmb *nn.Embedding // [V, E]
	PosEmb *nn.Embedding // [T, E]
	Blocks []*Block
	LNF    *nn.LayerNorm
	Head   *nn.Dense // [E, V]
}

// New returns a model initialised GPT-2 style from the default
// generator (tensor.Seed): every weight matrix (embeddings, attention
// projections, MLP and head weights) drawn from N(0, 0.02), biases zero,
// LayerNorm weights one and biases zero.
func New(s Shape, d device.Device) *Model {
	on := tensor.On(d)
	normal := func(shape ...int) *tensor.Tensor {
		t := tensor.RandNormal(0, 0.02, shape, on)
		t.AttachGrad()
		return t
	}
	dense := func(in, out int) *nn.Dense {
		l := &nn.Dense{W: normal(in, out), B: tensor.Zeros([]int{out}, on)}
		l.B.AttachGrad()
		return l
	}
	e := s.Width
	m := &Model{Shape: s, TokEmb: &nn.Embedding{W: normal(s.Vocab, e)}, PosEmb: &nn.Embedding{W: normal(s.Context, e)}}
	for range s.Layers {
		attn := &nn.MultiHeadAttention{InProj: dense(e, 3*e), OutProj: dense(e, e), Heads: s.Heads, Causal: true}
		m.Blocks = append(m.Blocks, &Block{
			LN1: nn.NewLayerNorm([]int{e}, on), Attn: attn, LN2: nn.NewLayerNorm([]int{e}, on),
			MLP: nn.Sequential{dense(e, 4*e), nn.GELU{}, dense(4*e, e)},
		})
	}
	m.LNF = nn.NewLayerNorm([]int{e}, on)
	m.Head = dense(e, s.Vocab)
	return m
}

// Forward maps token ids [B, T'] (Int32 or Int64, T' ≤ Context) to logits
// [B, T', V].
func (m *Model) Forward(ids *tensor.Tensor) *tensor.Tensor {
	t := ids.Shape()[1]
	x := m.TokEmb.Forward(ids).Add(m.PosEmb.W.Slice(0, 0, t))
	for _, b := range m.Blocks {
		x = b.Forward(x)
	}
	return m.Head.Forward(m.LNF.Forward(x))
}

// Children returns the model's layers under the PyTorch model's names.
func (m *Model) Children() []nn.Child {
	cs := []nn.Child{{Name: "tok_emb", Layer: m.TokEmb}, {Name: "pos_emb", Layer: m.PosEmb}}
	for i, b := range m.Blocks {
		cs = append(cs, nn.Child{Name: fmt.Sprintf("blocks.%d", i), Layer: b})
	}
	return append(cs, nn.Child{Name: "ln_f", Layer: m.LNF}, nn.Child{Name: "head", Layer: m.Head})
}

// Params returns the model's parameters in Children's order.
func (m *Model) Params() []*tensor.Tensor { return paramsOf(m) }

func paramsOf(l nn.Layer) []*tensor.Tensor {
	var ps []*tensor.Tensor
	for _, t := range nn.NamedParameters(l) {
		ps = append(ps, t.Tensor)
	}
	return ps
}

// DecayGroups splits the named parameters as nanoGPT does: those of rank 2
// (the embeddings and every weight matrix) get weight decay, the others
// (biases, LayerNorm weights) none.
func (m *Model) DecayGroups() (decay, noDecay []nn.NamedTensor) {
	for _, p := range nn.NamedParameters(m) {
		if p.Tensor.Rank() >= 2 {
			decay = append(decay, p)
		} else {
			noDecay = append(noDecay, p)
		}
	}
	return decay, noDecay
}

// Split returns the tensors and the names of named, in order (for
// optimisers: optim.NewAdam(ts, lr).WithNames(names...)).
func Split(named []nn.NamedTensor) (ts []*tensor.Tensor, names []string) {
	for _, p := range named {
		ts, names = append(ts, p.Tensor), append(names, p.Name)
	}
	return ts, names
}

// NumParams returns the number of trainable elements.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params() {
		n += p.Size()
	}
	return n
}
