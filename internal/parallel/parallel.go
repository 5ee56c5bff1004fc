// Package parallel splits loops across goroutines for the CPU backend.
//
// Work below a size threshold runs in the calling goroutine: spawning costs
// about a microsecond, which only pays for loops of tens of thousands of
// elements. Splits never depend on timing, so a loop whose chunks combine in
// a fixed order (reductions) gives the same bits on every run.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers returns how many goroutines a loop may use.
func Workers() int { return runtime.GOMAXPROCS(0) }

// For calls fn on disjoint ranges [lo, hi) covering [0, n). It splits the
// range into at most Workers() pieces of at least grain elements each and
// runs them concurrently; it returns when all calls have returned.
func For(n, grain int, fn func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	p := Workers()
	if q := n / grain; q < p {
		p = q
	}
	if p <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(p - 1)
	for w := 1; w < p; w++ {
		lo, hi := w*n/p, (w+1)*n/p
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, n/p)
	wg.Wait()
}

// Chunks calls fn(c) for every c in [0, count), spreading the calls over up
// to Workers() goroutines (fewer when count is small). Which goroutine runs
// a chunk varies; callers that combine per-chunk results do so by index.
func Chunks(count int, fn func(c int)) {
	p := Workers()
	if count < p {
		p = count
	}
	if p <= 1 {
		for c := 0; c < count; c++ {
			fn(c)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			c := int(next.Add(1) - 1)
			if c >= count {
				return
			}
			fn(c)
		}
	}
	var wg sync.WaitGroup
	wg.Add(p - 1)
	for w := 1; w < p; w++ {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
