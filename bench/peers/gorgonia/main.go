// Command gorgonia runs tapegrad's peer workloads with gorgonia
// (gorgonia.org/gorgonia v0.9.18, gorgonia.org/tensor v0.9.24) on the CPU in
// float32, and prints/writes the results in the shared peer JSON schema.
//
// Every graph is built once with gorgonia.NewGraph; gradients are symbolic
// (gorgonia.Grad). Each case is run with both of gorgonia's VMs and the
// faster one is reported (the case's "mode" says which, the note gives both):
//
//   - tape: gorgonia.NewTapeMachine compiled once, then Let (rebind inputs),
//     RunAll, Reset per run.
//   - lisp: gorgonia.NewLispMachine. In v0.9.18 a LispMachine cannot be
//     reused: after Reset, RunAll re-executes only the last node of the
//     sorted graph, so every later run returns stale values (checked in
//     probeLispReset). The only correct way to rerun it is a new machine per
//     run, so "lisp" times include NewLispMachine (sorting the graph). For
//     the gradient workloads the lisp variant either evaluates the symbolic
//     gradient graph forward-only or, on a graph without Grad nodes, does
//     the LispMachine's own forward+backward; the faster of the two is kept.
//
// The exception is fashion/epoch (fashion.go): one timed epoch of
// Fashion-MNIST training, as tapegrad's case runs it, on the tape machine
// only (a LispMachine would have to be rebuilt every step).
package main

import (
	"fmt"
	"math"
	"os"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
)

const (
	peerName    = "gorgonia"
	peerVersion = "v0.9.18"
)

// peer is this program for peerkit.
var peer = peerkit.Peer{Name: peerName, Version: peerVersion, Mode: "tape",
	Start: start, CaseNames: caseNames, RunAll: runAll}

func main() { peerkit.Main(peer) }

// start checks the LispMachine caveat.
func start(*peerkit.Runner) error {
	if err := probeLispReset(); err != nil {
		fmt.Fprintln(os.Stderr, "note:", err)
	}
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
	return append(names, "overhead/op", "mlp/step", "fashion/epoch")
}

// workload is a graph built once, plus what is needed to run and check it.
type workload struct {
	g      *G.ExprGraph
	inputs []*G.Node         // rebound with G.Let before each run
	values [][]tensor.Tensor // values[copy][input]
	bind   []*G.Node         // nodes whose gradients the tape machine keeps (BindDualValues)
	out    *G.Node           // node checked after a run
	check  func(copyIdx int, out G.Value) error
	after  func() error // run after every RunAll (the MLP's SGD step)
	// accNote is set by check when the result is correct but visibly off
	// the float64 reference (float32 accumulation).
	accNote string
	// roots, if set, are the nodes a run needs: the machines execute only
	// the subgraph that computes them (ExactSubgraphRoots), not nodes that
	// nothing reads, such as the gradient of the MLP's input batch that
	// gorgonia.Grad builds along with the weights' gradients.
	roots G.Nodes
	// lispGraph, if set, builds an equivalent graph without symbolic
	// gradients for the LispMachine's own forward+backward.
	lispGraph func() *workload
}

func (w *workload) let(i int) error {
	vals := w.values[i%len(w.values)]
	for j, n := range w.inputs {
		if err := G.Let(n, vals[j]); err != nil {
			return err
		}
	}
	return nil
}

// graph returns the graph the machines run: w.g, or its subgraph for roots.
func (w *workload) graph() *G.ExprGraph {
	if len(w.roots) > 0 {
		return w.g.ExactSubgraphRoots(w.roots...)
	}
	return w.g
}

// tapeRunner compiles a tape machine once and returns its per-run function.
func (w *workload) tapeRunner() (func(i int) error, func()) {
	var opts []G.VMOpt
	if len(w.bind) > 0 {
		opts = append(opts, G.BindDualValues(w.bind...))
	}
	m := G.NewTapeMachine(w.graph(), opts...)
	return func(i int) error {
		if err := w.let(i); err != nil {
			return err
		}
		if err := m.RunAll(); err != nil {
			return err
		}
		m.Reset()
		if w.after != nil {
			return w.after()
		}
		return nil
	}, func() { m.Close() }
}

