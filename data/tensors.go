package data

import (
	"fmt"
	"iter"

	"github.com/tapegrad/tapegrad/tensor"
)

// Tensors is an in-memory dataset of tensors of any dtypes (float
// features, integer labels or token ids) that share their first axis, the
// examples: PyTorch's TensorDataset. The tensors stay on their devices;
// batches are gathered there with [tensor.Tensor.IndexSelect].
type Tensors struct {
	ts []*tensor.Tensor
	n  int
}

// NewTensors returns a dataset of the given tensors, each with the
// examples along axis 0. It panics with a *tensor.Error (ErrArgument for
// no tensors or a nil one, ErrShape for a 0-d tensor or differing example
// counts, ErrDevice for tensors on different devices).
func NewTensors(ts ...*tensor.Tensor) *Tensors {
	const op = "data.NewTensors"
	if len(ts) == 0 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: "no tensors"})
	}
	for i, t := range ts {
		if t == nil {
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("tensor %d is nil", i)})
		}
		if t.Rank() == 0 {
			panic(&tensor.Error{Kind: tensor.ErrShape, Op: op, Shapes: [][]int{t.Shape()}, Detail: fmt.Sprintf("tensor %d is 0-d: no examples axis", i)})
		}
		if t.Shape()[0] != ts[0].Shape()[0] {
			panic(&tensor.Error{Kind: tensor.ErrShape, Op: op, Shapes: [][]int{ts[0].Shape(), t.Shape()},
				Detail: fmt.Sprintf("tensor %d has %d examples, tensor 0 has %d", i, t.Shape()[0], ts[0].Shape()[0])})
		}
		if t.Device() != ts[0].Device() {
			panic(&tensor.Error{Kind: tensor.ErrDevice, Op: op, Shapes: [][]int{ts[0].Shape(), t.Shape()},
				Detail: fmt.Sprintf("tensor %d is on %v, tensor 0 on %v", i, t.Device(), ts[0].Device())})
		}
	}
	return &Tensors{ts: append([]*tensor.Tensor(nil), ts...), n: ts[0].Shape()[0]}
}

// Len returns the number of examples.
func (d *Tensors) Len() int { return d.n }

// Batches returns an iterator over the dataset in batches of batchSize
// examples: one tensor per dataset tensor, each with batch-size rows (the
// last batch holds the rest, or is left out with [DropLast]). Without
// shuffle the examples come in order; with shuffle in the order
// [Permutation](d.Len(), seed), the same on every machine. With [Shard]
// only this rank's share of that order. Other options are ignored. batchSize < 1 panics with ErrArgument.
func (d *Tensors) Batches(batchSize int, shuffle bool, seed uint64, opts ...Option) iter.Seq[[]*tensor.Tensor] {
	if batchSize < 1 {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.Tensors.Batches", Detail: fmt.Sprintf("batch size %d", batchSize)})
	}
	c := newConfig(opts)
	return func(yield func([]*tensor.Tensor) bool) {
		order := c.order(d.n, shuffle, seed)
		n := d.n
		if order != nil {
			n = len(order)
		}
		dev := d.ts[0].Device()
		for start := 0; start < n; start += batchSize {
			b := min(batchSize, n-start)
			if b < batchSize && c.dropLast {
				return
			}
			out := make([]*tensor.Tensor, len(d.ts))
			if order == nil {
				for i, t := range d.ts {
					out[i] = t.Slice(0, start, start+b)
				}
			} else {
				ids := make([]int64, b)
				for j, k := range order[start : start+b] {
					ids[j] = int64(k)
				}
				idx := tensor.FromSlice(ids, []int{b}, tensor.On(dev))
				for i, t := range d.ts {
					out[i] = t.IndexSelect(0, idx)
				}
			}
			if !yield(out) {
				return
			}
		}
	}
}
