package main

import (
	"fmt"
	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
	"github.com/tapegrad/tapegrad/data"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// T is a tensor; a short name for the many closures below.
type T = tensor.Tensor

// suite runs tapegrad's cases on one device and collects them in a Report.
type suite struct {
	cfg    *config
	dev    device.Device
	sync   func() error // waits for the device's stream; nil on the CPU
	timer  device.Timer // times repetitions on the device (CUDA events); nil on the CPU
	rep    Report
	failed []string // cases whose result check failed or that panicked
}

func newSuite(cfg *config, d device.Device) (*suite, error) {
	be, err := device.Lookup(d)
	if err != nil {
		return nil, err
	}
	s := &suite{cfg: cfg, dev: d, rep: Report{
		Peer: "tapegrad", Version: version(), Device: d.String(), Machine: machineName(d, be),
		Date: time.Now().UTC().Format(time.RFC3339), Go: runtime.Version(), Mode: "eager",
	}}
	if d.IsCUDA() {
		s.sync = be.Synchronize
		if tb, ok := be.(device.Timed); ok {
			if s.timer, err = tb.NewTimer(); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// sizes are the element counts of the elementwise, reduction and seed cases.
func sizes(d device.Device, quick bool) []int {
	switch {
	case quick:
		return []int{1 << 10, 1 << 16, 1 << 20}
	case d.IsCUDA():
		return []int{1 << 10, 1 << 16, 1 << 20, 1 << 24, 1 << 26}
	}
	return []int{1 << 10, 1 << 16, 1 << 20, 1 << 24}
}

// rooflineSize is the element count of the copy that gives the roofline: a
// copy far larger than any cache (64 MB each way on the CPU, 256 MB on a
// GPU). It is measured in every run, -quick included.
func rooflineSize(d device.Device) int {
	if d.IsCUDA() {
		return 1 << 26
	}
	return 1 << 24
}

// matmulShapes are the [M,K,N] matmul shapes: squares up to 2048 on the CPU
// (4096 on a GPU) and the MLP's two layers. -quick keeps the shapes whose
// operands have at most 1M elements each, as the peers do, and at most 2^27
// multiply-adds (512³), which leaves out 1024³ (a second per product on the
// 2-core CI machine).
func matmulShapes(d device.Device, quick bool) [][3]int {
	sq := []int{256, 512, 1024, 2048}
	if d.IsCUDA() {
		sq = append(sq, 4096)
	}
	var all [][3]int
	for _, n := range sq {
		all = append(all, [3]int{n, n, n})
	}
	all = append(all, [3]int{256, 784, 512}, [3]int{256, 512, 10})
	if !quick {
		return all
	}
	var out [][3]int
	for _, s := range all {
		if s[0]*s[1] <= 1<<20 && s[1]*s[2] <= 1<<20 && s[0]*s[2] <= 1<<20 && s[0]*s[1]*s[2] <= 1<<27 {
			out = append(out, s)
		}
	}
	return out
}

// elementwiseKinds are the kinds of the per-size cases, in the peers' order.
var elementwiseKinds = []string{"unary/exp", "unary/tanh", "unary/relu", "binary/add", "binary/mul",
	"scalar/mul", "broadcast/row/add", "broadcast/col/add", "reduce/sum/all", "reduce/sum/inner",
	"reduce/sum/outer", "norm"}

// caseNames lists every case name the suite runs on d, in order (the -cases
// filter not applied). The copy cases come first; the one at rooflineSize
// always runs.
func caseNames(d device.Device, quick bool) []string {
	var names []string
	for _, n := range sizes(d, quick) {
		names = append(names, fmt.Sprintf("copy/%d", n))
	}
	if r := fmt.Sprintf("copy/%d", rooflineSize(d)); !slices.Contains(names, r) {
		names = append(names, r)
	}
	for _, n := range sizes(d, quick) {
		for _, k := range elementwiseKinds {
			names = append(names, fmt.Sprintf("%s/%d", k, n))
		}
	}
	for _, s := range matmulShapes(d, quick) {
		names = append(names, fmt.Sprintf("matmul/%dx%dx%d", s[0], s[1], s[2]))
	}
	for _, n := range sizes(d, quick) {
		names = append(names, fmt.Sprintf("seed/%d", n))
	}
	for _, sh := range layerNormShapes(quick) {
		names = append(names, fmt.Sprintf("layernorm/%dx%d", sh[0], sh[1]))
	}
	names = append(names, "overhead/op", "overhead/op/forward", "mlp/step", "fashion/epoch")
	names = append(names, modelCaseNames()...)
	for _, t := range attentionLengths(quick) {
		names = append(names, fmt.Sprintf("attention/%d", t))
	}
	names = append(names, halfCaseNames(d, quick)...)
	return names
}

// want reports whether the case runs: selected by -cases, or the roofline.
func (s *suite) want(name string) bool {
	return s.cfg.want(name) || name == fmt.Sprintf("copy/%d", rooflineSize(s.dev))
}

// all runs every selected case, in the order of caseNames.
func (s *suite) all() {
	ns := sizes(s.dev, s.cfg.quick)
	for _, n := range ns {
		s.copyCases(n)
	}
	if r := rooflineSize(s.dev); !slices.Contains(ns, r) {
		s.copyCases(r)
	}
	for _, n := range ns {
		s.elementwise(n)
	}
	for _, sh := range matmulShapes(s.dev, s.cfg.quick) {
		s.matmul(sh[0], sh[1], sh[2])
	}
	for _, n := range ns {
		s.seed(n)
	}
	for _, sh := range layerNormShapes(s.cfg.quick) {
		s.layerNorm(sh[0], sh[1])
	}
	s.overhead()
	s.mlp()
	s.fashionEpoch()
	s.models()
	for _, t := range attentionLengths(s.cfg.quick) {
		s.attention(t)
	}
	s.halfCases()
	s.copyCase(rooflineSize(s.dev), rooflineModes(s.dev.IsCUDA())[1])
}

// prepared is what a case's setup returns: the function timed (called with
// a running index), a check of its result run once per input copy before
// timing, and a cleanup that releases the case's tensors.
type prepared struct {
	fn      func(i int)
	check   func(i int) (note string, err error)
	checks  int // how many calls of check (one per input copy)
	cleanup func()
	valueFn func(med time.Duration) float64
}

// run sets up, checks, times and records case c. A panic or a failed check
// is recorded as skipped and makes the run's exit status 1.
func (s *suite) run(c Case, setup func() prepared) {
	if c.DType == "" {
		c.DType = "float32"
	}
	if c.Mode == "" {
		c.Mode = "eager"
	}
	fail := func(why string) {
		c.Skipped = peerkit.OneLine(why)
		s.failed = append(s.failed, c.Name+" ("+c.Mode+"): "+c.Skipped)
		s.add(c)
	}
	var p prepared
	var med, lo, hi time.Duration
	var reps int
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		p = setup()
		if p.cleanup != nil {
			defer p.cleanup()
		}
		for k := 0; k < max(p.checks, 1) && p.check != nil; k++ {
			note, err := p.check(k)
			if err != nil {
				return fmt.Errorf("check failed: %v", err)
			}
			c.Note = peerkit.Join(c.Note, note)
		}
		var terr error
		med, lo, hi, reps, terr = s.cfg.timing.MeasureTimed(func(i int) error { p.fn(i); return nil }, s.sync, s.timer)
		return terr
	}()
	if err != nil {
		fail(err.Error())
		return
	}
	c.MedianNs, c.MinNs, c.MaxNs, c.Reps = max(1, med.Nanoseconds()), lo.Nanoseconds(), hi.Nanoseconds(), reps
	switch {
	case p.valueFn != nil:
		c.Value = peerkit.Round3(p.valueFn(med))
	case c.Flops > 0:
		c.Value, c.Unit = peerkit.Round3(float64(c.Flops)/float64(c.MedianNs)), "GFLOP/s"
	case c.Bytes > 0:
		c.Value, c.Unit = peerkit.Round3(float64(c.Bytes)/float64(c.MedianNs)), "GB/s"
	}
	s.add(c)
}

// add records c and prints its progress line (the peers' format).
func (s *suite) add(c Case) {
	s.rep.Cases = append(s.rep.Cases, c)
	progress(s.rep.Peer, s.rep.Device, c)
}

// progress prints one case's line on stderr.
func progress(peer, dev string, c Case) {
	if c.Skipped != "" {
		fmt.Fprintf(os.Stderr, "%-8s %-6s %-28s %-11s skipped: %s\n", peer, dev, c.Name, c.Mode, c.Skipped)
		return
	}
	extra := ""
	if c.Unit != "" {
		extra = fmt.Sprintf("  %10.3f %s", c.Value, c.Unit)
	}
	fmt.Fprintf(os.Stderr, "%-8s %-6s %-28s %-11s median %10s  (min %s, max %s, %d reps)%s\n", peer, dev, c.Name, c.Mode,
		fmtDur(c.MedianNs), fmtDur(c.MinNs), fmtDur(c.MaxNs), c.Reps, extra)
}

// inputs makes k copies of uniform [-1, 1) tensors of the given shapes on
// the suite's device, and their host values.
func (s *suite) inputs(k int, shapes ...[]int) (ts [][]*T, host [][][]float32) {
	ts, host = make([][]*T, k), make([][][]float32, k)
	for c := range ts {
		for _, sh := range shapes {
			t := tensor.RandUniform(-1, 1, sh, tensor.On(s.dev))
			ts[c] = append(ts[c], t)
			host[c] = append(host[c], t.Float32s())
		}
	}
	return ts, host
}

func releaseAll(ts [][]*T) func() {
	return func() {
		for _, row := range ts {
			for _, t := range row {
				t.Release()
			}
		}
	}
}

// copyCases measures copy/n: tapegrad's Clone of a dense tensor (mode
// "eager": the backend's Copy, cuMemcpyDtoD on CUDA, a copy split over
// GOMAXPROCS goroutines on the CPU) and, on the CPU, Go's built-in copy on one
// goroutine ("go"), split over GOMAXPROCS goroutines ("go-parallel"), and a
// plain Go loop split the same way ("go-loop").
func (s *suite) copyCases(n int) {
	if !s.want(fmt.Sprintf("copy/%d", n)) {
		return
	}
	if !s.dev.IsCUDA() {
		for _, mode := range []string{"go", "go-parallel", "go-loop"} {
			s.copyCase(n, mode)
		}
	}
	s.copyCase(n, "eager")
}

// rooflineModes are the modes of the roofline copy: measured at the start of
// the run and again, as "...-end", after all other cases; the roofline is the
// faster of the two medians, so that a burst of other work on a shared
// machine during one of them does not lower it.
func rooflineModes(cuda bool) [2]string {
	if cuda {
		return [2]string{"eager", "eager-end"}
	}
	return [2]string{"go-parallel", "go-parallel-end"}
}

// copyCase measures copy/n in one mode (see copyCases; "-end" modes repeat
// the roofline copy at the end of the run).
func (s *suite) copyCase(n int, mode string) {
	k := peerkit.RotateCopies(int64(4 * n))
	c := Case{Name: fmt.Sprintf("copy/%d", n), Mode: mode, Size: int64(n), Bytes: 8 * int64(n)}
	workers := runtime.GOMAXPROCS(0)
	again := ""
	if strings.HasSuffix(mode, "-end") {
		again = "measured again after all other cases"
	}
	switch strings.TrimSuffix(mode, "-end") {
	case "go":
		c.Note = "Go's built-in copy on one goroutine"
	case "go-parallel":
		c.Note = fmt.Sprintf("Go's built-in copy split over GOMAXPROCS=%d goroutines", workers)
	case "go-loop":
		c.Note = fmt.Sprintf("a plain Go loop d[i] = s[i] split over GOMAXPROCS=%d goroutines: what Go code without vector instructions gets for a copy", workers)
	case "eager":
		c.Note = "tensor Clone of a dense tensor (the backend's Copy)"
		c.Note = peerkit.Join(c.Note, again, peerkit.RotNote(k))
		s.run(c, func() prepared {
			in, host := s.inputs(k, []int{n})
			return prepared{
				fn:      func(i int) { in[i%k][0].Clone().Release() },
				checks:  k,
				check:   func(i int) (string, error) { return "", sampleCheck(in[i][0].Clone(), n, identity(host[i][0]), 0) },
				cleanup: releaseAll(in),
			}
		})
		return
	}
	c.Note = peerkit.Join(c.Note, again, peerkit.RotNote(k))
	s.run(c, func() prepared {
		src, dst := make([][]float32, k), make([][]float32, k)
		for i := range src {
			src[i], dst[i] = make([]float32, n), make([]float32, n)
			for j := range src[i] {
				src[i][j] = float32(j%977) - float32(i)
			}
			copy(dst[i], src[i]) // touch the pages
		}
		fn := func(i int) { copy(dst[i%k], src[i%k]) }
		switch strings.TrimSuffix(mode, "-end") {
		case "go-parallel":
			fn = func(i int) { parallelCopy(dst[i%k], src[i%k], false) }
		case "go-loop":
			fn = func(i int) { parallelCopy(dst[i%k], src[i%k], true) }
		}
		return prepared{fn: fn, checks: k, check: func(i int) (string, error) {
			fn(i)
			for j := 0; j < n; j += max(1, n/64) {
				if dst[i][j] != src[i][j] {
					return "", fmt.Errorf("element %d differs", j)
				}
			}
			return "", nil
		}}
	})
}

// parallelCopy copies src to dst in one contiguous chunk per worker of the
// CPU backend (parallel.For, as the backend splits its loops): with
// the built-in copy (runtime memmove: vector moves, and on large sizes
// stores that skip reading the destination first), or with loop, a plain
// element loop as the backend's kernels are written.
func parallelCopy(dst, src []float32, loop bool) {
	parallel.For(len(src), 1, func(lo, hi int) {
		if !loop {
			copy(dst[lo:hi], src[lo:hi])
			return
		}
		d, s := dst[lo:hi], src[lo:hi]
		for i := range s {
			d[i] = s[i]
		}
	})
}

func identity(xs []float32) func(i int) float64 { return func(i int) float64 { return float64(xs[i]) } }

// sampleCheck compares 64 spread-out elements of t (n elements) with want.
func sampleCheck(t *T, n int, want func(i int) float64, tol float64) error {
	got := t.Float32s()
	t.Release()
	return peerkit.CheckSample(got, n, want, tol)
}

// elementwise measures the unary, scalar, binary, broadcast, reduction and
// norm cases of n elements (2-D ones are [n/1024, 1024]).
func (s *suite) elementwise(n int) {
	rows, cols := n/1024, 1024
	unary := []struct {
		kind string
		op   func(*T) *T
		ref  func(float64) float64
		tol  float64
	}{
		{"unary/exp", (*T).Exp, math.Exp, 1e-6},
		{"unary/tanh", (*T).Tanh, math.Tanh, 1e-6},
		{"unary/relu", (*T).ReLU, func(x float64) float64 { return math.Max(x, 0) }, 0},
		{"scalar/mul", func(x *T) *T { return x.MulScalar(2) }, func(x float64) float64 { return 2 * x }, 0},
	}
	for _, u := range unary {
		name := fmt.Sprintf("%s/%d", u.kind, n)
		if !s.want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(4 * n))
		s.run(Case{Name: name, Size: int64(n), Bytes: 8 * int64(n), Note: peerkit.RotNote(k)}, func() prepared {
			in, host := s.inputs(k, []int{n})
			return prepared{
				fn:     func(i int) { u.op(in[i%k][0]).Release() },
				checks: k,
				check: func(i int) (string, error) {
					xs := host[i][0]
					return "", sampleCheck(u.op(in[i][0]), n, func(j int) float64 { return u.ref(float64(xs[j])) }, u.tol)
				},
				cleanup: releaseAll(in),
			}
		})
	}
	binary := []struct {
		kind string
		op   func(a, b *T) *T
		ref  func(a, b float64) float64
	}{
		{"binary/add", (*T).Add, func(a, b float64) float64 { return a + b }},
		{"binary/mul", (*T).Mul, func(a, b float64) float64 { return a * b }},
	}
	for _, b := range binary {
		name := fmt.Sprintf("%s/%d", b.kind, n)
		if !s.want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(8 * n))
		s.run(Case{Name: name, Size: int64(n), Bytes: 12 * int64(n), Note: peerkit.RotNote(k)}, func() prepared {
			in, host := s.inputs(k, []int{n}, []int{n})
			return prepared{
				fn:     func(i int) { b.op(in[i%k][0], in[i%k][1]).Release() },
				checks: k,
				check: func(i int) (string, error) {
					as, bs := host[i][0], host[i][1]
					return "", sampleCheck(b.op(in[i][0], in[i][1]), n, func(j int) float64 { return b.ref(float64(as[j]), float64(bs[j])) }, 1e-6)
				},
				cleanup: releaseAll(in),
			}
		})
	}
	for _, row := range []bool{true, false} {
		kind, small, shape := "col", rows, []int{rows, 1}
		if row {
			kind, small, shape = "row", cols, []int{cols}
		}
		name := fmt.Sprintf("broadcast/%s/add/%d", kind, n)
		if !s.want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(4 * n))
		note := peerkit.Join(fmt.Sprintf("[%d,%d] + %v", rows, cols, shape), peerkit.RotNote(k))
		s.run(Case{Name: name, Size: int64(n), Bytes: 8*int64(n) + 4*int64(small), Note: note}, func() prepared {
			in, host := s.inputs(k, []int{rows, cols}, shape)
			return prepared{
				fn:     func(i int) { in[i%k][0].Add(in[i%k][1]).Release() },
				checks: k,
				check: func(i int) (string, error) {
					xs, bs := host[i][0], host[i][1]
					return "", sampleCheck(in[i][0].Add(in[i][1]), n, func(j int) float64 {
						if row {
							return float64(xs[j]) + float64(bs[j%cols])
						}
						return float64(xs[j]) + float64(bs[j/cols])
					}, 1e-6)
				},
				cleanup: releaseAll(in),
			}
		})
	}
	reds := []struct {
		kind  string
		flat  bool
		op    func(*T) *T
		nOut  int
		group func(j int) int // output index of input element j
	}{
		{"reduce/sum/all", false, func(x *T) *T { return x.Sum() }, 1, func(int) int { return 0 }},
		{"reduce/sum/inner", false, func(x *T) *T { return x.Sum(1) }, rows, func(j int) int { return j / cols }},
		{"reduce/sum/outer", false, func(x *T) *T { return x.Sum(0) }, cols, func(j int) int { return j % cols }},
		{"norm", true, func(x *T) *T { return x.Norm() }, 1, nil},
	}
	for _, r := range reds {
		name := fmt.Sprintf("%s/%d", r.kind, n)
		if !s.want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(4 * n))
		shape := []int{rows, cols}
		if r.flat {
			shape = []int{n}
		}
		s.run(Case{Name: name, Size: int64(n), Bytes: 4 * int64(n), Note: peerkit.RotNote(k)}, func() prepared {
			in, host := s.inputs(k, shape)
			return prepared{
				fn:     func(i int) { r.op(in[i%k][0]).Release() },
				checks: k,
				check: func(i int) (string, error) {
					xs := host[i][0]
					want, scale := make([]float64, r.nOut), make([]float64, r.nOut)
					for j, v := range xs {
						if r.group == nil { // norm: sum of squares
							want[0] += float64(v) * float64(v)
							continue
						}
						g := r.group(j)
						want[g] += float64(v)
						scale[g] += math.Abs(float64(v))
					}
					if r.group == nil {
						want[0] = math.Sqrt(want[0])
						scale[0] = want[0]
					}
					out := r.op(in[i][0])
					got := out.Float32s()
					out.Release()
					if len(got) != r.nOut {
						return "", fmt.Errorf("got %d outputs, want %d", len(got), r.nOut)
					}
					for j := range got {
						// Sums accumulate in float64: only the final rounding to float32.
						if d := math.Abs(float64(got[j]) - want[j]); d > 1e-6*scale[j]+1e-6 {
							return "", fmt.Errorf("output %d = %g, want %g", j, got[j], want[j])
						}
					}
					return "", nil
				},
				cleanup: releaseAll(in),
			}
		})
	}
}