// lispRunner returns a per-run function that builds a fresh LispMachine.
// fwdOnly is true for graphs whose gradients (if any) are symbolic.
func (w *workload) lispRunner(fwdOnly bool) func(i int) error {
	return func(i int) error {
		if err := w.let(i); err != nil {
			return err
		}
		var m G.VM
		if fwdOnly {
			m = G.NewLispMachine(w.graph(), G.ExecuteFwdOnly())
		} else {
			m = G.NewLispMachine(w.g)
		}
		err := m.RunAll()
		m.Close()
		if err != nil {
			return err
		}
		if w.after != nil {
			return w.after()
		}
		return nil
	}
}

type variant struct {
	mode string
	desc string
	run  func(i int) error
	w    *workload
	done func()
}

// measure runs every VM variant of w, checks each variant's result, and
// records the fastest as case c.
func measureVariants(r *peerkit.Runner, c peerkit.Case, w *workload, valueFn func(time.Duration) float64) {
	tape, closeTape := w.tapeRunner()
	vs := []variant{{mode: "tape", desc: "tape", run: tape, w: w, done: closeTape}}
	if w.lispGraph != nil {
		lw := w.lispGraph()
		vs = append(vs, variant{mode: "lisp", desc: "lisp (own fwd+bwd)", run: lw.lispRunner(false), w: lw})
	}
	vs = append(vs, variant{mode: "lisp", desc: "lisp (fwd-only)", run: w.lispRunner(true), w: w})

	type result struct {
		v   variant
		med time.Duration
		c   peerkit.Case
	}
	var best *result
	var notes []string
	for _, v := range vs {
		// Check the result of this variant on every input copy once.
		var err error
		for k := range v.w.values {
			if err = v.run(k); err != nil {
				break
			}
			if v.w.check != nil {
				if err = v.w.check(k, v.w.out.Value()); err != nil {
					break
				}
			}
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s failed: %s", v.desc, peerkit.OneLine(err.Error())))
			if v.done != nil {
				v.done()
			}
			continue
		}
		vc := c
		vc.Mode = v.mode
		med, lo, hi, reps, err := r.Opt.Measure(v.run, nil)
		if v.done != nil {
			v.done()
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s failed: %s", v.desc, peerkit.OneLine(err.Error())))
			continue
		}
		vc.MedianNs, vc.MinNs, vc.MaxNs, vc.Reps = max(1, med.Nanoseconds()), lo.Nanoseconds(), hi.Nanoseconds(), reps
		notes = append(notes, fmt.Sprintf("%s %s", v.desc, med))
		fmt.Fprintf(os.Stderr, "  %-26s %-18s median %s\n", c.Name, v.desc, med)
		if best == nil || med < best.med {
			best = &result{v: v, med: med, c: vc}
		}
	}
	acc := ""
	for _, v := range vs {
		if v.w.accNote != "" {
			acc = v.w.accNote
		}
	}
	note := peerkit.Join(c.Note, acc, "fastest VM chosen", peerkit.Join(notes...))
	if best == nil {
		c.Skipped = note
		r.Add(c)
		return
	}
	bc := best.c
	bc.Note = note
	switch {
	case valueFn != nil:
		bc.Value = peerkit.Round3(valueFn(best.med))
	case bc.Flops > 0:
		bc.Value, bc.Unit = peerkit.Round3(float64(bc.Flops)/float64(bc.MedianNs)), "GFLOP/s"
	case bc.Bytes > 0:
		bc.Value, bc.Unit = peerkit.Round3(float64(bc.Bytes)/float64(bc.MedianNs)), "GB/s"
	}
	r.Add(bc)
}

