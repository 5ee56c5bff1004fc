package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
)

// These tests call the Backend methods directly with odd layouts (offsets,
// transposed, strided, zero-stride broadcast) and compare them with a
// reference: the same method on dense copies of the operands (which checks
// the layout handling bit for bit), or a naive loop (reductions, MatMul,
// Copy, Fill, Where, AddScaled, ArgReduce).

var be = cpu.Get()

// operand is a buffer and a layout that views it.
type operand struct {
	kind string
	buf  []float64
	l    device.Layout
}

var layoutKinds = []string{"dense", "offset", "permuted", "strided", "bcast0", "bcastLast", "scalar"}

// makeOperand returns random data of the given shape viewed through a
// layout of the given kind.
func makeOperand(r *rand.Rand, shape []int, kind string) operand {
	n := device.NumElements(shape)
	rank := len(shape)
	l := device.Layout{Shape: append([]int(nil), shape...), Strides: make([]int, rank)}
	var size int
	switch kind {
	case "dense":
		l = device.Contiguous(l.Shape)
		size = n
	case "offset":
		l = device.Contiguous(l.Shape)
		l.Offset = 3
		size = n + 5
	case "permuted":
		// The transpose of a dense tensor of the reversed shape.
		rev := make([]int, rank)
		for i := range rev {
			rev[i] = shape[rank-1-i]
		}
		rs := device.Contiguous(rev).Strides
		for i := range l.Strides {
			l.Strides[i] = rs[rank-1-i]
		}
		size = n
	case "strided":
		cs := device.Contiguous(l.Shape).Strides
		for i := range cs {
			l.Strides[i] = 2 * cs[i]
		}
		l.Offset = 1
		size = 2*n + 1
	case "bcast0", "bcastLast":
		ax := 0
		if kind == "bcastLast" {
			ax = rank - 1
		}
		sub := append([]int(nil), shape...)
		sub[ax] = 1
		cs := device.Contiguous(sub).Strides
		copy(l.Strides, cs)
		l.Strides[ax] = 0
		size = device.NumElements(sub)
	case "scalar":
		l.Offset = 2
		size = 3
	default:
		panic(kind)
	}
	buf := make([]float64, size)
	for i := range buf {
		buf[i] = math.Round(r.NormFloat64()*1000) / 256 // exact in float32 too
	}
	return operand{kind, buf, l}
}

// gather returns the elements a layout addresses, in row-major order.
func gather[T float32 | float64](x []T, l device.Layout) []T {
	out := make([]T, 0, l.Size())
	var rec func(d, off int)
	rec = func(d, off int) {
		if d == len(l.Shape) {
			out = append(out, x[off])
			return
		}
		for i := 0; i < l.Shape[d]; i++ {
			rec(d+1, off+i*l.Strides[d])
		}
	}
	rec(0, l.Offset)
	return out
}

func to32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// buffers returns the operand's buffer in dtype dt.
func (o operand) buffer(dt device.DType) *cpu.Buffer {
	if dt == device.Float32 {
		return cpu.Wrap(to32(o.buf))
	}
	return cpu.Wrap(append([]float64(nil), o.buf...))
}

// dense returns the operand's elements as a dense buffer in dtype dt.
func (o operand) dense(dt device.DType) *cpu.Buffer {
	g := gather(o.buf, o.l)
	if dt == device.Float32 {
		return cpu.Wrap(to32(g))
	}
	return cpu.Wrap(g)
}

func alloc(t testing.TB, dt device.DType, n int) *cpu.Buffer {
	b, err := be.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	return b.(*cpu.Buffer)
}

func values(b *cpu.Buffer) []float64 {
	switch b.DType() {
	case device.Float64:
		return append([]float64(nil), b.Float64s()...)
	case device.Int64:
		out := make([]float64, b.Len())
		for i, v := range b.Int64s() {
			out[i] = float64(v)
		}
		return out
	}
	out := make([]float64, b.Len())
	for i, v := range b.Float32s() {
		out[i] = float64(v)
	}
	return out
}

func sameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

func compareBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !sameBits(got[i], want[i]) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// The shapes the layout tests run on: small, one with long rows (segments
// longer than the gather block), one large enough to be split across
// goroutines, and 3-d.
var layoutShapes = [][]int{{3, 5}, {2, 5000}, {200, 180}, {4, 5, 6}, {7}}

// kindsFor returns the layout kinds to test for a shape: all of them for
// small shapes, a few for large ones.
func kindsFor(shape []int) []string {
	if device.NumElements(shape) > 1000 {
		if raceEnabled {
			return []string{"dense", "permuted", "bcast0"}
		}
		return []string{"dense", "permuted", "strided", "bcast0", "scalar"}
	}
	return layoutKinds
}

