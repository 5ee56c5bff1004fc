package cuda

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// fakeDriver stands in for the CUDA driver in CPU-only tests. Device
// memory is host memory; copies work; kernel launches are recorded (name,
// geometry and argument bytes) but not executed.
type fakeDriver struct {
	devices int
	ctxs    []*fakeContext
}

func newFakeDriver(devices int) *fakeDriver {
	d := &fakeDriver{devices: devices}
	for i := 0; i < devices; i++ {
		d.ctxs = append(d.ctxs, &fakeContext{id: i, mem: map[Ptr][]byte{}, next: Ptr(0x1000_0000 * (i + 1)), total: 1 << 30})
	}
	return d
}

func (d *fakeDriver) DeviceCount() int { return d.devices }

func (d *fakeDriver) Open(ordinal int) (Context, error) {
	if ordinal >= d.devices {
		return nil, fmt.Errorf("fake: no device %d", ordinal)
	}
	return d.ctxs[ordinal], nil
}

type launchRecord struct {
	name        string
	grid, block [3]uint32
	stream      Stream
	args        []byte
}

type fakeContext struct {
	id int

	mu        sync.Mutex
	mem       map[Ptr][]byte
	next      Ptr
	total     int64
	used      int64
	failAlloc int // fail this many MemAlloc calls
	allocs    int
	frees     int
	syncs     int
	streams   int
	events    int
	calls     []string // stream/event/copy calls in order
	launches  []launchRecord
	names     map[Function]string
	launchErr error
	blas      *fakeBLAS
	timing    map[Event]time.Time // timing events: when last recorded
}

func (c *fakeContext) Name() string { return fmt.Sprintf("Fake GPU %d", c.id) }

func (c *fakeContext) MemInfo() (int64, int64, error) { return c.total - c.used, c.total, nil }

func (c *fakeContext) MemAlloc(bytes int64) (Ptr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failAlloc > 0 {
		c.failAlloc--
		return 0, errors.New("CUDA_ERROR_OUT_OF_MEMORY")
	}
	if c.used+bytes > c.total {
		return 0, errors.New("CUDA_ERROR_OUT_OF_MEMORY")
	}
	p := c.next
	c.next += Ptr((bytes + 4095) &^ 4095)
	c.mem[p] = make([]byte, bytes)
	c.used += bytes
	c.allocs++
	return p, nil
}

func (c *fakeContext) MemFree(p Ptr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.mem[p]
	if !ok {
		return fmt.Errorf("fake: free of unknown pointer %#x", p)
	}
	c.used -= int64(len(b))
	delete(c.mem, p)
	c.frees++
	return nil
}

// bytesAt returns the memory at p (which may point inside a block).
func (c *fakeContext) bytesAt(p Ptr, n int64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	bases := make([]Ptr, 0, len(c.mem))
	for b := range c.mem {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for i := len(bases) - 1; i >= 0; i-- {
		if b := bases[i]; b <= p {
			blk := c.mem[b]
			off := int64(p - b)
			if off+n > int64(len(blk)) {
				panic(fmt.Sprintf("fake: access [%#x, +%d) beyond block %#x of %d bytes", p, n, b, len(blk)))
			}
			return blk[off : off+n]
		}
	}
	panic(fmt.Sprintf("fake: access to unmapped %#x", p))
}

func (c *fakeContext) HostAlloc(bytes int64) (unsafe.Pointer, error) {
	b := make([]byte, bytes)
	return unsafe.Pointer(&b[0]), nil
}

func (c *fakeContext) HostFree(unsafe.Pointer) error { return nil }

func (c *fakeContext) record(s string) {
	c.mu.Lock()
	c.calls = append(c.calls, s)
	c.mu.Unlock()
}

func (c *fakeContext) NewStream() (Stream, error) {
	c.streams++
	return Stream(100*(c.id+1) + c.streams), nil
}

func (c *fakeContext) NewEvent() (Event, error) {
	c.events++
	return Event(1000*(c.id+1) + c.events), nil
}

func (c *fakeContext) NewTimingEvent() (Event, error) {
	c.events++
	e := Event(1000*(c.id+1) + c.events)
	c.mu.Lock()
	if c.timing == nil {
		c.timing = map[Event]time.Time{}
	}
	c.timing[e] = time.Time{}
	c.mu.Unlock()
	return e, nil
}

// RecordEvent logs the call; a timing event also keeps the time (the fake
// runs all work at once, so the time of the record is the device's).
// owns reports whether the event (or 0) and the stream were made by c: the
// driver records an event only on a stream of the event's own context, and
// waits only on a stream of the calling context (CUDA_ERROR_INVALID_HANDLE).
func (c *fakeContext) owns(e Event, s Stream) error {
	if (e != 0 && int(e)/1000-1 != c.id) || int(s)/100-1 != c.id {
		return fmt.Errorf("fake: CUDA_ERROR_INVALID_HANDLE: event e%d or stream s%d is not of context %d", e, s, c.id)
	}
	return nil
}

func (c *fakeContext) RecordEvent(e Event, s Stream) error {
	if err := c.owns(e, s); err != nil {
		return err
	}
	c.record(fmt.Sprintf("record e%d s%d", e, s))
	c.mu.Lock()
	if _, ok := c.timing[e]; ok {
		c.timing[e] = time.Now()
	}
	c.mu.Unlock()
	return nil
}

func (c *fakeContext) EventElapsed(start, end Event) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t0, ok0 := c.timing[start]
	t1, ok1 := c.timing[end]
	switch {
	case !ok0 || !ok1:
		return 0, fmt.Errorf("fake: EventElapsed(e%d, e%d): not timing events", start, end)
	case t0.IsZero() || t1.IsZero():
		return 0, fmt.Errorf("fake: EventElapsed(e%d, e%d): an event was never recorded", start, end)
	}
	return t1.Sub(t0), nil
}

