package tensor

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
	// The CUDA backend registers itself in binaries built with the cuda
	// tag; without the tag the package links nothing of CUDA.
	_ "github.com/tapegrad/tapegrad/device/cuda"
)

// DType is an element type: [Float32] (the default), [Float64],
// [BFloat16], [Float16], [Int32] or [Int64].
type DType = device.DType

// The element types. Integer tensors hold indices, labels and counts: they
// can be made (Array, FromSlice, Full, Zeros, Arange with WithDType), read
// (Ints, Int64s, Float64s, Item, String), converted with AsType and To,
// viewed and copied (Reshape, Transpose, Slice, Index, BroadcastTo,
// Concat, Stack, ...), used as indices (IndexSelect, Take, Gather) and as
// labels; ArgMax and ArgMin return Int64. Arithmetic, comparisons and
// reductions take floating-point tensors (convert with AsType first), and
// integer tensors carry no gradient.
//
// BFloat16 and Float16 are the 16-bit floating-point types of mixed
// precision (bfloat16: float32's range with 8 significant bits; float16:
// IEEE binary16, ±65504 with 11 significant bits). They are floating-point
// dtypes like Float32 and Float64: every operation accepts them, and
// gradients of half tensors are half tensors. Their arithmetic runs in
// float32 (see [device.WithHalf]): each operation widens its half
// operands to float32 exactly, computes as for Float32 (sums, means,
// norms, softmax, cross-entropy, LayerNorm and attention statistics
// accumulate in float32 or better) and rounds each output to the half type
// once, to nearest even. Conversions to them (AsType, Array, FromSlice,
// Full, uploads) round to nearest even once, keep NaN, ±Inf and the sign
// of zero, and overflow to ±Inf (float16 from 65520 up); reads (Float32s,
// Float64s, String) widen exactly. The softmax statistics that attention
// keeps for its backward pass and the window indices of MaxPool2D are
// Float32 for half inputs. On the CPU the elementwise operations and
// reductions of half tensors convert block by block inside their kernels
// (reading and writing 2 bytes an element) and matrix products as their
// GEMM packs its panels; the other operations convert
// whole operands to float32 and back (correct rather than fast); the CUDA backend
// does not support them yet and refuses them with ErrDType.
const (
	Float32  = device.Float32
	Float64  = device.Float64
	Int32    = device.Int32
	Int64    = device.Int64
	BFloat16 = device.BFloat16
	Float16  = device.Float16
)

// Tensor is an n-dimensional array of one dtype on one device,
// optionally part of a recorded autograd graph.
//
// A Tensor is a view: a shape, strides and an offset into a storage buffer.
// Reshape (of a contiguous tensor), Transpose, Slice, Index, BroadcastTo and
// Detach return views that share the buffer; every other operation returns
// a tensor with a buffer of its own. Tensors are never modified in place by
// operations, except the gradient buffers that Backward writes and the
// parameters that optimisers update explicitly.
//
// A Tensor may be read by several goroutines at once. Its gradient buffer
// is written by Backward; do not run backward passes that write the same
// gradient concurrently.
type Tensor struct {
	st      *storage
	shape   []int
	strides []int
	offset  int

	node *node     // the recorded operation that produced the tensor
	leaf *leafInfo // the attached gradient, after AttachGrad
	req  bool      // gradients flow to this tensor (attached or recorded)
}

// storage is a device buffer shared by the views of it.
type storage struct {
	buf     device.Buffer // nil after release
	be      device.Backend
	dev     device.Device
	dt      DType
	seq     uint64        // creation order; see the backward engine
	shared  atomic.Bool   // another Tensor may view this buffer
	version atomic.Uint64 // bumped by in-place writes (SGDStep, Assign, ...)
	cleanup runtime.Cleanup
	managed bool  // cleanup registered
	bytes   int64 // buffer size, when managed
}

var storageSeq atomic.Uint64

// cleanupMin is the size from which CPU buffers are returned to the
// backend's cache when their tensor becomes unreachable; smaller ones are
// left to the garbage collector. Buffers of other devices are always freed
// through the backend.
const cleanupMin = 64 << 10

type bufRef struct {
	be    device.Backend
	buf   device.Buffer
	bytes int64
}

func freeBuffer(r bufRef) {
	r.be.Free(r.buf)
	settle(pacer.outstanding.Add(-r.bytes))
}

