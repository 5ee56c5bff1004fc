package cpu

import (
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// Huge requests get no size class instead of looping (the shift that found
// the class wrapped at 2^62 bytes).
func TestSizeClassHuge(t *testing.T) {
	for _, c := range []struct{ n, esz int }{
		{1 << 62, 1}, {1 << 60, 4}, {1 << 59, 8}, {1 << 61, 4}, {math.MaxInt, 1},
		{math.MaxInt, 8}, {math.MaxInt / 4, 4}, {1<<maxClassShift + 1, 1},
	} {
		if cls, _ := sizeClass(c.n, c.esz); cls != -1 {
			t.Errorf("sizeClass(%d, %d) = %d, want -1", c.n, c.esz, cls)
		}
	}
	// Classes are increasing and hold their requests.
	prev := -1
	for bytes := minCachedBytes; bytes <= 1<<maxClassShift; bytes = bytes*9/8 + 1 {
		cls, capn := sizeClass(bytes, 1)
		if cls < prev || cls >= numClasses || capn < bytes || capn > bytes*5/4+4 {
			t.Fatalf("sizeClass(%d) = %d, %d (previous class %d)", bytes, cls, capn, prev)
		}
		prev = cls
	}
	if cls, capn := sizeClass(1<<maxClassShift, 1); cls != numClasses-1 || capn != 1<<maxClassShift {
		t.Fatalf("largest class %d, %d", cls, capn)
	}
}

// Requests beyond the memory limit fail with ErrOutOfMemory, whatever
// their size, without allocating.
func TestAllocOutOfMemory(t *testing.T) {
	be := new(Backend)
	for _, c := range []struct {
		dt device.DType
		n  int
	}{
		{device.Float32, 1 << 60}, {device.Float32, 1 << 61}, {device.Float64, 1 << 59},
		{device.Float32, 1 << 62}, {device.Float64, math.MaxInt}, {device.Float32, 1 << 40},
		{device.Float64, 1e10}, {device.Float32, 1 << 40 * 3 / 2},
	} {
		b, err := be.Alloc(c.dt, c.n)
		if !errors.Is(err, ErrOutOfMemory) || b != nil {
			t.Errorf("Alloc(%v, %d) = %v, %v; want ErrOutOfMemory", c.dt, c.n, b, err)
		}
	}
	if s := be.Stats(); s.LiveBytes != 0 {
		t.Errorf("failed allocations left %d live bytes", s.LiveBytes)
	}
}

func TestMemoryLimit(t *testing.T) {
	defer SetMemoryLimit(SetMemoryLimit(64 << 20))
	if n, src := MemoryLimit(); n != 64<<20 || src != "SetMemoryLimit" {
		t.Fatalf("MemoryLimit() = %d, %q", n, src)
	}
	be := new(Backend)
	const mib = 1 << 18 // float32 elements
	if _, err := be.Alloc(device.Float32, 65*mib); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("65 MiB under a 64 MiB limit: %v", err)
	}
	a, err := be.Alloc(device.Float32, 32*mib)
	if err != nil {
		t.Fatal(err)
	}
	b, err := be.Alloc(device.Float32, 24*mib)
	if err != nil {
		t.Fatal(err)
	}
	// Live buffers count.
	if _, err := be.Alloc(device.Float32, 16*mib); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("72 MiB live under a 64 MiB limit: %v", err)
	}
	// Cached buffers are dropped to make room.
	be.Free(a)
	be.Free(a) // a second Free does nothing
	c, err := be.Alloc(device.Float32, 40*mib)
	if err != nil {
		t.Fatalf("after freeing 32 MiB: %v", err)
	}
	if s := be.Stats(); s.CachedBytes != 0 || s.LiveBytes != 64<<20 {
		t.Fatalf("stats %+v, want 64 MiB live, none cached", s)
	}
	// Buffers that are collected without Free stop counting.
	b, c = nil, nil
	for i := 0; i < 100 && be.Stats().LiveBytes != 0; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if s := be.Stats(); s.LiveBytes != 0 {
		t.Fatalf("collected buffers still count: %+v", s)
	}
	_, _ = b, c
	// The default comes back.
	SetMemoryLimit(0)
	if n, src := MemoryLimit(); n != defaultMem || src != defaultFrom || n < 1<<20 {
		t.Fatalf("default limit %d (%s), want %d (%s)", n, src, defaultMem, defaultFrom)
	}
}