func (c *fakeContext) WaitEvent(s Stream, e Event) error {
	if err := c.owns(0, s); err != nil {
		return err
	}
	c.record(fmt.Sprintf("wait s%d e%d", s, e))
	return nil
}

func (c *fakeContext) SynchronizeEvent(e Event) error {
	c.record(fmt.Sprintf("syncevent e%d", e))
	return nil
}

func (c *fakeContext) Synchronize(Stream) error {
	c.mu.Lock()
	c.syncs++
	c.mu.Unlock()
	return nil
}

func (c *fakeContext) CopyHtoD(dst Ptr, src unsafe.Pointer, bytes int64, s Stream) error {
	copy(c.bytesAt(dst, bytes), unsafe.Slice((*byte)(src), bytes))
	return nil
}

func (c *fakeContext) CopyDtoH(dst unsafe.Pointer, src Ptr, bytes int64, s Stream) error {
	copy(unsafe.Slice((*byte)(dst), bytes), c.bytesAt(src, bytes))
	return nil
}

func (c *fakeContext) CopyDtoD(dst, src Ptr, bytes int64, s Stream) error {
	c.record(fmt.Sprintf("dtod s%d %d", s, bytes))
	copy(c.bytesAt(dst, bytes), c.bytesAt(src, bytes))
	return nil
}

func (c *fakeContext) CopyPeer(dst Ptr, dstCtx Context, src Ptr, bytes int64, s Stream) error {
	c.record(fmt.Sprintf("peer s%d %d", s, bytes))
	copy(dstCtx.(*fakeContext).bytesAt(dst, bytes), c.bytesAt(src, bytes))
	return nil
}

func (c *fakeContext) LoadModule(name, ptx string) (Module, error) {
	if ptx == "bad" {
		return 0, errors.New("JIT compilation failed: ptxas fatal: syntax error")
	}
	return Module(len(name)), nil
}

func (c *fakeContext) Function(m Module, name string) (Function, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[Function]string{}
	}
	f := Function(len(c.names) + 1)
	c.names[f] = name
	return f, nil
}

func (c *fakeContext) Launch(f Function, grid, block [3]uint32, shared uint32, s Stream, args unsafe.Pointer, size uintptr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.launches = append(c.launches, launchRecord{name: c.names[f], grid: grid, block: block, stream: s,
		args: append([]byte(nil), unsafe.Slice((*byte)(args), size)...)})
	return c.launchErr
}

func (c *fakeContext) BLAS() (BLAS, error) {
	if c.blas == nil {
		return nil, errors.New("fake: no cuBLAS")
	}
	return c.blas, nil
}

type gemmCall struct {
	f64, transA, transB     bool
	m, n, k, lda, ldb, ldc  int
	a, b, c                 Ptr
	strideA, strideB, strdC int64
	batch                   int
	half                    device.DType // GemmStridedBatchedEx: its dtype; else 0
}

// fakeBLAS records its calls; noEx makes it a cuBLAS without
// cublasGemmStridedBatchedEx.
type fakeBLAS struct {
	calls []gemmCall
	noEx  bool
}

func (f *fakeBLAS) Name() string { return "libfakeblas.so" }

func (f *fakeBLAS) GemmStridedBatched(s Stream, f64, transA, transB bool, m, n, k int,
	a Ptr, lda int, strideA int64, b Ptr, ldb int, strideB int64, c Ptr, ldc int, strideC int64, batch int) error {
	f.calls = append(f.calls, gemmCall{f64, transA, transB, m, n, k, lda, ldb, ldc, a, b, c, strideA, strideB, strideC, batch, 0})
	return nil
}

func (f *fakeBLAS) GemmStridedBatchedEx(s Stream, dt device.DType, transA, transB bool, m, n, k int,
	a Ptr, lda int, strideA int64, b Ptr, ldb int, strideB int64, c Ptr, ldc int, strideC int64, batch int) error {
	if f.noEx {
		return fmt.Errorf("%w (libfakeblas.so)", ErrNoHalfGemm)
	}
	f.calls = append(f.calls, gemmCall{false, transA, transB, m, n, k, lda, ldb, ldc, a, b, c, strideA, strideB, strideC, batch, dt})
	return nil
}

// fakePTX serves every module as valid text.
func fakePTX(module string) (string, error) { return "// fake " + module, nil }

// decode reads the argument struct of a recorded launch.
func decode[T any](l launchRecord) T {
	var v T
	if uintptr(len(l.args)) != unsafe.Sizeof(v) {
		panic(fmt.Sprintf("launch %s: %d argument bytes, want %d", l.name, len(l.args), unsafe.Sizeof(v)))
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), len(l.args)), l.args)
	return v
}
