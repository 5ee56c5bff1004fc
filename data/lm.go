package data

import (
	"fmt"
	"iter"

	"github.com/tapegrad/tapegrad/tensor"
)

// CharSampler draws language-model batches from a token stream: for each
// step, batch windows of seqLen+1 consecutive tokens at random positions;
// the inputs x are the first seqLen tokens of each window and the targets y
// the last seqLen (y[t] = x[t+1], the next token). Make one with
// [CharBatches].
//
// Batches are host slices of int32 ids, window after window (row-major
// [batch, seqLen]), so that callers can build tensors of any dtype and
// shape from them. The batch of a step depends only on the token stream,
// the sizes, the seed and the step number, so training can resume at any
// step and get the batches it would have got; it is the same on every
// machine and with every Go release.
//
// A CharSampler is read-only and safe for concurrent use.
type CharSampler struct {
	tokens        []int32
	batch, seqLen int
	seed          uint64
	positions     uint64 // number of window starts: len(tokens) - seqLen
}

// stepState is what the generator's state of a step adds to that of the
// step before: 2^32 splitmix64 increments.
const stepState = uint64(0x9e3779b97f4a7c15 << 32 & (1<<64 - 1))

// CharBatches returns a sampler of batches of batch windows of seqLen+1
// tokens from tokens, seeded with seed (see [CharSampler.Starts] for how
// the windows are drawn). The sampler uses tokens without copying them; do
// not modify them afterwards. It panics with a [*tensor.Error] of kind
// [tensor.ErrArgument] if batch or seqLen is below 1 or tokens holds fewer
// than seqLen+1 tokens.
func CharBatches(tokens []int32, batch, seqLen int, seed uint64) *CharSampler {
	if batch < 1 || seqLen < 1 || len(tokens) < seqLen+1 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.CharBatches", Detail: fmt.Sprintf(
			"batches of %d windows of %d+1 tokens from %d tokens", batch, seqLen, len(tokens))})
	}
	return &CharSampler{tokens: tokens, batch: batch, seqLen: seqLen, seed: seed,
		positions: uint64(len(tokens) - seqLen)}
}

// BatchSize returns the number of windows per batch.
func (s *CharSampler) BatchSize() int { return s.batch }

// SeqLen returns the length of the input and target sequences.
func (s *CharSampler) SeqLen() int { return s.seqLen }

// Starts returns the start positions of the windows of step: batch values
// in [0, len(tokens)-seqLen-1], each window being tokens[p : p+seqLen+1].
// They are drawn independently and uniformly (windows may overlap) from
// the splitmix64 generator of [Permutation], started at state
//
//	seed + step·2^32·0x9e3779b97f4a7c15 (mod 2^64),
//
// with Lemire's unbiased method as in [Permutation]. Since each draw adds
// 0x9e3779b97f4a7c15 to the state, step i reads the one splitmix64 stream
// of seed from its draw i·2^32 on: the steps' draws do not overlap (a step
// uses far fewer than 2^32) and each step can be computed on its own. It
// panics with a [*tensor.Error] of kind [tensor.ErrArgument] if step < 0.
func (s *CharSampler) Starts(step int) []int {
	if step < 0 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.CharSampler", Detail: fmt.Sprintf("step %d", step)})
	}
	r := splitmix64(s.seed + uint64(step)*stepState)
	p := make([]int, s.batch)
	for i := range p {
		p[i] = int(r.below(s.positions))
	}
	return p
}

// Batch returns the inputs and targets of step, each batch·seqLen ids,
// window after window: x[i·seqLen+t] = tokens[p_i+t] and y[i·seqLen+t] =
// tokens[p_i+t+1], p_i being [CharSampler.Starts](step)[i]. The slices are
// new.
func (s *CharSampler) Batch(step int) (x, y []int32) {
	n := s.batch * s.seqLen
	x, y = make([]int32, n), make([]int32, n)
	s.Fill(step, x, y)
	return x, y
}

// Fill writes the batch of step into x and y, as [CharSampler.Batch]
// returns it, without allocating them. It panics with a [*tensor.Error] of
// kind [tensor.ErrArgument] if either is not of length batch·seqLen.
func (s *CharSampler) Fill(step int, x, y []int32) {
	n := s.batch * s.seqLen
	if len(x) != n || len(y) != n {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.CharSampler.Fill", Detail: fmt.Sprintf(
			"slices of %d and %d ids for a batch of %d×%d", len(x), len(y), s.batch, s.seqLen)})
	}
	for i, p := range s.Starts(step) {
		copy(x[i*s.seqLen:(i+1)*s.seqLen], s.tokens[p:p+s.seqLen])
		copy(y[i*s.seqLen:(i+1)*s.seqLen], s.tokens[p+1:p+s.seqLen+1])
	}
}

// NumEvalWindows returns the number of windows that [EvalBatches] covers
// tokens with: (n-1)/seqLen for n tokens.
func NumEvalWindows(n, seqLen int) int {
	if seqLen < 1 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NumEvalWindows", Detail: fmt.Sprintf("sequence length %d", seqLen)})
	}
	if n < 1 {
		return 0
	}
	return (n - 1) / seqLen
}

// EvalBatches returns the fixed evaluation order of tokens (a validation
// split): the non-overlapping windows k = 0, 1, ..., W-1, W =
// [NumEvalWindows](len(tokens), seqLen), with inputs tokens[k·seqLen :
// (k+1)·seqLen] and targets one token further on, in batches of batch
// windows (the last batch holds the remaining W mod batch windows, if any).
// It yields x and y of b·seqLen ids, window after window, for b windows;
// the slices are new for every batch. Every token but the first is a target
// exactly once, except the last (len(tokens)-1) mod seqLen, which do not fill
// a window; the first target of each window is predicted with no context.
// No randomness: the same tokens give the same batches everywhere.
//
// It panics with a [*tensor.Error] of kind [tensor.ErrArgument] if batch or
// seqLen is below 1.
func EvalBatches(tokens []int32, batch, seqLen int) iter.Seq2[[]int32, []int32] {
	if batch < 1 || seqLen < 1 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.EvalBatches", Detail: fmt.Sprintf("batches of %d windows of %d tokens", batch, seqLen)})
	}
	windows := NumEvalWindows(len(tokens), seqLen)
	return func(yield func(x, y []int32) bool) {
		for k := 0; k < windows; k += batch {
			b := min(batch, windows-k)
			lo, hi := k*seqLen, (k+b)*seqLen
			x := append([]int32(nil), tokens[lo:hi]...)
			y := append([]int32(nil), tokens[lo+1:hi+1]...)
			if !yield(x, y) {
				return
			}
		}
	}
}
