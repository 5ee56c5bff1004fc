// The fashion/epoch case: one epoch of Fashion-MNIST training with the MLP
// 784-256-128-10, as tapegrad's harness runs it (bench/cases.go,
// fashionEpoch). This file is gorgonia's only (not shared with the GoMLX
// peer): the IDX reader, the dataset lookup, tapegrad's shuffle and
// initialisation streams reimplemented (the peer must not import tapegrad),
// and the training loop.

package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sync"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Where the dataset is looked for, in the order of tapegrad's
// data.FashionMNISTDir (and of torch_bench.py's fashion_dir).
const (
	fashionEnv       = "TAPEGRAD_FASHION_MNIST"
	fashionSystemDir = "/usr/share/datasets/fashion-mnist"
	fashionCacheDir  = ".cache/fashion-mnist"
	fashionImages    = "train-images-idx3-ubyte.gz"
	fashionLabels    = "train-labels-idx1-ubyte.gz"

	idxImageMagic = 0x00000803 // unsigned bytes, 3 dimensions
	idxLabelMagic = 0x00000801 // unsigned bytes, 1 dimension
)

// fashionDir returns the Fashion-MNIST directory as tapegrad's
// data.FashionMNISTDir does: $TAPEGRAD_FASHION_MNIST if set (whether or not
// it holds the files), else the first of /usr/share/datasets/fashion-mnist
// and .cache/fashion-mnist in the working directory or its nearest parent
// that holds the training images. Run from bench/peers/gorgonia (as `go run
// .` and the harness in bench/ do), the parents include the repository
// root, i.e. ../../../.cache/fashion-mnist, where scripts/fashion-mnist.sh
// puts the files.
func fashionDir() (string, error) {
	if d := os.Getenv(fashionEnv); d != "" {
		return d, nil
	}
	has := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, fashionImages))
		return err == nil
	}
	if has(fashionSystemDir) {
		return fashionSystemDir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if c := filepath.Join(d, fashionCacheDir); has(c) {
				return c, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("Fashion-MNIST not found: $%s is not set, and neither %s nor %s in the working directory or its parents holds %s "+
		"(bash scripts/fashion-mnist.sh in the repository root fetches it)", fashionEnv, fashionSystemDir, fashionCacheDir, fashionImages)
}

// readIDX reads an IDX file of unsigned bytes (gzip-compressed or not) whose
// magic number must be want (0x00000803 for images, 0x00000801 for labels):
// the big-endian magic, one big-endian uint32 per dimension (want&0xff of
// them), then the bytes. Errors name the file; the file must end after the
// declared data (which also checks the gzip checksum).
func readIDX(path string, want uint32) (dims []int, data []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var r io.Reader = br
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		r = zr
	}
	ndims := int(want & 0xff)
	hdr := make([]byte, 4+4*ndims)
	if n, err := io.ReadFull(r, hdr[:4]); err != nil {
		return nil, nil, fmt.Errorf("%s: truncated header (%d bytes), want the IDX magic 0x%08x: %w", path, n, want, err)
	}
	if got := binary.BigEndian.Uint32(hdr); got != want {
		return nil, nil, fmt.Errorf("%s: IDX magic 0x%08x, want 0x%08x (unsigned bytes, %d dimensions)", path, got, want, ndims)
	}
	if _, err := io.ReadFull(r, hdr[4:]); err != nil {
		return nil, nil, fmt.Errorf("%s: truncated header: magic 0x%08x declares %d dimensions: %w", path, want, ndims, err)
	}
	count := uint64(1)
	for i := range ndims {
		d := uint64(binary.BigEndian.Uint32(hdr[4+4*i:]))
		dims = append(dims, int(d))
		if count *= d; count > 1<<34 {
			return nil, nil, fmt.Errorf("%s: the header declares dimensions %v, too large", path, dims)
		}
	}
	data = make([]byte, count)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, nil, fmt.Errorf("%s: truncated data: the header declares %v = %d bytes, the file has %d: %w", path, dims, count, n, err)
	}
	var one [1]byte
	if n, err := io.ReadFull(r, one[:]); n == 1 {
		return nil, nil, fmt.Errorf("%s: extra data after the %d bytes the header declares (%v)", path, count, dims)
	} else if err != io.EOF {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return dims, data, nil
}

