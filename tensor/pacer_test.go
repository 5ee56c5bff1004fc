package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPacerManyGoroutines: goroutines that drop tensors without Release
// keep the bytes of unfreed buffers bounded. With the cleanups that free
// them falling behind many allocating goroutines, the pacer used to set its
// goal from garbage not yet freed, and the goal doubled at every collection
// (16 goroutines, 4-40 MiB tensors: 24 GB, killed, for 1.2 GB live).
func TestPacerManyGoroutines(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocates about 20 GB in total (the race detector shadows it)")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const (
		goroutines = 16
		ring       = 3
		iters      = 300
		elems      = 2 << 20 // 8 MiB float32 tensors
	)
	live := int64(goroutines * ring * elems * 4)
	var high atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
			if v := pacer.outstanding.Load(); v > high.Load() {
				high.Store(v)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held [ring]*Tensor
			for i := range iters {
				held[i%ring] = Zeros([]int{elems + g})
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	// The goal is twice what a collection leaves (the live bytes) or
	// minPacerGoal. Allocations reserve their bytes against it before
	// allocating, so only a goroutine that waited for a collection may
	// pass it: at most one tensor per goroutine beyond it (the old pacer,
	// which checked after adding, reached 2,045 MiB here with 16).
	bound := max(2*live, minPacerGoal) + goroutines*elems*4
	t.Logf("live %d MiB, outstanding at most %d MiB (bound %d MiB)", live>>20, high.Load()>>20, bound>>20)
	if h := high.Load(); h > bound {
		t.Errorf("outstanding reached %d MiB for %d MiB live (bound %d MiB)", h>>20, live>>20, bound>>20)
	}
}