func dense(data []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// copiesOf makes k input sets; set c, input j is gen(c, j).
func copiesOf(k, nInputs int, gen func(c, j int) tensor.Tensor) [][]tensor.Tensor {
	out := make([][]tensor.Tensor, k)
	for c := range out {
		out[c] = make([]tensor.Tensor, nInputs)
		for j := range out[c] {
			out[c][j] = gen(c, j)
		}
	}
	return out
}

func f32s(v G.Value) []float32 {
	switch t := v.(type) {
	case *tensor.Dense:
		return t.Data().([]float32)
	case *G.F32:
		return []float32{float32(*t)}
	}
	if d, ok := v.Data().([]float32); ok {
		return d
	}
	if d, ok := v.Data().(float32); ok {
		return []float32{d}
	}
	panic(fmt.Sprintf("unexpected value %T", v))
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
	if o.Want("fashion/epoch") {
		fashionEpoch(r)
	}
}

func elementwise(r *peerkit.Runner, n int) {
	rows, cols := n/1024, 1024
	two := float32(2)
	type unaryCase struct {
		name string
		op   func(*G.Node) (*G.Node, error)
		ref  func(float64) float64
	}
	unary := []unaryCase{
		{"unary/exp", G.Exp, math.Exp},
		{"unary/tanh", G.Tanh, math.Tanh},
		{"unary/relu", G.Rectify, func(x float64) float64 { return math.Max(x, 0) }},
		{"scalar/mul", func(x *G.Node) (*G.Node, error) { return G.Mul(x, G.NewConstant(two)) }, func(x float64) float64 { return 2 * x }},
	}
	for _, uc := range unary {
		name := fmt.Sprintf("%s/%d", uc.name, n)
		if !r.Opt.Want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(4 * n))
		w := &workload{g: G.NewGraph()}
		x := G.NewTensor(w.g, tensor.Float32, 1, G.WithShape(n), G.WithName("x"))
		w.inputs = []*G.Node{x}
		w.values = copiesOf(k, 1, func(c, _ int) tensor.Tensor { return dense(peerkit.Fill(n, uint64(c+1)), n) })
		w.out = G.Must(uc.op(x))
		ref := uc.ref
		w.check = func(c int, v G.Value) error {
			xs := w.values[c][0].Data().([]float32)
			return peerkit.CheckSample(f32s(v), n, func(i int) float64 { return ref(float64(xs[i])) }, 1e-5)
		}
		measureVariants(r, peerkit.Case{Name: name, Size: int64(n), Bytes: 8 * int64(n), Note: peerkit.RotNote(k)}, w, nil)
	}

	binary := []struct {
		name string
		op   func(a, b *G.Node) (*G.Node, error)
		ref  func(a, b float64) float64
	}{
		{"binary/add", G.Add, func(a, b float64) float64 { return a + b }},
		{"binary/mul", G.HadamardProd, func(a, b float64) float64 { return a * b }},
	}
	for _, bc := range binary {
		name := fmt.Sprintf("%s/%d", bc.name, n)
		if !r.Opt.Want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(8 * n))
		w := &workload{g: G.NewGraph()}
		a := G.NewTensor(w.g, tensor.Float32, 1, G.WithShape(n), G.WithName("a"))
		b := G.NewTensor(w.g, tensor.Float32, 1, G.WithShape(n), G.WithName("b"))
		w.inputs = []*G.Node{a, b}
		w.values = copiesOf(k, 2, func(c, j int) tensor.Tensor { return dense(peerkit.Fill(n, uint64(2*c+j+1)), n) })
		w.out = G.Must(bc.op(a, b))
		ref := bc.ref
		w.check = func(c int, v G.Value) error {
			as, bs := w.values[c][0].Data().([]float32), w.values[c][1].Data().([]float32)
			return peerkit.CheckSample(f32s(v), n, func(i int) float64 { return ref(float64(as[i]), float64(bs[i])) }, 1e-6)
		}
		measureVariants(r, peerkit.Case{Name: name, Size: int64(n), Bytes: 12 * int64(n), Note: peerkit.RotNote(k)}, w, nil)
	}

	// Broadcasts: gorgonia broadcasts a lower-rank operand with a pattern
	// (it materialises the repeated operand before adding).
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
		w := &workload{g: G.NewGraph()}
		x := G.NewTensor(w.g, tensor.Float32, 2, G.WithShape(rows, cols), G.WithName("x"))
		b := G.NewTensor(w.g, tensor.Float32, 1, G.WithShape(small), G.WithName("b"))
		w.inputs = []*G.Node{x, b}
		w.values = copiesOf(k, 2, func(c, j int) tensor.Tensor {
			if j == 0 {
				return dense(peerkit.Fill(n, uint64(c+1)), rows, cols)
			}
			return dense(peerkit.Fill(small, uint64(c+100)), small)
		})
		pattern := []byte{1}
		if row {
			pattern = []byte{0}
		}
		w.out = G.Must(G.BroadcastAdd(x, b, nil, pattern))
		w.check = func(c int, v G.Value) error {
			xs, bs := w.values[c][0].Data().([]float32), w.values[c][1].Data().([]float32)
			return peerkit.CheckSample(f32s(v), n, func(i int) float64 {
				if row {
					return float64(xs[i]) + float64(bs[i%cols])
				}
				return float64(xs[i]) + float64(bs[i/cols])
			}, 1e-6)
		}
		note := peerkit.Join("operand is a ["+fmt.Sprint(small)+"] vector broadcast with pattern "+fmt.Sprint(pattern), peerkit.RotNote(k))
		measureVariants(r, peerkit.Case{Name: name, Size: int64(n), Bytes: 8*int64(n) + 4*int64(small), Note: note}, w, nil)
	}

	// Reductions and the norm.
	type redCase struct {
		name  string
		build func(x *G.Node) *G.Node
		ref   func(xs []float32) (want, scale []float64)
		flat  bool
	}
	reds := []redCase{
		{"reduce/sum/all", func(x *G.Node) *G.Node { return G.Must(G.Sum(x)) }, func(xs []float32) ([]float64, []float64) {
			return peerkit.SumRef(xs, 1, func(int) int { return 0 })
		}, false},
		{"reduce/sum/inner", func(x *G.Node) *G.Node { return G.Must(G.Sum(x, 1)) }, func(xs []float32) ([]float64, []float64) {
			return peerkit.SumRef(xs, rows, func(j int) int { return j / cols })
		}, false},
		{"reduce/sum/outer", func(x *G.Node) *G.Node { return G.Must(G.Sum(x, 0)) }, func(xs []float32) ([]float64, []float64) {
			return peerkit.SumRef(xs, cols, func(j int) int { return j % cols })
		}, false},
		{"norm", func(x *G.Node) *G.Node { return G.Must(G.Norm(x, 0, 2)) }, peerkit.NormRef, true},
	}
	for _, rc := range reds {
		name := fmt.Sprintf("%s/%d", rc.name, n)
		if !r.Opt.Want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(4 * n))
		w := &workload{g: G.NewGraph()}
		var x *G.Node
		if rc.flat {
			x = G.NewTensor(w.g, tensor.Float32, 1, G.WithShape(n), G.WithName("x"))
		} else {
			x = G.NewTensor(w.g, tensor.Float32, 2, G.WithShape(rows, cols), G.WithName("x"))
		}
		w.inputs = []*G.Node{x}
		w.values = copiesOf(k, 1, func(c, _ int) tensor.Tensor {
			if rc.flat {
				return dense(peerkit.Fill(n, uint64(c+1)), n)
			}
			return dense(peerkit.Fill(n, uint64(c+1)), rows, cols)
		})
		w.out = rc.build(x)
		ref := rc.ref
		w.check = func(c int, v G.Value) error {
			want, scale := ref(w.values[c][0].Data().([]float32))
			note, err := peerkit.CheckReduce(f32s(v), want, scale)
			w.accNote = note
			return err
		}
		measureVariants(r, peerkit.Case{Name: name, Size: int64(n), Bytes: 4 * int64(n), Note: peerkit.RotNote(k)}, w, nil)
	}
}