// matmul measures [m,k]·[k,n].
func (s *suite) matmul(m, kk, n int) {
	name := fmt.Sprintf("matmul/%dx%dx%d", m, kk, n)
	if !s.want(name) {
		return
	}
	copies := min(peerkit.RotateCopies(int64(4*(m*kk+kk*n))), 4)
	c := Case{Name: name, Size: int64(m * n), Flops: 2 * int64(m) * int64(kk) * int64(n), Note: peerkit.RotNote(copies)}
	s.run(c, func() prepared {
		in, host := s.inputs(copies, []int{m, kk}, []int{kk, n})
		return prepared{
			fn:     func(i int) { in[i%copies][0].MatMul(in[i%copies][1]).Release() },
			checks: copies,
			check: func(i int) (string, error) {
				as, bs := host[i][0], host[i][1]
				return "", sampleCheck(in[i][0].MatMul(in[i][1]), m*n, func(idx int) float64 {
					r, col := idx/n, idx%n
					sum := 0.0
					for p := 0; p < kk; p++ {
						sum += float64(as[r*kk+p]) * float64(bs[p*n+col])
					}
					return sum
				}, 1e-3)
			},
			cleanup: releaseAll(in),
		}
	})
}

// seed is the walk-through's workload: x with a gradient attached,
// y = sum(2·x·x) recorded, y.Backward(); the gradient 4x lands in x.Grad().
func (s *suite) seed(n int) {
	name := fmt.Sprintf("seed/%d", n)
	if !s.want(name) {
		return
	}
	c := Case{Name: name, Size: int64(n), Note: "y = sum(2*x*x) forward + dy/dx (x.Grad()); the intermediates are released after each backward pass"}
	s.run(c, func() prepared {
		x := tensor.RandUniform(-1, 1, []int{n}, tensor.On(s.dev))
		xs := x.Float32s()
		x.AttachGrad()
		fn := func(int) {
			var a, b, y *T
			autograd.Record(func() {
				a = x.MulScalar(2)
				b = a.Mul(x)
				y = b.Sum()
			})
			y.Backward()
			a.Release()
			b.Release()
			y.Release()
		}
		return prepared{
			fn: fn,
			check: func(int) (string, error) {
				fn(0)
				g := x.Grad()
				if g == nil {
					return "", fmt.Errorf("no gradient")
				}
				got := g.Float32s()
				for j := 0; j < n; j += max(1, n/64) {
					if w := 4 * float64(xs[j]); math.Abs(float64(got[j])-w) > 1e-6*(1+math.Abs(w)) {
						return "", fmt.Errorf("dy/dx[%d] = %g, want %g", j, got[j], w)
					}
				}
				return "", nil
			},
			cleanup: x.Release,
		}
	})
}

