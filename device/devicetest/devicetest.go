// Package devicetest is a conformance suite for implementations of
// [device.Backend], in the spirit of gonum's testblas: a backend's own tests
// call [Run] with a backend value, and every method of the interface is
// checked against reference computations written in this package (plain
// float64 loops over the element layouts, never another backend's code).
//
//	func TestDevicetest(t *testing.T) {
//		devicetest.Run(t, mybackend.Get())
//	}
//
// # What it checks
//
// Each group is a subtest named after the method it checks, with one
// subtest per dtype ("float32", "float64") and below that per operation or
// case, so that -run can select any of them:
//
//   - Coverage: every method of device.Backend and every value of the
//     UnaryOp, ScalarOp, BinaryOp and ReduceOp enums has a check here (a new
//     method or operation without one makes the suite fail).
//   - Device, Memory: Alloc (including empty buffers), Len and DType,
//     Upload from both host types into both dtypes, Download into both host
//     types through dense and strided layouts, Upload's copy of its source,
//     Free while enqueued work still uses a buffer, Synchronize.
//   - Copy (strided, permuted, offset and broadcast sources, strided
//     destinations, every dtype conversion), Fill, Arange.
//   - Random: Uniform values bit for bit and Normal values within the
//     transcendental tolerance against device.RandomSpec (Philox4x32-10
//     implemented here from the spec's text); reproducibility, different
//     counters giving different values, counters crossing 2³², the block
//     consumption of device.RandomBlocks, values in [a, b), and plausible
//     normal moments.
//   - Unary, Scalar, Binary (every op, including IEEE special values and the
//     documented NaN rules: Max/Min propagate NaN, ReLU and Sign keep NaN,
//     ReLUGrad gives 0 where the input is not > 0), AddScaled and Binary in
//     place (dst == a), Where (cond NaN counts as true, −0 as false).
//   - Reduce for every ReduceOp over leading, trailing, middle, non-adjacent
//     and all axes, broadcast inputs, reduced axes of length 0 (Sum and
//     Norm2 give 0, Mean NaN), NaN and infinities, and bitwise
//     reproducibility; ArgReduce (first extreme, NaN as the extreme).
//   - CumSum forward and reversed along every axis of the reduction
//     shapes and views, empty axes, long lines, many lines, NaN and
//     infinities, bitwise reproducibility (within the reduction
//     tolerance, relative to the running sum of magnitudes).
//   - MatMul: batched, transposed, strided and batch-broadcast operands,
//     padded and offset outputs (padding left alone), k = 0.
//   - Im2Col, Col2Im (values and the adjoint identity ⟨Im2Col(x), y⟩ =
//     ⟨x, Col2Im(y)⟩), MaxPool (first maximum, NaN as the maximum),
//     PoolScatter, PoolGather.
//   - SoftmaxCE (large logits, labels outside [0, c) giving NaN losses and,
//     on a device.IndexChecker, a report at the next Synchronize),
//     SoftmaxCEGrad (broadcast and strided g), SGDStep (momentum, Nesterov,
//     first step, weight decay; v untouched without momentum), AdamStep
//     (Adam and AdamW, later steps).
//   - LayerNorm and LayerNormGrad (LayerNorm and RMSNorm, with and
//     without weight and bias, dw and db asked for or not, rows of 1 to
//     2500 columns, a large common offset, no rows): values against a
//     float64 two-pass reference, within the reduction tolerance relative
//     to the magnitudes of the terms; dw and db bitwise reproducible.
//   - Attention and AttentionGrad against float64 loops: causal or not,
//     L < S and L > S, widths 0 to 128, a negative scale, scores in the
//     hundreds, tiles with partial rows, S = 0 (output 0, lse −Inf), L = 0
//     and an empty batch; the gradients bitwise the same on a second run.
//
// Every output buffer is allocated with a few extra elements set to a
// sentinel value first; a method that writes past its output, or a Copy,
// Fill or MatMul that writes outside its destination layout, fails.
//
// Shapes are small: a fixed list of edge shapes (0-d, length-0 axes,
// length-1 axes, lengths that are not multiples of a vector width) and
// random ones. Inputs come from a math/rand/v2 PCG source seeded from
// [Options.Seed] and the subtest's path, so a failure reproduces with the
// same -run pattern on any backend. The whole suite takes a few seconds.
//
// # Tolerances
//
// A result y passes against the reference r (computed in float64 from the
// same dtype-rounded inputs, then rounded to the dtype) when both are NaN,
// or equal, or |y − r| ≤ tol·m, where m is the magnitude that bounds the
// rounding error of the computation: |r| for most elementwise operations,
// |a| + |b| for sums and differences, the sum of the absolute values of the
// terms for reductions, matrix products and Col2Im. The defaults
// ([DefaultTolerance]) are, for float32, 1e-5 for elementwise arithmetic,
// 1e-4 for transcendental functions (exp, log, tanh, sigmoid, sin, cos,
// pow, softmax, normal random numbers) and 1e-5 for reductions (relative to
// the sum of magnitudes); for float64 1e-12 throughout. Selections (Max,
// Min, ArgReduce, MaxPool indices, copies, comparisons) must be exact.
//
// # Options
//
// The half types (BFloat16, Float16) are checked with [Options.DTypes]
// against the same references, with arithmetic in float32 (scalars,
// accumulations, the optimisers' lines) and each output rounded once to
// the dtype, as [device.WithHalf] computes them, within one unit in the
// last place (see [DefaultTolerance]); the CPU backend runs the suite
// through WithHalf in both.
//
// [RunWith] takes [Options]: the dtypes to check, tolerances per dtype, and
// subtests to skip with a reason, for groups a backend documents that it
// does not support. The suite needs the Backend interface only; it does
// not need HostBuffer.
package devicetest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// Tolerance is a set of relative error bounds for one dtype (see the
// package documentation for how they are applied).
type Tolerance struct {
	// Elementwise bounds correctly rounded arithmetic: +, −, ·, /, √,
	// conversions, AddScaled, the fused gradients, optimiser steps.
	Elementwise float64
	// Transcendental bounds exp, log, tanh, sigmoid, sin, cos, pow,
	// softmax and normal random numbers.
	Transcendental float64
	// Reduction bounds sums, means, norms, matrix products, Col2Im and
	// PoolScatter, relative to the sum of the magnitudes of the terms.
	Reduction float64
}

