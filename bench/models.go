package main

import (
	"fmt"
	"math"
	"time"

	"github.com/tapegrad/tapegrad/amp"
	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
	"github.com/tapegrad/tapegrad/examples/charlm/gpt"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// The cases of real models' pieces: a training step of examples/charlm's
// transformer (in float32, and with its forward pass under bfloat16
// autocast: charlm/step/bf16), and the embedding lookup's forward and
// backward.

// modelCaseNames are the names of the cases of this file, in order.
func modelCaseNames() []string {
	names := []string{"charlm/step", "charlm/step/bf16"}
	for _, e := range embeddingShapes {
		names = append(names, embeddingName(e))
	}
	return names
}

// models runs the cases of this file.
func (s *suite) models() {
	s.charlmStep(false)
	s.charlmStep(true)
	for _, e := range embeddingShapes {
		s.embedding(e)
	}
}

// The charlm/step configuration: examples/charlm's default model.
const (
	charlmVocab, charlmLayers, charlmHeads, charlmWidth, charlmContext, charlmBatch = 114, 4, 4, 128, 128, 32
)

// charlmStep times one training step of examples/charlm's default model
// (package examples/charlm/gpt: 4 blocks, 4 heads, width 128, context 128,
// 839,026 parameters) on a batch of 32 windows: forward, cross-entropy,
// backward, global-norm clipping at 1.0 and AdamW (lr 3e-3, β 0.9/0.95,
// weight decay 0.1 on the rank-2 parameters), reading the loss, as the
// example's trainer does. The tokens are fixed random ids and the targets
// a function of them (id+1 mod V), so that the loss falls from the first
// steps (the check). The value is tokens per second.
func (s *suite) charlmStep(bf16 bool) {
	name := "charlm/step"
	if bf16 {
		name += "/bf16"
	}
	if !s.want(name) {
		return
	}
	const b, t, v = charlmBatch, charlmContext, charlmVocab
	c := Case{Name: name, Size: b * t, Unit: "tokens/s", Flops: charlmFlops(),
		Note: fmt.Sprintf("examples/charlm's model (%d blocks, %d heads, width %d, context %d, vocabulary %d), batch %d: forward, cross-entropy, backward, clip 1.0, AdamW lr 3e-3 wd 0.1, loss read",
			charlmLayers, charlmHeads, charlmWidth, charlmContext, v, b)}
	if bf16 {
		c.DType = "bfloat16"
		c.Note = peerkit.Join(c.Note, "forward under amp.Autocast(bfloat16) (float32 parameters and optimiser state)")
	}
	s.run(c, func() prepared {
		on := tensor.On(s.dev)
		tensor.Seed(1)
		m := gpt.New(gpt.Shape{Vocab: v, Layers: charlmLayers, Heads: charlmHeads, Width: charlmWidth, Context: t}, s.dev)
		params := m.Params()
		adamW := func(named []nn.NamedTensor, wd float64) *optim.Adam {
			ps, names := gpt.Split(named)
			a := optim.NewAdam(ps, 3e-3).WithNames(names...)
			a.Beta1, a.Beta2, a.Eps, a.WeightDecay, a.Decoupled = 0.9, 0.95, 1e-8, wd, true
			return a
		}
		decay, plain := m.DecayGroups()
		opts := []*optim.Adam{adamW(decay, 0.1), adamW(plain, 0)}
		ids, next := make([]int64, b*t), make([]int64, b*t)
		for i := range ids {
			ids[i] = int64((i*7919 + i/t*104729) % v)
			next[i] = (ids[i] + 1) % v
		}
		x := tensor.FromSlice(ids, []int{b, t}, on)
		y := tensor.FromSlice(next, []int{b * t}, on)
		step := func() float64 {
			var loss *T
			autograd.Record(func() {
				fwd := func() { loss = nn.CrossEntropy(m.Forward(x).Reshape(-1, v), y) }
				if bf16 {
					amp.Autocast(tensor.BFloat16, fwd)
				} else {
					fwd()
				}
			})
			loss.Backward()
			optim.ClipGradNorm(params, 1)
			for _, o := range opts {
				o.Step()
			}
			return loss.Item()
		}
		return prepared{
			fn: func(int) { step() },
			check: func(int) (string, error) {
				first := step()
				last := first
				for range 4 {
					last = step()
				}
				if math.IsNaN(last) || !(last < first) || first > 6 {
					return "", fmt.Errorf("loss %g after 5 steps from %g: not training", last, first)
				}
				return fmt.Sprintf("loss %.3f -> %.3f over the 5 check steps", first, last), nil
			},
			cleanup: func() {
				for _, p := range params {
					p.Release()
				}
				x.Release()
				y.Release()
			},
			valueFn: func(med time.Duration) float64 { return b * t / med.Seconds() },
		}
	})
}

// charlmFlops are the flops of a charlm/step: three times the forward's
// (the backward's products are twice the forward's), the forward's being
// its matrix products (projections, MLP, head, and the attention's two
// products over the whole T×T score matrix, as the composed attention
// computes them).
func charlmFlops() int64 {
	const n, e, t = charlmBatch * charlmContext, charlmWidth, charlmContext
	fwd := charlmLayers*(2*n*e*(3*e+e+8*e)+4*charlmBatch*t*t*e) + 2*n*e*charlmVocab
	return int64(3 * fwd)
}

// embeddingShape is an embedding case: a table of Vocab rows of Width,
// looked up by Batch×Context ids.
type embeddingShape struct{ Vocab, Width, Batch, Context int }

// embeddingShapes are charlm's token embedding and a word-level one.
var embeddingShapes = []embeddingShape{{114, 128, 32, 128}, {8192, 512, 8, 512}}

func embeddingName(e embeddingShape) string {
	return fmt.Sprintf("embedding/%dx%d/%dx%d", e.Vocab, e.Width, e.Batch, e.Context)
}

// embedding times an embedding lookup (IndexSelect of rows, nn.Embedding's
// forward) and its backward pass, the deterministic scatter-add of the
// output gradient into the table's gradient (written to W.Grad()). Bytes
// are the least traffic: the rows gathered and written, the output gradient
// read and the table's gradient written once.
func (s *suite) embedding(e embeddingShape) {
	name := embeddingName(e)
	if !s.want(name) {
		return
	}
	n := e.Batch * e.Context
	c := Case{Name: name, Size: int64(n * e.Width), Bytes: 4 * int64(3*n*e.Width+e.Vocab*e.Width),
		Note: fmt.Sprintf("table [%d, %d] float32, ids [%d, %d] int64 (a fixed pseudo-random sequence): forward (IndexSelect) and backward (deterministic scatter-add into W.Grad()) with a given output gradient",
			e.Vocab, e.Width, e.Batch, e.Context)}
	s.run(c, func() prepared {
		on := tensor.On(s.dev)
		tensor.Seed(2)
		w := tensor.RandNormal(0, 1, []int{e.Vocab, e.Width}, on)
		w.AttachGrad()
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = int64((i*7919 + 13) % e.Vocab)
		}
		x := tensor.FromSlice(ids, []int{e.Batch, e.Context}, on)
		g := tensor.RandUniform(-1, 1, []int{e.Batch, e.Context, e.Width}, on)
		run := func() {
			var out *T
			autograd.Record(func() { out = w.IndexSelect(0, x) })
			autograd.Backward([]*T{out}, autograd.HeadGrads(g))
		}
		return prepared{
			fn: func(int) { run() },
			check: func(int) (string, error) {
				run()
				// Row r of the gradient is the sum of g over the positions
				// whose id is r: check the row of the first id.
				gs, gw := g.Float32s(), w.Grad().Float32s()
				r := ids[0]
				for j := range e.Width {
					want := 0.0
					for i, id := range ids {
						if id == r {
							want += float64(gs[i*e.Width+j])
						}
					}
					if d := math.Abs(float64(gw[int(r)*e.Width+j]) - want); d > 1e-4*(1+math.Abs(want)) {
						return "", fmt.Errorf("grad[%d][%d] = %g, want %g", r, j, gw[int(r)*e.Width+j], want)
					}
				}
				return "", nil
			},
			cleanup: func() {
				w.Release()
				x.Release()
				g.Release()
			},
		}
	})
}
