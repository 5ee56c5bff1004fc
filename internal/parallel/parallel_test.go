package parallel

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
)

type testError struct{ chunk int }

func (e *testError) Error() string { return "test panic" }

var errSentinel = errors.New("sentinel")

// recoverFrom runs fn and returns what it panicked with.
func recoverFrom(fn func()) (r any) {
	defer func() { r = recover() }()
	fn()
	return nil
}

func TestForWorkerPanic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	want := &testError{chunk: 2}
	var done atomic.Int32
	r := recoverFrom(func() {
		For(4, 1, func(lo, hi int) {
			if lo == 2 { // a worker goroutine's chunk, not the caller's
				panic(want)
			}
			done.Add(1)
		})
	})
	if r != any(want) {
		t.Fatalf("recovered %v (%T), want the worker's value %p", r, r, want)
	}
	if err, ok := r.(error); !ok || !errors.Is(err, want) {
		t.Fatalf("recovered %v: not the error", r)
	}
	// Every other chunk has finished before For panicked again.
	if n := done.Load(); n != 3 {
		t.Fatalf("%d chunks had finished when For panicked, want 3", n)
	}
}

func TestForCallerPanic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var done atomic.Int32
	r := recoverFrom(func() {
		For(4, 1, func(lo, hi int) {
			if lo == 0 {
				panic(errSentinel)
			}
			done.Add(1)
		})
	})
	if err, ok := r.(error); !ok || !errors.Is(err, errSentinel) {
		t.Fatalf("recovered %v, want %v", r, errSentinel)
	}
	if n := done.Load(); n != 3 {
		t.Fatalf("%d chunks had finished when For panicked, want 3", n)
	}
}

func TestChunksWorkerPanic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for range 20 {
		r := recoverFrom(func() {
			Chunks(64, func(c int) {
				if c%8 == 5 {
					panic(errSentinel)
				}
			})
		})
		if err, ok := r.(error); !ok || !errors.Is(err, errSentinel) {
			t.Fatalf("recovered %v, want %v", r, errSentinel)
		}
	}
}

func TestForNoPanic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var sum atomic.Int64
	For(1000, 10, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sum.Add(int64(i))
		}
	})
	if s := sum.Load(); s != 999*1000/2 {
		t.Fatalf("sum %d", s)
	}
	var cnt atomic.Int64
	Chunks(100, func(c int) { cnt.Add(1) })
	if cnt.Load() != 100 {
		t.Fatalf("Chunks ran %d", cnt.Load())
	}
}
