// Command gomlx runs tapegrad's peer workloads with GoMLX
// (github.com/gomlx/gomlx v0.26.0) on its pure-Go backend "simplego"
// (package github.com/gomlx/gomlx/backends/simplego, the backend that
// GOMLX_BACKEND=go selects), in float32, and prints/writes the results in the
// shared peer JSON schema.
//
// Each workload is a graph function compiled once with graph.NewExec (the
// first, untimed call builds and compiles it; later calls with the same
// shapes reuse the cached executable); gradients are graph.Gradient.
// Inputs are tensors already materialised on the backend, outputs are
// finalised after each call so their buffers go back to simplego's pool.
package main

import (
	"fmt"
	"math"
	"os"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's documented style
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
)

const (
	peerName    = "gomlx"
	peerVersion = "v0.26.0"
	peerMode    = "graph" // simplego interprets the compiled graph
)

var backend backends.Backend

// peer is this program for peerkit.
var peer = peerkit.Peer{Name: peerName, Version: peerVersion, Mode: peerMode,
	Start: start, CaseNames: caseNames, RunAll: runAll}

func main() { peerkit.Main(peer) }

// start starts the simplego backend.
func start(r *peerkit.Runner) error {
	var err error
	// simplego.New("") is what GOMLX_BACKEND=go resolves to.
	backend, err = simplego.New("")
	if err != nil {
		return fmt.Errorf("simplego: %w", err)
	}
	r.Report.Version = peerVersion + " (simplego)"
	return nil
}

func caseNames(o *peerkit.Options) []string {
	var names []string
	for _, n := range o.Sizes() {
		for _, s := range []string{"unary/exp/%d", "unary/tanh/%d", "unary/relu/%d", "binary/add/%d", "binary/mul/%d",
			"scalar/mul/%d", "broadcast/row/add/%d", "broadcast/col/add/%d", "reduce/sum/all/%d",
			"reduce/sum/inner/%d", "reduce/sum/outer/%d", "norm/%d"} {
			names = append(names, fmt.Sprintf(s, n))
		}
	}
	for _, s := range o.MatmulShapes() {
		names = append(names, fmt.Sprintf("matmul/%dx%dx%d", s[0], s[1], s[2]))
	}
	for _, n := range o.Sizes() {
		names = append(names, fmt.Sprintf("seed/%d", n))
	}
	names = append(names, "overhead/op", "mlp/step")
	for _, t := range attentionLengths(o.Quick) {
		names = append(names, fmt.Sprintf("attention/%d", t))
	}
	return names
}

func runAll(r *peerkit.Runner) {
	o := r.Opt
	for _, n := range o.Sizes() {
		elementwise(r, n)
	}
	for _, s := range o.MatmulShapes() {
		matmul(r, s[0], s[1], s[2])
	}
	for _, n := range o.Sizes() {
		if name := fmt.Sprintf("seed/%d", n); o.Want(name) {
			seed(r, name, n)
		}
	}
	if o.Want("overhead/op") {
		overhead(r)
	}
	if o.Want("mlp/step") {
		mlp(r)
	}
	for _, t := range attentionLengths(o.Quick) {
		attention(r, t)
	}
}

// onDevice makes a float32 tensor with the given data and shape and moves it
// to the backend once, so timed calls do not transfer it.
func onDevice(data []float32, dims ...int) *tensors.Tensor {
	t := tensors.FromFlatDataAndDimensions(data, dims...)
	t.MustMaterializeOnDevice(backend, false, 0)
	return t
}

func flat(t *tensors.Tensor) []float32 {
	var out []float32
	tensors.MustConstFlatData[float32](t, func(f []float32) { out = append([]float32(nil), f...) })
	return out
}

func finalize(ts []*tensors.Tensor) {
	for _, t := range ts {
		t.MustFinalizeAll()
	}
}

// variant is one way of expressing a workload; the fastest correct one is
// reported.
type variant struct {
	desc string
	fn   any // a graph function accepted by NewExecAny
}

// caseSpec is a workload: its inputs (one set per rotation copy) and a check
// of the outputs of one call on input set c.
type caseSpec struct {
	c        peerkit.Case
	inputs   [][]any
	variants []variant
	check    func(c int, outs []*tensors.Tensor) error
	valueFn  func(time.Duration) float64
	accNote  *string // set by check: the result is correct but visibly off the float64 reference
}