// The pacer triggers garbage collections for the sake of large buffers.
//
// Buffers handed back by cleanups are recycled through the backends'
// caches, but the Go runtime only collects (and so runs cleanups) when its
// own heap grows, and recycled buffers do not grow it: a loop that drops a
// large tensor per iteration would otherwise keep allocating new buffers
// while its old ones wait for a collection. The pacer applies the Go
// runtime's own rule to managed buffers: when the bytes of live managed
// buffers double from what the last collection left (the least they fell
// to since: see settle), it collects and waits for the cleanups to run.
// Collections are cheap here because buffers hold no pointers. Goroutines
// that allocate while a collection runs or its cleanups drain wait for it
// instead of allocating on: otherwise, with several goroutines allocating,
// the others would pile up garbage for as long as one of them collects,
// and starve the runtime's cleanup goroutine.
var pacer struct {
	outstanding atomic.Int64 // bytes of managed buffers not yet freed
	low         atomic.Int64 // the least outstanding since the last collection
	draining    atomic.Bool  // a collection's cleanups are being waited for
	mu          sync.Mutex   // held while collecting
}

const minPacerGoal = 256 << 20

// settle records v, outstanding after a buffer was freed.
//
// The goal is twice the least outstanding since the last collection, not
// twice what outstanding was when the collection returned: the runtime
// runs cleanups concurrently (Go 1.25 and later), so some of a
// collection's cleanups may run after the sentinel that collect waits for,
// and a goal taken then would be inflated by garbage that is about to go,
// and would double at every collection (with 16 goroutines dropping
// tensors of 4-40 MiB, one program reached 24 GB and was killed for 1.2 GB
// live). low follows the cleanups down as they finish.
func settle(v int64) {
	for l := pacer.low.Load(); v < l && !pacer.low.CompareAndSwap(l, v); l = pacer.low.Load() {
	}
}

// goal is the outstanding bytes past which the next managed allocation
// collects first.
func goal() int64 { return max(2*pacer.low.Load(), minPacerGoal) }

// reserve adds bytes, those of a managed buffer about to be allocated, to
// outstanding. When they would take it past the goal (or a collection's
// cleanups are draining) it collects first, so that the buffers the
// collection gives back are in the cache for the allocation to reuse.
// Reserving with a compare-and-swap keeps goroutines that allocate at once
// from all passing the check and overshooting the goal together: only a
// goroutine that has already waited for a collection reserves past it
// (when the live bytes themselves are over half the goal).
func reserve(bytes int64) {
	waited := false
	for {
		o := pacer.outstanding.Load()
		if !waited && (o+bytes > goal() || pacer.draining.Load()) {
			pace(bytes)
			waited = true
			continue
		}
		if pacer.outstanding.CompareAndSwap(o, o+bytes) {
			return
		}
	}
}

// pace collects unless another goroutine did while this one waited for
// the lock, and waits for the collection's cleanups to drain.
func pace(bytes int64) {
	pacer.mu.Lock()
	defer pacer.mu.Unlock()
	if pacer.outstanding.Load()+bytes <= goal() {
		return // another goroutine collected while this one waited
	}
	pacer.draining.Store(true)
	defer pacer.draining.Store(false)
	collect()
	// The collection's cleanups run on the runtime's cleanup goroutine (one
	// per four Ps), partly after collect's sentinel, and it shares the CPU
	// with the program's goroutines: with many goroutines allocating, it
	// fell behind, the goal was set from garbage not yet freed, and memory
	// ran away (24 GB for 1.2 GB live with 16 goroutines). So while the
	// cleanups drain, every goroutine that allocates a managed buffer waits
	// (draining), and this one waits until the runtime's cleanup queue is
	// empty, at most drainFor. (Waiting instead until outstanding stopped
	// falling for a millisecond ended early on a loaded machine: the goal
	// was then set from garbage still queued.)
	start := time.Now()
	for time.Since(start) < drainFor && cleanupsQueued() > 0 {
		time.Sleep(50 * time.Microsecond)
	}
	pacer.low.Store(pacer.outstanding.Load())
}

// drainFor bounds pace's wait for a collection's cleanups.
const drainFor = 100 * time.Millisecond

// cleanupSamples are cleanupsQueued's samples (used under pacer.mu).
var cleanupSamples = []metrics.Sample{{Name: "/gc/cleanups/queued:cleanups"}, {Name: "/gc/cleanups/executed:cleanups"}}