// fashionSet is the training set: n images of 28×28 bytes and their labels.
type fashionSet struct {
	pixels []uint8
	labels []uint8
}

func (d *fashionSet) len() int { return len(d.labels) }

// subset returns the first n examples (tapegrad's Dataset.Subset).
func (d *fashionSet) subset(n int) *fashionSet {
	n = min(n, d.len())
	return &fashionSet{pixels: d.pixels[:n*784], labels: d.labels[:n]}
}

// loadFashion reads the Fashion-MNIST training set from dir (the two files
// concurrently, as tapegrad does) and checks it: 28×28 images, as many
// labels as images, labels 0 to 9.
func loadFashion(dir string) (*fashionSet, error) {
	ipath, lpath := filepath.Join(dir, fashionImages), filepath.Join(dir, fashionLabels)
	var idims, ldims []int
	var pixels, labels []byte
	var ierr, lerr error
	var wg sync.WaitGroup
	wg.Go(func() { idims, pixels, ierr = readIDX(ipath, idxImageMagic) })
	ldims, labels, lerr = readIDX(lpath, idxLabelMagic)
	wg.Wait()
	if err := errors.Join(ierr, lerr); err != nil {
		return nil, err
	}
	if idims[1] != 28 || idims[2] != 28 {
		return nil, fmt.Errorf("%s: images of %d×%d pixels, want 28×28", ipath, idims[1], idims[2])
	}
	if ldims[0] != idims[0] {
		return nil, fmt.Errorf("%s: %d labels for the %d images of %s", lpath, ldims[0], idims[0], ipath)
	}
	for i, l := range labels {
		if l >= 10 {
			return nil, fmt.Errorf("%s: label %d at index %d, want 0 to 9", lpath, l, i)
		}
	}
	return &fashionSet{pixels: pixels, labels: labels}, nil
}