func runCase(r *peerkit.Runner, s caseSpec) {
	type res struct {
		med  time.Duration
		c    peerkit.Case
		desc string
	}
	var best *res
	var notes []string
	for _, v := range s.variants {
		exec, err := NewExecAny(backend, v.fn)
		if err == nil {
			// The first call compiles; run once per input copy and check.
			for k := range s.inputs {
				var outs []*tensors.Tensor
				outs, err = exec.Exec(s.inputs[k]...)
				if err != nil {
					break
				}
				if s.check != nil {
					err = s.check(k, outs)
				}
				finalize(outs)
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s failed: %s", v.desc, peerkit.OneLine(err.Error())))
			continue
		}
		med, lo, hi, reps, err := r.Opt.Measure(func(i int) error {
			outs, err := exec.Exec(s.inputs[i%len(s.inputs)]...)
			if err != nil {
				return err
			}
			finalize(outs)
			return nil
		}, nil)
		exec.Finalize()
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s failed: %s", v.desc, peerkit.OneLine(err.Error())))
			continue
		}
		c := s.c
		c.Mode = peerMode
		c.MedianNs, c.MinNs, c.MaxNs, c.Reps = max(1, med.Nanoseconds()), lo.Nanoseconds(), hi.Nanoseconds(), reps
		if len(s.variants) > 1 {
			notes = append(notes, fmt.Sprintf("%s %s", v.desc, med))
			fmt.Fprintf(os.Stderr, "  %-26s %-24s median %s\n", s.c.Name, v.desc, med)
		}
		if best == nil || med < best.med {
			best = &res{med: med, c: c, desc: v.desc}
		}
	}
	note := s.c.Note
	if s.accNote != nil {
		note = peerkit.Join(note, *s.accNote)
	}
	if len(s.variants) > 1 && best != nil {
		note = peerkit.Join(note, "fastest of: "+peerkit.Join(notes...))
	} else {
		note = peerkit.Join(note, peerkit.Join(notes...))
	}
	if best == nil {
		c := s.c
		c.Mode = peerMode
		c.Skipped = note
		r.Add(c)
		return
	}
	c := best.c
	c.Note = note
	switch {
	case s.valueFn != nil:
		c.Value = peerkit.Round3(s.valueFn(best.med))
	case c.Flops > 0:
		c.Value, c.Unit = peerkit.Round3(float64(c.Flops)/float64(c.MedianNs)), "GFLOP/s"
	case c.Bytes > 0:
		c.Value, c.Unit = peerkit.Round3(float64(c.Bytes)/float64(c.MedianNs)), "GB/s"
	}
	r.Add(c)
}

// inputSets builds k sets of nIn on-device tensors; set c, input j is gen(c, j).
func inputSets(k, nIn int, gen func(c, j int) *tensors.Tensor) ([][]any, [][]*tensors.Tensor) {
	anys := make([][]any, k)
	ts := make([][]*tensors.Tensor, k)
	for c := range anys {
		for j := 0; j < nIn; j++ {
			t := gen(c, j)
			anys[c] = append(anys[c], t)
			ts[c] = append(ts[c], t)
		}
	}
	return anys, ts
}

