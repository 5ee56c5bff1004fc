package cuda

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// Buffer is device memory holding elements of one dtype.
type Buffer struct {
	ptr   Ptr
	n     int
	dt    device.DType
	class int64 // allocator size class in bytes
}

// Len returns the number of elements.
func (b *Buffer) Len() int { return b.n }

// DType returns the element type.
func (b *Buffer) DType() device.DType { return b.dt }

// Ptr returns the device address of element 0.
func (b *Buffer) Ptr() Ptr { return b.ptr }

// at returns the address of element off.
func (b *Buffer) at(off int) Ptr { return b.ptr + Ptr(off*b.dt.Size()) }

func bufOf(b device.Buffer) *Buffer { return b.(*Buffer) }

// Backend runs operations on one GPU. All of a device's work goes to one
// non-blocking stream in the order the methods are called; methods return
// once the work is enqueued. Errors of enqueued work (including launch
// failures) are kept and reported, with the name of the kernel launched
// last, by the next Synchronize or Download.
type Backend struct {
	dev    device.Device
	ctx    Context
	stream Stream
	alloc  *allocator
	name   string

	loadMu  sync.Mutex
	modules map[string]Module
	funcs   []atomic.Uintptr // by kernel id; 0 until loaded
	ptx     func(module string) (string, error)

	peerMu sync.Mutex
	// Peer copies into this device: peerA (this device's context) marks
	// this stream for the source's stream to wait on; peerDone[f] (made on
	// the source f's context, since an event is recorded only on a stream of
	// its own context) marks the end of the copy on f's stream.
	peerA    Event
	peerDone map[*Backend]Event

	stageMu sync.Mutex
	stage   [2]unsafe.Pointer // page-locked staging chunks for large downloads
	stageEv [2]Event          // recorded after each chunk's copy

	errMu   sync.Mutex
	err     error
	lastOp  atomic.Value // string: the kernel launched last
	nLaunch atomic.Int64
}

// NewBackend opens device ordinal through drv. ptx returns a module's PTX
// text (package kernels provides it; tests pass their own).
func NewBackend(drv Driver, ordinal int, ptx func(module string) (string, error)) (*Backend, error) {
	ctx, err := drv.Open(ordinal)
	if err != nil {
		return nil, err
	}
	s, err := ctx.NewStream()
	if err != nil {
		return nil, fmt.Errorf("cuda: creating the stream of device %d: %w", ordinal, err)
	}
	b := &Backend{dev: device.CUDA(ordinal), ctx: ctx, stream: s, name: ctx.Name(),
		modules: map[string]Module{}, funcs: make([]atomic.Uintptr, len(kernelTable)), ptx: ptx}
	b.alloc = newAllocator(ctx, func() error { return ctx.Synchronize(s) })
	b.lastOp.Store("")
	return b, nil
}

// Device returns the backend's device.
func (b *Backend) Device() device.Device { return b.dev }

// Name returns the GPU's name.
func (b *Backend) Name() string { return b.name }

// MemStats returns the caching allocator's statistics.
func (b *Backend) MemStats() MemStats { return b.alloc.statsNow() }

// EmptyCache gives all cached (unused) device memory back to the driver.
func (b *Backend) EmptyCache() {
	if err := b.alloc.emptyCache(); err != nil {
		b.fail("EmptyCache", err)
	}
}

// Launches returns how many kernels the backend has launched (for
// measuring host cost per launch).
func (b *Backend) Launches() int64 { return b.nLaunch.Load() }

// fail keeps the first error of enqueued work.
func (b *Backend) fail(op string, err error) {
	b.errMu.Lock()
	if b.err == nil {
		b.err = fmt.Errorf("cuda: %s on %v: %w", op, b.dev, err)
	}
	b.errMu.Unlock()
}

// takeError returns and clears the kept error, or wraps err (from a
// synchronisation) with the name of the kernel launched last.
func (b *Backend) takeError(err error) error {
	b.errMu.Lock()
	kept := b.err
	b.err = nil
	b.errMu.Unlock()
	if kept != nil {
		return kept
	}
	if err != nil {
		return fmt.Errorf("cuda: error in work enqueued on %v (the last kernel launched was %s): %w", b.dev, b.lastOp.Load(), err)
	}
	return nil
}

// Synchronize waits for the device's stream and reports the first error of
// the work enqueued since the last synchronisation.
func (b *Backend) Synchronize() error {
	return b.takeError(b.ctx.Synchronize(b.stream))
}