// pick returns ops for a shape: all for small shapes, the first two for
// large ones.
func pick[O any](shape []int, ops []O) []O {
	if device.NumElements(shape) > 1000 {
		return ops[:2]
	}
	return ops
}

var dtypes = []device.DType{device.Float32, device.Float64}

func TestUnaryScalarLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, shape := range layoutShapes {
		for _, kind := range kindsFor(shape) {
			x := makeOperand(r, shape, kind)
			n := x.l.Size()
			for _, dt := range dtypes {
				for _, op := range pick(shape, []device.UnaryOp{device.Exp, device.Neg, device.Abs, device.Tanh, device.Square, device.Sign}) {
					got := alloc(t, dt, n)
					be.Unary(op, got, x.buffer(dt), x.l)
					want := alloc(t, dt, n)
					be.Unary(op, want, x.dense(dt), device.Contiguous(shape))
					compareBits(t, fmt.Sprintf("%v %v %v %v", op, dt, shape, kind), values(got), values(want))
				}
				for _, op := range pick(shape, []device.ScalarOp{device.RDivS, device.MaxS, device.SubS, device.GtS}) {
					got := alloc(t, dt, n)
					be.Scalar(op, got, x.buffer(dt), x.l, 0.75)
					want := alloc(t, dt, n)
					be.Scalar(op, want, x.dense(dt), device.Contiguous(shape), 0.75)
					compareBits(t, fmt.Sprintf("%v %v %v %v", op, dt, shape, kind), values(got), values(want))
				}
			}
		}
	}
}

func TestBinaryLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, shape := range layoutShapes {
		big := device.NumElements(shape) > 1000
		for _, ka := range kindsFor(shape) {
			for _, kb := range kindsFor(shape) {
				if big && ka != "dense" && kb != "dense" && ka != kb {
					continue // keep the large cases few
				}
				a, b := makeOperand(r, shape, ka), makeOperand(r, shape, kb)
				n := a.l.Size()
				for _, dt := range dtypes {
					for _, op := range pick(shape, []device.BinaryOp{device.Div, device.Maximum, device.Sub, device.Lt}) {
						got := alloc(t, dt, n)
						be.Binary(op, got, a.buffer(dt), a.l, b.buffer(dt), b.l)
						want := alloc(t, dt, n)
						be.Binary(op, want, a.dense(dt), device.Contiguous(shape), b.dense(dt), device.Contiguous(shape))
						compareBits(t, fmt.Sprintf("%v %v %v a %s b %s", op, dt, shape, ka, kb), values(got), values(want))
					}
				}
			}
		}
	}
}

// TestBinaryInPlace: dst may be a's buffer when a is contiguous at offset 0,
// whatever b's layout (regression: a strided b used to be gathered into
// dst, overwriting a before it was read).
func TestBinaryInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, shape := range layoutShapes {
		for _, kb := range kindsFor(shape) {
			a, b := makeOperand(r, shape, "dense"), makeOperand(r, shape, kb)
			for _, dt := range dtypes {
				for _, op := range pick(shape, []device.BinaryOp{device.Sub, device.Mul, device.Add}) {
					want := alloc(t, dt, a.l.Size())
					be.Binary(op, want, a.dense(dt), a.l, b.dense(dt), device.Contiguous(shape))
					ab := a.buffer(dt)
					be.Binary(op, ab, ab, a.l, b.buffer(dt), b.l)
					compareBits(t, fmt.Sprintf("in-place %v %v %v b %s", op, dt, shape, kb), values(ab), values(want))
				}
			}
		}
	}
}

func TestAddScaled(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	scales := [][2]float64{{1, 1}, {1, -0.5}, {2, 3}, {-1, 0}}
	for _, shape := range layoutShapes {
		for _, ka := range []string{"dense", "offset", "permuted", "bcast0"} {
			for _, kb := range kindsFor(shape) {
				a, b := makeOperand(r, shape, ka), makeOperand(r, shape, kb)
				ga, gb := gather(a.buf, a.l), gather(b.buf, b.l)
				for _, dt := range dtypes {
					for _, s := range pick(shape, scales) {
						want := make([]float64, len(ga))
						for i := range want {
							if dt == device.Float32 {
								want[i] = float64(float32(s[0])*float32(ga[i]) + float32(s[1])*float32(gb[i]))
							} else {
								want[i] = s[0]*ga[i] + s[1]*gb[i]
							}
						}
						got := alloc(t, dt, len(ga))
						be.AddScaled(got, a.buffer(dt), a.l, s[0], b.buffer(dt), b.l, s[1])
						compareBits(t, fmt.Sprintf("AddScaled %v %v %v a %s b %s", s, dt, shape, ka, kb), values(got), want)
						if ka == "dense" {
							// In place: dst is a's buffer.
							ab := a.buffer(dt)
							be.AddScaled(ab, ab, a.l, s[0], b.buffer(dt), b.l, s[1])
							compareBits(t, fmt.Sprintf("in-place AddScaled %v %v %v b %s", s, dt, shape, kb), values(ab), want)
						}
					}
				}
			}
		}
	}
}

