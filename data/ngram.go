package data

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/tensor"
)

// NGram is a count model of characters: the probability of the next token
// given the n-1 tokens before it, estimated from counts with add-α
// (Lidstone) smoothing over the whole vocabulary,
//
//	P(c | h) = (count(h c) + α) / (count(h) + α·V),
//
// count(h c) being the number of times the context h is followed by c in
// the training tokens, count(h) the number of times h is followed by any
// token, and V the vocabulary size. n = 1 is the unigram model (no
// context), n = 2 the bigram model (one token of context), and so on. It is
// the baseline a character-level language model has to beat.
//
// An NGram is read-only after it is made and safe for concurrent use.
type NGram struct {
	n, vocab int
	alpha    float64
	ctxMod   uint64 // V^(n-1): the number of contexts
	joint    counter
	ctx      counter
}

// counter counts keys: in a slice when there are few possible keys, else in
// a map.
type counter struct {
	dense  []int32
	sparse map[uint64]int32
}

const denseKeys = 1 << 22

func newCounter(keys uint64) counter {
	if keys <= denseKeys {
		return counter{dense: make([]int32, keys)}
	}
	return counter{sparse: make(map[uint64]int32)}
}

func (c *counter) add(k uint64) {
	if c.dense != nil {
		c.dense[k]++
	} else {
		c.sparse[k]++
	}
}

func (c *counter) get(k uint64) int32 {
	if c.dense != nil {
		return c.dense[k]
	}
	return c.sparse[k]
}

// NewNGram counts the n-grams of tokens (ids in 0 to vocabSize-1): every
// position i >= n-1 counts tokens[i] after the context tokens[i-n+1:i].
// alpha is the smoothing constant (0.1 in [NGramCrossEntropy]'s baselines;
// 0 gives the unsmoothed maximum-likelihood model, in which unseen
// continuations have probability 0).
//
// It panics with a [*tensor.Error] of kind [tensor.ErrArgument] if n < 1,
// vocabSize < 1, alpha < 0 or NaN, vocabSize^n does not fit in 63 bits, or
// a token is out of range.
func NewNGram(tokens []int32, vocabSize, n int, alpha float64) *NGram {
	if n < 1 || vocabSize < 1 || !(alpha >= 0) || math.IsInf(alpha, 1) {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NewNGram", Detail: fmt.Sprintf(
			"n = %d, vocabulary of %d, alpha = %v", n, vocabSize, alpha)})
	}
	ctxMod := uint64(1)
	for range n - 1 {
		if ctxMod > math.MaxInt64/uint64(vocabSize)/uint64(vocabSize) {
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NewNGram", Detail: fmt.Sprintf(
				"%d-grams of a vocabulary of %d: too many to number", n, vocabSize)})
		}
		ctxMod *= uint64(vocabSize)
	}
	m := &NGram{n: n, vocab: vocabSize, alpha: alpha, ctxMod: ctxMod,
		joint: newCounter(ctxMod * uint64(vocabSize)), ctx: newCounter(ctxMod)}
	v := uint64(vocabSize)
	var h uint64 // the context of position i, in base V, oldest token first
	for i, t := range tokens {
		if t < 0 || int(t) >= vocabSize {
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NewNGram", Detail: fmt.Sprintf(
				"token %d at index %d, of a vocabulary of %d", t, i, vocabSize)})
		}
		if i >= n-1 {
			m.joint.add(h*v + uint64(t))
			m.ctx.add(h)
		}
		h = (h*v + uint64(t)) % ctxMod
	}
	return m
}

// N returns the order of the model: the length of the n-grams, one more
// than the context.
func (m *NGram) N() int { return m.n }

// Prob returns P(next | context) under the model. The context must hold
// exactly N()-1 tokens; Prob panics with a [*tensor.Error] of kind
// [tensor.ErrArgument] otherwise, or if a token is out of range.
func (m *NGram) Prob(context []int32, next int32) float64 {
	if len(context) != m.n-1 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NGram.Prob", Detail: fmt.Sprintf(
			"a context of %d tokens for a %d-gram model", len(context), m.n)})
	}
	v := uint64(m.vocab)
	var h uint64
	for _, t := range append(context[:len(context):len(context)], next) {
		if t < 0 || int(t) >= m.vocab {
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NGram.Prob", Detail: fmt.Sprintf(
				"token %d, of a vocabulary of %d", t, m.vocab)})
		}
	}
	for _, t := range context {
		h = h*v + uint64(t)
	}
	return m.prob(h, next)
}

func (m *NGram) prob(h uint64, next int32) float64 {
	c := float64(m.joint.get(h*uint64(m.vocab) + uint64(next)))
	return (c + m.alpha) / (float64(m.ctx.get(h)) + m.alpha*float64(m.vocab))
}

// CrossEntropy returns the mean of -ln P(tokens[i] | tokens[i-n+1:i]) over
// the positions i >= n-1 of tokens, in nats per token: each prediction has
// a full context taken from tokens itself, so the first n-1 tokens are not
// predicted. The sum runs in order, so the result is the same everywhere.
// It panics with a [*tensor.Error] of kind [tensor.ErrArgument] if tokens
// holds fewer than n tokens or a token is out of range.
func (m *NGram) CrossEntropy(tokens []int32) float64 {
	if len(tokens) < m.n {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NGram.CrossEntropy", Detail: fmt.Sprintf(
			"%d tokens for a %d-gram model", len(tokens), m.n)})
	}
	v := uint64(m.vocab)
	var h uint64
	var sum float64
	for i, t := range tokens {
		if t < 0 || int(t) >= m.vocab {
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NGram.CrossEntropy", Detail: fmt.Sprintf(
				"token %d at index %d, of a vocabulary of %d", t, i, m.vocab)})
		}
		if i >= m.n-1 {
			sum -= math.Log(m.prob(h, t))
		}
		h = (h*v + uint64(t)) % m.ctxMod
	}
	return sum / float64(len(tokens)-m.n+1)
}

// NGramCrossEntropy returns the validation cross-entropy, in nats per
// character, of the add-alpha smoothed n-gram model ([NewNGram]) of train:
// NewNGram(train, vocabSize, n, alpha).CrossEntropy(val). On the fortunes
// corpus ([Fortunes]: its Train and Val, vocabulary of 114) with alpha 0.1
// it is 3.373 for n = 1 (unigram), 2.613 for n = 2 (bigram), 2.146 for
// n = 3 and 1.904 for n = 4 (three characters of context).
func NGramCrossEntropy(train, val []int32, vocabSize, n int, alpha float64) float64 {
	return NewNGram(train, vocabSize, n, alpha).CrossEntropy(val)
}
