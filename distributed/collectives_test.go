package distributed

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/tensor"
)

// The collectives against the single-process result, on 2 and 4 ranks,
// for float32 and float64 and sizes 0, 1, 1023 and 16M elements. Rank r's
// element i is value(r, i), a small integer, so that every order of
// summation gives the same bits: the results must equal the sums computed
// here bit for bit. A second part reduces random values and checks that
// every rank got bitwise the same result.

func init() {
	scenarios["collectives"] = collectivesChild
}

var testSizes = []int{0, 1, 1023, 16 << 20}

func value(r, i int) float64 { return float64((i*7+r*13)%101) - 50 }

func makeTensor(dt tensor.DType, n int, f func(i int) float64) *tensor.Tensor {
	if dt == tensor.Float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = f(i)
		}
		return tensor.FromSlice(s, []int{n})
	}
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(f(i))
	}
	return tensor.FromSlice(s, []int{n})
}

// check compares got with want(i) bit for bit in dt.
func check(what string, got *tensor.Tensor, n int, want func(i int) float64) error {
	if got.Size() != n {
		return fmt.Errorf("%s: %d elements, want %d", what, got.Size(), n)
	}
	if got.DType() == tensor.Float64 {
		for i, v := range got.Float64s() {
			if w := want(i); math.Float64bits(v) != math.Float64bits(w) {
				return fmt.Errorf("%s: element %d is %v, want %v", what, i, v, w)
			}
		}
		return nil
	}
	for i, v := range got.Float32s() {
		if w := float32(want(i)); math.Float32bits(v) != math.Float32bits(w) {
			return fmt.Errorf("%s: element %d is %v, want %v", what, i, v, w)
		}
	}
	return nil
}

func collectivesChild() error {
	g, err := InitFromEnv()
	if err != nil {
		return err
	}
	rank, world := g.Rank(), g.WorldSize()
	sum := func(i int) float64 {
		s := 0.0
		for r := range world {
			s += value(r, i)
		}
		return s
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		div := func(x float64) float64 {
			if dt == tensor.Float32 {
				return float64(float32(x) / float32(world))
			}
			return x / float64(world)
		}
		for _, n := range testSizes {
			if lim, _ := strconv.Atoi(os.Getenv("TAPEGRAD_DIST_TEST_MAX")); lim > 0 && n > lim {
				continue
			}
			mine := func(i int) float64 { return value(rank, i) }
			name := func(op string) string {
				s := fmt.Sprintf("%s %v n=%d", op, dt, n)
				fmt.Fprintln(os.Stderr, "at", s)
				return s
			}

			x := makeTensor(dt, n, mine)
			if err := g.AllReduce(x, Sum); err != nil {
				return err
			}
			if err := check(name("AllReduce sum"), x, n, sum); err != nil {
				return err
			}
			x = makeTensor(dt, n, mine)
			if err := g.AllReduce(x, Average); err != nil {
				return err
			}
			if err := check(name("AllReduce average"), x, n, func(i int) float64 { return div(sum(i)) }); err != nil {
				return err
			}

			root := world - 1
			x = makeTensor(dt, n, mine)
			if err := g.Broadcast(x, root); err != nil {
				return err
			}
			if err := check(name("Broadcast"), x, n, func(i int) float64 { return value(root, i) }); err != nil {
				return err
			}

			x = makeTensor(dt, n, mine)
			all, err := g.AllGather(x)
			if err != nil {
				return err
			}
			if s := all.Shape(); len(s) != 2 || s[0] != world || s[1] != n {
				return fmt.Errorf("%s: shape %v", name("AllGather"), s)
			}
			if err := check(name("AllGather"), all.Reshape(world*n), world*n, func(i int) float64 { return value(i/max(n, 1), i%max(n, 1)) }); err != nil {
				return err
			}
			all = nil

			counts := ShardSizes(n, world)
			off := 0
			for r := range rank {
				off += counts[r]
			}
			for _, op := range []ReduceOp{Sum, Average} {
				x = makeTensor(dt, n, mine)
				shard, err := g.ReduceScatter(x, op)
				if err != nil {
					return err
				}
				want := func(i int) float64 { return sum(off + i) }
				if op == Average {
					want = func(i int) float64 { return div(sum(off + i)) }
				}
				if err := check(name("ReduceScatter "+op.String()), shard, counts[rank], want); err != nil {
					return err
				}
				if err := check(name("ReduceScatter's input"), x, n, mine); err != nil {
					return err
				}
			}
			x = nil
		}
		// Random values: the order of the additions matters, and every rank
		// must still get the same bits.
		rng := rand.New(rand.NewPCG(uint64(rank), 7))
		x := makeTensor(dt, 100003, func(int) float64 { return rng.NormFloat64() })
		if err := g.AllReduce(x, Average); err != nil {
			return err
		}
		all, err := g.AllGather(x)
		if err != nil {
			return err
		}
		row0 := all.Index(0).Float64s()
		for r := 1; r < world; r++ {
			if err := check(fmt.Sprintf("random AllReduce %v, rank %d against rank 0", dt, r), all.Index(r), x.Size(), func(i int) float64 {
				return row0[i]
			}); err != nil {
				return err
			}
		}
	}
	// A strided view is reduced in place through a copy.
	m := makeTensor(tensor.Float64, 12, func(i int) float64 { return float64(i + rank) }).Reshape(3, 4)
	col := m.Slice(1, 1, 3)
	if err := g.AllReduce(col, Sum); err != nil {
		return err
	}
	for i, v := range m.Float64s() {
		want := float64(i + rank)
		if c := i % 4; c == 1 || c == 2 {
			want = 0
			for r := range world {
				want += float64(i + r)
			}
		}
		if v != want {
			return fmt.Errorf("AllReduce of a strided view: element %d is %v, want %v", i, v, want)
		}
	}
	if err := g.Barrier(); err != nil {
		return err
	}
	// Misuse is an *Error of kind ErrArgument, and does not abort the group.
	if err := g.Broadcast(tensor.Zeros([]int{2}), world); !errors.Is(err, ErrArgument) {
		return fmt.Errorf("Broadcast from root %d: %v, want ErrArgument", world, err)
	}
	if err := g.AllReduce(tensor.FromSlice([]int32{1}, []int{1}), Sum); !errors.Is(err, ErrArgument) {
		return fmt.Errorf("AllReduce of int32: %v, want ErrArgument", err)
	}
	if err := g.Barrier(); err != nil {
		return err
	}
	return g.Close()
}

func testCollectives(t *testing.T, n int) {
	needGloo(t)
	start := time.Now()
	env := []string{EnvTimeout + "=60s"}
	if testing.Short() {
		env = append(env, "TAPEGRAD_DIST_TEST_MAX=2000") // leave out the 16M case
	}
	res := spawn(t, n, "collectives", 3*time.Minute, env...)
	requireAll(t, res)
	t.Logf("%d ranks: %v", n, time.Since(start).Round(time.Millisecond))
}

func TestCollectives2(t *testing.T) { testCollectives(t, 2) }
func TestCollectives4(t *testing.T) { testCollectives(t, 4) }