// layerNormShapes are the [rows, cols] of the layernorm cases: the charlm
// example's activations (32·128 tokens of 128) and 4096×1024 (not with
// -quick).
func layerNormShapes(quick bool) [][2]int {
	if quick {
		return [][2]int{{4096, 128}}
	}
	return [][2]int{{4096, 128}, {4096, 1024}}
}

// layerNorm times nn.LayerNorm over the last axis of a [rows, cols]
// float32 input, weight and bias attached: the fused forward and its
// backward (dx, dweight, dbias) for a fixed head gradient, as the torch
// peer runs F.layer_norm. Bytes are the floor of the traffic: x and y in
// the forward, x, dy and dx in the backward (20·rows·cols).
func (s *suite) layerNorm(rows, cols int) {
	name := fmt.Sprintf("layernorm/%dx%d", rows, cols)
	if !s.want(name) {
		return
	}
	n := rows * cols
	c := Case{Name: name, Size: int64(n), Bytes: 20 * int64(n),
		Note: "nn.LayerNorm over the last axis, weight and bias, eps 1e-5 (fused forward and backward); backward for a fixed head gradient; bytes = 20*rows*cols (read x, dy, x; write y, dx)"}
	s.run(c, func() prepared {
		on := tensor.On(s.dev)
		ln := nn.NewLayerNorm([]int{cols}, on)
		tensor.AssignAll([]*T{ln.Weight, ln.Bias}, []*T{tensor.RandUniform(0.5, 1.5, []int{cols}, on), tensor.RandUniform(-1, 1, []int{cols}, on)})
		x := tensor.RandNormal(0, 1, []int{rows, cols}, on)
		head := tensor.RandNormal(0, 1, []int{rows, cols}, on)
		x.AttachGrad()
		step := func() {
			var y *T
			autograd.Record(func() { y = ln.Forward(x) })
			y.Backward(head)
			y.Release()
		}
		return prepared{
			fn: func(int) { step() },
			check: func(int) (string, error) {
				step()
				y := ln.Forward(x.Detach())
				defer y.Release()
				return "", checkLayerNorm(x.Float32s(), ln.Weight.Float32s(), ln.Bias.Float32s(), head.Float32s(), y.Float32s(),
					x.Grad().Float32s(), ln.Weight.Grad().Float32s(), ln.Bias.Grad().Float32s(), rows, cols)
			},
			cleanup: func() {
				for _, t := range []*T{x, head, ln.Weight, ln.Bias} {
					t.Release()
				}
			},
		}
	})
}