// NewTimer returns a [device.Timer] for the device's stream: two CUDA
// events with timing enabled, recorded on the stream by Start and Stop.
// The events live as long as the backend; make one Timer and reuse it.
func (b *Backend) NewTimer() (device.Timer, error) {
	start, err := b.ctx.NewTimingEvent()
	if err != nil {
		return nil, fmt.Errorf("cuda: creating a timing event on %v: %w", b.dev, err)
	}
	end, err := b.ctx.NewTimingEvent()
	if err != nil {
		return nil, fmt.Errorf("cuda: creating a timing event on %v: %w", b.dev, err)
	}
	return &eventTimer{b: b, start: start, end: end}, nil
}

var _ device.Timed = (*Backend)(nil)

// eventTimer is the CUDA backend's device.Timer.
type eventTimer struct {
	b          *Backend
	start, end Event
	started    bool
}

// ErrTimerState is returned by a Timer's Stop without a Start before it,
// and by Start twice in a row.
var ErrTimerState = errors.New("cuda: Timer Start and Stop must alternate")

func (t *eventTimer) Start() error {
	if t.started {
		return fmt.Errorf("%w (Start called twice on %v)", ErrTimerState, t.b.dev)
	}
	if err := t.b.ctx.RecordEvent(t.start, t.b.stream); err != nil {
		return fmt.Errorf("cuda: recording the start event of a Timer on %v: %w", t.b.dev, err)
	}
	t.started = true
	return nil
}

func (t *eventTimer) Stop() (time.Duration, error) {
	if !t.started {
		return 0, fmt.Errorf("%w (Stop without Start on %v)", ErrTimerState, t.b.dev)
	}
	t.started = false
	if err := t.b.ctx.RecordEvent(t.end, t.b.stream); err != nil {
		return 0, t.b.takeError(fmt.Errorf("recording the end event of a Timer: %w", err))
	}
	d, err := t.b.ctx.EventElapsed(t.start, t.end)
	if err = t.b.takeError(err); err != nil {
		return 0, err
	}
	return d, nil
}

// function returns kernel id's function, loading its module on first use.
func (b *Backend) function(id int) (Function, error) {
	if f := b.funcs[id].Load(); f != 0 {
		return Function(f), nil
	}
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	if f := b.funcs[id].Load(); f != 0 {
		return Function(f), nil
	}
	k := kernelTable[id]
	m, ok := b.modules[k.module]
	if !ok {
		text, err := b.ptx(k.module)
		if err != nil {
			return 0, err
		}
		m, err = b.ctx.LoadModule(k.module, text)
		if err != nil {
			return 0, fmt.Errorf("cuda: loading PTX module %q: %w", k.module, err)
		}
		b.modules[k.module] = m
	}
	f, err := b.ctx.Function(m, k.name)
	if err != nil {
		return 0, fmt.Errorf("cuda: kernel %s in module %q: %w", k.name, k.module, err)
	}
	b.funcs[id].Store(uintptr(f))
	return f, nil
}

// launch enqueues kernel id with the argument struct at args.
func (b *Backend) launch(id int, grid, block [3]uint32, args unsafe.Pointer, size uintptr) {
	name := kernelTable[id].name
	f, err := b.function(id)
	if err == nil {
		err = b.ctx.Launch(f, grid, block, 0, b.stream, args, size)
	}
	b.nLaunch.Add(1)
	b.lastOp.Store(name)
	if err != nil {
		b.fail(name, err)
	}
}

// --- memory ----------------------------------------------------------------

// Alloc returns a buffer of n elements from the caching allocator.
func (b *Backend) Alloc(dt device.DType, n int) (device.Buffer, error) {
	p, c, err := b.alloc.alloc(int64(max(n, 1) * dt.Size()))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", b.dev, err)
	}
	return &Buffer{ptr: p, n: n, dt: dt, class: c}, nil
}

// Free returns a buffer to the cache. Work already enqueued that uses it
// runs first, since the stream is ordered.
func (b *Backend) Free(buf device.Buffer) {
	x := bufOf(buf)
	b.alloc.release(x.ptr, x.class)
}

func (b *Backend) temp(dt device.DType, n int) *Buffer {
	buf, err := b.Alloc(dt, n)
	if err != nil {
		panic(fmt.Errorf("cuda: scratch buffer: %w", err))
	}
	return bufOf(buf)
}

