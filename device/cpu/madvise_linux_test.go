package cpu

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// residentBytes returns the process's resident set, from /proc/self/statm.
func residentBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(syscall.Getpagesize())
}

// A buffer the cache drops beyond its slack leaves the resident set at
// once, instead of staying resident as Go garbage until a collection and
// the runtime's scavenger (issue 11: the drifting workload's resident set
// was twice its accounted bytes).
func TestDropGivesPagesBack(t *testing.T) {
	be := &Backend{}
	const n = 64 << 20 // 256 MiB of float32
	b, err := be.Alloc(device.Float32, n)
	if err != nil {
		t.Fatal(err)
	}
	s := b.(*Buffer).Float32s()
	for i := range s {
		s[i] = 1
	}
	be.Free(b)
	before := residentBytes(t)
	be.EmptyCache() // drops it: over cacheSlack, so its pages go back
	after := residentBytes(t)
	t.Logf("resident %d MiB before the drop, %d MiB after", before>>20, after>>20)
	if before-after < n*4*3/4 {
		t.Errorf("dropping a %d MiB buffer gave back %d MiB", n*4>>20, (before-after)>>20)
	}
	// The buffer is still Go memory: reading it is harmless (zeros).
	if s[0] != 0 || s[n-1] != 0 {
		t.Errorf("a released buffer reads %v, %v; want zeros", s[0], s[n-1])
	}
}