// cleanupsQueued returns the runtime's count of cleanups queued and not
// yet run (approximate, as runtime/metrics documents it). pacer.mu is
// held.
func cleanupsQueued() int64 {
	s := cleanupSamples
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64()) - int64(s[1].Value.Uint64())
}

// collect runs the garbage collector and waits for the cleanups it queued
// before a sentinel's (others may still be running when it returns).
func collect() {
	done := make(chan struct{})
	sentinel := new([64]byte) // not a tiny allocation, so it dies alone
	runtime.AddCleanup(sentinel, func(c chan struct{}) { close(c) }, done)
	sentinel = nil
	runtime.GC()
	<-done
}

func newStorage(op string, be device.Backend, dt DType, n int) *storage {
	if n > math.MaxInt/dt.Size() {
		panic(&Error{Kind: ErrOutOfMemory, Op: op, Devices: []device.Device{be.Device()},
			Detail: fmt.Sprintf("%d %s elements: more bytes than an int can count", n, dt)})
	}
	bytes := int64(n * dt.Size())
	managed := be.Device().Kind() != device.KindCPU || bytes >= cleanupMin
	if managed {
		reserve(bytes)
	}
	b, err := be.Alloc(dt, n)
	if err != nil && managed {
		settle(pacer.outstanding.Add(-bytes))
	}
	if errors.Is(err, device.ErrDType) {
		panic(&Error{Kind: ErrDType, Op: op, Devices: []device.Device{be.Device()}, DTypes: []DType{dt},
			Detail: fmt.Sprintf("%s cannot hold %v tensors", be.Device(), dt), Err: err})
	}
	if err != nil {
		// Let the garbage collector give unreachable buffers back, then
		// retry once.
		reclaim(be)
		if managed {
			reserve(bytes)
		}
		if b, err = be.Alloc(dt, n); err != nil {
			if managed {
				settle(pacer.outstanding.Add(-bytes))
			}
			panic(&Error{Kind: ErrOutOfMemory, Op: op, Devices: []device.Device{be.Device()},
				Detail: fmt.Sprintf("allocating %d %s elements (%d bytes)", n, dt, n*dt.Size()), Err: err})
		}
	}
	st := &storage{buf: b, be: be, dev: be.Device(), dt: dt, seq: storageSeq.Add(1)}
	if managed {
		st.cleanup = runtime.AddCleanup(st, freeBuffer, bufRef{be, b, bytes})
		st.managed = true
		st.bytes = bytes
	}
	return st
}

// cacheEmptier is implemented by backends with a buffer cache.
type cacheEmptier interface{ EmptyCache() }

// reclaim runs the garbage collector, waits for the cleanups it queued,
// and empties the backend's cache.
func reclaim(be device.Backend) {
	collect()
	collect()
	if c, ok := be.(cacheEmptier); ok {
		c.EmptyCache()
	}
}

// release gives the buffer back to the backend now.
func (st *storage) release() {
	if st.buf == nil {
		return
	}
	if st.managed {
		st.cleanup.Stop()
		settle(pacer.outstanding.Add(-st.bytes))
	}
	st.be.Free(st.buf)
	st.buf = nil
}

// --- construction -------------------------------------------------------

type options struct {
	dev   device.Device
	devOK bool
	dt    DType
	dtOK  bool
	gen   *Generator
}

// Option configures a constructor.
type Option func(*options)

// On places the new tensor on device d (default: [device.Default]).
func On(d device.Device) Option { return func(o *options) { o.dev, o.devOK = d, true } }

// WithDType sets the new tensor's element type.
func WithDType(dt DType) Option { return func(o *options) { o.dt, o.dtOK = dt, true } }

var defaultDevice = sync.OnceValue(device.Default)

func resolve(opts []Option, dt DType) options {
	o := options{dt: dt}
	for _, f := range opts {
		f(&o)
	}
	if !o.devOK {
		o.dev = defaultDevice()
	}
	if !o.dt.Valid() {
		panic(&Error{Kind: ErrDType, Op: "WithDType", Detail: fmt.Sprintf("unsupported dtype %v", o.dt)})
	}
	return o
}