func matmul(r *peerkit.Runner, m, kk, n int) {
	name := fmt.Sprintf("matmul/%dx%dx%d", m, kk, n)
	if !r.Opt.Want(name) {
		return
	}
	copies := peerkit.RotateCopies(int64(4 * (m*kk + kk*n)))
	w := &workload{g: G.NewGraph()}
	a := G.NewTensor(w.g, tensor.Float32, 2, G.WithShape(m, kk), G.WithName("a"))
	b := G.NewTensor(w.g, tensor.Float32, 2, G.WithShape(kk, n), G.WithName("b"))
	w.inputs = []*G.Node{a, b}
	w.values = copiesOf(min(copies, 4), 2, func(c, j int) tensor.Tensor {
		if j == 0 {
			return dense(peerkit.Fill(m*kk, uint64(2*c+1)), m, kk)
		}
		return dense(peerkit.Fill(kk*n, uint64(2*c+2)), kk, n)
	})
	w.out = G.Must(G.Mul(a, b))
	w.check = func(c int, v G.Value) error {
		as, bs := w.values[c][0].Data().([]float32), w.values[c][1].Data().([]float32)
		return peerkit.CheckSample(f32s(v), m*n, func(idx int) float64 {
			i, j := idx/n, idx%n
			s := 0.0
			for p := 0; p < kk; p++ {
				s += float64(as[i*kk+p]) * float64(bs[p*n+j])
			}
			return s
		}, 1e-3)
	}
	measureVariants(r, peerkit.Case{Name: name, Size: int64(m * n), Flops: 2 * int64(m) * int64(kk) * int64(n),
		Note: peerkit.RotNote(len(w.values))}, w, nil)
}