func elementwise(r *peerkit.Runner, n int) {
	rows, cols := n/1024, 1024
	unary := []struct {
		name     string
		variants []variant
		ref      func(float64) float64
	}{
		{"unary/exp", []variant{{"Exp", func(x *Node) *Node { return Exp(x) }}}, math.Exp},
		{"unary/tanh", []variant{{"Tanh", func(x *Node) *Node { return Tanh(x) }}}, math.Tanh},
		{"unary/relu", []variant{
			{"activations.Relu", func(x *Node) *Node { return activations.Relu(x) }},
			{"Max(x, scalar 0)", func(x *Node) *Node { return Max(x, ScalarZero(x.Graph(), x.DType())) }},
		}, func(x float64) float64 { return math.Max(x, 0) }},
		{"scalar/mul", []variant{{"MulScalar", func(x *Node) *Node { return MulScalar(x, 2.0) }}}, func(x float64) float64 { return 2 * x }},
	}
	for _, uc := range unary {
		name := fmt.Sprintf("%s/%d", uc.name, n)
		if !r.Opt.Want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(4 * n))
		in, ts := inputSets(k, 1, func(c, _ int) *tensors.Tensor { return onDevice(peerkit.Fill(n, uint64(c+1)), n) })
		ref := uc.ref
		runCase(r, caseSpec{
			c:        peerkit.Case{Name: name, Size: int64(n), Bytes: 8 * int64(n), Note: peerkit.RotNote(k)},
			inputs:   in,
			variants: uc.variants,
			check: func(c int, outs []*tensors.Tensor) error {
				xs := flat(ts[c][0])
				return peerkit.CheckSample(flat(outs[0]), n, func(i int) float64 { return ref(float64(xs[i])) }, 1e-5)
			},
		})
	}

	binary := []struct {
		name string
		fn   func(a, b *Node) *Node
		ref  func(a, b float64) float64
	}{
		{"binary/add", func(a, b *Node) *Node { return Add(a, b) }, func(a, b float64) float64 { return a + b }},
		{"binary/mul", func(a, b *Node) *Node { return Mul(a, b) }, func(a, b float64) float64 { return a * b }},
	}
	for _, bc := range binary {
		name := fmt.Sprintf("%s/%d", bc.name, n)
		if !r.Opt.Want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(8 * n))
		in, ts := inputSets(k, 2, func(c, j int) *tensors.Tensor { return onDevice(peerkit.Fill(n, uint64(2*c+j+1)), n) })
		ref := bc.ref
		runCase(r, caseSpec{
			c:        peerkit.Case{Name: name, Size: int64(n), Bytes: 12 * int64(n), Note: peerkit.RotNote(k)},
			inputs:   in,
			variants: []variant{{bc.name, bc.fn}},
			check: func(c int, outs []*tensors.Tensor) error {
				as, bs := flat(ts[c][0]), flat(ts[c][1])
				return peerkit.CheckSample(flat(outs[0]), n, func(i int) float64 { return ref(float64(as[i]), float64(bs[i])) }, 1e-6)
			},
		})
	}

	for _, row := range []bool{true, false} {
		kind, small := "col", rows
		if row {
			kind, small = "row", cols
		}
		name := fmt.Sprintf("broadcast/%s/add/%d", kind, n)
		if !r.Opt.Want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(4 * n))
		in, ts := inputSets(k, 2, func(c, j int) *tensors.Tensor {
			if j == 0 {
				return onDevice(peerkit.Fill(n, uint64(c+1)), rows, cols)
			}
			if row {
				return onDevice(peerkit.Fill(small, uint64(c+100)), cols)
			}
			return onDevice(peerkit.Fill(small, uint64(c+100)), rows, 1)
		})
		fn := func(x, b *Node) *Node { return Add(x, b) } // [R,C] + [R,1]: implicit broadcast
		note := "[R,1024] + [R,1] (implicit broadcast of the size-1 axis)"
		if row {
			fn = func(x, b *Node) *Node { return Add(x, InsertAxes(b, 0)) } // [C] -> [1,C]
			note = "[R,1024] + [1024] reshaped to [1,1024] in the graph (implicit broadcast)"
		}
		note = peerkit.Join(note, peerkit.RotNote(k))
		runCase(r, caseSpec{
			c:        peerkit.Case{Name: name, Size: int64(n), Bytes: 8*int64(n) + 4*int64(small), Note: note},
			inputs:   in,
			variants: []variant{{"Add", fn}},
			check: func(c int, outs []*tensors.Tensor) error {
				xs, bs := flat(ts[c][0]), flat(ts[c][1])
				return peerkit.CheckSample(flat(outs[0]), n, func(i int) float64 {
					if row {
						return float64(xs[i]) + float64(bs[i%cols])
					}
					return float64(xs[i]) + float64(bs[i/cols])
				}, 1e-6)
			},
		})
	}

	reds := []struct {
		name string
		fn   func(x *Node) *Node
		ref  func(xs []float32) (want, scale []float64)
		flat bool
	}{
		{"reduce/sum/all", func(x *Node) *Node { return ReduceAllSum(x) }, func(xs []float32) ([]float64, []float64) {
			return peerkit.SumRef(xs, 1, func(int) int { return 0 })
		}, false},
		{"reduce/sum/inner", func(x *Node) *Node { return ReduceSum(x, 1) }, func(xs []float32) ([]float64, []float64) {
			return peerkit.SumRef(xs, rows, func(j int) int { return j / cols })
		}, false},
		{"reduce/sum/outer", func(x *Node) *Node { return ReduceSum(x, 0) }, func(xs []float32) ([]float64, []float64) {
			return peerkit.SumRef(xs, cols, func(j int) int { return j % cols })
		}, false},
		{"norm", func(x *Node) *Node { return L2Norm(x) }, peerkit.NormRef, true},
	}
	for _, rc := range reds {
		name := fmt.Sprintf("%s/%d", rc.name, n)
		if !r.Opt.Want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(4 * n))
		isFlat := rc.flat
		in, ts := inputSets(k, 1, func(c, _ int) *tensors.Tensor {
			if isFlat {
				return onDevice(peerkit.Fill(n, uint64(c+1)), n)
			}
			return onDevice(peerkit.Fill(n, uint64(c+1)), rows, cols)
		})
		ref := rc.ref
		note := peerkit.RotNote(k)
		if rc.name == "norm" {
			note = peerkit.Join("L2Norm = Sqrt(ReduceAllSum(Square(x))), executed as separate ops", note)
		}
		acc := new(string)
		runCase(r, caseSpec{
			c:        peerkit.Case{Name: name, Size: int64(n), Bytes: 4 * int64(n), Note: note},
			inputs:   in,
			variants: []variant{{rc.name, rc.fn}},
			accNote:  acc,
			check: func(c int, outs []*tensors.Tensor) error {
				want, scale := ref(flat(ts[c][0]))
				var err error
				*acc, err = peerkit.CheckReduce(flat(outs[0]), want, scale)
				return err
			},
		})
	}
}

