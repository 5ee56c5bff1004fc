package cpu

import (
	"errors"
	"fmt"
	mbits "math/bits"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"

	"github.com/tapegrad/tapegrad/device"
)

// ErrOutOfMemory is wrapped by the errors of allocations that the memory
// limit refuses (see [SetMemoryLimit]).
var ErrOutOfMemory = errors.New("cpu: out of memory")

// The buffer cache.
//
// Buffers of minCachedBytes and more are counted: the cache keeps the bytes
// of the counted buffers that are in use (live: handed out by Alloc and
// neither freed nor collected by the garbage collector) and of those in its
// free lists (cached). Both count the capacity of the buffer's size class.
//
// The cache is bounded by what the program has recently used: it holds at
// most max(recent peak − live, cacheSlack) bytes, where the recent peak is
// the largest live of the current and the previous epoch. So live + cached
// stays within the recent peak of live memory plus cacheSlack, and a loop
// that allocates the same sizes every step finds them all in the cache
// after the first, while a program whose sizes drift does not accumulate
// buffers of sizes it no longer asks for. An epoch ends when the bytes
// handed out (from the cache or new) since it began reach four times the
// last epoch's peak (at least epochMinBytes), so an epoch spans at least a
// couple of steps of a loop whatever its speed; at the end of an epoch the
// cache also drops every buffer that was not reused during the whole epoch
// just ended. When the cache must shrink it drops the buffers freed longest
// ago first. Trimming happens in Alloc and Free, so there is no background
// goroutine; dropped buffers are left to the garbage collector.
const (
	minCachedBytes = 64 << 10
	maxClassShift  = 47 // requests above 2^47 bytes are not cached
	numClasses     = 4*maxClassShift + 1
	cacheSlack     = 64 << 20 // the cache may always hold this much
	epochMinBytes  = 256 << 20
)

// account is a counted buffer's share of the live bytes. It is kept
// apart from the Buffer so that the buffer's cleanup can refer to it.
type account struct {
	live  atomic.Bool // handed out, not yet freed or collected
	bytes int64
	c     *cache
}

// release takes the buffer out of the live bytes, once.
func (a *account) release() bool {
	if !a.live.CompareAndSwap(true, false) {
		return false
	}
	a.c.live.Add(-a.bytes)
	return true
}

type cache struct {
	live atomic.Int64 // bytes of live counted buffers

	mu         sync.Mutex
	free       [device.NumDTypes][numClasses][]*Buffer // per dtype and class, oldest first
	head, tail *Buffer                                 // all cached buffers, least recently freed first
	bytes      int64                                   // bytes in the free lists

	epoch          int64
	epochBytes     int64 // bytes handed out in this epoch
	epochLen       int64 // the epoch ends when epochBytes reaches this
	peak, prevPeak int64 // the largest live in this epoch and the last

	hits, misses, dropped int64
	garbage               int64 // bytes dropped since the last collection
	collections           int64

	// dropPages's state: bytes dropped and kept resident since the
	// collection numbered gcs, and its runtime/metrics samples.
	kept    int64
	gcs     uint64
	samples [2]metrics.Sample
}

// CacheStats describes the buffer cache.
type CacheStats struct {
	CachedBytes int64 // bytes held in free lists
	LiveBytes   int64 // bytes of buffers of 64 KiB and more in use
	Hits        int64 // allocations served from the cache
	Misses      int64 // cacheable allocations that had to allocate
	Dropped     int64 // cached buffers dropped to bound the cache
	Collections int64 // garbage collections run to reuse dropped buffers
}

// Stats returns the cache's counters.
func (be *Backend) Stats() CacheStats {
	c := &be.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{CachedBytes: c.bytes, LiveBytes: c.live.Load(), Hits: c.hits, Misses: c.misses, Dropped: c.dropped, Collections: c.collections}
}

// EmptyCache drops every cached buffer, leaving their memory to the garbage
// collector.
func (be *Backend) EmptyCache() {
	c := &be.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head != nil {
		c.dropOldest()
	}
}