// needFloat panics with ErrDType if t has an integer dtype: op is defined
// on floating-point tensors only.
func (t *Tensor) needFloat(op string) {
	if !t.st.dt.IsFloat() {
		fail(ErrDType, op, fmt.Sprintf("%s is defined on floating-point tensors (float32, float64, bfloat16, float16), not %v; convert with AsType(tensor.Float32) first", op, t.st.dt), t)
	}
}

// floatOnly panics with ErrDType naming op if dt, the dtype of a new
// tensor, is not a floating-point type.
func floatOnly(op string, dt DType) {
	if !dt.IsFloat() {
		panic(&Error{Kind: ErrDType, Op: op, Detail: fmt.Sprintf("%s makes floating-point tensors (float32, float64, bfloat16, float16), not %v", op, dt)})
	}
}

// The backends that tensors use are wrapped by device.WithHalf, which runs
// the operations on half tensors in float32.
var cpuBackend = device.WithHalf(cpu.Get())

var wrapped sync.Map // device.Backend (as registered) → its WithHalf wrapper

func backendOf(op string, d device.Device) device.Backend {
	if d == device.CPU() {
		return cpuBackend
	}
	be, err := device.Lookup(d)
	if err != nil {
		panic(&Error{Kind: ErrDevice, Op: op, Devices: []device.Device{d}, Err: err})
	}
	if w, ok := wrapped.Load(be); ok {
		return w.(device.Backend)
	}
	w, _ := wrapped.LoadOrStore(be, device.WithHalf(be))
	return w.(device.Backend)
}

// empty returns a new contiguous tensor of the given shape (copied) whose
// contents are unspecified. The shape and strides share one allocation.
func empty(op string, be device.Backend, dt DType, shape []int) *Tensor {
	numElements(op, shape)
	r := len(shape)
	ss := make([]int, 2*r)
	copy(ss, shape)
	n, s := 1, 1
	for i := r - 1; i >= 0; i-- {
		ss[r+i] = s
		s *= shape[i]
		n *= shape[i]
	}
	return &Tensor{st: newStorage(op, be, dt, n), shape: ss[:r:r], strides: ss[r:]}
}

func contiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

func checkShape(op string, shape []int) []int {
	numElements(op, shape)
	return append([]int(nil), shape...)
}

// numElements returns the number of elements of shape, and panics with
// ErrShape naming op, the shape and the operands ts if a length is
// negative or the count does not fit in an int.
func numElements(op string, shape []int, ts ...*Tensor) int {
	for _, d := range shape {
		if d < 0 {
			failf(ErrShape, op, ts, "negative dimension in shape %v", shape)
		}
		if d == 0 {
			return 0 // whatever the other lengths
		}
	}
	n := 1
	for _, d := range shape {
		if n > math.MaxInt/d {
			failf(ErrShape, op, ts, "too many elements in shape %v (more than an int can count)", shape)
		}
		n *= d
	}
	return n
}

// FromSlice returns a tensor of the given shape holding a copy of data. The
// dtype follows T unless [WithDType] says otherwise; conversions follow
// [Tensor.AsType].
func FromSlice[T float32 | float64 | int32 | int64](data []T, shape []int, opts ...Option) *Tensor {
	shape = checkShape("FromSlice", shape)
	dt := Float32
	switch any(data).(type) {
	case []float64:
		dt = Float64
	case []int32:
		dt = Int32
	case []int64:
		dt = Int64
	}
	o := resolve(opts, dt)
	if n := device.NumElements(shape); n != len(data) {
		panic(&Error{Kind: ErrShape, Op: "FromSlice", Shapes: [][]int{shape},
			Detail: fmt.Sprintf("%d values for %d elements", len(data), n)})
	}
	t := empty("FromSlice", backendOf("FromSlice", o.dev), o.dt, shape)
	t.st.be.Upload(t.st.buf, data)
	return t
}