func hostSlice(src any) (unsafe.Pointer, device.DType, int) {
	switch s := src.(type) {
	case []float32:
		if len(s) == 0 {
			return nil, device.Float32, 0
		}
		return unsafe.Pointer(&s[0]), device.Float32, len(s)
	case []float64:
		if len(s) == 0 {
			return nil, device.Float64, 0
		}
		return unsafe.Pointer(&s[0]), device.Float64, len(s)
	}
	panic(fmt.Sprintf("cuda: host data of type %T", src))
}

// Upload copies host data into dst, converting on the host if the dtypes
// differ.
func (b *Backend) Upload(dst device.Buffer, src any) {
	d := bufOf(dst)
	if _, dt, _ := hostSlice(src); dt != d.dt {
		src = convertHost(src, d.dt)
	}
	p, _, n := hostSlice(src)
	n = min(n, d.n)
	if n == 0 {
		return
	}
	if err := b.ctx.CopyHtoD(d.ptr, p, int64(n*d.dt.Size()), b.stream); err != nil {
		b.fail("Upload", err)
	}
	runtime.KeepAlive(src)
}

func convertHost(src any, dt device.DType) any {
	switch s := src.(type) {
	case []float32:
		out := make([]float64, len(s))
		for i, v := range s {
			out[i] = float64(v)
		}
		return out
	case []float64:
		out := make([]float32, len(s))
		for i, v := range s {
			out[i] = float32(v)
		}
		return out
	}
	panic(fmt.Sprintf("cuda: host data of type %T", src))
}

// Download waits for the stream, then copies the elements of src at l into
// dst (a []float32 or []float64), converting on the device.
func (b *Backend) Download(dst any, src device.Buffer, l device.Layout) error {
	p, dt, n := hostSlice(dst)
	if n != l.Size() {
		return fmt.Errorf("cuda: Download of %d elements into %d", l.Size(), n)
	}
	if n == 0 {
		return b.Synchronize()
	}
	s := bufOf(src)
	from := s.at(l.Offset)
	if !l.IsContiguous() || s.dt != dt {
		tmp := b.temp(dt, n)
		defer b.Free(tmp)
		b.Copy(tmp, device.Contiguous(l.Shape), src, l)
		from = tmp.ptr
	}
	bytes := int64(n * dt.Size())
	var err error
	if bytes >= stageMin {
		err = b.downloadStaged(p, from, bytes)
	} else {
		err = b.ctx.CopyDtoH(p, from, bytes, b.stream)
		if err == nil {
			err = b.ctx.Synchronize(b.stream)
		}
	}
	runtime.KeepAlive(dst)
	return b.takeError(err)
}

// stageMin is the size from which downloads go through page-locked
// staging memory: the DMA engine writes page-locked memory at full speed,
// while a copy into pageable (Go) memory is split into chunks by the
// driver. The download runs in stageChunk pieces through two staging
// buffers, so that the copy of one piece into Go memory overlaps the DMA of
// the next, and the page-locked memory stays at 2·stageChunk whatever the
// size (page-locking hundreds of MB would cost more than it saves).
const (
	stageMin   = 1 << 20
	stageChunk = 8 << 20
)

func (b *Backend) downloadStaged(dst unsafe.Pointer, src Ptr, bytes int64) error {
	b.stageMu.Lock()
	defer b.stageMu.Unlock()
	if b.stage[0] == nil && !b.openStaging() {
		// Without page-locked memory, copy directly.
		if err := b.ctx.CopyDtoH(dst, src, bytes, b.stream); err != nil {
			return err
		}
		return b.ctx.Synchronize(b.stream)
	}
	chunks := (bytes + stageChunk - 1) / stageChunk
	piece := func(i int64) (off, n int64) {
		off = i * stageChunk
		return off, min(stageChunk, bytes-off)
	}
	enqueue := func(i int64) error {
		off, n := piece(i)
		if err := b.ctx.CopyDtoH(b.stage[i%2], src+Ptr(off), n, b.stream); err != nil {
			return err
		}
		return b.ctx.RecordEvent(b.stageEv[i%2], b.stream)
	}
	for i := range min(chunks, 2) {
		if err := enqueue(i); err != nil {
			return err
		}
	}
	out := unsafe.Slice((*byte)(dst), bytes)
	for i := range chunks {
		if err := b.ctx.SynchronizeEvent(b.stageEv[i%2]); err != nil {
			return err
		}
		off, n := piece(i)
		copy(out[off:off+n], unsafe.Slice((*byte)(b.stage[i%2]), n))
		if i+2 < chunks {
			if err := enqueue(i + 2); err != nil {
				return err
			}
		}
	}
	return nil
}

