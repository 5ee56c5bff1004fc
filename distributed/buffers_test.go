package distributed

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// Buffers under DataParallel: a model with BatchNorm1d trains on
// different data on every rank, so that each rank's forward passes move
// its running statistics differently. By default every Sync broadcasts
// rank 0's buffers: after each step every rank's running mean and
// variance equal rank 0's bit for bit, and rank 0's are what its own
// forward passes made them. With LocalBuffers they stay the ranks' own
// (rank 1's differ from rank 0's) until SyncBuffers. The buffers travel
// in one broadcast per Sync.

func init() {
	scenarios["buffers"] = buffersChild
}

func bnModel() nn.Sequential {
	o := tensor.WithDType(tensor.Float64)
	return nn.Sequential{nn.NewDense(6, 8, o), nn.NewBatchNorm1d(8, o), nn.ReLU{}, nn.NewDense(8, 1, o)}
}

// buffersAgree reports whether every rank's buffers equal rank 0's bit
// for bit; an error is a failed collective.
func buffersAgree(g *ProcessGroup, bufs []nn.NamedTensor) (bool, error) {
	same := true
	for _, b := range bufs {
		all, err := g.AllGather(b.Tensor)
		if err != nil {
			return false, err
		}
		row0 := all.Index(0).Float64s()
		for r := 1; r < g.WorldSize(); r++ {
			for j, v := range all.Index(r).Float64s() {
				if math.Float64bits(v) != math.Float64bits(row0[j]) {
					same = false
				}
			}
		}
	}
	return same, nil
}

func buffersChild() error {
	g, err := InitFromEnv()
	if err != nil {
		return err
	}
	rank := g.Rank()
	for _, local := range []bool{false, true} {
		tensor.Seed(3 + uint64(rank))
		model := bnModel()
		dp, err := NewDataParallel(g, model, DataParallelOptions{LocalBuffers: local})
		if err != nil {
			return err
		}
		bufs := dp.NamedBuffers()
		if len(bufs) != 2 || bufs[0].Name != "1.running_mean" || bufs[1].Name != "1.running_var" {
			return fmt.Errorf("buffers %v", bufs)
		}
		if same, err := buffersAgree(g, bufs); err != nil || !same {
			return fmt.Errorf("buffers after NewDataParallel: the same on every rank %v (%v)", same, err)
		}
		opt := optim.NewSGD(model.Params(), 0.01, 0, 0)
		gen := tensor.NewGenerator(100 + uint64(rank)) // every rank its own data
		for step := 0; step < 4; step++ {
			x := tensor.RandNormal(float64(rank), 1+float64(rank), []int{16, 6}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(gen))
			// Rank 0's buffers as its own forward pass leaves them.
			var want [][]float64
			var loss *tensor.Tensor
			before := g.submitted.Load()
			autograd.Record(func() { loss = dp.Forward(x).Square().Mean() })
			for _, b := range bufs {
				want = append(want, b.Tensor.Float64s())
			}
			loss.Backward()
			if err := dp.Sync(); err != nil {
				return err
			}
			// One collective per bucket (from backward's hooks or Sync),
			// and one for all the buffers.
			calls := int64(len(dp.Buckets()) + 1)
			if local {
				calls--
			}
			if n := g.submitted.Load() - before; n != calls {
				return fmt.Errorf("LocalBuffers %v: Sync submitted %d collectives, want %d", local, n, calls)
			}
			opt.Step()
			same, err := buffersAgree(g, bufs)
			if err != nil {
				return err
			}
			if same == local {
				return fmt.Errorf("LocalBuffers %v, step %d: the ranks' buffers are the same: %v", local, step, same)
			}
			if rank == 0 {
				for i, b := range bufs {
					for j, v := range b.Tensor.Float64s() {
						if math.Float64bits(v) != math.Float64bits(want[i][j]) {
							return fmt.Errorf("step %d: rank 0's %s changed in Sync", step, b.Name)
						}
					}
				}
			}
		}
		if local {
			if err := dp.SyncBuffers(); err != nil {
				return err
			}
			if same, err := buffersAgree(g, bufs); err != nil || !same {
				return fmt.Errorf("buffers after SyncBuffers: the same on every rank %v (%v)", same, err)
			}
		}
		dp.Close()
	}
	if rank == 0 {
		fmt.Printf("RESULT buffers world=%d: rank 0's after every Sync by default, the ranks' own with LocalBuffers until SyncBuffers\n", g.WorldSize())
	}
	return g.Close()
}

func testBuffers(t *testing.T, world int) {
	needGloo(t)
	res := spawn(t, world, "buffers", 2*time.Minute, EnvTimeout+"=30s")
	requireAll(t, res)
	t.Log(res[0].output)
}

func TestBuffers2(t *testing.T) { testBuffers(t, 2) }
func TestBuffers4(t *testing.T) { testBuffers(t, 4) }