func TestParseBytes(t *testing.T) {
	for s, want := range map[string]int64{
		"1000": 1000, "64K": 64 << 10, "8GiB": 8 << 30, " 3 MB ": 3 << 20, "2t": 2 << 40, "5G": 5 << 30,
	} {
		if n, err := parseBytes(s); err != nil || n != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "x", "-5", "0", "1.5G", "9E", "99999999999T"} {
		if n, err := parseBytes(s); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", s, n)
		}
	}
}

// drift returns the next size of a deterministic walk between lo and hi.
func drift(x *uint64, size, lo, hi int) int {
	*x = *x*6364136223846793005 + 1442695040888963407
	f := 0.9 + 0.2*float64(*x>>11)/float64(1<<53)
	return min(max(int(float64(size)*f), lo), hi)
}

// With sizes that drift, the cache stays within the recent peak of live
// bytes plus its slack (it used to keep up to 4 GiB).
func TestCacheBoundDrift(t *testing.T) {
	be := new(Backend)
	const mib = 1 << 18
	var (
		x    uint64 = 1
		size        = 10 * mib
		ring [3]device.Buffer
		peak int64
	)
	for i := range 600 {
		size = drift(&x, size, 1*mib, 10*mib)
		if old := ring[i%3]; old != nil {
			be.Free(old)
		}
		b, err := be.Alloc(device.Float32, size)
		if err != nil {
			t.Fatal(err)
		}
		ring[i%3] = b
		s := be.Stats()
		peak = max(peak, s.LiveBytes)
		if s.LiveBytes+s.CachedBytes > peak+cacheSlack {
			t.Fatalf("step %d: %d live + %d cached > peak %d + slack", i, s.LiveBytes, s.CachedBytes, peak)
		}
	}
	if s := be.Stats(); s.Dropped == 0 {
		t.Fatalf("nothing dropped: %+v", s)
	}
}

// A loop that allocates the same sizes every step reuses its buffers.
func TestCacheSteadyLoop(t *testing.T) {
	be := new(Backend)
	sizes := []int{1 << 16, 3 << 18, 1 << 20, 5 << 19, 1 << 22, 1 << 16, 7 << 20, 1 << 20}
	bufs := make([]device.Buffer, len(sizes))
	var after1 CacheStats
	for step := range 60 {
		for i, n := range sizes {
			b, err := be.Alloc(device.Float32, n)
			if err != nil {
				t.Fatal(err)
			}
			bufs[i] = b
		}
		for _, b := range bufs {
			be.Free(b)
		}
		if step == 0 {
			after1 = be.Stats()
		}
	}
	if s := be.Stats(); s.Misses != after1.Misses || s.Dropped != 0 {
		t.Fatalf("after the first step %+v, at the end %+v: want no more misses", after1, s)
	}
}

// Buffers of a size that is no longer asked for are dropped once an epoch
// has passed without them.
func TestCacheDropsStale(t *testing.T) {
	be := new(Backend)
	old, err := be.Alloc(device.Float64, 1<<20) // 8 MiB
	if err != nil {
		t.Fatal(err)
	}
	be.Free(old)
	for range 200 { // 200 × 4 MiB: more than two epochs
		b, err := be.Alloc(device.Float32, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		be.Free(b)
	}
	if s := be.Stats(); s.CachedBytes != 4<<20 || s.Dropped != 1 {
		t.Fatalf("stats %+v: want only the 4 MiB buffer cached", s)
	}
}