func TestWhere(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, shape := range layoutShapes {
		for _, kc := range []string{"dense", "permuted", "bcast0", "bcastLast", "scalar"} {
			for _, kab := range []string{"dense", "strided", "bcastLast"} {
				c, a, b := makeOperand(r, shape, kc), makeOperand(r, shape, kab), makeOperand(r, shape, "permuted")
				for i := range c.buf {
					if r.IntN(2) == 0 {
						c.buf[i] = 0
					}
				}
				gc, ga, gb := gather(c.buf, c.l), gather(a.buf, a.l), gather(b.buf, b.l)
				want := make([]float64, len(gc))
				for i := range want {
					if gc[i] != 0 {
						want[i] = ga[i]
					} else {
						want[i] = gb[i]
					}
				}
				for _, dt := range dtypes {
					got := alloc(t, dt, len(gc))
					be.Where(got, c.buffer(dt), c.l, a.buffer(dt), a.l, b.buffer(dt), b.l)
					compareBits(t, fmt.Sprintf("Where %v %v cond %s a,b %s", dt, shape, kc, kab), values(got), want)
				}
			}
		}
	}
	// NaN counts as true (it is not 0), -0 as false.
	got := alloc(t, device.Float64, 3)
	be.Where(got, cpu.Wrap([]float64{math.NaN(), math.Copysign(0, -1), 2}), device.Contiguous([]int{3}),
		cpu.Wrap([]float64{1, 1, 1}), device.Contiguous([]int{3}), cpu.Wrap([]float64{-1, -1, -1}), device.Contiguous([]int{3}))
	compareBits(t, "Where NaN/-0 condition", values(got), []float64{1, -1, 1})
}

func TestCopyAndConvert(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, shape := range layoutShapes {
		for _, ks := range kindsFor(shape) {
			for _, kd := range pick(shape, []string{"permuted", "strided", "dense", "offset"}) {
				s, d := makeOperand(r, shape, ks), makeOperand(r, shape, kd)
				gs := gather(s.buf, s.l)
				for _, sdt := range dtypes {
					for _, ddt := range dtypes {
						dst := d.buffer(ddt)
						before := values(dst)
						be.Copy(dst, d.l, s.buffer(sdt), s.l)
						after := values(dst)
						// The addressed positions hold the source...
						got := gather(after, d.l)
						compareBits(t, fmt.Sprintf("Copy %v->%v %v src %s dst %s", sdt, ddt, shape, ks, kd), got, gs)
						// ...and the others are unchanged.
						touched := make([]bool, len(after))
						for _, off := range gather(indexBuffer(len(after)), d.l) {
							touched[int(off)] = true
						}
						for i := range after {
							if !touched[i] && !sameBits(after[i], before[i]) {
								t.Fatalf("Copy %s dst %s: untouched element %d changed", ks, kd, i)
							}
						}
					}
				}
			}
		}
	}
	// Float64 -> float32 rounds to nearest, overflows to Inf, keeps NaN and -0.
	src := []float64{1.0000000596046448, 1 + 1.0/(1<<23) + 1.0/(1<<25), 1e300, -1e300, math.NaN(), math.Copysign(0, -1), 1e-50}
	dst := alloc(t, device.Float32, len(src))
	be.Copy(dst, device.Contiguous([]int{len(src)}), cpu.Wrap(src), device.Contiguous([]int{len(src)}))
	want := []float32{1, 1 + 1.0/(1<<23), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), float32(math.Copysign(0, -1)), 0}
	for i, v := range dst.Float32s() {
		if math.Float32bits(v) != math.Float32bits(want[i]) && !(v != v && want[i] != want[i]) {
			t.Errorf("float64->float32 of %v = %v, want %v", src[i], v, want[i])
		}
	}
	// Empty copies do nothing.
	be.Copy(dst, device.Layout{Shape: []int{0, 3}, Strides: []int{3, 1}}, cpu.Wrap([]float64{}), device.Layout{Shape: []int{0, 3}, Strides: []int{3, 1}})
}