// openStaging allocates the two staging chunks and their events; false
// (nothing kept) if the driver refuses any of them.
func (b *Backend) openStaging() bool {
	var stage [2]unsafe.Pointer
	var ev [2]Event
	for i := range 2 {
		p, err := b.ctx.HostAlloc(stageChunk)
		if err != nil {
			break
		}
		stage[i] = p
		if ev[i], err = b.ctx.NewEvent(); err != nil {
			break
		}
	}
	if stage[1] == nil || ev[1] == 0 {
		for _, p := range stage {
			if p != nil {
				_ = b.ctx.HostFree(p)
			}
		}
		return false
	}
	b.stage, b.stageEv = stage, ev
	return true
}

// CopyFrom copies src, a buffer of another CUDA device, into the dense dst.
// The copy runs on the source device's stream after the destination's
// earlier work (so dst is free) and the destination's later work waits for
// it, through events: the host never blocks.
func (b *Backend) CopyFrom(dst device.Buffer, src device.Buffer, from device.Backend, sl device.Layout) bool {
	f, ok := from.(*Backend)
	if !ok || f == b {
		return false
	}
	d, s := bufOf(dst), bufOf(src)
	n := sl.Size()
	if n == 0 {
		return true
	}
	ptr := s.at(sl.Offset)
	if !sl.IsContiguous() || s.dt != d.dt {
		tmp := f.temp(d.dt, n)
		defer f.Free(tmp)
		f.Copy(tmp, device.Contiguous(sl.Shape), src, sl)
		ptr = tmp.ptr
	}
	b.peerMu.Lock()
	defer b.peerMu.Unlock()
	if b.peerA == 0 {
		e, err := b.ctx.NewEvent()
		if err != nil {
			b.fail("CopyFrom", err)
			return true
		}
		b.peerA = e
	}
	done, ok := b.peerDone[f]
	if !ok {
		e, err := f.ctx.NewEvent()
		if err != nil {
			b.fail("CopyFrom", err)
			return true
		}
		if b.peerDone == nil {
			b.peerDone = map[*Backend]Event{}
		}
		b.peerDone[f], done = e, e
	}
	err := errors.Join(
		b.ctx.RecordEvent(b.peerA, b.stream),
		f.ctx.WaitEvent(f.stream, b.peerA),
		f.ctx.CopyPeer(d.ptr, b.ctx, ptr, int64(n*d.dt.Size()), f.stream),
		f.ctx.RecordEvent(done, f.stream),
		b.ctx.WaitEvent(b.stream, done),
	)
	if err != nil {
		b.fail("CopyFrom", err)
	}
	return true
}

// --- elementwise -------------------------------------------------------------

func dtIndex(dt device.DType) int {
	if dt == device.Float64 {
		return 1
	}
	return 0
}

// launchMap runs a unary or scalar kernel pair (dense id0, strided id1).
func (b *Backend) launchMap(ids [2]int, dst, src device.Buffer, sl device.Layout, s float64) {
	n := int64(sl.Size())
	if n == 0 {
		return
	}
	d, x := bufOf(dst), bufOf(src)
	if sl.IsContiguous() {
		a := mapArgs{Dst: d.ptr, Src: x.at(sl.Offset), N: n, S: s}
		p, sz := argBytes(&a)
		b.launch(ids[0], grid1D(n, 4), block1D, p, sz)
		return
	}
	shape, v, err := strided(sl)
	if err != nil {
		b.fail(kernelTable[ids[1]].name, err)
		return
	}
	a := mapStridedArgs{Dst: d.ptr, Src: x.ptr, S: s, Shape: shape, X: v[0]}
	p, sz := argBytes(&a)
	b.launch(ids[1], grid1D(n, 1), block1D, p, sz)
}

// Unary writes op(src) to dst.
func (b *Backend) Unary(op device.UnaryOp, dst, src device.Buffer, sl device.Layout) {
	b.launchMap(kUnary[op][dtIndex(bufOf(dst).dt)], dst, src, sl, 0)
}

// Scalar writes op(src, s) to dst.
func (b *Backend) Scalar(op device.ScalarOp, dst, src device.Buffer, sl device.Layout, s float64) {
	b.launchMap(kScalar[op][dtIndex(bufOf(dst).dt)], dst, src, sl, s)
}