// Array returns a tensor holding a copy of v: a number, or nested slices (or
// arrays) of floats or integers of any depth. Nested slices must not be
// ragged. The dtype is Float64 for float64 elements and Float32 otherwise
// (integers included, as MXNet's nd.array), unless [WithDType] says
// otherwise: Array(labels, WithDType(Int64)) keeps integers exact.
func Array(v any, opts ...Option) *Tensor {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		panic(&Error{Kind: ErrDType, Op: "Array", Detail: "nil value"})
	}
	// The element type and the depth come from the Go type.
	typ := rv.Type()
	depth := 0
	var levels []reflect.Type
	for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array {
		levels = append(levels, typ)
		typ = typ.Elem()
		depth++
	}
	dt := Float32
	switch typ.Kind() {
	case reflect.Float64:
		dt = Float64
	case reflect.Float32, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		panic(&Error{Kind: ErrDType, Op: "Array", Detail: fmt.Sprintf("unsupported element type %v in %T", typ, v)})
	}
	// A Go array's length is part of its type, so it counts even below an
	// empty slice ([][3]float32{} has shape (0, 3)); a slice's comes from
	// the first element at its depth.
	shape := make([]int, depth)
	for d, x, empty := 0, rv, false; d < depth; d++ {
		switch {
		case levels[d].Kind() == reflect.Array:
			shape[d] = levels[d].Len()
		case !empty:
			shape[d] = x.Len()
		}
		if !empty && x.Len() == 0 {
			empty = true
		}
		if !empty {
			x = x.Index(0)
		}
	}
	o := resolve(opts, dt)
	// Convert each element straight to the tensor's dtype: going through
	// float64 would round twice (an int64 can round to a float32 tie).
	var vals []float64
	var vals32 []float32
	var ints []int64
	half := false
	switch {
	case o.dt.IsInt():
		ints = make([]int64, 0, device.NumElements(shape))
	case o.dt == Float32:
		vals32 = make([]float32, 0, device.NumElements(shape))
	case o.dt.IsHalf():
		// float64 values round once to the half type (integers
		// through Int64ToFloat64Odd, which keeps that one rounding).
		half = true
		vals = make([]float64, 0, device.NumElements(shape))
	default:
		vals = make([]float64, 0, device.NumElements(shape))
	}
	var walk func(x reflect.Value, d int, path []int)
	walk = func(x reflect.Value, d int, path []int) {
		if d == depth {
			switch {
			case ints != nil && x.CanFloat() && o.dt == Int32:
				ints = append(ints, int64(device.FloatToInt32(x.Float())))
			case ints != nil && x.CanFloat():
				ints = append(ints, device.FloatToInt64(x.Float()))
			case ints != nil && x.CanInt():
				ints = append(ints, x.Int())
			case ints != nil:
				ints = append(ints, int64(x.Uint()))
			case vals32 != nil && x.CanFloat():
				vals32 = append(vals32, float32(x.Float()))
			case vals32 != nil && x.CanInt():
				vals32 = append(vals32, float32(x.Int()))
			case vals32 != nil:
				vals32 = append(vals32, float32(x.Uint()))
			case half && x.CanInt():
				vals = append(vals, device.Int64ToFloat64Odd(x.Int()))
			case half && x.CanUint() && x.Uint() <= math.MaxInt64:
				vals = append(vals, device.Int64ToFloat64Odd(int64(x.Uint())))
			case x.CanFloat():
				vals = append(vals, x.Float())
			case x.CanInt():
				vals = append(vals, float64(x.Int()))
			default:
				vals = append(vals, float64(x.Uint()))
			}
			return
		}
		if x.Len() != shape[d] {
			panic(&Error{Kind: ErrShape, Op: "Array", Detail: fmt.Sprintf(
				"ragged input: element %v has length %d, want %d", path, x.Len(), shape[d])})
		}
		for i := 0; i < x.Len(); i++ {
			walk(x.Index(i), d+1, append(path, i))
		}
	}
	walk(rv, 0, nil)
	t := empty("Array", backendOf("Array", o.dev), o.dt, shape)
	switch {
	case ints != nil:
		t.st.be.Upload(t.st.buf, ints)
	case vals32 != nil:
		t.st.be.Upload(t.st.buf, vals32)
	default:
		t.st.be.Upload(t.st.buf, vals)
	}
	return t
}

// Full returns a tensor of the given shape with every element set to value.
func Full(value float64, shape []int, opts ...Option) *Tensor {
	shape = checkShape("Full", shape)
	o := resolve(opts, Float32)
	t := empty("Full", backendOf("Full", o.dev), o.dt, shape)
	t.st.be.Fill(t.st.buf, t.layout(), value)
	return t
}

// Zeros returns a tensor of zeros.
func Zeros(shape []int, opts ...Option) *Tensor { return Full(0, shape, opts...) }

// Ones returns a tensor of ones.
func Ones(shape []int, opts ...Option) *Tensor { return Full(1, shape, opts...) }

