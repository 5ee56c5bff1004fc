package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

// shape is the architecture of a model.
type shape struct {
	Vocab, Layers, Heads, Width, Context int
}

// block is one pre-LayerNorm transformer block:
//
//	x = x + Attn(LN1(x))
//	x = x + MLP(LN2(x)),  MLP = Dense(E, 4E) → GELU → Dense(4E, E)
type block struct {
	LN1  *nn.LayerNorm
	Attn *nn.MultiHeadAttention
	LN2  *nn.LayerNorm
	MLP  nn.Sequential
}

func (b *block) Forward(x *tensor.Tensor) *tensor.Tensor {
	x = x.Add(b.Attn.Forward(b.LN1.Forward(x)))
	return x.Add(b.MLP.Forward(b.LN2.Forward(x)))
}

func (b *block) Children() []nn.Child {
	return []nn.Child{{Name: "ln1", Layer: b.LN1}, {Name: "attn", Layer: b.Attn}, {Name: "ln2", Layer: b.LN2}, {Name: "mlp", Layer: b.MLP}}
}

func (b *block) Params() []*tensor.Tensor { return paramsOf(b) }

// gpt is the character model: token and learned position embeddings, the
// blocks, a final LayerNorm and a linear head (not tied to the token
// embedding). Its parameter names are those of the PyTorch model in
// reference.py ("tok_emb.weight", "blocks.0.attn.in_proj_weight", ...).
type gpt struct {
	Shape  shape
	TokEmb *nn.Embedding // [V, E]
	PosEmb *nn.Embedding // [T, E]
	Blocks []*block
	LNF    *nn.LayerNorm
	Head   *nn.Dense // [E, V]
}

// newGPT returns a model initialised GPT-2 style from the default
// generator (tensor.Seed): every weight matrix (embeddings, attention
// projections, MLP and head weights) drawn from N(0, 0.02), biases zero,
// LayerNorm weights one and biases zero.
func newGPT(s shape, d device.Device) *gpt {
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
	m := &gpt{Shape: s, TokEmb: &nn.Embedding{W: normal(s.Vocab, e)}, PosEmb: &nn.Embedding{W: normal(s.Context, e)}}
	for range s.Layers {
		attn := &nn.MultiHeadAttention{InProj: dense(e, 3*e), OutProj: dense(e, e), Heads: s.Heads, Causal: true}
		m.Blocks = append(m.Blocks, &block{
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
func (m *gpt) Forward(ids *tensor.Tensor) *tensor.Tensor {
	t := ids.Shape()[1]
	x := m.TokEmb.Forward(ids).Add(m.PosEmb.W.Slice(0, 0, t))
	for _, b := range m.Blocks {
		x = b.Forward(x)
	}
	return m.Head.Forward(m.LNF.Forward(x))
}

func (m *gpt) Children() []nn.Child {
	cs := []nn.Child{{Name: "tok_emb", Layer: m.TokEmb}, {Name: "pos_emb", Layer: m.PosEmb}}
	for i, b := range m.Blocks {
		cs = append(cs, nn.Child{Name: fmt.Sprintf("blocks.%d", i), Layer: b})
	}
	return append(cs, nn.Child{Name: "ln_f", Layer: m.LNF}, nn.Child{Name: "head", Layer: m.Head})
}

func (m *gpt) Params() []*tensor.Tensor { return paramsOf(m) }

func paramsOf(l nn.Layer) []*tensor.Tensor {
	var ps []*tensor.Tensor
	for _, t := range nn.NamedParameters(l) {
		ps = append(ps, t.Tensor)
	}
	return ps
}

// decayGroups splits the parameters as nanoGPT does: those of rank 2 (the
// embeddings and every weight matrix) get weight decay, the others (biases,
// LayerNorm weights) none.
func decayGroups(m *gpt) (decay, noDecay []*tensor.Tensor) {
	for _, p := range m.Params() {
		if p.Rank() >= 2 {
			decay = append(decay, p)
		} else {
			noDecay = append(noDecay, p)
		}
	}
	return decay, noDecay
}

// numParams returns the number of trainable elements.
func numParams(m *gpt) int {
	n := 0
	for _, p := range m.Params() {
		n += p.Size()
	}
	return n
}

// torchLinear reports whether the parameter name is a weight that PyTorch
// stores transposed: nn.Linear's weight [out, in] and MultiheadAttention's
// in_proj_weight [3E, E], where tapegrad's Dense holds [in, out].
func torchLinear(name string, t *tensor.Tensor) bool {
	if t.Rank() != 2 {
		return false
	}
	return strings.HasSuffix(name, "in_proj_weight") || strings.HasSuffix(name, ".weight") && !isEmbedding(name)
}

func isEmbedding(name string) bool { return name == "tok_emb.weight" || name == "pos_emb.weight" }

// writeNPY writes the model's parameters into dir, one NAME.npy each under
// its PyTorch state_dict name, Linear weights transposed to PyTorch's
// [out, in].
func writeNPY(dir string, m *gpt) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range nn.NamedParameters(m) {
		t := p.Tensor
		if torchLinear(p.Name, t) {
			t = t.Transpose(1, 0).Contiguous()
		}
		if err := npy.Save(filepath.Join(dir, p.Name+".npy"), t); err != nil {
			return err
		}
	}
	return nil
}