// DefaultTolerance returns the tolerances [Run] uses for dt. For the half
// types (computed in float32 and rounded once, as [device.WithHalf] does)
// they are one unit in the last place at the bottom of a binade (2⁻⁷ for
// bfloat16, 2⁻¹⁰ for float16: the result may round to the other
// neighbour of the exact value) plus the float32 tolerance.
func DefaultTolerance(dt device.DType) Tolerance {
	switch dt {
	case device.Float64:
		return Tolerance{Elementwise: 1e-12, Transcendental: 1e-12, Reduction: 1e-12}
	case device.BFloat16, device.Float16:
		ulp := 0x1p-7
		if dt == device.Float16 {
			ulp = 0x1p-10
		}
		return Tolerance{Elementwise: ulp + 1e-5, Transcendental: ulp + 1e-4, Reduction: ulp + 1e-5}
	}
	return Tolerance{Elementwise: 1e-5, Transcendental: 1e-4, Reduction: 1e-5}
}

// Options adjust [RunWith].
type Options struct {
	// DTypes lists the dtypes to check; empty means Float32 and Float64.
	DTypes []device.DType
	// Tolerances replaces [DefaultTolerance] for the dtypes it has.
	Tolerances map[device.DType]Tolerance
	// Skip maps subtest paths below Run's test ("Random", "Random/float32",
	// "Unary/float64/Sin", ...) to the reason the backend does not support
	// them; each such subtest, and everything below it, is skipped with
	// that reason.
	Skip map[string]string
	// Seed varies the random inputs; the zero value is a fixed seed.
	Seed uint64
}