// Scalar returns a 0-d tensor holding v.
func Scalar(v float64, opts ...Option) *Tensor { return Full(v, nil, opts...) }

// Arange returns the 1-d tensor start, start+step, ... of the values below
// stop (above stop for a negative step), as NumPy's arange.
func Arange(start, stop, step float64, opts ...Option) *Tensor {
	if step == 0 || math.IsNaN(step) || math.IsInf(start, 0) || math.IsInf(stop, 0) || math.IsNaN(start) || math.IsNaN(stop) {
		panic(&Error{Kind: ErrArgument, Op: "Arange", Detail: fmt.Sprintf("start %v, stop %v, step %v", start, stop, step)})
	}
	c := math.Ceil((stop - start) / step)
	if c >= math.MaxInt || math.IsInf(c, 0) || math.IsNaN(c) {
		panic(&Error{Kind: ErrArgument, Op: "Arange", Detail: fmt.Sprintf("start %v, stop %v, step %v: %g elements, more than an int can count", start, stop, step, c)})
	}
	n := max(int(c), 0)
	o := resolve(opts, Float32)
	if o.dt.IsInt() {
		// Integer ranges are computed in int64: start and step must be
		// integers, and every value must fit the dtype.
		last := start + float64(max(n-1, 0))*step
		lo, hi := -0x1p63, 0x1p63
		if o.dt == Int32 {
			lo, hi = -0x1p31, 0x1p31
		}
		if start != math.Trunc(start) || step != math.Trunc(step) || start < lo || start >= hi || last < lo || last >= hi {
			panic(&Error{Kind: ErrArgument, Op: "Arange", Detail: fmt.Sprintf("start %v, stop %v, step %v: an %v range needs integer start and step and values in the dtype's range", start, stop, step, o.dt)})
		}
	}
	t := empty("Arange", backendOf("Arange", o.dev), o.dt, []int{n})
	t.st.be.Arange(t.st.buf, n, start, step)
	return t
}

// Generator is a stream of random numbers: a Philox key (the seed) and the
// next block counter (see [device.RandomSpec]). Every draw takes the next
// blocks of the stream, so a generator used by one goroutine gives the same
// tensors in the same order on every run and every device. A Generator is
// safe for concurrent use, but goroutines that share one take their blocks
// in the order they happen to draw; a goroutine that needs a reproducible
// sequence while others draw owns a Generator of its own.
type Generator struct {
	mu            sync.Mutex
	seed, counter uint64
}

// NewGenerator returns a generator seeded with seed.
func NewGenerator(seed uint64) *Generator { return &Generator{seed: seed} }

// Seed restarts the generator from seed.
func (g *Generator) Seed(seed uint64) {
	g.mu.Lock()
	g.seed, g.counter = seed, 0
	g.mu.Unlock()
}

// next reserves the blocks for n values of dtype dt.
func (g *Generator) next(dt DType, n int) (seed, counter uint64) {
	b := device.RandomBlocks(dt, n)
	g.mu.Lock()
	seed, counter = g.seed, g.counter
	g.counter += b
	g.mu.Unlock()
	return seed, counter
}

// WithGenerator makes a random constructor (RandUniform, RandNormal, and
// the initialisers of package nn) draw from g instead of the default
// generator.
func WithGenerator(g *Generator) Option { return func(o *options) { o.gen = g } }

// defaultGen is the process-wide generator that random constructors use
// without WithGenerator.
var defaultGen = NewGenerator(DefaultSeed)

// DefaultSeed is the default generator's seed until [Seed] is called, so
// that programs are reproducible by default.
const DefaultSeed = 0x5eed_7a9e_67ad

// Seed restarts the default generator from seed. The same seed gives the
// same sequence of random tensors on every device, drawn from one
// goroutine; when several goroutines draw from the default generator at
// once, which goroutine gets which part of the sequence depends on
// scheduling (give each its own [Generator] with [WithGenerator]).
func Seed(seed uint64) { defaultGen.Seed(seed) }

func random(op string, dist device.Dist, a, b float64, shape []int, opts []Option) *Tensor {
	shape = checkShape(op, shape)
	o := resolve(opts, Float32)
	floatOnly(op, o.dt)
	t := empty(op, backendOf(op, o.dev), o.dt, shape)
	n := t.Size()
	g := o.gen
	if g == nil {
		g = defaultGen
	}
	seed, ctr := g.next(o.dt, n)
	t.st.be.Random(t.st.buf, n, dist, seed, ctr, a, b)
	return t
}