// checkLayerNorm compares the output and the gradients of a LayerNorm over
// rows of cols (eps 1e-5) with a float64 computation on the host: within
// 1e-4 of the largest magnitude of each.
func checkLayerNorm(x, w, b, dy, y, dx, dw, db []float32, rows, cols int) error {
	wantY, wantDX := make([]float64, len(x)), make([]float64, len(x))
	wantDW, wantDB := make([]float64, cols), make([]float64, cols)
	xh, g := make([]float64, cols), make([]float64, cols)
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		mu, v := 0.0, 0.0
		for _, e := range row {
			mu += float64(e)
		}
		mu /= float64(cols)
		for _, e := range row {
			v += (float64(e) - mu) * (float64(e) - mu)
		}
		r := 1 / math.Sqrt(v/float64(cols)+1e-5)
		sg, sgx := 0.0, 0.0
		for j, e := range row {
			d := float64(dy[i*cols+j])
			xh[j], g[j] = (float64(e)-mu)*r, d*float64(w[j])
			wantY[i*cols+j] = xh[j]*float64(w[j]) + float64(b[j])
			sg, sgx = sg+g[j], sgx+g[j]*xh[j]
			wantDW[j] += d * xh[j]
			wantDB[j] += d
		}
		for j := range row {
			wantDX[i*cols+j] = r * (g[j] - sg/float64(cols) - xh[j]*sgx/float64(cols))
		}
	}
	for _, c := range []struct {
		what string
		got  []float32
		want []float64
	}{{"y", y, wantY}, {"dx", dx, wantDX}, {"dweight", dw, wantDW}, {"dbias", db, wantDB}} {
		m := 0.0
		for _, v := range c.want {
			m = math.Max(m, math.Abs(v))
		}
		for j, v := range c.want {
			if d := math.Abs(float64(c.got[j]) - v); !(d <= 1e-4*m) {
				return fmt.Errorf("%s[%d] = %g, want %g", c.what, j, c.got[j], v)
			}
		}
	}
	return nil
}