// seed: y = sum(2·x·x), dy/dx by gorgonia.Grad.
func seed(r *peerkit.Runner, name string, n int) {
	build := func(symbolic bool) *workload {
		w := &workload{g: G.NewGraph()}
		x := G.NewTensor(w.g, tensor.Float32, 1, G.WithShape(n), G.WithName("x"))
		w.inputs = []*G.Node{x}
		xv := peerkit.Fill(n, 7)
		w.values = [][]tensor.Tensor{{dense(xv, n)}}
		y := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Mul(x, G.NewConstant(float32(2)))), x))))
		if symbolic {
			grads, err := G.Grad(y, x)
			if err != nil {
				panic(err)
			}
			w.out = grads[0]
		} else {
			w.out = x // its gradient is read from the dual value below
		}
		w.bind = []*G.Node{x}
		w.check = func(_ int, v G.Value) error {
			if !symbolic {
				g, err := x.Grad()
				if err != nil {
					return err
				}
				v = g
			}
			return peerkit.CheckSample(f32s(v), n, func(i int) float64 { return 4 * float64(xv[i]) }, 1e-6)
		}
		return w
	}
	w := build(true)
	w.lispGraph = func() *workload { return build(false) }
	measureVariants(r, peerkit.Case{Name: name, Size: int64(n), Note: "y = sum(2*x*x) forward + dy/dx"}, w, nil)
}

// overhead: 100 ops on a 16-element tensor (50 × {tanh, add x}) then sum,
// forward + backward of a prebuilt graph.
func overhead(r *peerkit.Runner) {
	const n, pairs = 16, 50
	build := func(symbolic bool) *workload {
		w := &workload{g: G.NewGraph()}
		x := G.NewTensor(w.g, tensor.Float32, 1, G.WithShape(n), G.WithName("x"))
		w.inputs = []*G.Node{x}
		xv := peerkit.Fill(n, 3)
		for i := range xv {
			xv[i] *= 0.1
		}
		w.values = [][]tensor.Tensor{{dense(xv, n)}}
		y := x
		for i := 0; i < pairs; i++ {
			y = G.Must(G.Add(G.Must(G.Tanh(y)), x))
		}
		loss := G.Must(G.Sum(y))
		w.bind = []*G.Node{x}
		if symbolic {
			grads, err := G.Grad(loss, x)
			if err != nil {
				panic(err)
			}
			w.out = grads[0]
		} else {
			w.out = x
		}
		// Reference gradient by the chain rule in float64.
		want := make([]float64, n)
		for i := range want {
			xi := float64(xv[i])
			ys := make([]float64, pairs+1)
			ys[0] = xi
			for p := 0; p < pairs; p++ {
				ys[p+1] = math.Tanh(ys[p]) + xi
			}
			g := 1.0 // d loss / d y_pairs
			total := 0.0
			for p := pairs; p >= 1; p-- {
				total += g // through "+ x"
				t := math.Tanh(ys[p-1])
				g *= 1 - t*t
			}
			want[i] = total + g
		}
		w.check = func(_ int, v G.Value) error {
			if !symbolic {
				g, err := x.Grad()
				if err != nil {
					return err
				}
				v = g
			}
			return peerkit.CheckSample(f32s(v), n, func(i int) float64 { return want[i] }, 1e-4)
		}
		return w
	}
	w := build(true)
	w.lispGraph = func() *workload { return build(false) }
	measureVariants(r, peerkit.Case{Name: "overhead/op", Size: n, Unit: "ns/op",
		Note: "prebuilt graph (construction excluded): 100 ops = 50x(tanh, add x) on [16], then sum; forward + backward; value = median/100"},
		w, func(med time.Duration) float64 { return float64(med.Nanoseconds()) / (2 * pairs) })
}