// RandUniform returns a tensor of values drawn uniformly from [low, high).
func RandUniform(low, high float64, shape []int, opts ...Option) *Tensor {
	return random("RandUniform", device.Uniform, low, high, shape, opts)
}

// RandNormal returns a tensor of values drawn from the normal distribution.
func RandNormal(mean, std float64, shape []int, opts ...Option) *Tensor {
	return random("RandNormal", device.Normal, mean, std, shape, opts)
}

// --- accessors ----------------------------------------------------------

// Shape returns a copy of the tensor's shape (empty for a 0-d tensor).
func (t *Tensor) Shape() []int { return append([]int{}, t.shape...) }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// Size returns the number of elements.
func (t *Tensor) Size() int { return device.NumElements(t.shape) }

// DType returns the element type.
func (t *Tensor) DType() DType { return t.st.dt }

// Device returns the device the tensor lives on.
func (t *Tensor) Device() device.Device { return t.st.dev }

func (t *Tensor) layout() device.Layout {
	return device.Layout{Shape: t.shape, Strides: t.strides, Offset: t.offset}
}

// live panics with ErrReleased if t's buffer was released.
func (t *Tensor) live(op string) {
	switch {
	case t == nil:
		fail(ErrArgument, op, "nil tensor (Grad() is nil for a tensor without a gradient attached: call AttachGrad before recording)")
	case t.st == nil:
		fail(ErrArgument, op, "zero-value Tensor: make tensors with the constructors (Array, FromSlice, Zeros, ...)")
	}
	if t.st.buf == nil {
		fail(ErrReleased, op, "the tensor's buffer was released", t)
	}
}

func (t *Tensor) isContiguous() bool { return t.layout().IsContiguous() }

// dense reports whether t is contiguous from offset 0 over its whole buffer.
func (t *Tensor) dense() bool {
	return t.offset == 0 && t.st.buf != nil && t.st.buf.Len() == t.Size() && t.isContiguous()
}

// Float32s returns a copy of the elements in row-major order as float32.
func (t *Tensor) Float32s() []float32 {
	t.live("Float32s")
	out := make([]float32, t.Size())
	if err := t.st.be.Download(out, t.st.buf, t.layout()); err != nil {
		panic(backendError("Float32s", err, t.st.dev))
	}
	return out
}

// Float64s returns a copy of the elements in row-major order as float64.
func (t *Tensor) Float64s() []float64 {
	t.live("Float64s")
	out := make([]float64, t.Size())
	if err := t.st.be.Download(out, t.st.buf, t.layout()); err != nil {
		panic(backendError("Float64s", err, t.st.dev))
	}
	return out
}

// Int64s returns a copy of the elements in row-major order as int64,
// converted as [Tensor.AsType] converts (floats toward zero, saturating,
// NaN to 0).
func (t *Tensor) Int64s() []int64 {
	t.live("Int64s")
	out := make([]int64, t.Size())
	if err := t.st.be.Download(out, t.st.buf, t.layout()); err != nil {
		panic(backendError("Int64s", err, t.st.dev))
	}
	return out
}

