// Package parallel splits loops across goroutines for the CPU backend.
//
// Work below a size threshold runs in the calling goroutine: spawning costs
// about a microsecond, which only pays for loops of tens of thousands of
// elements. Splits never depend on timing, so a loop whose chunks combine in
// a fixed order (reductions) gives the same bits on every run.
//
// A panic in fn, in any goroutine, does not crash the process: the
// goroutines stop taking new work, the loop waits for every goroutine to
// return, and then panics again in the calling goroutine with the first
// value that was recovered, so that the caller's recover sees it unchanged
// (the worker's stack trace is lost). Where a chunk panics, others may
// or may not have run.
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
	var (
		wg sync.WaitGroup
		pc Catcher
	)
	wg.Add(p - 1)
	for w := 1; w < p; w++ {
		lo, hi := w*n/p, (w+1)*n/p
		go func() {
			defer wg.Done()
			defer pc.Catch()
			fn(lo, hi)
		}()
	}
	pc.Run(func() { fn(0, n/p) })
	wg.Wait()
	pc.Repanic()
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
	var (
		next atomic.Int64
		pc   Catcher
	)
	work := func() {
		for !pc.Panicked() {
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
			defer pc.Catch()
			work()
		}()
	}
	pc.Run(work)
	wg.Wait()
	pc.Repanic()
}

// Catcher collects the first panic of a group of goroutines so that the
// goroutine that waits for the group can panic again with it. The zero
// value is ready to use; a Catcher must not be copied after first use.
//
// Every goroutine of the group defers Catch (directly: recover only works in
// a function that the panicking goroutine defers); the waiting goroutine runs
// its own share through Run, waits for the others and then calls Repanic.
type Catcher struct {
	mu    sync.Mutex
	done  atomic.Bool
	value any
}

// Catch recovers a panic of the calling goroutine and records it if it is
// the first. It must be called directly by a deferred call
// (defer c.Catch()).
func (c *Catcher) Catch() {
	if r := recover(); r != nil {
		c.record(r)
	}
}

func (c *Catcher) record(r any) {
	c.mu.Lock()
	if !c.done.Load() {
		c.value = r
		c.done.Store(true)
	}
	c.mu.Unlock()
}

// Run calls fn, recording a panic of fn instead of letting it unwind.
func (c *Catcher) Run(fn func()) {
	defer c.Catch()
	fn()
}

// Panicked reports whether a panic has been recorded (goroutines use it to
// stop taking new work early).
func (c *Catcher) Panicked() bool { return c.done.Load() }

// Repanic panics with the first recorded value, if any. Call it after every
// goroutine of the group has returned.
func (c *Catcher) Repanic() {
	if c.done.Load() {
		c.mu.Lock()
		v := c.value
		c.mu.Unlock()
		panic(v)
	}
}