// indexBuffer returns 0, 1, ..., n-1, to find which positions a layout
// touches.
func indexBuffer(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i)
	}
	return x
}

func TestFill(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, shape := range layoutShapes {
		for _, kd := range []string{"dense", "offset", "permuted", "strided"} {
			d := makeOperand(r, shape, kd)
			for _, dt := range dtypes {
				dst := d.buffer(dt)
				before := values(dst)
				be.Fill(dst, d.l, -2.5)
				after := values(dst)
				touched := make([]bool, len(after))
				for _, off := range gather(indexBuffer(len(after)), d.l) {
					touched[int(off)] = true
				}
				for i := range after {
					want := before[i]
					if touched[i] {
						want = -2.5
					}
					if after[i] != want {
						t.Fatalf("Fill %v %v %s: element %d = %v, want %v", dt, shape, kd, i, after[i], want)
					}
				}
			}
		}
	}
}

func TestArangeAndRandom(t *testing.T) {
	for _, dt := range dtypes {
		b := alloc(t, dt, 5)
		be.Arange(b, 5, 1.5, -0.25)
		compareBits(t, "Arange", values(b), []float64{1.5, 1.25, 1, 0.75, 0.5})
	}
	// Random splits large fills into chunks across goroutines; the result
	// must be the single stream of device.RandomFloat32/64.
	for _, n := range []int{1, 5, 16384, 16385, 40003} {
		for _, dist := range []device.Dist{device.Uniform, device.Normal} {
			b32 := alloc(t, device.Float32, n)
			be.Random(b32, n, dist, 11, 7, -1, 3)
			w32 := make([]float32, n)
			device.RandomFloat32(w32, 0, dist, 11, 7, -1, 3)
			b64 := alloc(t, device.Float64, n)
			be.Random(b64, n, dist, 11, 7, -1, 3)
			w64 := make([]float64, n)
			device.RandomFloat64(w64, 0, dist, 11, 7, -1, 3)
			for i := 0; i < n; i++ {
				if math.Float32bits(b32.Float32s()[i]) != math.Float32bits(w32[i]) || math.Float64bits(b64.Float64s()[i]) != math.Float64bits(w64[i]) {
					t.Fatalf("Random n=%d dist %d: element %d differs from the reference stream", n, dist, i)
				}
			}
		}
	}
}

func TestUploadDownload(t *testing.T) {
	b := alloc(t, device.Float32, 4)
	be.Upload(b, []float64{1.5, -2, 1e40, 0.1})
	got := make([]float64, 4)
	if err := be.Download(got, b, device.Contiguous([]int{4})); err != nil {
		t.Fatal(err)
	}
	want := []float64{1.5, -2, math.Inf(1), float64(float32(0.1))}
	compareBits(t, "Upload float64 to float32", got, want)
	// Download of a transposed view gives row-major order.
	b64 := cpu.Wrap([]float64{1, 2, 3, 4, 5, 6})
	d32 := make([]float32, 6)
	if err := be.Download(d32, b64, device.Layout{Shape: []int{3, 2}, Strides: []int{1, 3}}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d32) != "[1 4 2 5 3 6]" {
		t.Errorf("Download of a transposed view = %v", d32)
	}
	if err := be.Download([]int{0}, b64, device.Contiguous([]int{1})); err == nil {
		t.Error("Download into []int did not fail")
	}
	if _, err := be.Alloc(device.Float32, -1); err == nil {
		t.Error("Alloc(-1) did not fail")
	}
	if err := be.Synchronize(); err != nil {
		t.Error(err)
	}
	if be.Device() != device.CPU() {
		t.Error("Device() is not cpu")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Wrap([]int) did not panic")
			}
		}()
		cpu.Wrap([]int{1})
	}()
	if hb, ok := device.Buffer(b).(device.HostBuffer); !ok || hb.Float32s() == nil || hb.Float64s() != nil {
		t.Error("a float32 CPU buffer is not a HostBuffer with only Float32s")
	}
}

