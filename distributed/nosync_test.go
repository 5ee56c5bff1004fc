package distributed

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// Gradient accumulation with NoSync on 2 and 4 ranks: k micro-batches per
// rank, k−1 backward passes inside NoSync and one outside, then Sync and
// an optimiser step, against one process taking one step on the
// concatenated global batch.
//
// Part one is exact: a linear layer with weights, inputs and targets
// that are small dyadic rationals, powers of two for the batch sizes, k,
// the world size and the learning rate, so that every sum and product is
// exact in float64 whatever its order: the parameters must equal the
// single process's bit for bit after each of three steps (the
// accumulation done three ways). Each NoSync call must submit no
// collective, and leave the rank's accumulated sum in the gradient
// buffers. Part two trains the MLP of the data-parallel test for
// nosyncSteps steps with 2 micro-batches per rank and compares with the
// single process within ddpTol64.

const (
	nosyncK     = 4 // micro-batches per rank and step
	nosyncMicro = 4 // examples per micro-batch
	nosyncIn    = 4
	nosyncOut   = 2
	nosyncSteps = 60
)

func init() {
	scenarios["nosync"] = nosyncChild
}

// dyadicLinear returns a Dense layer whose weights are multiples of 1/4.
func dyadicLinear() *nn.Dense {
	d := nn.NewDense(nosyncIn, nosyncOut, tensor.WithDType(tensor.Float64))
	w := make([]float64, nosyncIn*nosyncOut)
	for i := range w {
		w[i] = float64(i%5-2) / 4
	}
	autograd.Pause(func() {
		d.W.Assign(tensor.FromSlice(w, []int{nosyncIn, nosyncOut}))
		d.B.Assign(tensor.FromSlice([]float64{0.5, -0.25}, []int{nosyncOut}))
	})
	return d
}

// dyadicBatch returns step's global batch: n examples of small integers.
func dyadicBatch(step, n int) (x, y *tensor.Tensor) {
	xs, ys := make([]float64, n*nosyncIn), make([]float64, n*nosyncOut)
	for i := range xs {
		xs[i] = float64((i*7+step*3)%7 - 3)
	}
	for i := range ys {
		ys[i] = float64((i*5+step)%5 - 2)
	}
	return tensor.FromSlice(xs, []int{n, nosyncIn}), tensor.FromSlice(ys, []int{n, nosyncOut})
}

// microLoss is one micro-batch's share of the loss: its mean squared
// error over the number of micro-batches.
func microLoss(model nn.Layer, x, y *tensor.Tensor, k int) *tensor.Tensor {
	var loss *tensor.Tensor
	autograd.Record(func() { loss = nn.MSE(model.Forward(x), y).DivScalar(float64(k)) })
	return loss
}

func bitwiseEqual(what string, got, want []*tensor.Tensor) error {
	for i := range want {
		a, b := got[i].Float64s(), want[i].Float64s()
		for j := range b {
			if math.Float64bits(a[j]) != math.Float64bits(b[j]) {
				return fmt.Errorf("%s: tensor %d element %d is %v, want %v", what, i, j, a[j], b[j])
			}
		}
	}
	return nil
}