// zipVariant picks the kernel variant for two same-shaped layouts and the
// column count the row/column variants need.
func zipVariant(al, bl device.Layout) (v int, cols int64) {
	aC, bC := al.IsContiguous(), bl.IsContiguous()
	switch {
	case aC && bC:
		return vVV, 0
	case aC && bl.IsScalarBroadcast():
		return vVS, 0
	case bC && al.IsScalarBroadcast():
		return vSV, 0
	}
	shape, st := device.Coalesce(al.Shape, al.Strides, bl.Strides)
	if len(shape) == 2 {
		c := shape[1]
		as, bs := st[0], st[1]
		switch {
		case as[0] == c && as[1] == 1 && bs[0] == 0 && bs[1] == 1:
			return vRow, int64(c)
		case bs[0] == c && bs[1] == 1 && as[0] == 0 && as[1] == 1:
			return vRowR, int64(c)
		case as[0] == c && as[1] == 1 && bs[0] == 1 && bs[1] == 0:
			return vCol, int64(c)
		case bs[0] == c && bs[1] == 1 && as[0] == 1 && as[1] == 0:
			return vColR, int64(c)
		}
	}
	return vS, 0
}

// launchZip runs a two-operand kernel: ids gives the kernel per variant.
func (b *Backend) launchZip(ids *[numVariants]int, dst, a device.Buffer, al device.Layout, bb device.Buffer, bl device.Layout, alpha, beta float64) {
	n := int64(al.Size())
	if n == 0 {
		return
	}
	d, x, y := bufOf(dst), bufOf(a), bufOf(bb)
	v, cols := zipVariant(al, bl)
	if ids[v] < 0 {
		v = vS
	}
	if v != vS {
		z := zipArgs{Dst: d.ptr, A: x.at(al.Offset), B: y.at(bl.Offset), N: n, Cols: cols, Alpha: alpha, Beta: beta}
		p, sz := argBytes(&z)
		per := int64(4)
		if v != vVV && v != vVS && v != vSV {
			per = 1
		}
		b.launch(ids[v], grid1D(n, per), block1D, p, sz)
		return
	}
	shape, views, err := strided(al, bl)
	if err != nil {
		b.fail(kernelTable[ids[vS]].name, err)
		return
	}
	z := zipStridedArgs{Dst: d.ptr, A: x.ptr, B: y.ptr, Alpha: alpha, Beta: beta, Shape: shape, VA: views[0], VB: views[1]}
	p, sz := argBytes(&z)
	b.launch(ids[vS], grid1D(n, 1), block1D, p, sz)
}

// Binary writes op(a, b) to dst.
func (b *Backend) Binary(op device.BinaryOp, dst, a device.Buffer, al device.Layout, bb device.Buffer, bl device.Layout) {
	b.launchZip(&kBinary[op][dtIndex(bufOf(dst).dt)], dst, a, al, bb, bl, 1, 1)
}

// AddScaled writes alpha·a + beta·b to dst.
func (b *Backend) AddScaled(dst, a device.Buffer, al device.Layout, alpha float64, bb device.Buffer, bl device.Layout, beta float64) {
	dt := dtIndex(bufOf(dst).dt)
	ids := [numVariants]int{vVV: kAxpby[dt][0], vVS: -1, vSV: -1, vRow: -1, vRowR: -1, vCol: -1, vColR: -1, vS: kAxpby[dt][1]}
	if !al.IsContiguous() || !bl.IsContiguous() {
		ids[vVV] = -1
	}
	b.launchZip(&ids, dst, a, al, bb, bl, alpha, beta)
}

// Where writes a where cond != 0, else b.
func (b *Backend) Where(dst, cond device.Buffer, cl device.Layout, a device.Buffer, al device.Layout, bb device.Buffer, bl device.Layout) {
	n := int64(cl.Size())
	if n == 0 {
		return
	}
	id := kWhere[dtIndex(bufOf(dst).dt)]
	shape, v, err := strided(cl, al, bl)
	if err != nil {
		b.fail(kernelTable[id].name, err)
		return
	}
	w := whereArgs{Dst: bufOf(dst).ptr, C: bufOf(cond).ptr, A: bufOf(a).ptr, B: bufOf(bb).ptr, Shape: shape, VC: v[0], VA: v[1], VB: v[2]}
	p, sz := argBytes(&w)
	b.launch(id, grid1D(n, 1), block1D, p, sz)
}