func TestBufferCache(t *testing.T) {
	be.EmptyCache()
	s0 := be.Stats()
	if s0.CachedBytes != 0 {
		t.Fatalf("CachedBytes after EmptyCache = %d", s0.CachedBytes)
	}
	const n = 20000 // 160000 bytes of float64: cached (>= 64 KiB)
	b1 := alloc(t, device.Float64, n)
	if b1.Len() != n {
		t.Fatalf("Len = %d", b1.Len())
	}
	s1 := be.Stats()
	if s1.Misses != s0.Misses+1 || s1.Hits != s0.Hits {
		t.Fatalf("first Alloc: stats %+v -> %+v, want one miss", s0, s1)
	}
	be.Free(b1)
	s2 := be.Stats()
	if s2.CachedBytes < n*8 {
		t.Fatalf("after Free: CachedBytes %d, want >= %d", s2.CachedBytes, n*8)
	}
	// A request of the same size class gets the cached buffer back.
	b2 := alloc(t, device.Float64, n-10)
	s3 := be.Stats()
	if s3.Hits != s2.Hits+1 || s3.CachedBytes != 0 || b2 != b1 || b2.Len() != n-10 {
		t.Fatalf("second Alloc: stats %+v -> %+v (same buffer %v, len %d), want a hit", s2, s3, b2 == b1, b2.Len())
	}
	// Another dtype does not share the free list.
	be.Free(b2)
	b3 := alloc(t, device.Float32, 2*n)
	if s4 := be.Stats(); s4.Hits != s3.Hits || s4.Misses != s3.Misses+1 {
		t.Fatalf("float32 Alloc after a float64 Free: stats %+v -> %+v, want a miss", s3, s4)
	}
	be.Free(b3)
	// Small buffers are not cached.
	small := alloc(t, device.Float32, 100)
	before := be.Stats()
	be.Free(small)
	if after := be.Stats(); after != before {
		t.Fatalf("Free of a small buffer changed the stats: %+v -> %+v", before, after)
	}
	// Wrapped buffers are not cached either.
	be.Free(cpu.Wrap(make([]float64, n)))
	if after := be.Stats(); after != before {
		t.Fatalf("Free of a wrapped buffer changed the stats: %+v -> %+v", before, after)
	}
	be.EmptyCache()
	if s := be.Stats(); s.CachedBytes != 0 {
		t.Fatalf("CachedBytes after EmptyCache = %d", s.CachedBytes)
	}
	b4 := alloc(t, device.Float64, n)
	if b4 == b1 {
		t.Fatal("Alloc after EmptyCache returned a dropped buffer")
	}
}

// naiveReduce reduces x (dense, of shape) over axes in float64.
func naiveReduce(op device.ReduceOp, x []float64, shape, axes []int) []float64 {
	isRed := make([]bool, len(shape))
	for _, a := range axes {
		isRed[a] = true
	}
	var keepShape []int
	for i, d := range shape {
		if !isRed[i] {
			keepShape = append(keepShape, d)
		}
	}
	nk := device.NumElements(keepShape)
	acc := make([]float64, nk)
	cnt := make([]int, nk)
	st := device.Contiguous(shape).Strides
	kst := device.Contiguous(keepShape).Strides
	for flat := range x {
		k, ki := 0, 0
		for i := range shape {
			idx := flat / st[i] % shape[i]
			if !isRed[i] {
				k += idx * kst[ki]
				ki++
			}
		}
		v := x[flat]
		switch {
		case cnt[k] == 0 && (op == device.Max || op == device.Min):
			acc[k] = v
		case op == device.Max:
			acc[k] = math.Max(acc[k], v)
		case op == device.Min:
			acc[k] = math.Min(acc[k], v)
		case op == device.Norm2:
			acc[k] += v * v
		default:
			acc[k] += v
		}
		cnt[k]++
	}
	for k := range acc {
		switch op {
		case device.Mean:
			acc[k] /= float64(cnt[k])
		case device.Norm2:
			acc[k] = math.Sqrt(acc[k])
		}
	}
	return acc
}

func closeTo(got, want float64, dt device.DType, scale float64) bool {
	if sameBits(got, want) || got == want {
		return true
	}
	if dt == device.Float32 {
		w := float32(want)
		return math.Abs(got-float64(w)) <= float64(math.Nextafter32(float32(math.Abs(float64(w))), float32(math.Inf(1)))-float32(math.Abs(float64(w))))
	}
	return math.Abs(got-want) <= 1e-12*scale
}

var allReduceOps = []device.ReduceOp{device.Sum, device.Mean, device.Max, device.Min, device.Norm2}

func checkReduce(t *testing.T, what string, op device.ReduceOp, dt device.DType, x operand, axes []int) {
	t.Helper()
	g := gather(x.buf, x.l)
	if dt == device.Float32 {
		for i, v := range g {
			g[i] = float64(float32(v))
		}
	}
	want := naiveReduce(op, g, x.l.Shape, axes)
	scale := 0.0
	for _, v := range g {
		scale += math.Abs(v) + v*v
	}
	got := alloc(t, dt, len(want))
	be.Reduce(op, got, x.buffer(dt), x.l, axes)
	gv := values(got)
	for i := range want {
		if !closeTo(gv[i], want[i], dt, scale) {
			t.Fatalf("%s: %v %v over %v of %v (%s): element %d = %v, want %v", what, op, dt, axes, x.l.Shape, x.kind, i, gv[i], want[i])
		}
	}
}

func TestReduceLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	axesSets := [][]int{{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}}
	for _, kind := range layoutKinds {
		x := makeOperand(r, []int{4, 5, 6}, kind)
		for _, axes := range axesSets {
			for _, op := range allReduceOps {
				for _, dt := range dtypes {
					checkReduce(t, "3-d", op, dt, x, axes)
				}
			}
		}
		// Axes of length 1.
		y := makeOperand(r, []int{3, 1, 4}, kind)
		for _, axes := range [][]int{{1}, {0, 1}, {1, 2}} {
			for _, op := range allReduceOps {
				checkReduce(t, "unit axis", op, device.Float64, y, axes)
			}
		}
	}
}

// TestReduceLarge covers the split paths: long runs reduced in fixed
// chunks, many rows of few columns, many columns, and the gather path.
func TestReduceLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	cases := []struct {
		shape []int
		axes  []int
		kinds []string
	}{
		{[]int{2, 140001}, []int{1}, []string{"dense", "permuted"}},  // inner, chunked runs
		{[]int{140001, 3}, []int{0}, []string{"dense", "strided"}},   // outer, row chunks
		{[]int{700, 300}, []int{0}, []string{"dense"}},               // outer, column split
		{[]int{6001, 700}, []int{0}, []string{"dense"}},              // outer, chunks of interleaved rows
		{[]int{300, 700}, []int{1}, []string{"dense", "permuted"}},   // inner, parallel over outputs
		{[]int{60, 70, 50}, []int{1}, []string{"dense", "permuted"}}, // middle axis
		{[]int{60, 70, 50}, []int{0, 2}, []string{"dense"}},
		{[]int{1 << 17}, []int{0}, []string{"dense", "strided"}},
	}
	ops := allReduceOps
	if raceEnabled {
		ops = []device.ReduceOp{device.Sum, device.Max}
	}
	for _, c := range cases {
		kinds := c.kinds
		if raceEnabled {
			kinds = kinds[:1]
		}
		for _, kind := range kinds {
			x := makeOperand(r, c.shape, kind)
			for _, op := range ops {
				for _, dt := range dtypes {
					checkReduce(t, "large", op, dt, x, c.axes)
				}
			}
		}
	}
}

// TestReduceNaN: Max and Min propagate NaN wherever it sits, in every path;
// sums become NaN.
func TestReduceNaN(t *testing.T) {
	for _, c := range []struct {
		shape []int
		axes  []int
	}{
		{[]int{5, 7}, []int{1}}, {[]int{5, 7}, []int{0}}, {[]int{2, 140001}, []int{1}}, {[]int{140001, 2}, []int{0}}, {[]int{3, 4, 5}, []int{0, 2}},
	} {
		n := device.NumElements(c.shape)
		positions := []int{0, n / 2, n - 1}
		if raceEnabled && n > 1000 {
			positions = positions[1:2]
		}
		for _, pos := range positions {
			x := make([]float64, n)
			for i := range x {
				x[i] = float64(i % 13)
			}
			x[pos] = math.NaN()
			for _, op := range allReduceOps {
				// math.Max and math.Min propagate NaN, as the backend must.
				want := naiveReduce(op, x, c.shape, c.axes)
				for _, dt := range dtypes {
					src := cpu.Wrap(append([]float64(nil), x...))
					if dt == device.Float32 {
						src = cpu.Wrap(to32(x))
					}
					got := alloc(t, dt, len(want))
					be.Reduce(op, got, src, device.Contiguous(c.shape), c.axes)
					gv := values(got)
					for i := range want {
						if math.IsNaN(want[i]) != math.IsNaN(gv[i]) {
							t.Fatalf("%v %v over %v of %v, NaN at %d: element %d = %v, want %v", op, dt, c.axes, c.shape, pos, i, gv[i], want[i])
						}
					}
				}
			}
		}
	}
}

func TestReduceEmpty(t *testing.T) {
	// Reducing over zero elements: sum and norm 0, mean, max and min NaN
	// (the tensor layer rejects max and min before the backend).
	want := map[device.ReduceOp]float64{device.Sum: 0, device.Norm2: 0, device.Mean: math.NaN(), device.Max: math.NaN(), device.Min: math.NaN()}
	for op, w := range want {
		got := alloc(t, device.Float32, 2)
		be.Reduce(op, got, cpu.Wrap([]float32{}), device.Contiguous([]int{2, 0}), []int{1})
		for _, v := range values(got) {
			if !sameBits(v, w) {
				t.Errorf("%v over an empty axis = %v, want %v", op, v, w)
			}
		}
	}
	// No outputs: nothing to do.
	be.Reduce(device.Sum, alloc(t, device.Float32, 0), cpu.Wrap([]float32{}), device.Contiguous([]int{0, 3}), []int{1})
}

func TestReduceDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	x := makeOperand(r, []int{3, 100003}, "dense")
	y := makeOperand(r, []int{100003, 3}, "dense")
	// Full-precision values: sums of them depend on the order of additions.
	for _, o := range []operand{x, y} {
		for i := range o.buf {
			o.buf[i] = r.NormFloat64()
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var first [][]float64
	for run := 0; run < 6; run++ {
		runtime.GOMAXPROCS(1 + run%3)
		var got [][]float64
		for _, dt := range dtypes {
			for _, op := range allReduceOps {
				for _, c := range []struct {
					x    operand
					axes []int
				}{{x, []int{1}}, {x, []int{0, 1}}, {y, []int{0}}} {
					b := alloc(t, dt, 3)
					if len(c.axes) == 2 {
						b = alloc(t, dt, 1)
					}
					be.Reduce(op, b, c.x.buffer(dt), c.x.l, c.axes)
					got = append(got, values(b))
				}
			}
		}
		if run == 0 {
			first = got
			continue
		}
		for i := range got {
			compareBits(t, fmt.Sprintf("run %d (GOMAXPROCS %d) result %d", run, 1+run%3, i), got[i], first[i])
		}
	}
}

func TestArgReduce(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name  string
		x     []float64
		shape []int
		axis  int
		max   []float64
		min   []float64
	}{
		{"ties first", []float64{1, 3, 3, 0, 0}, []int{5}, 0, []float64{1}, []float64{3}},
		{"NaN wins", []float64{1, nan, 5, nan, -9}, []int{5}, 0, []float64{1}, []float64{1}},
		{"NaN first", []float64{nan, 2}, []int{2}, 0, []float64{0}, []float64{0}},
		{"rows", []float64{1, 2, 2, 9, 9, 0}, []int{2, 3}, 1, []float64{1, 0}, []float64{0, 2}},
		{"columns", []float64{1, 2, 2, 9, 9, 0}, []int{2, 3}, 0, []float64{1, 1, 0}, []float64{0, 0, 1}},
		{"infinities", []float64{math.Inf(-1), math.Inf(-1), math.Inf(1)}, []int{3}, 0, []float64{2}, []float64{0}},
	}
	for _, c := range cases {
		for _, dt := range dtypes {
			src := cpu.Wrap(append([]float64(nil), c.x...))
			if dt == device.Float32 {
				src = cpu.Wrap(to32(c.x))
			}
			for _, op := range []device.ArgOp{device.ArgMax, device.ArgMin} {
				want := c.max
				if op == device.ArgMin {
					want = c.min
				}
				got := alloc(t, device.Int64, len(want))
				be.ArgReduce(op, got, src, device.Contiguous(c.shape), c.axis)
				compareBits(t, fmt.Sprintf("%s %v %v", c.name, op, dt), values(got), want)
			}
		}
	}
	// A transposed view, and a size that is split across goroutines.
	src := cpu.Wrap([]float64{1, 2, 2, 9, 9, 0}) // viewed as the 3×2 transpose
	got := alloc(t, device.Int64, 3)
	be.ArgReduce(device.ArgMax, got, src, device.Layout{Shape: []int{3, 2}, Strides: []int{1, 3}}, 1)
	compareBits(t, "transposed ArgMax", values(got), []float64{1, 1, 0})
	const rows, cols = 1000, 70
	big := make([]float64, rows*cols)
	want := make([]float64, rows)
	for i := 0; i < rows; i++ {
		j := (i * 7) % cols
		big[i*cols+j] = 5
		big[i*cols+(j+3)%cols] = 5 // a later tie
		want[i] = float64(min(j, (j+3)%cols))
	}
	got = alloc(t, device.Int64, rows)
	be.ArgReduce(device.ArgMax, got, cpu.Wrap(big), device.Contiguous([]int{rows, cols}), 1)
	compareBits(t, "large ArgMax", values(got), want)
}

// naiveMatMul computes the batch products from explicit layouts.
func naiveMatMul(a []float64, al device.MatLayout, b []float64, bl device.MatLayout, batch, m, n, k int) [][]float64 {
	out := make([][]float64, batch)
	for i := 0; i < batch; i++ {
		c := make([]float64, m*n)
		for r := 0; r < m; r++ {
			for col := 0; col < n; col++ {
				s := 0.0
				for p := 0; p < k; p++ {
					s += a[al.Offset+i*al.BatchStride+r*al.RowStride+p*al.ColStride] *
						b[bl.Offset+i*bl.BatchStride+p*bl.RowStride+col*bl.ColStride]
				}
				c[r*n+col] = s
			}
		}
		out[i] = c
	}
	return out
}