// Run checks be against the whole suite with the default options.
func Run(t *testing.T, be device.Backend) { RunWith(t, be, Options{}) }

// RunWith checks be against the suite with the given options.
func RunWith(t *testing.T, be device.Backend, opt Options) {
	t.Helper()
	dts := opt.DTypes
	if len(dts) == 0 {
		dts = []device.DType{device.Float32, device.Float64}
	}
	root := &tc{t: t, be: be, opt: &opt}
	for _, g := range groups {
		root.run(g.name, func(c *tc) {
			if g.perDType == nil {
				g.once(c)
				return
			}
			for _, dt := range dts {
				c.run(dt.String(), func(c *tc) {
					c.dt = dt
					c.tol = DefaultTolerance(dt)
					if tl, ok := opt.Tolerances[dt]; ok {
						c.tol = tl
					}
					g.perDType(c)
				})
			}
		})
	}
}

// group is one top-level subtest: once runs without a dtype, perDType
// once per dtype. methods are the Backend methods it covers.
type group struct {
	name     string
	methods  []string
	once     func(*tc)
	perDType func(*tc)
}

var groups []group

func init() {
	groups = []group{
		{name: "Coverage", once: testCoverage},
		{name: "Device", methods: []string{"Device"}, once: testDevice},
		{name: "Memory", methods: []string{"Alloc", "Free", "Upload", "Download", "Synchronize"}, perDType: testMemory},
		{name: "Copy", methods: []string{"Copy"}, perDType: testCopy},
		{name: "Fill", methods: []string{"Fill"}, perDType: testFill},
		{name: "Arange", methods: []string{"Arange"}, perDType: testArange},
		{name: "Random", methods: []string{"Random"}, perDType: testRandom},
		{name: "Unary", methods: []string{"Unary"}, perDType: testUnary},
		{name: "Scalar", methods: []string{"Scalar"}, perDType: testScalar},
		{name: "Binary", methods: []string{"Binary"}, perDType: testBinary},
		{name: "AddScaled", methods: []string{"AddScaled"}, perDType: testAddScaled},
		{name: "Where", methods: []string{"Where"}, perDType: testWhere},
		{name: "Reduce", methods: []string{"Reduce"}, perDType: testReduce},
		{name: "ArgReduce", methods: []string{"ArgReduce"}, perDType: testArgReduce},
		{name: "CumSum", methods: []string{"CumSum"}, perDType: testCumSum},
		{name: "MatMul", methods: []string{"MatMul"}, perDType: testMatMul},
		{name: "Im2Col", methods: []string{"Im2Col"}, perDType: testIm2Col},
		{name: "Col2Im", methods: []string{"Col2Im"}, perDType: testCol2Im},
		{name: "MaxPool", methods: []string{"MaxPool"}, perDType: testMaxPool},
		{name: "PoolScatter", methods: []string{"PoolScatter"}, perDType: testPoolScatter},
		{name: "PoolGather", methods: []string{"PoolGather"}, perDType: testPoolGather},
		{name: "SoftmaxCE", methods: []string{"SoftmaxCE"}, perDType: testSoftmaxCE},
		{name: "SoftmaxCEGrad", methods: []string{"SoftmaxCEGrad"}, perDType: testSoftmaxCEGrad},
		{name: "LayerNorm", methods: []string{"LayerNorm", "LayerNormGrad"}, perDType: testLayerNorm},
		{name: "Attention", methods: []string{"Attention", "AttentionGrad"}, perDType: testAttention},
		{name: "SGDStep", methods: []string{"SGDStep"}, perDType: testSGDStep},
		{name: "AdamStep", methods: []string{"AdamStep"}, perDType: testAdamStep},
		{name: "Ints", methods: []string{"Upload", "Download", "Copy", "Fill", "Arange", "Binary"}, once: testInts},
		{name: "Gather", methods: []string{"Gather", "ScatterAdd"}, perDType: testGather},
	}
}