// sizeClass returns the class of a request of n elements of size esz bytes
// and the class's capacity in elements, or -1 and n when n is not cached:
// below minCachedBytes, or above 2^maxClassShift bytes (or n·esz
// overflows). Classes are 2^k · (4+j)/4 bytes for j = 0..3.
func sizeClass(n, esz int) (int, int) {
	if n < 0 || esz <= 0 || n > (1<<maxClassShift)/esz {
		return -1, n
	}
	bytes := n * esz
	if bytes < minCachedBytes {
		return -1, n
	}
	k := mbits.Len(uint(bytes)) - 1 // 2^k <= bytes < 2^(k+1)
	for j := 0; j < 4; j++ {
		if c := (1 << k) / 4 * (4 + j); c >= bytes {
			return 4*k + j, c / esz
		}
	}
	return 4 * (k + 1), (1 << (k + 1)) / esz
}

func (c *cache) get(dt device.DType, n int) (*Buffer, error) {
	esz := dt.Size()
	limit := memLimit.Load()
	if int64(n) > limit/int64(esz) {
		return nil, c.oom(dt, n, float64(n)*float64(esz), limit)
	}
	if n*esz < minCachedBytes {
		return newBuffer(dt, n, n, -1), nil
	}
	cls, capn := sizeClass(n, esz)
	size := int64(capn) * int64(esz)
	c.mu.Lock()
	if cls >= 0 {
		l := c.free[dt][cls]
		if k := len(l); k > 0 {
			b := l[k-1]
			l[k-1] = nil
			c.free[dt][cls] = l[:k-1]
			c.unlink(b)
			c.bytes -= size
			c.hits++
			b.acct.live.Store(true)
			c.live.Add(size)
			c.handOut(size)
			c.mu.Unlock()
			b.resize(n)
			return b, nil
		}
		c.misses++
	}
	// Make room under the limit, dropping cached buffers first.
	for c.head != nil && c.live.Load()+c.bytes+size > limit {
		c.dropOldest()
	}
	if live := c.live.Load(); live+size > limit {
		c.mu.Unlock()
		return nil, c.oom(dt, n, float64(size), limit)
	}
	c.live.Add(size)
	c.handOut(size)
	collect := c.garbage >= max(c.live.Load(), cacheSlack)
	if collect {
		c.garbage = 0
		c.collections++
	}
	c.mu.Unlock()
	if collect {
		// Let the Go runtime reuse the dropped buffers' memory for this
		// one rather than grow the heap.
		runtime.GC()
	}
	b := newBuffer(dt, n, capn, int16(cls))
	a := &account{bytes: size, c: c}
	a.live.Store(true)
	b.acct = a
	// A buffer that is never freed leaves the live bytes when it is
	// collected.
	runtime.AddCleanup(b, func(a *account) { a.release() }, a)
	return b, nil
}

func (c *cache) oom(dt device.DType, n int, bytes float64, limit int64) error {
	return fmt.Errorf("%w: allocating %d %s elements (%.0f bytes): %d bytes in use and %d cached, memory limit %d bytes (%s)",
		ErrOutOfMemory, n, dt, bytes, c.live.Load(), c.cachedBytes(), limit, limitSource())
}

func (c *cache) cachedBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

func newBuffer(dt device.DType, n, capn int, cls int16) *Buffer {
	switch dt {
	case device.Float64:
		return &Buffer{f64: make([]float64, n, capn), dt: dt, class: cls}
	case device.Int32:
		return &Buffer{i32: make([]int32, n, capn), dt: dt, class: cls}
	case device.Int64:
		return &Buffer{i64: make([]int64, n, capn), dt: dt, class: cls}
	case device.BFloat16, device.Float16:
		return &Buffer{u16: make([]uint16, n, capn), dt: dt, class: cls}
	}
	return &Buffer{f32: make([]float32, n, capn), dt: dt, class: cls}
}

// resize sets the buffer's length to n (at most its capacity).
func (b *Buffer) resize(n int) {
	switch b.dt {
	case device.Float64:
		b.f64 = b.f64[:n]
	case device.Int32:
		b.i32 = b.i32[:n]
	case device.Int64:
		b.i64 = b.i64[:n]
	case device.BFloat16, device.Float16:
		b.u16 = b.u16[:n]
	default:
		b.f32 = b.f32[:n]
	}
}