// Copy writes src (layout sl) to the positions dl of dst, converting dtype.
func (b *Backend) Copy(dst device.Buffer, dl device.Layout, src device.Buffer, sl device.Layout) {
	n := int64(sl.Size())
	if n == 0 {
		return
	}
	d, s := bufOf(dst), bufOf(src)
	dC, sC := dl.IsContiguous(), sl.IsContiguous()
	switch {
	case dC && sC && d.dt == s.dt:
		if err := b.ctx.CopyDtoD(d.at(dl.Offset), s.at(sl.Offset), n*int64(d.dt.Size()), b.stream); err != nil {
			b.fail("Copy", err)
		}
	case dC && sC:
		a := mapArgs{Dst: d.at(dl.Offset), Src: s.at(sl.Offset), N: n}
		p, sz := argBytes(&a)
		b.launch(kConvert[dtIndex(s.dt)][dtIndex(d.dt)], grid1D(n, 4), block1D, p, sz)
	default:
		id := kCopy[dtIndex(s.dt)][dtIndex(d.dt)]
		shape, v, err := strided(dl, sl)
		if err != nil {
			b.fail(kernelTable[id].name, err)
			return
		}
		a := copyArgs{Dst: d.ptr, Src: s.ptr, Shape: shape, VD: v[0], VS: v[1]}
		p, sz := argBytes(&a)
		b.launch(id, grid1D(n, 1), block1D, p, sz)
	}
}

// Fill sets the positions dl of dst to v.
func (b *Backend) Fill(dst device.Buffer, dl device.Layout, v float64) {
	n := int64(dl.Size())
	if n == 0 {
		return
	}
	d := bufOf(dst)
	dt := dtIndex(d.dt)
	if dl.IsContiguous() {
		a := mapArgs{Dst: d.at(dl.Offset), N: n, S: v}
		p, sz := argBytes(&a)
		b.launch(kFill[dt][0], grid1D(n, 4), block1D, p, sz)
		return
	}
	shape, views, err := strided(dl)
	if err != nil {
		b.fail(kernelTable[kFill[dt][1]].name, err)
		return
	}
	a := fillArgs{Dst: d.ptr, V: v, Shape: shape, VD: views[0]}
	p, sz := argBytes(&a)
	b.launch(kFill[dt][1], grid1D(n, 1), block1D, p, sz)
}

// Arange writes start + i·step to dst[i] for i < n.
func (b *Backend) Arange(dst device.Buffer, n int, start, step float64) {
	if n == 0 {
		return
	}
	d := bufOf(dst)
	a := arangeArgs{Dst: d.ptr, N: int64(n), Start: start, Step: step}
	p, sz := argBytes(&a)
	b.launch(kArange[dtIndex(d.dt)], grid1D(int64(n), 1), block1D, p, sz)
}

// Random fills dst[0:n] from the Philox stream of device.RandomSpec.
func (b *Backend) Random(dst device.Buffer, n int, dist device.Dist, seed, counter uint64, lo, hi float64) {
	if n == 0 {
		return
	}
	d := bufOf(dst)
	a := randomArgs{Dst: d.ptr, N: int64(n), Seed: seed, Counter: counter, A: lo, B: hi}
	p, sz := argBytes(&a)
	b.launch(kRandom[dist][dtIndex(d.dt)], grid1D(int64(n), 4), block1D, p, sz)
}

// --- reductions --------------------------------------------------------------

// Reduce reduces src over axes in two deterministic passes: partial
// results per chunk (in float64), then a fixed-order combination per
// output.
func (b *Backend) Reduce(op device.ReduceOp, dst, src device.Buffer, sl device.Layout, axes []int) {
	d, s := bufOf(dst), bufOf(src)
	keep, red := device.SplitAxes(sl, axes)
	nk, nr := int64(keep.Size()), int64(red.Size())
	if nk == 0 {
		return
	}
	dt := dtIndex(d.dt)
	if nr == 0 {
		v := 0.0
		if op != device.Sum && op != device.Norm2 {
			v = nanValue
		}
		b.Fill(dst, device.Contiguous([]int{int(nk)}), v)
		return
	}
	ids := kReduce[op][dt]
	switch {
	case len(red.Shape) == 1 && red.Strides[0] == 1:
		b.reduceInner(ids, d, s, keep, nk, nr)
	case len(keep.Shape) == 1 && keep.Strides[0] == 1 && nk > 1:
		b.reduceOuter(ids, d, s, keep.Offset, red, nk, nr)
	default:
		// Gather kept axes first, reduced axes last, then reduce runs.
		isRed := make([]bool, len(sl.Shape))
		for _, a := range axes {
			isRed[a] = true
		}
		pl := device.Layout{Offset: sl.Offset}
		for i := range sl.Shape {
			if !isRed[i] {
				pl.Shape, pl.Strides = append(pl.Shape, sl.Shape[i]), append(pl.Strides, sl.Strides[i])
			}
		}
		for _, a := range axes {
			pl.Shape, pl.Strides = append(pl.Shape, sl.Shape[a]), append(pl.Strides, sl.Strides[a])
		}
		tmp := b.temp(s.dt, int(nk*nr))
		defer b.Free(tmp)
		b.Copy(tmp, device.Contiguous(pl.Shape), src, pl)
		b.reduceInner(ids, d, tmp, device.Layout{Shape: []int{int(nk)}, Strides: []int{int(nr)}}, nk, nr)
	}
}