// tc is the state of one subtest.
type tc struct {
	t    *testing.T
	be   device.Backend
	opt  *Options
	path string // subtest path below Run's test
	dt   device.DType
	tol  Tolerance
	rng  *rand.Rand
}

// run runs f as the subtest name, skipping it if the options say so.
func (c *tc) run(name string, f func(*tc)) {
	path := name
	if c.path != "" {
		path = c.path + "/" + name
	}
	c.t.Run(name, func(t *testing.T) {
		for k, why := range c.opt.Skip {
			if path == k || strings.HasPrefix(path, k+"/") {
				t.Skipf("skipped by the backend's options: %s", why)
			}
		}
		h := fnv.New64a()
		h.Write([]byte(path))
		s := h.Sum64()
		cc := &tc{t: t, be: c.be, opt: c.opt, path: path, dt: c.dt, tol: c.tol,
			rng: rand.New(rand.NewPCG(s, s^c.opt.Seed^0x9e3779b97f4a7c15))}
		f(cc)
	})
}

// round rounds v to the dtype.
func (c *tc) round(v float64) float64 { return roundTo(c.dt, v) }

// computeRound rounds v to the dtype that arithmetic runs in: float32 for
// the half types (as device.WithHalf runs them: scalars, sums and the
// optimisers' intermediate lines in float32, each output rounded once),
// the dtype itself otherwise.
func (c *tc) computeRound(v float64) float64 { return roundTo(c.dt.Compute(), v) }

// roundTo rounds v to the float dtype dt (once).
func roundTo(dt device.DType, v float64) float64 {
	switch dt {
	case device.Float32:
		return float64(float32(v))
	case device.BFloat16, device.Float16:
		return float64(device.HalfToFloat32(dt, device.HalfFromFloat64(dt, v)))
	}
	return v
}

// tiny is the magnitude below which errors are not measured relative to
// the result (denormals, which devices may flush to zero).
func (c *tc) tiny() float64 {
	switch c.dt {
	case device.Float32, device.BFloat16:
		return 1e-30
	case device.Float16:
		return 0x1p-14 // the smallest normal: subnormals have fewer bits
	}
	return 1e-290
}

// alloc allocates n elements, freed when the subtest ends.
func (c *tc) alloc(n int) device.Buffer {
	c.t.Helper()
	b, err := c.be.Alloc(c.dt, n)
	if err != nil {
		c.t.Fatalf("Alloc(%v, %d): %v", c.dt, n, err)
	}
	if b.Len() != n || b.DType() != c.dt {
		c.t.Fatalf("Alloc(%v, %d) gave a buffer of %d elements of %v", c.dt, n, b.Len(), b.DType())
	}
	c.t.Cleanup(func() { c.be.Free(b) })
	return b
}

// buffer returns a buffer holding vals (rounded to the dtype).
func (c *tc) buffer(vals []float64) device.Buffer {
	c.t.Helper()
	b := c.alloc(len(vals))
	c.upload(b, vals)
	return b
}

// upload writes vals to b, as a slice of b's host type.
func (c *tc) upload(b device.Buffer, vals []float64) {
	if c.dt == device.Float32 {
		s := make([]float32, len(vals))
		for i, v := range vals {
			s[i] = float32(v)
		}
		c.be.Upload(b, s)
		return
	}
	c.be.Upload(b, append([]float64(nil), vals...))
}

// download reads the elements of b at l.
func (c *tc) download(b device.Buffer, l device.Layout) []float64 {
	c.t.Helper()
	d := make([]float64, l.Size())
	if err := c.be.Download(d, b, l); err != nil {
		c.t.Fatalf("Download: %v", err)
	}
	return d
}

// all reads the whole of b.
func (c *tc) all(b device.Buffer) []float64 {
	c.t.Helper()
	return c.download(b, device.Contiguous([]int{b.Len()}))
}