// pixelUnit[v] is v/255 in float32: tapegrad's data package scales pixels
// the same way (255 gives exactly 1).
var pixelUnit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// permutation is tapegrad's data.Permutation, reimplemented so that the
// peer shuffles in exactly the same order: a Fisher–Yates shuffle of the
// identity (i from n-1 down to 1, swap i with j uniform in [0, i]), j drawn
// from splitmix64 started at state seed and mapped to [0, i] by Lemire's
// multiply-and-reject method.
func permutation(n int, seed uint64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	s := seed
	next := func() uint64 {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
	below := func(n uint64) uint64 {
		hi, lo := bits.Mul64(next(), n)
		if lo < n {
			thresh := -n % n
			for lo < thresh {
				hi, lo = bits.Mul64(next(), n)
			}
		}
		return hi
	}
	for i := n - 1; i > 0; i-- {
		j := below(uint64(i) + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// philox is Philox4x32-10 as tapegrad's device.Philox: block c under key
// seed, counter (low word of c, high word of c, 0, 0).
func philox(seed, c uint64) [4]uint32 {
	const m0, m1, w0, w1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
	c0, c1, c2, c3 := uint32(c), uint32(c>>32), uint32(0), uint32(0)
	k0, k1 := uint32(seed), uint32(seed>>32)
	for range 10 {
		p0 := uint64(m0) * uint64(c0)
		p1 := uint64(m1) * uint64(c2)
		c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
		k0 += w0
		k1 += w1
	}
	return [4]uint32{c0, c1, c2, c3}
}

// heUniform returns n float32 drawn uniformly from ±√(6/fanIn) exactly as
// tapegrad's nn.HeUniform draws them (tensor.RandUniform in float32, see
// device.RandomSpec) from the stream of seed starting at block ctr, and the
// block counter after it. With tensor.Seed(1) and the layers made in order,
// the weights are bit for bit those of tapegrad's nn.NewDense.
func heUniform(n, fanIn int, seed, ctr uint64) ([]float32, uint64) {
	a := math.Sqrt(6 / float64(fanIn))
	lo, hi := float32(-a), float32(a)
	span := hi - lo
	out := make([]float32, n)
	var w [4]uint32
	for i := range out {
		if i%4 == 0 {
			w = philox(seed, ctr+uint64(i/4))
		}
		u := float32(w[i%4]>>8) * (1.0 / (1 << 24))
		v := lo + float32(span*u) // the conversion keeps Go from fusing into an FMA, as in tapegrad
		if v >= hi {
			v = math.Nextafter32(hi, lo)
		}
		out[i] = v
	}
	return out, ctr + uint64((n+3)/4)
}

// fashionSizes are the layer widths of the MLP.
var fashionSizes = []int{784, 256, 128, 10}

// fashionWeights returns the MLP's parameters as tapegrad's case makes
// them: tensor.Seed(1), then nn.NewDense(784, 256), (256, 128), (128, 10):
// He-uniform weights [in, out] drawn in that order, zero biases. Order: w1,
// b1, w2, b2, w3, b3.
func fashionWeights() []*tensor.Dense {
	var ps []*tensor.Dense
	ctr := uint64(0)
	for l := 0; l+1 < len(fashionSizes); l++ {
		in, out := fashionSizes[l], fashionSizes[l+1]
		var w []float32
		w, ctr = heUniform(in*out, in, 1, ctr)
		ps = append(ps, dense(w, in, out), dense(make([]float32, out), out))
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
func (net *fashionNet) step(d *fashionSet, idx []int, solver G.Solver) (float32, error) {
	xs, ys := net.xv.Data().([]float32), net.yv.Data().([]float32)
	clear(ys)
	for j, i := range idx {
		dst := xs[j*784 : (j+1)*784]
		for k, v := range d.pixels[i*784 : (i+1)*784] {
			dst[k] = pixelUnit[v]
		}
		ys[j*10+int(d.labels[i])] = 1
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
func trainFashion(d *fashionSet, batch int) (*fashionRun, error) {
	const warmSteps = 20
	n := d.len()
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
		order := permutation(n, seed)
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
func fashionEpoch(r *Runner) {
	const name, batch = "fashion/epoch", 128
	n := 60000
	if r.Opt.Quick {
		n = 6000
	}
	c := Case{Name: name, Mode: "tape", Size: int64(n), Unit: "images/s",
		Note: "Fashion-MNIST, MLP 784-256-128-10 (ReLU as gorgonia's Rectify), batch 128 (the last batch keeps the rest, on a second tape machine " +
			"sharing the weights), LogSoftMax cross-entropy against one-hot labels (gorgonia has no integer-label loss), " +
			"AdamSolver lr 1e-3 (defaults beta1 0.9, beta2 0.999, eps 1e-8 and the update w -= lr*mhat/(sqrt(vhat)+eps) as tapegrad's optim.NewAdam; " +
			"gorgonia computes it in float32 with the bias corrections rounded to float32, on cloned tensors), " +
			"weights and shuffle orders bit-identical to tapegrad's (He-uniform of tensor.Seed(1), data.Permutation seeds 99 and 1), pixels v/255; " +
			"tape machines compiled once before the warm-up (on the subgraph of the loss and the parameters' gradients: without it gorgonia also computes " +
			"the unused gradient of the input batch, 28 % of the flops, 1.4x the time per step here), batch bound with Let every step; one epoch after 20 warm-up steps, loss read every step"}
	dir, err := fashionDir()
	var d *fashionSet
	if err == nil {
		d, err = loadFashion(dir)
	}
	if err != nil {
		c.Skipped = oneLine("dataset not available: " + err.Error())
		r.Add(c)
		return
	}
	if r.Opt.Quick {
		d = d.subset(n)
	}
	c.Size = int64(d.len())
	res, err := trainFashion(d, batch)
	if err != nil {
		c.Skipped = oneLine("error: " + err.Error())
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
	c.Value = round3(float64(d.len()) / res.elapsed.Seconds())
	if res.warm < 20 {
		c.Note = join(c.Note, fmt.Sprintf("only %d warm-up steps (one pass over a small dataset)", res.warm))
	}
	c.Note = join(c.Note, fmt.Sprintf("%d steps, loss %.3f -> %.3f; data from %s", res.steps, res.first, res.last, dir))
	r.Add(c)
}
