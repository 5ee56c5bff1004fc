// The fashion/epoch case: one epoch of Fashion-MNIST training with the MLP
// 784-256-128-10, as tapegrad's harness runs it (bench/cases.go,
// fashionEpoch). The data, the shuffle order and the initial weights come
// from tapegrad's own data and nn packages (untimed), so both libraries
// train the same net on the same batches; the training loop is gorgonia's.

package main

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/nn"
	tg "github.com/tapegrad/tapegrad/tensor"
)

// pixelUnit[v] is v/255 in float32: tapegrad's data package scales pixels
// the same way (255 gives exactly 1).
var pixelUnit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// fashionSizes are the layer widths of the MLP.
var fashionSizes = []int{784, 256, 128, 10}

// fashionWeights returns the MLP's parameters as tapegrad's case makes
// them, by making them the same way: tg.Seed(1), then nn.NewDense(784,
// 256), (256, 128), (128, 10) on the CPU (He-uniform weights [in, out],
// zero biases), copied into gorgonia tensors. Order: w1, b1, w2, b2, w3, b3.
func fashionWeights() []*tensor.Dense {
	tg.Seed(1)
	var ps []*tensor.Dense
	for l := 0; l+1 < len(fashionSizes); l++ {
		in, out := fashionSizes[l], fashionSizes[l+1]
		layer := nn.NewDense(in, out, tg.On(device.CPU()))
		ps = append(ps, dense(layer.W.Float32s(), in, out), dense(layer.B.Float32s(), out))
	}
	return ps
}

// fashionNet is the MLP's graph for one batch size, compiled once into a
// tape machine. Nets of different batch sizes share the parameters' values
// (the same *tensor.Dense, updated in place by the solver), so the epoch's
// last, smaller batch runs on a second net.
type fashionNet struct {
	batch  int
	x, y   *G.Node       // [batch, 784] images, [batch, 10] one-hot labels
	xv, yv *tensor.Dense // their values, refilled every step
	loss   *G.Node
	model  []G.ValueGrad // each parameter with its symbolic gradient
	vm     G.VM
}

func newFashionNet(batch int, params []*tensor.Dense) (*fashionNet, error) {
	g := G.NewGraph()
	net := &fashionNet{batch: batch}
	net.x = G.NewTensor(g, tensor.Float32, 2, G.WithShape(batch, 784), G.WithName("x"))
	net.y = G.NewTensor(g, tensor.Float32, 2, G.WithShape(batch, 10), G.WithName("onehot"))
	net.xv = dense(make([]float32, batch*784), batch, 784)
	net.yv = dense(make([]float32, batch*10), batch, 10)
	var nodes G.Nodes
	h := net.x
	for l := 0; l+1 < len(fashionSizes); l++ {
		w := G.NewTensor(g, tensor.Float32, 2, G.WithShape(fashionSizes[l], fashionSizes[l+1]),
			G.WithName(fmt.Sprintf("w%d", l+1)), G.WithValue(params[2*l]))
		b := G.NewTensor(g, tensor.Float32, 1, G.WithShape(fashionSizes[l+1]),
			G.WithName(fmt.Sprintf("b%d", l+1)), G.WithValue(params[2*l+1]))
		nodes = append(nodes, w, b)
		mm, err := G.Mul(h, w)
		if err != nil {
			return nil, err
		}
		if h, err = G.BroadcastAdd(mm, b, nil, []byte{0}); err != nil {
			return nil, err
		}
		if l+2 < len(fashionSizes) {
			if h, err = G.Rectify(h); err != nil {
				return nil, err
			}
		}
	}
	// Mean cross-entropy against one-hot labels: -sum(logsoftmax ⊙ y)/batch.
	logp, err := G.LogSoftMax(h)
	if err != nil {
		return nil, err
	}
	prod, err := G.HadamardProd(logp, net.y)
	if err != nil {
		return nil, err
	}
	sum, err := G.Sum(prod)
	if err != nil {
		return nil, err
	}
	if net.loss, err = G.Mul(sum, G.NewConstant(float32(-1/float64(batch)))); err != nil {
		return nil, err
	}
	grads, err := G.Grad(net.loss, nodes...)
	if err != nil {
		return nil, err
	}
	for i := range nodes {
		net.model = append(net.model, symGrad{nodes[i], grads[i]})
	}
	// The matmul's symbolic derivative makes the gradients of both operands,
	// so Grad also builds the gradient of the input batch x ([batch, 784],
	// 28 % of a step's flops), which nothing reads; tapegrad does not compute
	// it (x has no gradient attached). The tape machine runs every node of
	// the graph it gets, so it gets only the loss, the parameters' gradients
	// and what they need.
	net.vm = G.NewTapeMachine(g.ExactSubgraphRoots(append(G.Nodes{net.loss}, grads...)...))
	return net, nil
}

// step trains on the examples idx of d (len(idx) == net.batch): it fills
// the batch (pixels v/255, one-hot labels) as tapegrad's Batches assembles
// one, binds it with Let, runs forward and backward, reads the loss back and
// applies the solver. It returns the loss.
func (net *fashionNet) step(d *data.Dataset, idx []int, solver G.Solver) (float32, error) {
	xs, ys := net.xv.Data().([]float32), net.yv.Data().([]float32)
	clear(ys)
	for j, i := range idx {
		dst := xs[j*784 : (j+1)*784]
		for k, v := range d.Image(i) {
			dst[k] = pixelUnit[v]
		}
		ys[j*10+d.Label(i)] = 1
	}
	if err := G.Let(net.x, net.xv); err != nil {
		return 0, err
	}
	if err := G.Let(net.y, net.yv); err != nil {
		return 0, err
	}
	if err := net.vm.RunAll(); err != nil {
		return 0, err
	}
	loss := f32s(net.loss.Value())[0]
	net.vm.Reset()
	if err := solver.Step(net.model); err != nil {
		return 0, err
	}
	return loss, nil
}