var nanValue = func() float64 { var z float64; return z / z }()

func (b *Backend) reduceInner(ids [3]int, d, s *Buffer, keep device.Layout, nk, nr int64) {
	chunks, chunk := reduceSplit(nr)
	shape, v, err := strided(keep)
	if err != nil {
		b.fail(kernelTable[ids[passInner]].name, err)
		return
	}
	part := b.temp(device.Float64, int(nk*chunks))
	defer b.Free(part)
	a := reduceInnerArgs{Part: part.ptr, Src: s.ptr, Rows: nk, Run: nr, Chunks: chunks, Chunk: chunk, Keep: shape, VKeep: v[0]}
	p, sz := argBytes(&a)
	b.launch(ids[passInner], groupGrid(nk*chunks, chunk >= 1024), block1D, p, sz)
	b.reduceFinal(ids, d, part, nk, chunks, nr, 0)
}

func (b *Backend) reduceOuter(ids [3]int, d, s *Buffer, base int, red device.Layout, cols, rows int64) {
	chunks, chunkRows := outerSplit(rows, cols)
	shape, v, err := strided(red)
	if err != nil {
		b.fail(kernelTable[ids[passOuter]].name, err)
		return
	}
	part := b.temp(device.Float64, int(cols*chunks))
	defer b.Free(part)
	a := reduceOuterArgs{Part: part.ptr, Src: s.ptr, Cols: cols, Rows: rows, Chunks: chunks, Chunk: chunkRows, Base: int64(base), Red: shape, VRed: v[0]}
	p, sz := argBytes(&a)
	grid := [3]uint32{uint32((cols + threads - 1) / threads), uint32(chunks), 1}
	b.launch(ids[passOuter], grid, block1D, p, sz)
	b.reduceFinal(ids, d, part, cols, chunks, rows, 1)
}

func (b *Backend) reduceFinal(ids [3]int, d, part *Buffer, outputs, chunks, count, transposed int64) {
	a := reduceFinalArgs{Dst: d.ptr, Part: part.ptr, Outputs: outputs, Chunks: chunks, Count: count, Transposed: transposed}
	p, sz := argBytes(&a)
	b.launch(ids[passFinal], groupGrid(outputs, false), block1D, p, sz)
}

// ArgReduce writes the index of the first extreme along axis.
func (b *Backend) ArgReduce(op device.ArgOp, dst, src device.Buffer, sl device.Layout, axis int) {
	d, s := bufOf(dst), bufOf(src)
	keep, _ := device.SplitAxes(sl, []int{axis})
	nk := int64(keep.Size())
	if nk == 0 {
		return
	}
	id := kArg[op][dtIndex(d.dt)]
	shape, v, err := strided(keep)
	if err != nil {
		b.fail(kernelTable[id].name, err)
		return
	}
	a := argReduceArgs{Dst: d.ptr, Src: s.ptr, Outputs: nk, Len: int64(sl.Shape[axis]), Stride: int64(sl.Strides[axis]), Keep: shape, VKeep: v[0]}
	p, sz := argBytes(&a)
	b.launch(id, groupGrid(nk, a.Len >= 1024), block1D, p, sz)
}

// --- matrix products -----------------------------------------------------------

// blasOperand describes a row-major rows×cols matrix (strides rs, cs) as a
// cuBLAS column-major operand for its transpose: the memory read
// column-major with leading dimension ld is the transpose itself (trans
// false) or the matrix (trans true, so cuBLAS transposes it).
func blasOperand(rows, cols, rs, cs int) (trans bool, ld int, ok bool) {
	switch {
	case cs == 1 && (rows == 1 || rs >= cols):
		return false, max(rs, cols, 1), true
	case rs == 1 && (cols == 1 || cs >= rows):
		return true, max(cs, rows, 1), true
	}
	return false, 0, false
}