func (c *cache) put(b *Buffer) {
	a := b.acct
	if a == nil || !a.release() || b.class < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b.epoch = c.epoch
	c.free[b.dt][b.class] = append(c.free[b.dt][b.class], b)
	b.prev, b.next = c.tail, nil
	if c.tail != nil {
		c.tail.next = b
	} else {
		c.head = b
	}
	c.tail = b
	c.bytes += a.bytes
	c.trim()
}

// handOut accounts for size bytes handed out (c.live already counts them),
// ending the epoch when its bytes are reached, and trims the cache to its
// bound. c.mu is held.
func (c *cache) handOut(size int64) {
	live := c.live.Load()
	c.peak = max(c.peak, live)
	c.epochBytes += size
	if c.epochBytes >= c.epochLen {
		c.prevPeak, c.peak = c.peak, live
		c.epoch++
		c.epochBytes = 0
		c.epochLen = max(4*c.prevPeak, epochMinBytes)
		// Drop what was not reused during the whole epoch just ended.
		for c.head != nil && c.head.epoch < c.epoch-1 {
			c.dropOldest()
		}
	}
	c.trim()
}

// trim drops the oldest cached buffers while the cache holds more than
// max(recent peak − live, cacheSlack). c.mu is held.
func (c *cache) trim() {
	for c.head != nil && c.bytes > max(max(c.peak, c.prevPeak)-c.live.Load(), cacheSlack) {
		c.dropOldest()
	}
}

// dropOldest drops the buffer freed longest ago, the first of its free
// list. c.mu is held and the cache is not empty.
func (c *cache) dropOldest() {
	b := c.head
	l := c.free[b.dt][b.class]
	l[0] = nil
	c.free[b.dt][b.class] = l[1:]
	if len(l) == 1 {
		c.free[b.dt][b.class] = nil
	}
	c.unlink(b)
	c.bytes -= b.acct.bytes
	c.dropPages(b)
	c.dropped++
	c.garbage += b.acct.bytes
}

// dropPages decides whether the pages of b, a buffer the cache drops,
// go back to the operating system now ([Buffer.release]) or stay
// resident for the Go runtime to reuse once the buffer is collected.
//
// Pages that stay resident are cheap to reuse (the runtime clears them
// for the next allocation), while pages given back fault in again when
// their memory is reused: in a virtual machine that roughly doubled the
// time of a workload whose sizes drift (device/cpu/internal/driftmem).
// But resident garbage is memory the program does not use, and it is
// what took the resident set past twice the live bytes. So dropped
// buffers stay resident while the resident memory the cache is
// responsible for beyond its own accounting — the buffers it dropped
// and kept resident since the last collection, plus the heap memory the
// runtime holds free and has not yet given back — stays within
// cacheSlack; past that, their pages are given back. c.mu is held.
func (c *cache) dropPages(b *Buffer) {
	if c.samples[0].Name == "" {
		c.samples[0].Name = "/gc/cycles/total:gc-cycles"
		c.samples[1].Name = "/memory/classes/heap/free:bytes"
	}
	metrics.Read(c.samples[:])
	gcs, free := c.samples[0].Value, c.samples[1].Value
	if gcs.Kind() == metrics.KindUint64 && gcs.Uint64() != c.gcs {
		c.gcs = gcs.Uint64() // a collection freed what was kept before it
		c.kept = 0
	}
	heapFree := int64(0)
	if free.Kind() == metrics.KindUint64 {
		heapFree = int64(free.Uint64())
	}
	if c.kept+heapFree+b.acct.bytes > cacheSlack {
		b.release()
		return
	}
	c.kept += b.acct.bytes
}

// unlink takes b out of the list of cached buffers. c.mu is held.
func (c *cache) unlink(b *Buffer) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		c.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		c.tail = b.prev
	}
	b.prev, b.next = nil, nil
}