// matOperand returns a random buffer and a MatLayout of the given kind for
// batch rows×cols matrices.
func matOperand(r *rand.Rand, kind string, batch, rows, cols int) ([]float64, device.MatLayout) {
	var l device.MatLayout
	var size int
	switch kind {
	case "dense":
		l = device.MatLayout{BatchStride: rows * cols, RowStride: cols, ColStride: 1}
		size = batch * rows * cols
	case "transposed": // each matrix stored column-major, with an offset
		l = device.MatLayout{Offset: 2, BatchStride: rows * cols, RowStride: 1, ColStride: rows}
		size = 2 + batch*rows*cols
	case "padded": // rows padded to cols+3
		l = device.MatLayout{Offset: 1, BatchStride: rows * (cols + 3), RowStride: cols + 3, ColStride: 1}
		size = 1 + batch*rows*(cols+3)
	case "shared": // one matrix for every batch entry
		l = device.MatLayout{BatchStride: 0, RowStride: cols, ColStride: 1}
		size = rows * cols
	case "strided": // neither rows nor columns dense: must be copied
		l = device.MatLayout{BatchStride: 2 * rows * cols, RowStride: 2 * cols, ColStride: 2}
		size = 2 * batch * rows * cols
	case "rowbcast": // every row the same (row stride 0)
		l = device.MatLayout{BatchStride: cols, RowStride: 0, ColStride: 1}
		size = batch * cols
	}
	buf := make([]float64, max(size, 1))
	for i := range buf {
		buf[i] = math.Round(r.NormFloat64()*64) / 32
	}
	return buf, l
}

func TestMatMulLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	kinds := []string{"dense", "transposed", "padded", "shared", "strided", "rowbcast"}
	dims := [][4]int{{1, 3, 4, 5}, {3, 2, 3, 4}, {2, 1, 5, 3}, {2, 4, 1, 3}, {2, 3, 4, 1}, {5, 7, 6, 9}, {1, 70, 80, 90}, {2, 3, 4, 0}}
	for _, d := range dims {
		batch, m, n, k := d[0], d[1], d[2], d[3]
		for _, ka := range kinds {
			for _, kb := range kinds {
				a, al := matOperand(r, ka, batch, m, k)
				b, bl := matOperand(r, kb, batch, k, n)
				want := naiveMatMul(a, al, b, bl, batch, m, n, k)
				for _, dt := range dtypes {
					for _, padOut := range []int{0, 2} {
						ldc := n + padOut
						dl := device.MatLayout{Offset: 1, BatchStride: m * ldc, RowStride: ldc, ColStride: 1}
						dst := make([]float64, 1+batch*m*ldc)
						for i := range dst {
							dst[i] = 12345 // sentinel: padding must stay
						}
						var db *cpu.Buffer
						if dt == device.Float32 {
							db = cpu.Wrap(to32(dst))
							be.MatMul(db, dl, cpu.Wrap(to32(a)), al, cpu.Wrap(to32(b)), bl, batch, m, n, k)
						} else {
							db = cpu.Wrap(dst)
							be.MatMul(db, dl, cpu.Wrap(a), al, cpu.Wrap(b), bl, batch, m, n, k)
						}
						got := values(db)
						for i := 0; i < batch; i++ {
							for row := 0; row < m; row++ {
								for col := 0; col < ldc; col++ {
									v := got[1+i*m*ldc+row*ldc+col]
									if col >= n {
										if v != 12345 {
											t.Fatalf("%v a %s b %s %v: padding overwritten", dt, ka, kb, d)
										}
										continue
									}
									// Inputs are multiples of 1/32 with small
									// magnitude: products and sums are exact
									// in float64; float32 may round.
									w := want[i][row*n+col]
									tol := 0.0
									if dt == device.Float32 {
										tol = 1e-5 * (1 + math.Abs(w)) * float64(k)
									}
									if math.Abs(v-w) > tol {
										t.Fatalf("%v a %s b %s %v: [%d][%d][%d] = %v, want %v", dt, ka, kb, d, i, row, col, v, w)
									}
								}
							}
						}
						if got[0] != 12345 {
							t.Fatalf("%v a %s b %s %v: element before the output overwritten", dt, ka, kb, d)
						}
					}
				}
			}
		}
	}
}