// fashionRun is what one warm-up plus timed epoch gives.
type fashionRun struct {
	elapsed     time.Duration // the timed epoch
	steps, warm int
	first, last float32 // losses of the epoch's first and last steps
}

// trainFashion trains tapegrad's fashion/epoch MLP on d as tapegrad's case
// does: the weights of tensor.Seed(1), Adam lr 1e-3, batches of 128 in the
// order of tapegrad's data.Permutation (the last batch keeps the remaining
// examples), 20 warm-up steps in the order of seed 99, then one timed epoch
// in the order of seed 1 with the loss read back every step. The tape
// machines are compiled before the warm-up, outside the timed epoch.
func trainFashion(d *data.Dataset, batch int) (*fashionRun, error) {
	const warmSteps = 20
	n := d.Len()
	if n == 0 {
		return nil, errors.New("empty dataset")
	}
	params := fashionWeights()
	nets := map[int]*fashionNet{}
	for _, b := range []int{min(batch, n), n % batch} {
		if b == 0 || nets[b] != nil {
			continue
		}
		net, err := newFashionNet(b, params)
		if err != nil {
			return nil, err
		}
		defer net.vm.Close()
		nets[b] = net
	}
	// One solver for both nets: it keeps its moments by the position of a
	// parameter in the model, which is the same in every net.
	solver := G.NewAdamSolver(G.WithLearnRate(1e-3))
	pass := func(seed uint64, limit int, each func(loss float32)) (int, error) {
		order := data.Permutation(n, seed)
		steps := 0
		for lo := 0; lo < n && steps != limit; lo += batch {
			b := min(batch, n-lo)
			loss, err := nets[b].step(d, order[lo:lo+b], solver)
			if err != nil {
				return steps, err
			}
			if each != nil {
				each(loss)
			}
			steps++
		}
		return steps, nil
	}
	warm, err := pass(99, warmSteps, nil)
	if err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	res := &fashionRun{warm: warm}
	start := time.Now()
	started := false
	res.steps, err = pass(1, -1, func(loss float32) {
		if !started {
			res.first, started = loss, true
		}
		res.last = loss
	})
	res.elapsed = time.Since(start)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// fashionEpoch is the case fashion/epoch (tapegrad's bench/cases.go,
// fashionEpoch): one timed epoch over the Fashion-MNIST training set (the
// first 6000 images with -quick); value = images/s. Without the dataset, or
// if the loss does not fall over the epoch, the case is recorded as
// skipped with the reason.
func fashionEpoch(r *peerkit.Runner) {
	const name, batch = "fashion/epoch", 128
	n := 60000
	if r.Opt.Quick {
		n = 6000
	}
	c := peerkit.Case{Name: name, Mode: "tape", Size: int64(n), Unit: "images/s",
		Note: "Fashion-MNIST, MLP 784-256-128-10 (ReLU as gorgonia's Rectify), batch 128 (the last batch keeps the rest, on a second tape machine " +
			"sharing the weights), LogSoftMax cross-entropy against one-hot labels (gorgonia has no integer-label loss), " +
			"AdamSolver lr 1e-3 (defaults beta1 0.9, beta2 0.999, eps 1e-8 and the update w -= lr*mhat/(sqrt(vhat)+eps) as tapegrad's optim.NewAdam; " +
			"gorgonia computes it in float32 with the bias corrections rounded to float32, on cloned tensors), " +
			"weights and shuffle orders bit-identical to tapegrad's (He-uniform of tensor.Seed(1), data.Permutation seeds 99 and 1), pixels v/255; " +
			"tape machines compiled once before the warm-up (on the subgraph of the loss and the parameters' gradients: without it gorgonia also computes " +
			"the unused gradient of the input batch, 28 % of the flops, 1.4x the time per step here), batch bound with Let every step; one epoch after 20 warm-up steps, loss read every step"}
	dir, err := data.FashionMNISTDir()
	var d *data.Dataset
	if err == nil {
		d, err = data.Load(filepath.Join(dir, data.FashionMNISTTrainImages), filepath.Join(dir, data.FashionMNISTTrainLabels))
	}
	if err != nil {
		c.Skipped = peerkit.OneLine("dataset not available: " + err.Error())
		r.Add(c)
		return
	}
	if r.Opt.Quick {
		d = d.Subset(n)
	}
	c.Size = int64(d.Len())
	res, err := trainFashion(d, batch)
	if err != nil {
		c.Skipped = peerkit.OneLine("error: " + err.Error())
		r.Add(c)
		return
	}
	if math.IsNaN(float64(res.last)) || !(res.last < res.first) {
		c.Skipped = fmt.Sprintf("loss %g at the start, %g at the end: not training", res.first, res.last)
		r.Add(c)
		return
	}
	ns := max(1, res.elapsed.Nanoseconds())
	c.MedianNs, c.MinNs, c.MaxNs, c.Reps = ns, ns, ns, 1
	c.Value = peerkit.Round3(float64(d.Len()) / res.elapsed.Seconds())
	if res.warm < 20 {
		c.Note = peerkit.Join(c.Note, fmt.Sprintf("only %d warm-up steps (one pass over a small dataset)", res.warm))
	}
	c.Note = peerkit.Join(c.Note, fmt.Sprintf("%d steps, loss %.3f -> %.3f; data from %s", res.steps, res.first, res.last, dir))
	r.Add(c)
}