// mlp: 784→512→10, batch 256, ReLU, softmax cross-entropy, SGD lr 0.01.
func mlp(r *peerkit.Runner) {
	const batch, in, hid, out = 256, 784, 512, 10
	const lr = 0.01
	xv := peerkit.Fill(batch*in, 11)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = (i*7 + 3) % out
	}
	onehot := make([]float32, batch*out)
	for i, l := range labels {
		onehot[i*out+l] = 1
	}
	scaled := func(n int, seed uint64, s float32) []float32 {
		v := peerkit.Fill(n, seed)
		for i := range v {
			v[i] *= s
		}
		return v
	}
	build := func(symbolic bool) *workload {
		w := &workload{g: G.NewGraph()}
		g := w.g
		x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(batch, in), G.WithName("x"))
		y := G.NewTensor(g, tensor.Float32, 2, G.WithShape(batch, out), G.WithName("onehot"))
		w1 := G.NewTensor(g, tensor.Float32, 2, G.WithShape(in, hid), G.WithName("w1"),
			G.WithValue(dense(scaled(in*hid, 21, float32(math.Sqrt(6.0/(in+hid)))), in, hid)))
		b1 := G.NewTensor(g, tensor.Float32, 1, G.WithShape(hid), G.WithName("b1"), G.WithValue(dense(make([]float32, hid), hid)))
		w2 := G.NewTensor(g, tensor.Float32, 2, G.WithShape(hid, out), G.WithName("w2"),
			G.WithValue(dense(scaled(hid*out, 22, float32(math.Sqrt(6.0/(hid+out)))), hid, out)))
		b2 := G.NewTensor(g, tensor.Float32, 1, G.WithShape(out), G.WithName("b2"), G.WithValue(dense(make([]float32, out), out)))
		h := G.Must(G.Rectify(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w1)), b1, nil, []byte{0}))))
		logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w2)), b2, nil, []byte{0}))
		logp := G.Must(G.LogSoftMax(logits))
		loss := G.Must(G.Mul(G.Must(G.Sum(G.Must(G.HadamardProd(logp, y)))), G.NewConstant(float32(-1.0/batch))))
		params := G.Nodes{w1, b1, w2, b2}
		w.inputs = []*G.Node{x, y}
		w.values = [][]tensor.Tensor{{dense(xv, batch, in), dense(onehot, batch, out)}}
		w.out = loss
		solver := G.NewVanillaSolver(G.WithLearnRate(lr))
		if symbolic {
			// The solver gets each weight with the value of its symbolic
			// gradient node, which works for the tape machine and for a
			// forward-only LispMachine alike.
			grads, err := G.Grad(loss, params...)
			if err != nil {
				panic(err)
			}
			w.roots = append(G.Nodes{loss}, grads...)
			model := make([]G.ValueGrad, len(params))
			for i := range params {
				model[i] = symGrad{params[i], grads[i]}
			}
			w.after = func() error { return solver.Step(model) }
		} else {
			// LispMachine forward+backward leaves the gradients in the
			// weights' dual values.
			w.after = func() error { return solver.Step(G.NodesToValueGrads(params)) }
		}
		// The check runs after a step: the loss must be finite and, from
		// the second run on, lower than before (same batch, plain SGD).
		last := math.Inf(1)
		w.check = func(_ int, v G.Value) error {
			l := float64(f32s(v)[0])
			if math.IsNaN(l) || l >= last || l > 10 {
				return fmt.Errorf("loss %g after previous %g: not decreasing", l, last)
			}
			last = l
			return nil
		}
		return w
	}
	w := build(true)
	// Check three consecutive steps (the check is called once per input copy).
	w.values = append(w.values, w.values[0], w.values[0])
	w.lispGraph = func() *workload {
		lw := build(false)
		lw.values = append(lw.values, lw.values[0], lw.values[0])
		return lw
	}
	measureVariants(r, peerkit.Case{Name: "mlp/step", Size: batch, Unit: "steps/s",
		Note: "784-512-10, batch 256, ReLU, LogSoftMax cross-entropy against one-hot labels (gorgonia has no integer-label loss; the one-hot matrix is built once on the host), VanillaSolver lr 0.01"},
		w, func(med time.Duration) float64 { return 1e9 / float64(med.Nanoseconds()) })
}

// symGrad pairs a weight node with its symbolic gradient node.
type symGrad struct{ w, g *G.Node }

func (p symGrad) Value() G.Value { return p.w.Value() }

func (p symGrad) Grad() (G.Value, error) {
	if v := p.g.Value(); v != nil {
		return v, nil
	}
	return nil, fmt.Errorf("gradient of %v has no value", p.w)
}

// probeLispReset documents why "lisp" builds a new machine per run: a
// LispMachine reused with Reset does not recompute the graph in v0.9.18.
func probeLispReset() error {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 1, G.WithShape(2), G.WithName("x"))
	y := G.Must(G.Tanh(G.Must(G.Exp(x))))
	m := G.NewLispMachine(g, G.ExecuteFwdOnly())
	defer m.Close()
	var got [2]float32
	for i := range got {
		if err := G.Let(x, dense([]float32{float32(i), 0}, 2)); err != nil {
			return err
		}
		if err := m.RunAll(); err != nil {
			return err
		}
		got[i] = f32s(y.Value())[0]
		m.Reset()
	}
	if got[0] == got[1] {
		return fmt.Errorf("gorgonia LispMachine.Reset + RunAll returned the stale value %g for a new input; the lisp variant builds a new LispMachine per run", got[1])
	}
	return nil
}