// sentinel marks elements an operation must not write.
const sentinel = -7777.25

// tail is the number of sentinel elements after each dense output.
const tail = 3

// output returns a buffer for n dense output elements plus the sentinel
// tail, all set to the sentinel.
func (c *tc) output(n int) device.Buffer {
	c.t.Helper()
	return c.buffer(filled(n+tail, sentinel))
}

// outputOf is output for a buffer of dtype dt (the sentinel truncated for
// an integer dtype).
func (c *tc) outputOf(dt device.DType, n int) device.Buffer {
	c.t.Helper()
	b, err := c.be.Alloc(dt, n+tail)
	if err != nil {
		c.t.Fatalf("Alloc(%v, %d): %v", dt, n+tail, err)
	}
	c.t.Cleanup(func() { c.be.Free(b) })
	c.be.Upload(b, filled(n+tail, sentinel))
	return b
}

// result downloads the n dense output elements of out and checks that the
// tail is untouched.
func (c *tc) result(what string, out device.Buffer, n int) []float64 {
	c.t.Helper()
	v := c.all(out)
	s := roundTo(out.DType(), sentinel)
	if out.DType().IsInt() {
		s = math.Trunc(sentinel)
	}
	for i := n; i < len(v); i++ {
		if v[i] != s {
			c.t.Errorf("%s: wrote element %d past the %d output elements (%v)", what, i, n, v[i])
			break
		}
	}
	return v[:n]
}

func filled(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// check compares got with want (rounded to the dtype here): NaN matches
// NaN, equal values match, else |got−want| must be at most tol·mag[i]
// (mag nil: |want|). It reports at most a few mismatches.
func (c *tc) check(what string, got, want, mag []float64, tol float64) bool {
	c.t.Helper()
	if len(got) != len(want) {
		c.t.Errorf("%s: %d results, want %d", what, len(got), len(want))
		return false
	}
	bad := 0
	for i := range want {
		w := c.round(want[i])
		g := got[i]
		if g == w || math.IsNaN(g) && math.IsNaN(w) {
			continue
		}
		m := math.Abs(w)
		if mag != nil {
			m = math.Max(m, c.round(mag[i]))
		}
		m = math.Max(m, c.tiny())
		if d := math.Abs(g - w); d <= tol*m && !math.IsNaN(d) && !math.IsInf(w, 0) {
			continue
		}
		if bad++; bad <= 4 {
			allowed := tol * m
			if math.IsNaN(allowed) || math.IsInf(w, 0) {
				allowed = 0
			}
			c.t.Errorf("%s: element %d: got %v, want %v (error %.3g, allowed %.3g)", what, i, g, w, math.Abs(g-w), allowed)
		}
	}
	if bad > 4 {
		c.t.Errorf("%s: %d mismatches in all", what, bad)
	}
	return bad == 0
}

// exact compares with no tolerance.
func (c *tc) exact(what string, got, want []float64) bool {
	c.t.Helper()
	return c.check(what, got, want, nil, 0)
}

// uniform returns n values in [lo, hi), rounded to the dtype.
func (c *tc) uniform(n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = c.round(lo + (hi-lo)*c.rng.Float64())
	}
	return v
}

// gen returns n values of f, rounded to the dtype.
func (c *tc) gen(n int, f func(*rand.Rand) float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = c.round(f(c.rng))
	}
	return v
}

