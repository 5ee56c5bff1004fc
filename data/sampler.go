package data

import (
	"fmt"

	"github.com/tapegrad/tapegrad/tensor"
)

// DistributedSampler gives each rank of a data-parallel job its share of
// the same seeded order of a dataset's N examples (PyTorch's
// DistributedSampler): the epoch's order is [Permutation](N, Seed+epoch)
// (or 0, ..., N-1 without Shuffle), made a multiple of World long —
// truncated with DropLast, else padded by repeating its first examples —
// and rank r takes its elements r, r+World, r+2·World, ... Every rank gets
// the same number of examples, so every rank runs the same number of steps.
//
// With per-rank batches of b examples, step s's batches of the World ranks
// together hold elements s·World·b to (s+1)·World·b−1 of the order: the
// examples of step s of a single process that uses batches of World·b
// from the same order. That is what makes data-parallel training match
// single-process training with the global batch.
type DistributedSampler struct {
	N        int    // examples in the dataset
	Rank     int    // this process's rank, 0 ≤ Rank < World
	World    int    // number of ranks
	Shuffle  bool   // use Permutation(N, Seed+epoch) rather than 0..N−1
	Seed     uint64 // the seed of epoch 0
	DropLast bool   // truncate the order to a multiple of World rather than pad it
}

func (s DistributedSampler) check(op string) {
	if s.N < 0 || s.World < 1 || s.Rank < 0 || s.Rank >= s.World {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("%d examples, rank %d of %d", s.N, s.Rank, s.World)})
	}
}

// Len returns the number of examples each rank gets per epoch.
func (s DistributedSampler) Len() int {
	s.check("data.DistributedSampler.Len")
	if s.DropLast {
		return s.N / s.World
	}
	return (s.N + s.World - 1) / s.World
}

// Indices returns this rank's examples of an epoch, in order.
func (s DistributedSampler) Indices(epoch int) []int {
	s.check("data.DistributedSampler.Indices")
	var order []int
	if s.Shuffle {
		order = Permutation(s.N, s.Seed+uint64(epoch))
	} else {
		order = make([]int, s.N)
		for i := range order {
			order[i] = i
		}
	}
	return shard(order, s.Rank, s.World, s.DropLast)
}

// shard returns elements rank, rank+world, ... of order, made a multiple
// of world long as DistributedSampler describes.
func shard(order []int, rank, world int, dropLast bool) []int {
	n := len(order)
	if n == 0 {
		return nil
	}
	per := (n + world - 1) / world
	if dropLast {
		per = n / world
	}
	out := make([]int, per)
	for j := range out {
		out[j] = order[(rank+j*world)%n]
	}
	return out
}

// Shard makes [Dataset.Batches] and [Tensors.Batches] yield only this
// rank's share of the examples, as [DistributedSampler] chooses them from
// the order the seed gives (shuffled or not), with [DropLast] deciding
// both whether the order is truncated or padded to a multiple of world
// and whether a last short batch is left out. The batch size is then the
// per-rank batch: with batch b on each of world ranks, step s covers the
// examples of step s of a single process with batch world·b.
func Shard(rank, world int) Option {
	DistributedSampler{Rank: rank, World: world}.check("data.Shard")
	return func(c *config) { c.rank, c.world = rank, world }
}

// order returns the order of a pass over n examples: nil for 0..n−1
// unsharded.
func (c *config) order(n int, shuffle bool, seed uint64) []int {
	var order []int
	if shuffle {
		order = Permutation(n, seed)
	}
	if c.world <= 1 {
		return order
	}
	if order == nil {
		order = make([]int, n)
		for i := range order {
			order[i] = i
		}
	}
	if s := shard(order, c.rank, c.world, c.dropLast); s != nil {
		return s
	}
	return []int{}
}