func nosyncChild() error {
	g, err := InitFromEnv()
	if err != nil {
		return err
	}
	rank, world := g.Rank(), g.WorldSize()
	global := world * nosyncK * nosyncMicro

	// Part one: exact.
	model := dyadicLinear()
	dp, err := NewDataParallel(g, model, DataParallelOptions{BucketBytes: 16}) // a bucket per parameter
	if err != nil {
		return err
	}
	ref := dyadicLinear()
	opt := optim.NewSGD(model.Params(), 0.125, 0, 0)
	refOpt := optim.NewSGD(ref.Params(), 0.125, 0, 0)
	for step := 0; step < 3; step++ {
		x, y := dyadicBatch(step, global)
		// This rank's examples: a contiguous share, in k micro-batches.
		share := nosyncK * nosyncMicro
		micro := func(j int) (*tensor.Tensor, *tensor.Tensor) {
			lo := rank*share + j*nosyncMicro
			return x.Slice(0, lo, lo+nosyncMicro), y.Slice(0, lo, lo+nosyncMicro)
		}
		backward := func(j int) error {
			mx, my := micro(j)
			microLoss(model, mx, my, nosyncK).Backward()
			return nil
		}
		// Three ways to accumulate: one NoSync call for k−1 passes, one
		// call per pass, and every pass inside NoSync with the reduction
		// at Sync.
		noSync := func(f func() error) error {
			before := g.submitted.Load()
			in0, at0 := dp.Launches()
			if err := dp.NoSync(f); err != nil {
				return err
			}
			if n := g.submitted.Load() - before; n != 0 {
				return fmt.Errorf("step %d: %d collectives submitted inside NoSync", step, n)
			}
			if in, at := dp.Launches(); in != in0 || at != at0 {
				return fmt.Errorf("step %d: buckets launched inside NoSync", step)
			}
			return nil
		}
		synced := nosyncK - 1
		switch step {
		case 0:
			err = noSync(func() error {
				for j := 0; j < nosyncK-1; j++ {
					if err := backward(j); err != nil {
						return err
					}
				}
				return nil
			})
		case 1:
			for j := 0; j < nosyncK-1 && err == nil; j++ {
				err = noSync(func() error { return backward(j) })
			}
		case 2:
			synced = -1
			err = noSync(func() error {
				for j := 0; j < nosyncK; j++ {
					if err := backward(j); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			return err
		}
		// The gradient buffers hold this rank's sum so far: the gradient
		// of the micro-batches' losses together (exact, so bitwise).
		last := nosyncK - 1
		if synced < 0 {
			last = nosyncK
		}
		local := dyadicLinear()
		autograd.Pause(func() {
			for i, p := range local.Params() {
				p.Assign(model.Params()[i])
			}
		})
		lx, ly := x.Slice(0, rank*share, rank*share+last*nosyncMicro), y.Slice(0, rank*share, rank*share+last*nosyncMicro)
		var l *tensor.Tensor
		// Σ r² over the examples / (m·out·k): dyadic, so exact.
		autograd.Record(func() {
			l = nn.MSE(local.Forward(lx), ly, nn.ReduceSum).DivScalar(nosyncMicro * nosyncOut * nosyncK)
		})
		l.Backward()
		var grads, want []*tensor.Tensor
		for i, p := range model.Params() {
			grads, want = append(grads, p.Grad()), append(want, local.Params()[i].Grad())
		}
		if err := bitwiseEqual(fmt.Sprintf("step %d: gradient buffers after NoSync", step), grads, want); err != nil {
			return err
		}
		if synced >= 0 {
			if err := backward(synced); err != nil {
				return err
			}
		}
		if err := dp.Sync(); err != nil {
			return err
		}
		opt.Step()
		// One process, one step on the global batch.
		microLoss(ref, x, y, 1).Backward()
		refOpt.Step()
		if err := bitwiseEqual(fmt.Sprintf("step %d: parameters against one process", step), model.Params(), ref.Params()); err != nil {
			return err
		}
	}
	in, at := dp.Launches()
	dp.Close()
	if in == 0 {
		return fmt.Errorf("no bucket launched from a hook after NoSync (%d at Sync)", at)
	}

	// Part two: the MLP, 2 micro-batches per rank, within tolerance.
	const k = 2
	dt := tensor.Float64
	tensor.Seed(ddpSeed + uint64(rank))
	mlp := ddpModel(dt)
	dp, err = NewDataParallel(g, mlp, DataParallelOptions{BucketBytes: 512})
	if err != nil {
		return err
	}
	d := ddpData(dt)
	start := time.Now()
	opt = optim.NewSGD(mlp.Params(), 0.05, 0.9, 0)
	step := 0
	for epoch := 0; step < nosyncSteps; epoch++ {
		for b := range d.Batches(ddpBatch/world, true, ddpSeed+uint64(epoch), data.Shard(rank, world), data.DropLast()) {
			m := b[0].Shape()[0] / k
			for j := 0; j < k; j++ {
				bx, by := b[0].Slice(0, j*m, (j+1)*m), b[1].Slice(0, j*m, (j+1)*m)
				pass := func() error { microLoss(mlp, bx, by, k).Backward(); return nil }
				if j < k-1 {
					err = dp.NoSync(pass)
				} else {
					err = pass()
				}
				if err != nil {
					return err
				}
			}
			if err := dp.Sync(); err != nil {
				return err
			}
			opt.Step()
			if step++; step == nosyncSteps {
				break
			}
		}
	}
	elapsed := time.Since(start)
	dp.Close()
	if rank == 0 {
		tensor.Seed(ddpSeed)
		refMLP := ddpModel(dt)
		refOpt := optim.NewSGD(refMLP.Params(), 0.05, 0.9, 0)
		step := 0
		for epoch := 0; step < nosyncSteps; epoch++ {
			for b := range d.Batches(ddpBatch, true, ddpSeed+uint64(epoch), data.DropLast()) {
				microLoss(refMLP, b[0], b[1], 1).Backward()
				refOpt.Step()
				if step++; step == nosyncSteps {
					break
				}
			}
		}
		maxDiff, maxAbs := 0.0, 0.0
		for i, p := range refMLP.Params() {
			a, b := mlp.Params()[i].Float64s(), p.Float64s()
			for j := range a {
				maxDiff = math.Max(maxDiff, math.Abs(a[j]-b[j]))
				maxAbs = math.Max(maxAbs, math.Abs(b[j]))
			}
		}
		fmt.Printf("RESULT nosync world=%d: 3 exact steps bitwise equal; MLP %d steps of %d micro-batches: max|diff|/max|param|=%.3g (tol %g) time=%v\n",
			world, nosyncSteps, k, maxDiff/maxAbs, ddpTol64, elapsed.Round(time.Millisecond))
		if !(maxDiff <= ddpTol64*maxAbs) {
			return fmt.Errorf("MLP with NoSync: parameters differ from one process's by %g (max |param| %g)", maxDiff, maxAbs)
		}
	}
	return g.Close()
}

func testNoSync(t *testing.T, world int) {
	needGloo(t)
	res := spawn(t, world, "nosync", 2*time.Minute, EnvTimeout+"=30s")
	requireAll(t, res)
	t.Log(res[0].output)
}

func TestNoSync2(t *testing.T) { testNoSync(t, 2) }
func TestNoSync4(t *testing.T) { testNoSync(t, 4) }
