package distributed

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// Subgroups on 4 ranks: {0,1} and {2,3} all-reduce different values at the
// same time, each pair among itself, while a collective of the whole group
// runs beside them; then {0,2} (given as [2 0]) all-reduces, broadcasts from
// its rank 1 (rank 2 of the whole group) and gathers. The ranks outside a
// group get a value whose collectives fail with ErrNotMember. Last, each
// pair trains its own replica with DataParallel over the pair; and {0,1}
// makes a group of its own rank 1.

func init() {
	scenarios["subgroups"] = subgroupsChild
}

func subgroupsChild() error {
	g, err := InitFromEnv()
	if err != nil {
		return err
	}
	rank, world := g.Rank(), g.WorldSize()
	if world != 4 {
		return fmt.Errorf("the subgroups scenario wants 4 ranks, not %d", world)
	}
	// Misuse is the same on every rank and makes no group.
	for _, bad := range [][]int{nil, {0, 4}, {1, 1}, {-1}} {
		if _, err := g.NewGroup(bad); !errors.Is(err, ErrArgument) {
			return fmt.Errorf("NewGroup(%v): %v, want ErrArgument", bad, err)
		}
	}
	start := time.Now()
	low, err := g.NewGroup([]int{0, 1})
	if err != nil {
		return err
	}
	high, err := g.NewGroup([]int{2, 3})
	if err != nil {
		return err
	}
	even, err := g.NewGroup([]int{2, 0})
	if err != nil {
		return err
	}
	connect := time.Since(start)
	pair, other := low, high
	if rank >= 2 {
		pair, other = high, low
	}
	if !pair.Member() || other.Member() || pair.WorldSize() != 2 || pair.Rank() != rank%2 || other.Rank() != -1 {
		return fmt.Errorf("pair: member %v rank %d of %d; other: member %v rank %d", pair.Member(), pair.Rank(), pair.WorldSize(), other.Member(), other.Rank())
	}
	if r := pair.Ranks(); len(r) != 2 || r[0] != rank/2*2 || r[1] != rank/2*2+1 {
		return fmt.Errorf("pair's ranks %v", r)
	}
	if r := even.Ranks(); len(r) != 2 || r[0] != 0 || r[1] != 2 {
		return fmt.Errorf("{0,2}'s ranks %v, want [0 2]", r)
	}

	// The pairs all-reduce at the same time, each with its own values, and
	// the whole group all-reduces beside them on its own goroutine.
	const n = 100003
	mine := func(i int) float64 { return value(rank, i) }
	whole := makeTensor(tensor.Float64, n, mine)
	wholeWork := g.AllReduceAsync(whole, Sum)
	for round := 0; round < 5; round++ {
		x := makeTensor(tensor.Float32, n, func(i int) float64 { return value(rank, i+round) })
		if err := pair.AllReduce(x, Sum); err != nil {
			return err
		}
		lo := rank / 2 * 2
		if err := check(fmt.Sprintf("round %d: AllReduce on ranks %v", round, pair.Ranks()), x, n, func(i int) float64 {
			return value(lo, i+round) + value(lo+1, i+round)
		}); err != nil {
			return err
		}
	}
	if err := wholeWork.Wait(); err != nil {
		return err
	}
	if err := check("AllReduce of the whole group beside the pairs'", whole, n, func(i int) float64 {
		return value(0, i) + value(1, i) + value(2, i) + value(3, i)
	}); err != nil {
		return err
	}
	var e *Error
	x := makeTensor(tensor.Float32, 8, mine)
	if err := other.AllReduce(x, Sum); !errors.Is(err, ErrNotMember) || !errors.As(err, &e) || e.Op != "AllReduce" {
		return fmt.Errorf("AllReduce on a group without this rank: %v, want an *Error of AllReduce, ErrNotMember", err)
	}
	if err := check("a refused AllReduce's tensor", x, 8, mine); err != nil {
		return err
	}
	if err := other.Barrier(); !errors.Is(err, ErrNotMember) {
		return fmt.Errorf("Barrier on a group without this rank: %v, want ErrNotMember", err)
	}
	if _, err := other.NewGroup([]int{0}); !errors.Is(err, ErrNotMember) {
		return fmt.Errorf("NewGroup on a group without this rank: %v, want ErrNotMember", err)
	}

	// A group within a group: {0,1} makes {1} (its ranks); the members of
	// {0,1} call it, the others cannot.
	if rank < 2 {
		inner, err := low.NewGroup([]int{1})
		if err != nil {
			return err
		}
		if inner.Member() != (rank == 1) || len(inner.Ranks()) != 1 || inner.Ranks()[0] != 1 {
			return fmt.Errorf("{1} within {0,1}: member %v, ranks %v", inner.Member(), inner.Ranks())
		}
		x := makeTensor(tensor.Float64, 4, mine)
		if err := inner.AllReduce(x, Sum); rank == 1 && err != nil {
			return err
		} else if rank == 0 && !errors.Is(err, ErrNotMember) {
			return fmt.Errorf("AllReduce on {1} within {0,1} from rank 0: %v, want ErrNotMember", err)
		}
		if err := inner.Close(); err != nil {
			return err
		}
	}

	// {0,2}: ranks 0 and 2 only; 1 and 3 are refused.
	x = makeTensor(tensor.Float64, n, mine)
	if err := even.AllReduce(x, Sum); rank%2 == 1 {
		if !errors.Is(err, ErrNotMember) {
			return fmt.Errorf("AllReduce on {0,2} from rank %d: %v, want ErrNotMember", rank, err)
		}
	} else {
		if err != nil {
			return err
		}
		if err := check("AllReduce on {0,2}", x, n, func(i int) float64 { return value(0, i) + value(2, i) }); err != nil {
			return err
		}
		x = makeTensor(tensor.Float64, 5, mine)
		if err := even.Broadcast(x, 1); err != nil { // the group's rank 1: rank 2
			return err
		}
		if err := check("Broadcast on {0,2} from its rank 1", x, 5, func(i int) float64 { return value(2, i) }); err != nil {
			return err
		}
		all, err := even.AllGather(makeTensor(tensor.Float64, 3, mine))
		if err != nil {
			return err
		}
		if err := check("AllGather on {0,2}", all.Reshape(6), 6, func(i int) float64 { return value(i/3*2, i%3) }); err != nil {
			return err
		}
		if err := even.Barrier(); err != nil {
			return err
		}
	}
	// DataParallel over each pair: two replicas of a model, each trained
	// by its pair on the pair's own data. The members of a pair end with
	// the same parameters, bit for bit; the pairs with different ones.
	tensor.Seed(40 + uint64(rank))
	model := nn.NewDense(3, 2, tensor.WithDType(tensor.Float64))
	dp, err := NewDataParallel(pair, model, DataParallelOptions{})
	if err != nil {
		return err
	}
	opt := optim.NewSGD(model.Params(), 0.1, 0, 0)
	for step := 0; step < 3; step++ {
		x := makeTensor(tensor.Float64, 6, func(i int) float64 { return value(rank, i+step) / 50 }).Reshape(2, 3)
		var loss *tensor.Tensor
		autograd.Record(func() { loss = dp.Forward(x).Square().Mean() })
		loss.Backward()
		if err := dp.Sync(); err != nil {
			return err
		}
		opt.Step()
	}
	dp.Close()
	w, err := g.AllGather(model.W)
	if err != nil {
		return err
	}
	same := func(a, b int) bool { return slices.Equal(w.Index(a).Float64s(), w.Index(b).Float64s()) }
	if !same(0, 1) || !same(2, 3) || same(0, 2) {
		return fmt.Errorf("DataParallel over the pairs: weights equal within {0,1} %v, within {2,3} %v, across %v; want true, true, false", same(0, 1), same(2, 3), same(0, 2))
	}
	for _, sub := range []*ProcessGroup{low, high, even} {
		if err := sub.Close(); err != nil {
			return err
		}
	}
	// The whole group still works after its subgroups closed.
	if err := g.Barrier(); err != nil {
		return err
	}
	if rank == 0 {
		fmt.Printf("RESULT subgroups: 3 groups connected in %v; pairs concurrent with the whole group; {0,2}\n", connect.Round(time.Millisecond))
	}
	return g.Close()
}

func TestSubgroups4(t *testing.T) {
	needGloo(t)
	res := spawn(t, 4, "subgroups", 2*time.Minute, EnvTimeout+"=30s")
	requireAll(t, res)
	t.Log(res[0].output)
}