// overhead is the host cost of recording and differentiating small ops: 100
// ops on a [16] tensor (50 × {tanh, add x}), then a sum, forward + backward,
// as the peers run it (overhead/op, value = median/100 in ns/op); and the
// same chain recorded without the backward pass (overhead/op/forward).
func (s *suite) overhead() {
	const n, pairs = 16, 50
	for _, backward := range []bool{true, false} {
		name := "overhead/op"
		note := "100 ops = 50x(tanh, add x) on [16], then sum; recorded forward + backward; value = median/100"
		if !backward {
			name = "overhead/op/forward"
			note = "the overhead/op chain recorded, no backward pass; value = median/100"
		}
		if !s.want(name) {
			continue
		}
		s.run(Case{Name: name, Size: n, Unit: "ns/op", Note: note}, func() prepared {
			xv := make([]float32, n)
			for i := range xv {
				xv[i] = 0.1 * float32(math.Sin(float64(3*i+1)))
			}
			x := tensor.FromSlice(xv, []int{n}, tensor.On(s.dev))
			x.AttachGrad()
			fn := func(int) {
				var l *T
				autograd.Record(func() {
					y := x
					for p := 0; p < pairs; p++ {
						y = y.Tanh().Add(x)
					}
					l = y.Sum()
				})
				if backward {
					l.Backward()
				}
			}
			p := prepared{fn: fn, cleanup: x.Release,
				valueFn: func(med time.Duration) float64 { return float64(med.Nanoseconds()) / (2 * pairs) }}
			if backward {
				p.check = func(int) (string, error) {
					fn(0)
					got := x.Grad().Float32s()
					for i := range got {
						xi := float64(xv[i])
						ys := make([]float64, pairs+1)
						ys[0] = xi
						for q := 0; q < pairs; q++ {
							ys[q+1] = math.Tanh(ys[q]) + xi
						}
						g, total := 1.0, 0.0
						for q := pairs; q >= 1; q-- {
							total += g
							t := math.Tanh(ys[q-1])
							g *= 1 - t*t
						}
						if w := total + g; math.Abs(float64(got[i])-w) > 1e-4*(1+math.Abs(w)) {
							return "", fmt.Errorf("gradient[%d] = %g, want %g", i, got[i], w)
						}
					}
					return "", nil
				}
			}
			return p
		})
	}
}