// each calls f with every index of shape in row-major order.
func each(shape []int, f func(idx []int)) {
	if device.NumElements(shape) == 0 {
		return
	}
	idx := make([]int, len(shape))
	for {
		f(idx)
		k := len(shape) - 1
		for ; k >= 0; k-- {
			if idx[k]++; idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// pos returns the buffer position of idx in l.
func pos(l device.Layout, idx []int) int {
	p := l.Offset
	for i, x := range idx {
		p += x * l.Strides[i]
	}
	return p
}

// gather returns the elements of buf at l in row-major order.
func gather(buf []float64, l device.Layout) []float64 {
	out := make([]float64, 0, l.Size())
	each(l.Shape, func(idx []int) { out = append(out, buf[pos(l, idx)]) })
	return out
}

// The kinds of layout [tc.view] makes.
var viewKinds = []string{"dense", "offset", "permuted", "strided", "broadcast"}

// view returns a layout of the given kind for shape and the length of a
// buffer that holds it. "broadcast" gives some axes stride 0; every kind
// but "dense" may give length-1 axes an arbitrary stride.
func (c *tc) view(shape []int, kind string) (device.Layout, int) {
	r := c.rng
	shape = append([]int(nil), shape...)
	nd := len(shape)
	if kind == "dense" {
		return device.Contiguous(shape), max(device.NumElements(shape), 1)
	}
	order := make([]int, nd) // memory order, innermost last
	for i := range order {
		order[i] = i
	}
	if kind != "offset" {
		r.Shuffle(nd, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	strides := make([]int, nd)
	acc := 1
	for k := nd - 1; k >= 0; k-- {
		a := order[k]
		if kind == "broadcast" && (r.IntN(2) == 0 || shape[a] == 1) {
			strides[a] = 0
			continue
		}
		strides[a] = acc
		pad := 0
		if kind == "strided" || kind == "broadcast" {
			pad = r.IntN(3)
		}
		if kind == "strided" && k == nd-1 && r.IntN(2) == 0 {
			strides[a] = 2 // inner stride other than 1
			acc = 2
		}
		acc = acc*max(shape[a], 1) + pad
	}
	for a, d := range shape {
		if d == 1 && kind != "broadcast" && r.IntN(2) == 0 {
			strides[a] = r.IntN(5)
		}
	}
	l := device.Layout{Shape: shape, Strides: strides, Offset: r.IntN(4)}
	if kind == "offset" {
		l.Offset = 1 + r.IntN(5)
	}
	_, hi := l.Span()
	n := max(hi+1, l.Offset+1) + r.IntN(3)
	return l, n
}

// shapes returns the shapes elementwise checks use: fixed edge shapes and
// a few random ones.
func (c *tc) shapes() [][]int {
	s := [][]int{{}, {0}, {1}, {5}, {2, 0, 3}, {1, 1}, {3, 1, 4}, {2, 3, 4}, {37}, {4, 67}}
	for i := 0; i < 4; i++ {
		s = append(s, c.randShape(1, 4, 1, 5))
	}
	return s
}

// randShape returns a shape of rank in [r0, r1] with lengths in [d0, d1].
func (c *tc) randShape(r0, r1, d0, d1 int) []int {
	nd := r0 + c.rng.IntN(r1-r0+1)
	s := make([]int, nd)
	for i := range s {
		s[i] = d0 + c.rng.IntN(d1-d0+1)
	}
	return s
}

// operand is an input: a buffer's host values and a layout of it.
type operand struct {
	vals []float64
	l    device.Layout
	buf  device.Buffer
}

// operand makes an input of shape with a layout of kind whose elements
// (and the buffer's other positions) come from f.
func (c *tc) operand(shape []int, kind string, f func(*rand.Rand) float64) operand {
	c.t.Helper()
	l, n := c.view(shape, kind)
	v := c.gen(n, f)
	return operand{vals: v, l: l, buf: c.buffer(v)}
}

// at returns the operand's element at idx.
func (o operand) at(idx []int) float64 { return o.vals[pos(o.l, idx)] }

func uni(lo, hi float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }
}

// pick returns values chosen from vals.
func pick(vals ...float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return vals[r.IntN(len(vals))] }
}

// mix returns f's values, or g's one time in k.
func mix(f, g func(*rand.Rand) float64, k int) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 {
		if r.IntN(k) == 0 {
			return g(r)
		}
		return f(r)
	}
}

func desc(l device.Layout) string { return fmt.Sprintf("%v", l) }

func fmtf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
