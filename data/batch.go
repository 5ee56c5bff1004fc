package data

import (
	"fmt"
	"iter"
	"math/bits"

	"github.com/tapegrad/tapegrad/tensor"
)

// Batches returns an iterator over the dataset in batches of batchSize
// examples: x holds the images, shape [B, rows, cols] (with [Flat]: [B,
// rows*cols]) scaled to [0, 1], and y the class indices, shape [B], both
// float32 (unless [TensorOptions] says otherwise) on the device given by
// [On]. B is batchSize except for the last batch, which holds the remaining
// examples, or is left out with [DropLast].
//
// Without shuffle the examples come in order. With shuffle they come in the
// order [Permutation](d.Len(), seed): the same seed gives the same order on
// every machine and with every Go release. Use a different seed for each
// epoch, e.g. seed+uint64(epoch). Each pass over the iterator starts again
// from the beginning of the same order; every example appears exactly once
// per pass (except those of a dropped last batch). With [Shard] a pass
// covers only this rank's share of the order.
//
// Each batch is a new pair of tensors; the host memory used to assemble them
// is allocated once per pass. Batches panics with a [*tensor.Error] of kind
// [tensor.ErrArgument] if batchSize < 1.
func (d *Dataset) Batches(batchSize int, shuffle bool, seed uint64, opts ...Option) iter.Seq2[*tensor.Tensor, *tensor.Tensor] {
	if batchSize < 1 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.Batches", Detail: fmt.Sprintf("batch size %d", batchSize)})
	}
	c := newConfig(opts)
	return func(yield func(x, y *tensor.Tensor) bool) {
		n := d.Len()
		order := c.order(n, shuffle, seed)
		if order != nil {
			n = len(order)
		}
		per := d.rows * d.cols
		most := max(min(batchSize, n), 0) // the largest batch
		xs := make([]float32, most*per)
		ys := make([]float32, most)
		for start := 0; start < n; start += batchSize {
			b := min(batchSize, n-start)
			if b < batchSize && c.dropLast {
				return
			}
			if order == nil {
				scale(xs, d.pixels[start*per:(start+b)*per])
				for j, l := range d.labels[start : start+b] {
					ys[j] = float32(l)
				}
			} else {
				for j, i := range order[start : start+b] {
					scale(xs[j*per:(j+1)*per], d.pixels[i*per:(i+1)*per])
					ys[j] = float32(d.labels[i])
				}
			}
			x := tensor.FromSlice(xs[:b*per], d.shape(b, c.flat), c.topts...)
			y := tensor.FromSlice(ys[:b], []int{b}, c.topts...)
			if !yield(x, y) {
				return
			}
		}
	}
}

// NumBatches returns the number of batches that [Dataset.Batches] yields
// for batchSize and the options (only [DropLast] matters).
func (d *Dataset) NumBatches(batchSize int, opts ...Option) int {
	if batchSize < 1 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.NumBatches", Detail: fmt.Sprintf("batch size %d", batchSize)})
	}
	c := newConfig(opts)
	n := d.Len()
	if c.world > 1 {
		n = DistributedSampler{N: n, Rank: c.rank, World: c.world, DropLast: c.dropLast}.Len()
	}
	if c.dropLast {
		return n / batchSize
	}
	return (n + batchSize - 1) / batchSize
}

// Permutation returns a random permutation of 0, ..., n-1 determined by
// seed alone. The algorithm is fixed, so the result is the same on every
// machine and with every Go release: a Fisher–Yates shuffle of the identity
// (for i from n-1 down to 1, swap element i with element j, j uniform in
// [0, i]), drawing j from the splitmix64 generator started at state seed
// (each draw adds 0x9e3779b97f4a7c15 to the state and mixes it), mapped to
// [0, i] by Lemire's multiply-and-reject method, which is unbiased. A
// negative n panics with a *tensor.Error of kind tensor.ErrArgument.
func Permutation(n int, seed uint64) []int {
	if n < 0 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.Permutation", Detail: fmt.Sprintf("a permutation of %d elements", n)})
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r := splitmix64(seed)
	for i := n - 1; i > 0; i-- {
		j := r.below(uint64(i) + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// splitmix64 is Steele, Lea and Flood's generator (Java's SplittableRandom)
// as Vigna's public-domain C code writes it.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// below returns a uniform value in [0, n), n > 0 (Lemire, "Fast random
// integer generation in an interval", 2019).
func (s *splitmix64) below(n uint64) uint64 {
	hi, lo := bits.Mul64(s.next(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(s.next(), n)
		}
	}
	return hi
}