// Ints returns a copy of the elements in row-major order as int, converted
// as [Tensor.Int64s] converts.
func (t *Tensor) Ints() []int {
	v := t.Int64s()
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// Item returns the value of a one-element tensor.
func (t *Tensor) Item() float64 {
	if t.Size() != 1 {
		failf(ErrShape, "Item", []*Tensor{t}, "Item needs exactly one element, the tensor has %d", t.Size())
	}
	return t.Float64s()[0]
}

// Release gives the tensor's buffer back to its device now, instead of when
// the garbage collector finds the tensor unreachable. Using t afterwards
// panics with ErrReleased. Release does nothing when the buffer is shared
// with other views (they keep it alive) or already released.
func (t *Tensor) Release() {
	if t.st.shared.Load() {
		return
	}
	t.st.release()
}

// view returns a tensor sharing t's storage with the given layout, marking
// the storage shared.
func (t *Tensor) view(shape, strides []int, offset int) *Tensor {
	t.st.shared.Store(true)
	if device.NumElements(shape) == 0 {
		// No element is addressed, so any offset will do; keep it inside
		// the buffer (slicing an empty tensor could move it past the end,
		// where backends index the buffer from it).
		offset = 0
	}
	return &Tensor{st: t.st, shape: shape, strides: strides, offset: offset}
}

// alias returns a tensor sharing t's storage and layout without its
// autograd state, for use inside the backward engine only: it does not mark
// the storage shared.
func (t *Tensor) alias() *Tensor {
	return &Tensor{st: t.st, shape: t.shape, strides: t.strides, offset: t.offset}
}

// Detach returns a view of t that is cut from the autograd graph: no
// gradient flows through it.
func (t *Tensor) Detach() *Tensor {
	t.live("Detach")
	return t.view(t.shape, t.strides, t.offset)
}

// Contiguous returns t if its elements are in row-major order, else a
// row-major copy. It is differentiable.
func (t *Tensor) Contiguous() *Tensor {
	t.live("Contiguous")
	if t.isContiguous() {
		return t
	}
	return t.Clone()
}

// materialize returns a dense copy of t without recording.
func materialize(op string, t *Tensor) *Tensor {
	out := empty(op, t.st.be, t.st.dt, t.shape)
	t.st.be.Copy(out.st.buf, out.layout(), t.st.buf, t.layout())
	return out
}

// Clone returns a row-major copy of t. It is differentiable.
func (t *Tensor) Clone() *Tensor {
	t.live("Clone")
	out := materialize("Clone", t)
	if recording(t) {
		record(out, "Clone", func(c *bctx) { c.set(0, c.g) }, t)
	}
	return out
}

// AsType returns t converted to dtype dt (t itself if it has that dtype).
// Floats round to nearest even (float64 to float32, integers to floats);
// floats convert to integers toward zero, NaN to 0 and values beyond the
// integer range to its nearest end (as CUDA's conversions and Rust's `as`;
// see [device.FloatToInt64]); int64 to int32 keeps the low 32 bits. It is
// differentiable between float dtypes, where the gradient is converted
// back; a conversion to an integer dtype is not recorded (integer tensors
// carry no gradient).
func (t *Tensor) AsType(dt DType) *Tensor {
	t.live("AsType")
	if !dt.Valid() {
		fail(ErrDType, "AsType", fmt.Sprintf("unsupported dtype %v", dt), t)
	}
	if dt == t.st.dt {
		return t
	}
	out := empty("AsType", t.st.be, dt, t.shape)
	t.st.be.Copy(out.st.buf, out.layout(), t.st.buf, t.layout())
	if dt.IsFloat() && recording(t) {
		src := t.st.dt
		record(out, "AsType", func(c *bctx) { c.set(0, c.g.AsType(src)) }, t)
	}
	return out
}

// To returns a copy of t on device d (t itself if it is already there). It
// is differentiable: the gradient is copied back to t's device.
func (t *Tensor) To(d device.Device) *Tensor {
	t.live("To")
	if d == t.st.dev {
		return t
	}
	be := backendOf("To", d)
	out := empty("To", be, t.st.dt, t.shape)
	transfer(out, t)
	if recording(t) {
		src := t.st.dev
		record(out, "To", func(c *bctx) { c.set(0, c.g.To(src)) }, t)
	}
	return out
}

// transfer copies src into the dense tensor dst on another device, staging
// through host memory when neither side is the CPU.
func transfer(dst, src *Tensor) {
	if _, ok := src.st.buf.(device.HostBuffer); ok {
		s := src
		if !src.dense() {
			s = materialize("To", src)
		}
		dst.st.be.Upload(dst.st.buf, device.HostSlice(s.st.buf.(device.HostBuffer)))
		return
	}
	if h, ok := dst.st.buf.(device.HostBuffer); ok {
		if err := src.st.be.Download(device.HostSlice(h), src.st.buf, src.layout()); err != nil {
			panic(backendError("To", err, src.st.dev, dst.st.dev))
		}
		return
	}
	if pc, ok := dst.st.be.(device.PeerCopier); ok && pc.CopyFrom(dst.st.buf, src.st.buf, src.st.be, src.layout()) {
		return
	}
	switch src.st.dt {
	case Float64:
		dst.st.be.Upload(dst.st.buf, src.Float64s())
	case Int32, Int64:
		dst.st.be.Upload(dst.st.buf, src.Int64s())
	default:
		dst.st.be.Upload(dst.st.buf, src.Float32s())
	}
}