// mlp is one training step of a 784→512→10 perceptron on a batch of 256:
// nn.Dense, nn.ReLU, nn.CrossEntropy with integer labels (the fused
// tensor.SoftmaxCrossEntropy), backward, optim.SGD with lr 0.01.
func (s *suite) mlp() {
	const name = "mlp/step"
	if !s.want(name) {
		return
	}
	const batch, in, hid, out = 256, 784, 512, 10
	c := Case{Name: name, Size: batch, Unit: "steps/s", Note: "784-512-10, batch 256, nn.Dense+ReLU, nn.CrossEntropy with integer labels (fused softmax cross-entropy), optim.SGD lr 0.01 (forward, backward, step)"}
	s.run(c, func() prepared {
		on := tensor.On(s.dev)
		model := nn.Sequential{nn.NewDense(in, hid, on), nn.ReLU{}, nn.NewDense(hid, out, on)}
		opt := optim.NewSGD(model.Params(), 0.01, 0, 0)
		x := tensor.RandUniform(-1, 1, []int{batch, in}, on)
		lv := make([]float32, batch)
		for i := range lv {
			lv[i] = float32((i*7 + 3) % out)
		}
		labels := tensor.FromSlice(lv, []int{batch}, on)
		step := func() *T {
			var loss *T
			autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(x), labels) })
			loss.Backward()
			opt.Step()
			return loss
		}
		return prepared{
			fn: func(int) { step() },
			check: func(int) (string, error) {
				last := math.Inf(1)
				for i := 0; i < 3; i++ {
					l := step().Item()
					if math.IsNaN(l) || l >= last || l > 10 {
						return "", fmt.Errorf("loss %g after %g: not decreasing", l, last)
					}
					last = l
				}
				return "", nil
			},
			cleanup: func() {
				for _, p := range model.Params() {
					p.Release()
				}
				x.Release()
				labels.Release()
			},
			valueFn: func(med time.Duration) float64 { return 1e9 / float64(med.Nanoseconds()) },
		}
	})
}

