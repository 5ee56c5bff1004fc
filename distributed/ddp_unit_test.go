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
