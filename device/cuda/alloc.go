package cuda

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrOutOfMemory is wrapped by allocation errors.
var ErrOutOfMemory = errors.New("cuda: out of memory")

// MemStats describes a device's caching allocator.
type MemStats struct {
	Allocated     int64 // bytes in buffers in use (rounded to size classes)
	Reserved      int64 // bytes obtained from the driver: in use plus cached
	PeakAllocated int64 // the largest Allocated so far
	Allocs        int64 // allocations served
	CacheHits     int64 // allocations served from the cache
	DriverAllocs  int64 // calls to cuMemAlloc
}

// allocator is a per-device caching allocator. Freed blocks go to a free
// list of their size class and are handed out again without a driver call.
// Reuse is safe without synchronisation because all work of a device runs
// on its one stream, in order: work enqueued after a block is reused runs
// after the work that used it before. Memory goes back to the driver only
// in emptyCache, after the stream is synchronised.
type allocator struct {
	mu    sync.Mutex
	ctx   Context
	sync  func() error
	free  map[int64][]Ptr
	stats MemStats
}

func newAllocator(ctx Context, sync func() error) *allocator {
	return &allocator{ctx: ctx, sync: sync, free: map[int64][]Ptr{}}
}

// classSize rounds a request up to its size class: at least 512 bytes,
// then the next of 2^k·{4,5,6,7}/4, then a multiple of 512 (so at most a
// quarter is wasted and every block is 512-byte aligned in size).
func classSize(bytes int64) int64 {
	if bytes <= 512 {
		return 512
	}
	k := 0
	for int64(1)<<(k+1) <= bytes {
		k++
	}
	c := int64(1) << (k + 1)
	for j := int64(0); j < 4; j++ {
		if s := (int64(1) << k) / 4 * (4 + j); s >= bytes {
			c = s
			break
		}
	}
	return (c + 511) &^ 511
}

// alloc returns a block of at least bytes bytes and its class size.
func (a *allocator) alloc(bytes int64) (Ptr, int64, error) {
	c := classSize(bytes)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Allocs++
	if l := a.free[c]; len(l) > 0 {
		p := l[len(l)-1]
		a.free[c] = l[:len(l)-1]
		a.stats.CacheHits++
		a.use(c)
		return p, c, nil
	}
	p, err := a.ctx.MemAlloc(c)
	if err != nil {
		// Give the cache back to the driver and try once more.
		if a.emptyLocked() == nil {
			p, err = a.ctx.MemAlloc(c)
		}
		if err != nil {
			free, total, _ := a.ctx.MemInfo()
			return 0, 0, fmt.Errorf("%w: allocating %d bytes (class %d): device has %d of %d bytes free, this process holds %d (%d in use): %v",
				ErrOutOfMemory, bytes, c, free, total, a.stats.Reserved, a.stats.Allocated, err)
		}
	}
	a.stats.DriverAllocs++
	a.stats.Reserved += c
	a.use(c)
	return p, c, nil
}

func (a *allocator) use(c int64) {
	a.stats.Allocated += c
	a.stats.PeakAllocated = max(a.stats.PeakAllocated, a.stats.Allocated)
}

// release puts a block back in the cache.
func (a *allocator) release(p Ptr, c int64) {
	a.mu.Lock()
	a.free[c] = append(a.free[c], p)
	a.stats.Allocated -= c
	a.mu.Unlock()
}

// emptyCache returns every cached block to the driver.
func (a *allocator) emptyCache() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.emptyLocked()
}

func (a *allocator) emptyLocked() error {
	if len(a.free) == 0 {
		return nil
	}
	// Blocks in the cache may still be in use by enqueued work.
	if err := a.sync(); err != nil {
		return err
	}
	classes := make([]int64, 0, len(a.free))
	for c := range a.free {
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool { return classes[i] < classes[j] })
	var first error
	for _, c := range classes {
		for _, p := range a.free[c] {
			if err := a.ctx.MemFree(p); err != nil && first == nil {
				first = err
			}
			a.stats.Reserved -= c
		}
		delete(a.free, c)
	}
	return first
}

func (a *allocator) statsNow() MemStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}