func matmul(r *peerkit.Runner, m, kk, n int) {
	name := fmt.Sprintf("matmul/%dx%dx%d", m, kk, n)
	if !r.Opt.Want(name) {
		return
	}
	k := min(peerkit.RotateCopies(int64(4*(m*kk+kk*n))), 4)
	in, ts := inputSets(k, 2, func(c, j int) *tensors.Tensor {
		if j == 0 {
			return onDevice(peerkit.Fill(m*kk, uint64(2*c+1)), m, kk)
		}
		return onDevice(peerkit.Fill(kk*n, uint64(2*c+2)), kk, n)
	})
	runCase(r, caseSpec{
		c:      peerkit.Case{Name: name, Size: int64(m * n), Flops: 2 * int64(m) * int64(kk) * int64(n), Note: peerkit.RotNote(k)},
		inputs: in,
		variants: []variant{
			{"Dot", func(a, b *Node) *Node { return Dot(a, b) }},
			{"DotGeneral", matmul2D},
		},
		check: func(c int, outs []*tensors.Tensor) error {
			as, bs := flat(ts[c][0]), flat(ts[c][1])
			return peerkit.CheckSample(flat(outs[0]), m*n, func(idx int) float64 {
				i, j := idx/n, idx%n
				s := 0.0
				for p := 0; p < kk; p++ {
					s += float64(as[i*kk+p]) * float64(bs[p*n+j])
				}
				return s
			}, 1e-3)
		},
	})
}

// matmul2D is [M,K]·[K,N] as a DotGeneral contracting lhs axis 1 with rhs axis 0.
func matmul2D(a, b *Node) *Node { return DotGeneral(a, []int{1}, nil, b, []int{0}, nil) }

// seed: y = sum(2·x·x) and dy/dx (graph.Gradient), both returned.
func seed(r *peerkit.Runner, name string, n int) {
	xv := peerkit.Fill(n, 7)
	x := onDevice(xv, n)
	runCase(r, caseSpec{
		c:      peerkit.Case{Name: name, Size: int64(n), Note: "y = sum(2*x*x) and dy/dx (graph.Gradient) in one compiled graph"},
		inputs: [][]any{{x}},
		variants: []variant{{"Gradient", func(x *Node) (*Node, *Node) {
			y := ReduceAllSum(Mul(MulScalar(x, 2.0), x))
			return y, Gradient(y, x)[0]
		}}},
		check: func(_ int, outs []*tensors.Tensor) error {
			return peerkit.CheckSample(flat(outs[1]), n, func(i int) float64 { return 4 * float64(xv[i]) }, 1e-6)
		},
	})
}

// overhead: 100 ops on a 16-element tensor (50 × {tanh, add x}) then sum,
// forward + backward, executing the prebuilt graph.
func overhead(r *peerkit.Runner) {
	const n, pairs = 16, 50
	xv := peerkit.Fill(n, 3)
	for i := range xv {
		xv[i] *= 0.1
	}
	want := make([]float64, n)
	for i := range want {
		xi := float64(xv[i])
		ys := make([]float64, pairs+1)
		ys[0] = xi
		for p := 0; p < pairs; p++ {
			ys[p+1] = math.Tanh(ys[p]) + xi
		}
		g, total := 1.0, 0.0
		for p := pairs; p >= 1; p-- {
			total += g
			t := math.Tanh(ys[p-1])
			g *= 1 - t*t
		}
		want[i] = total + g
	}
	runCase(r, caseSpec{
		c: peerkit.Case{Name: "overhead/op", Size: n, Unit: "ns/op",
			Note: "prebuilt graph (construction and compilation excluded): 100 ops = 50x(tanh, add x) on [16], then sum; forward + backward; value = median/100"},
		inputs: [][]any{{onDevice(xv, n)}},
		variants: []variant{{"Gradient", func(x *Node) (*Node, *Node) {
			y := x
			for i := 0; i < pairs; i++ {
				y = Add(Tanh(y), x)
			}
			loss := ReduceAllSum(y)
			return loss, Gradient(loss, x)[0]
		}}},
		check: func(_ int, outs []*tensors.Tensor) error {
			return peerkit.CheckSample(flat(outs[1]), n, func(i int) float64 { return want[i] }, 1e-4)
		},
		valueFn: func(med time.Duration) float64 { return float64(med.Nanoseconds()) / (2 * pairs) },
	})
}