// fashionEpoch times one epoch of the Fashion-MNIST example's MLP
// (784-256-128-10, ReLU, batch 128, Adam), on the whole training set (the
// first 6000 images with -quick): shuffled batches loaded from the
// dataset's tensors, forward, backward and step, with the loss read back
// every step as the example does. One timed epoch after a warm-up of 20
// steps; the value is images per second. Skipped when the dataset is not
// available (bash scripts/fashion-mnist.sh fetches it).
func (s *suite) fashionEpoch() {
	const name = "fashion/epoch"
	if !s.want(name) {
		return
	}
	train, _, err := data.FashionMNIST("")
	c := Case{Name: name, DType: "float32", Mode: "eager", Unit: "images/s", Note: "Fashion-MNIST, MLP 784-256-128-10, batch 128, Adam lr 1e-3, one epoch after 20 warm-up steps, loss read every step"}
	if err != nil {
		// The size the case would have had, so that the skipped entry
		// validates (as torch_bench.py's skipped entries do).
		c.Size = 60000
		if s.cfg.quick {
			c.Size = 6000
		}
		c.Skipped = peerkit.OneLine("dataset not available: " + err.Error())
		s.add(c)
		return
	}
	if s.cfg.quick {
		train = train.Subset(6000)
	}
	c.Size = int64(train.Len())
	on := data.On(s.dev)
	tensor.Seed(1)
	ton := tensor.On(s.dev)
	model := nn.Sequential{nn.NewDense(784, 256, ton), nn.ReLU{}, nn.NewDense(256, 128, ton), nn.ReLU{}, nn.NewDense(128, 10, ton)}
	opt := optim.NewAdam(model.Params(), 1e-3)
	step := func(x, y *T) float64 {
		var loss *T
		autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(x), y) })
		loss.Backward()
		opt.Step()
		return loss.Item()
	}
	warm := 0
	for x, y := range train.Batches(128, true, 99, on, data.Flat()) {
		step(x, y)
		if warm++; warm == 20 {
			break
		}
	}
	start := time.Now()
	var first, last float64
	steps := 0
	for x, y := range train.Batches(128, true, 1, on, data.Flat()) {
		l := step(x, y)
		if steps == 0 {
			first = l
		}
		last = l
		steps++
	}
	if s.sync != nil {
		if err := s.sync(); err != nil {
			c.Skipped = peerkit.OneLine(err.Error())
			s.add(c)
			return
		}
	}
	d := time.Since(start)
	if math.IsNaN(last) || !(last < first) {
		c.Skipped = fmt.Sprintf("loss %g at the start, %g at the end: not training", first, last)
		s.failed = append(s.failed, c.Name+": "+c.Skipped)
		s.add(c)
		return
	}
	c.MedianNs, c.MinNs, c.MaxNs, c.Reps = d.Nanoseconds(), d.Nanoseconds(), d.Nanoseconds(), 1
	c.Value = peerkit.Round3(float64(train.Len()) / d.Seconds())
	c.Note = peerkit.Join(c.Note, fmt.Sprintf("%d steps, loss %.3f -> %.3f", steps, first, last))
	s.add(c)
	for _, p := range model.Params() {
		p.Release()
	}
}
