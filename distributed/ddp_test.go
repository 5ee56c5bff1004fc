package distributed

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// Data-parallel training of an MLP for 200 steps with global batch B over
// 2 and 4 ranks against single-process training with batch B, from the
// same initial weights on the same examples per step, in float64 and
// float32. The per-rank losses are means over B/world examples and the
// gradients are averaged over the ranks, so the update equals the
// single-process one up to the order of the additions: the parameters
// must agree within ddpTol64 / ddpTol32 (relative to the largest
// parameter; measured: about 1e-15 in float64 and 4e-7 in float32 on 2
// and 4 ranks; with one rank they are equal bit for bit), and every rank's
// parameters must equal rank 0's bit for bit.

const (
	ddpSteps     = 200
	ddpBatch     = 32 // global
	ddpExamples  = 256
	ddpSeed      = 11
	ddpTol64     = 1e-12
	ddpTol32     = 2e-5
	ddpBucketEnv = "TAPEGRAD_DIST_TEST_BUCKET"
)

func init() {
	scenarios["ddp"] = ddpChild
}

func ddpModel(dt tensor.DType) nn.Sequential {
	o := tensor.WithDType(dt)
	return nn.Sequential{nn.NewDense(8, 32, o), nn.ReLU{}, nn.NewDense(32, 16, o), nn.Tanh{}, nn.NewDense(16, 4, o)}
}

func ddpData(dt tensor.DType) *data.Tensors {
	gen := tensor.NewGenerator(99)
	x := tensor.RandNormal(0, 1, []int{ddpExamples, 8}, tensor.WithDType(dt), tensor.WithGenerator(gen))
	w := tensor.RandNormal(0, 1, []int{8, 4}, tensor.WithDType(dt), tensor.WithGenerator(gen))
	y := x.MatMul(w).Sin()
	return data.NewTensors(x, y)
}

// train runs ddpSteps steps of SGD with momentum; dp is nil for the
// single process. It returns the parameters.
func train(model nn.Sequential, dp *DataParallel, d *data.Tensors, batch int, opts ...data.Option) ([]*tensor.Tensor, error) {
	opt := optim.NewSGD(model.Params(), 0.05, 0.9, 0)
	step := 0
	for epoch := 0; step < ddpSteps; epoch++ {
		for b := range d.Batches(batch, true, ddpSeed+uint64(epoch), append(opts, data.DropLast())...) {
			var loss *tensor.Tensor
			autograd.Record(func() { loss = nn.MSE(model.Forward(b[0]), b[1]) })
			loss.Backward()
			if dp != nil {
				if err := dp.Sync(); err != nil {
					return nil, err
				}
			}
			opt.Step()
			if step++; step == ddpSteps {
				break
			}
		}
	}
	return model.Params(), nil
}

func ddpChild() error {
	g, err := InitFromEnv()
	if err != nil {
		return err
	}
	rank, world := g.Rank(), g.WorldSize()
	bucketBytes, _ := strconv.Atoi(os.Getenv(ddpBucketEnv))
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		// Different initial weights on every rank: NewDataParallel must
		// broadcast rank 0's.
		tensor.Seed(ddpSeed + uint64(rank))
		model := ddpModel(dt)
		dp, err := NewDataParallel(g, model, DataParallelOptions{BucketBytes: bucketBytes})
		if err != nil {
			return err
		}
		d := ddpData(dt)
		start := time.Now()
		params, err := train(model, dp, d, ddpBatch/world, data.Shard(rank, world))
		if err != nil {
			return err
		}
		elapsed := time.Since(start)
		inBackward, atSync := dp.Launches()
		dp.Close()
		if bucketBytes > 0 && len(dp.Buckets()) > 1 && inBackward == 0 {
			return fmt.Errorf("%v: %d buckets, none launched while backward ran", dt, len(dp.Buckets()))
		}
		// Every rank has rank 0's parameters, bit for bit.
		for i, p := range params {
			all, err := g.AllGather(p)
			if err != nil {
				return err
			}
			mine := p.Float64s()
			for r := range world {
				for j, v := range all.Index(r).Float64s() {
					if math.Float64bits(v) != math.Float64bits(mine[j]) {
						return fmt.Errorf("%v: parameter %d element %d is %v on rank %d, %v here", dt, i, j, v, r, mine[j])
					}
				}
			}
		}
		if rank != 0 {
			continue
		}
		// The single process with the global batch, from rank 0's weights.
		tensor.Seed(ddpSeed)
		ref, err := train(ddpModel(dt), nil, d, ddpBatch)
		if err != nil {
			return err
		}
		maxDiff, maxAbs := 0.0, 0.0
		for i := range ref {
			a, b := params[i].Float64s(), ref[i].Float64s()
			for j := range a {
				maxDiff = math.Max(maxDiff, math.Abs(a[j]-b[j]))
				maxAbs = math.Max(maxAbs, math.Abs(b[j]))
			}
		}
		tol := ddpTol64
		if dt == tensor.Float32 {
			tol = ddpTol32
		}
		fmt.Printf("RESULT %v world=%d buckets=%d launched-in-backward=%d at-sync=%d max|diff|/max|param|=%.3g (tol %g) dp-time=%v\n",
			dt, world, len(dp.Buckets()), inBackward, atSync, maxDiff/maxAbs, tol, elapsed.Round(time.Millisecond))
		if !(maxDiff <= tol*maxAbs) {
			return fmt.Errorf("%v: data-parallel parameters differ from single-process ones by %g (max |param| %g, tol %g)", dt, maxDiff, maxAbs, tol)
		}
	}
	return g.Close()
}

func testDDP(t *testing.T, world int, bucketBytes int) {
	needGloo(t)
	res := spawn(t, world, "ddp", 3*time.Minute, EnvTimeout+"=60s", ddpBucketEnv+"="+strconv.Itoa(bucketBytes))
	requireAll(t, res)
	t.Log(res[0].output)
}

// Two ranks with buckets of 512 bytes (several buckets, launched from the
// hooks while backward runs); four with the default 25 MB (one bucket).
func TestDataParallel2(t *testing.T) { testDDP(t, 2, 512) }
func TestDataParallel4(t *testing.T) { testDDP(t, 4, 0) }
