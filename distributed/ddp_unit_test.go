package distributed

import (
	"errors"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// twoHeads uses its second layer only when second is set: a parameter that
// a backward pass does not reach.
type twoHeads struct {
	a, b   *nn.Dense
	second bool
}

func (m *twoHeads) Forward(x *tensor.Tensor) *tensor.Tensor {
	if m.second {
		return m.b.Forward(x)
	}
	return m.a.Forward(x)
}

func (m *twoHeads) Params() []*tensor.Tensor { return append(m.a.Params(), m.b.Params()...) }

func oneRank(t *testing.T) *ProcessGroup {
	t.Helper()
	needGloo(t)
	g, err := Init(Options{Rank: 0, WorldSize: 1, MasterAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// Sync gives parameters that backward did not reach a zero gradient, and
// reports a second backward pass before Sync as ErrArgument.
func TestDataParallelUnusedAndTwice(t *testing.T) {
	g := oneRank(t)
	m := &twoHeads{a: nn.NewDense(3, 2), b: nn.NewDense(3, 2)}
	// Stale values in b's gradients, which Sync must overwrite with zeros.
	for _, p := range m.b.Params() {
		p.Grad().Assign(tensor.Ones(p.Shape()))
	}
	dp, err := NewDataParallel(g, m, DataParallelOptions{BucketBytes: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if n := len(dp.Buckets()); n != 4 {
		t.Fatalf("%d buckets of 16 bytes for 4 parameters, want 4: %v", n, dp.Buckets())
	}
	x := tensor.Ones([]int{4, 3})
	step := func() {
		var loss *tensor.Tensor
		autograd.Record(func() { loss = dp.Forward(x).Sum() })
		loss.Backward()
	}
	step()
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.b.Params() {
		for _, v := range p.Grad().Float32s() {
			if v != 0 {
				t.Fatalf("the unused layer's gradient is %v after Sync, want zeros", p.Grad())
			}
		}
	}
	if got := m.a.B.Grad().Float32s(); got[0] != 4 || got[1] != 4 {
		t.Fatalf("the used layer's bias gradient is %v, want [4 4]", got)
	}
	// b's buckets come first in launch order (reverse parameter order)
	// and never fill, so a's wait behind them for Sync: buckets launch in
	// order, the same on every rank.
	if in, at := dp.Launches(); in != 0 || at != 4 {
		t.Fatalf("launches: %d from hooks, %d by Sync; want 0 and 4", in, at)
	}
	step()
	step()
	if err := dp.Sync(); !errors.Is(err, ErrArgument) {
		t.Fatalf("Sync after two backward passes: %v, want ErrArgument", err)
	}
	// The next step is clean again.
	step()
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
}

// NoSync on one rank: the passes inside it launch nothing and sum their
// gradients, which the gradient buffers hold when it returns; the next
// pass outside adds to the sum and Sync writes it. Sync inside NoSync,
// and a pass inside NoSync after a synchronised one, are ErrArgument.
func TestDataParallelNoSync(t *testing.T) {
	g := oneRank(t)
	m := nn.NewDense(3, 2, tensor.WithDType(tensor.Float64))
	dp, err := NewDataParallel(g, m, DataParallelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	xs := []*tensor.Tensor{
		tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, []int{2, 3}),
		tensor.FromSlice([]float64{-1, 0.5, 2, 0, 1, -3}, []int{2, 3}),
		tensor.FromSlice([]float64{7, 1, -2, 3, 3, 3}, []int{2, 3}),
	}
	pass := func(x *tensor.Tensor) {
		var loss *tensor.Tensor
		autograd.Record(func() { loss = dp.Forward(x).Square().Sum() })
		loss.Backward()
	}
	// The gradients of each pass alone, and their running sums.
	var single, sums [][]*tensor.Tensor
	for k, x := range xs {
		pass(x)
		if err := dp.Sync(); err != nil {
			t.Fatal(err)
		}
		var one, sum []*tensor.Tensor
		for i, p := range m.Params() {
			one = append(one, p.Grad().Clone())
			if k == 0 {
				sum = append(sum, p.Grad().Clone())
			} else {
				sum = append(sum, sums[k-1][i].Add(p.Grad()))
			}
		}
		single, sums = append(single, one), append(sums, sum)
	}
	equal := func(what string, want []*tensor.Tensor) {
		t.Helper()
		for i, p := range m.Params() {
			a, b := p.Grad().Float64s(), want[i].Float64s()
			for j := range a {
				if a[j] != b[j] {
					t.Fatalf("%s: parameter %d's gradient %v, want %v", what, i, a, b)
				}
			}
		}
	}
	in0, at0 := dp.Launches()
	sub0 := g.submitted.Load()
	if err := dp.NoSync(func() error {
		pass(xs[0])
		return dp.NoSync(func() error { pass(xs[1]); return nil }) // nested
	}); err != nil {
		t.Fatal(err)
	}
	if in, at := dp.Launches(); in != in0 || at != at0 || g.submitted.Load() != sub0 {
		t.Fatalf("NoSync launched buckets or submitted collectives")
	}
	equal("after NoSync", sums[1])
	if err := dp.NoSync(dp.Sync); !errors.Is(err, ErrArgument) {
		t.Fatalf("Sync inside NoSync: %v, want ErrArgument", err)
	}
	pass(xs[2])
	if in, _ := dp.Launches(); in != in0+1 {
		t.Fatalf("the synchronised pass after NoSync launched %d buckets from its hooks, want 1", in-in0)
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	equal("after Sync", sums[2])
	// f's error comes back; the state is clean for the next step.
	sentinel := errors.New("f failed")
	if err := dp.NoSync(func() error { pass(xs[0]); return sentinel }); err != sentinel {
		t.Fatalf("NoSync returned %v, want f's error", err)
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	equal("Sync after a NoSync pass only", single[0])
	// A pass inside NoSync after a synchronised one, before Sync.
	pass(xs[0])
	if err := dp.NoSync(func() error { pass(xs[1]); return nil }); !errors.Is(err, ErrArgument) {
		t.Fatalf("NoSync pass after a synchronised one: %v, want ErrArgument", err)
	}
	if err := dp.Sync(); !errors.Is(err, ErrArgument) {
		t.Fatalf("Sync after the misuse: %v, want ErrArgument", err)
	}
	pass(xs[1])
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	equal("the step after the misuse", single[1])
}

// NewGroup's arguments, on one rank.
func TestNewGroupOneRank(t *testing.T) {
	g := oneRank(t)
	for _, bad := range [][]int{nil, {1}, {0, 0}, {-1}} {
		if _, err := g.NewGroup(bad); !errors.Is(err, ErrArgument) {
			t.Fatalf("NewGroup(%v): %v, want ErrArgument", bad, err)
		}
	}
	sub, err := g.NewGroup([]int{0})
	if err != nil {
		t.Fatal(err)
	}
	if !sub.Member() || sub.Rank() != 0 || sub.WorldSize() != 1 {
		t.Fatalf("member %v, rank %d of %d", sub.Member(), sub.Rank(), sub.WorldSize())
	}
	x := tensor.Ones([]int{3})
	if err := sub.AllReduce(x, Average); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	// The parent's store outlives the subgroup.
	if err := g.Barrier(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.NewGroup([]int{0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewGroup on a closed group: %v, want ErrClosed", err)
	}
}