// mlp: 784→512→10, batch 256, ReLU, sparse softmax cross-entropy with int32
// labels (losses.SparseCategoricalCrossEntropyLogits), SGD lr 0.01. One
// compiled graph returns the loss and the updated weights; the old weight
// buffers are donated so the update can reuse them.
func mlp(r *peerkit.Runner) {
	const batch, in, hid, out = 256, 784, 512, 10
	const lr = 0.01
	name := "mlp/step"
	c := peerkit.Case{Name: name, Mode: peerMode, Size: batch, Unit: "steps/s",
		Note: "784-512-10, batch 256, DotGeneral, activations.Relu, losses.SparseCategoricalCrossEntropyLogits with int32 labels, SGD lr 0.01 in the graph; weights donated each step"}
	scaled := func(n int, seed uint64, s float32) []float32 {
		v := peerkit.Fill(n, seed)
		for i := range v {
			v[i] *= s
		}
		return v
	}
	x := onDevice(peerkit.Fill(batch*in, 11), batch, in)
	lab := make([]int32, batch)
	for i := range lab {
		lab[i] = int32((i*7 + 3) % out)
	}
	labels := tensors.FromFlatDataAndDimensions(lab, batch, 1)
	labels.MustMaterializeOnDevice(backend, false, 0)
	params := []*tensors.Tensor{
		onDevice(scaled(in*hid, 21, float32(math.Sqrt(6.0/(in+hid)))), in, hid),
		onDevice(make([]float32, hid), hid),
		onDevice(scaled(hid*out, 22, float32(math.Sqrt(6.0/(hid+out)))), hid, out),
		onDevice(make([]float32, out), out),
	}
	exec, err := NewExec(backend, func(inputs []*Node) []*Node {
		x, labels := inputs[0], inputs[1]
		w1, b1, w2, b2 := inputs[2], inputs[3], inputs[4], inputs[5]
		// DotGeneral rather than Dot/MatMul: for 2-D operands MatMul is Dot,
		// whose gradient (dotVJP) materialises an [M,K,N] broadcast product
		// (about 2 s per step here); DotGeneral's gradient is two DotGenerals.
		h := activations.Relu(Add(matmul2D(x, w1), InsertAxes(b1, 0)))
		logits := Add(matmul2D(h, w2), InsertAxes(b2, 0))
		loss := losses.SparseCategoricalCrossEntropyLogits([]*Node{labels}, []*Node{logits})
		ws := []*Node{w1, b1, w2, b2}
		grads := Gradient(loss, ws...)
		outs := []*Node{loss}
		for i, w := range ws {
			outs = append(outs, Sub(w, MulScalar(grads[i], lr)))
		}
		return outs
	})
	if err != nil {
		c.Skipped = "error: " + peerkit.OneLine(err.Error())
		r.Add(c)
		return
	}
	defer exec.Finalize()
	var lastLoss float32
	step := func(int) error {
		args := []any{x, labels}
		for _, p := range params {
			d, err := DonateTensorBuffer(p, backend, 0)
			if err != nil {
				return err
			}
			args = append(args, d)
		}
		outs, err := exec.Exec(args...)
		if err != nil {
			return err
		}
		for _, p := range params {
			p.MustFinalizeAll()
		}
		copy(params, outs[1:])
		lastLoss = tensors.ToScalar[float32](outs[0])
		outs[0].MustFinalizeAll()
		return nil
	}
	// Check: the loss decreases over three steps on the same batch.
	prev := float32(math.Inf(1))
	for i := 0; i < 3; i++ {
		if err := step(i); err != nil {
			c.Skipped = "error: " + peerkit.OneLine(err.Error())
			r.Add(c)
			return
		}
		if !(lastLoss < prev) || lastLoss > 10 {
			c.Skipped = fmt.Sprintf("check failed: loss %g after %g", lastLoss, prev)
			r.Add(c)
			return
		}
		prev = lastLoss
	}
	r.Measure(c, step, func(med time.Duration) float64 { return 1e9 / float64(med.Nanoseconds()) })
}