// GEMM says how the backend computes matrix products: "cuBLAS
// (libcublas.so.12)", or "tapegrad's tiled kernel" with the reason cuBLAS is
// not used (not found, cublasCreate failed, TAPEGRAD_CUDA_BLAS=off).
func (b *Backend) GEMM() string {
	blas, err := b.ctx.BLAS()
	if blas != nil {
		return "cuBLAS (" + blas.Name() + ")"
	}
	return fmt.Sprintf("tapegrad's tiled kernel (%v)", err)
}

// blasFits reports whether a product's sizes and strides fit cuBLAS's
// 32-bit int arguments (its batch strides are 64-bit); larger ones take the
// tiled kernel, whose arguments are 64-bit.
func blasFits(batch, m, n, k int, ls ...device.MatLayout) bool {
	const lim = math.MaxInt32
	if batch > lim || m > lim || n > lim || k > lim {
		return false
	}
	for _, l := range ls {
		if l.RowStride > lim || l.ColStride > lim {
			return false
		}
	}
	return true
}

// MatMul computes batched matrix products with cuBLAS when it is available
// (row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ), else with the tiled
// kernel of package kernels.
func (b *Backend) MatMul(dst device.Buffer, dl device.MatLayout, a device.Buffer, al device.MatLayout, bb device.Buffer, bl device.MatLayout, batch, m, n, k int) {
	if m == 0 || n == 0 || batch == 0 {
		return
	}
	d, x, y := bufOf(dst), bufOf(a), bufOf(bb)
	if k == 0 {
		for i := 0; i < batch; i++ {
			b.Fill(dst, device.Layout{Shape: []int{m, n}, Strides: []int{dl.RowStride, 1}, Offset: dl.Offset + i*dl.BatchStride}, 0)
		}
		return
	}
	if blas, _ := b.ctx.BLAS(); blas != nil && blasFits(batch, m, n, k, dl, al, bl) {
		ta, lda, okA := blasOperand(m, k, al.RowStride, al.ColStride)
		tb, ldb, okB := blasOperand(k, n, bl.RowStride, bl.ColStride)
		if !okA {
			x, al = b.denseMatrices(x, al, batch, m, k)
			defer b.Free(x)
			ta, lda = false, k
		}
		if !okB {
			y, bl = b.denseMatrices(y, bl, batch, k, n)
			defer b.Free(y)
			tb, ldb = false, n
		}
		err := blas.GemmStridedBatched(b.stream, d.dt == device.Float64, tb, ta, n, m, k,
			y.at(bl.Offset), ldb, int64(bl.BatchStride), x.at(al.Offset), lda, int64(al.BatchStride),
			d.at(dl.Offset), dl.RowStride, int64(dl.BatchStride), batch)
		b.nLaunch.Add(1)
		b.lastOp.Store("cublasGemmStridedBatched")
		if err != nil {
			b.fail("cublasGemmStridedBatched", err)
		}
		return
	}
	g := gemmArgs{C: d.ptr, A: x.ptr, B: y.ptr, M: int64(m), N: int64(n), K: int64(k), Batch: int64(batch),
		AOff: int64(al.Offset), ABS: int64(al.BatchStride), ARS: int64(al.RowStride), ACS: int64(al.ColStride),
		BOff: int64(bl.Offset), BBS: int64(bl.BatchStride), BRS: int64(bl.RowStride), BCS: int64(bl.ColStride),
		COff: int64(dl.Offset), CBS: int64(dl.BatchStride), CLd: int64(dl.RowStride)}
	p, sz := argBytes(&g)
	grid := [3]uint32{uint32((n + gemmTile - 1) / gemmTile), uint32(min((m+gemmTile-1)/gemmTile, 65535)), uint32(min(batch, 65535))}
	b.launch(kGemm[dtIndex(d.dt)], grid, block1D, p, sz)
}

// gemmTile is the tile edge of the fallback GEMM kernel: a block of 256
// threads computes a 64×64 tile of C (kernels/gemm.cu).
const gemmTile = 64

// denseMatrices copies a batch of matrices into a dense scratch buffer.
func (b *Backend) denseMatrices(x *Buffer, l device.MatLayout, batch, rows, cols int) (*Buffer, device.MatLayout) {
	tmp := b.temp(x.dt, batch*rows*cols)
	b.Copy(tmp, device.Contiguous([]int{batch, rows, cols}), x,
		device.Layout{Shape: []int{batch, rows, cols}, Strides: []int{l.BatchStride, l.RowStride, l.ColStride}, Offset: l.Offset})
	return tmp, device.MatLayout{BatchStride: rows * cols, RowStride: cols, ColStride: 1}
}
