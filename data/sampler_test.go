package data

import (
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/tensor"
)

// The ranks' shards partition the order (padded or truncated to a multiple
// of the world size), and step s of the ranks with batch b covers step s
// of one process with batch world·b.
func TestDistributedSampler(t *testing.T) {
	for _, n := range []int{0, 1, 10, 11, 97} {
		for _, world := range []int{1, 2, 3, 4} {
			for _, dropLast := range []bool{false, true} {
				perm := Permutation(n, 5+2)
				var all []int
				per := -1
				for r := range world {
					s := DistributedSampler{N: n, Rank: r, World: world, Shuffle: true, Seed: 5, DropLast: dropLast}
					ix := s.Indices(2)
					if len(ix) != s.Len() || (per >= 0 && len(ix) != per) {
						t.Fatalf("n=%d world=%d rank %d: %d indices, Len %d, other ranks %d", n, world, r, len(ix), s.Len(), per)
					}
					per = len(ix)
					for j, k := range ix {
						if pos := r + j*world; perm[pos%max(n, 1)] != k {
							t.Fatalf("n=%d world=%d rank %d: index %d is %d, want order[%d]", n, world, r, j, k, pos)
						}
					}
					all = append(all, ix...)
				}
				if dropLast && len(all) != n/world*world || !dropLast && n > 0 && len(all) != (n+world-1)/world*world {
					t.Fatalf("n=%d world=%d dropLast=%v: %d indices in all", n, world, dropLast, len(all))
				}
				slices.Sort(all)
				if !dropLast && n > 0 {
					// Every example appears (some twice, from the padding).
					if len(slices.Compact(slices.Clone(all))) != n {
						t.Fatalf("n=%d world=%d: the shards miss examples", n, world)
					}
				}
			}
		}
	}
}

func TestShardBatches(t *testing.T) {
	const n, world, b = 40, 4, 3
	x := tensor.Arange(0, n, 1, tensor.WithDType(tensor.Float64))
	d := NewTensors(x)
	var single [][]float64
	for batch := range d.Batches(world*b, true, 9, DropLast()) {
		single = append(single, batch[0].Float64s())
	}
	ranks := make([][][]float64, world)
	for r := range world {
		for batch := range d.Batches(b, true, 9, Shard(r, world), DropLast()) {
			ranks[r] = append(ranks[r], batch[0].Float64s())
		}
	}
	for s := range single {
		var union []float64
		for r := range world {
			if len(ranks[r]) != len(single) {
				t.Fatalf("rank %d has %d steps, one process %d", r, len(ranks[r]), len(single))
			}
			union = append(union, ranks[r][s]...)
		}
		slices.Sort(union)
		want := slices.Clone(single[s])
		slices.Sort(want)
		if !slices.Equal(union, want) {
			t.Fatalf("step %d: the ranks' batches %v, one process's %v", s, union, want)
		}
	}
	// The images dataset too.
	ds := NewDataset(make([]uint8, 10*4), []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 2, 2)
	var labels []float32
	for r := range 2 {
		if got := ds.NumBatches(2, Shard(r, 2)); got != 3 {
			t.Fatalf("NumBatches with Shard(%d, 2) = %d, want 3", r, got)
		}
		for _, y := range ds.Batches(2, false, 0, Shard(r, 2)) {
			labels = append(labels, y.Float32s()...)
		}
	}
	want := []float32{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}
	if !slices.Equal(labels, want) {
		t.Fatalf("unshuffled shards %v, want %v", labels, want)
	}
}
