package gemm

import (
	"bytes"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

var errKernel = errors.New("kernel panic")

// inHelper reports whether the calling goroutine is a helper.
func inHelper() bool {
	buf := make([]byte, 4096)
	return bytes.Contains(buf[:runtime.Stack(buf, false)], []byte("gemm.helper("))
}

// panicImpl returns a portable implementation whose kernel runs fn first.
func panicImpl(fn func()) *impl[float64] {
	return &impl[float64]{name: "panic", mr: 4, nr: 4, kc: 256, mc: 64, nc: 4096,
		kern: func(kc int, a, b, c *float64, ldc int, alpha, beta float64) {
			fn()
			goKernel4x4[float64](kc, a, b, c, ldc, alpha, beta)
		}}
}

func recoverGemm(g *impl[float64], m, n, k int) (r any) {
	defer func() { r = recover() }()
	a := make([]float64, m*k)
	b := make([]float64, k*n)
	c := make([]float64, m*n)
	g.gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	return nil
}

// A panic in a helper goroutine reaches the caller of Dgemm instead of
// crashing the process.
func TestHelperPanic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	defer func(n int) { minParallel = n }(minParallel)
	minParallel = 0
	var helperPanicked atomic.Bool
	g := panicImpl(func() {
		if inHelper() {
			helperPanicked.Store(true)
			panic(errKernel)
		}
		// The caller waits for a helper to take a piece and panic (a
		// bound only so that the test ends if none ever does).
		for end := time.Now().Add(10 * time.Second); !helperPanicked.Load() && time.Now().Before(end); {
			runtime.Gosched()
		}
	})
	r := recoverGemm(g, 256, 256, 64)
	if !helperPanicked.Load() {
		t.Skip("no helper took a piece")
	}
	if err, ok := r.(error); !ok || err != errKernel {
		t.Fatalf("recovered %v, want %v", r, errKernel)
	}
}

// A panic in the calling goroutine waits for the helpers, then reaches the
// caller; later products still work.
func TestCallerPanic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	defer func(n int) { minParallel = n }(minParallel)
	minParallel = 0
	var inKernel atomic.Int32
	g := panicImpl(func() {
		inKernel.Add(1)
		defer inKernel.Add(-1)
		if !inHelper() {
			panic(errKernel)
		}
		runtime.Gosched()
	})
	for range 10 {
		r := recoverGemm(g, 256, 256, 64)
		if err, ok := r.(error); !ok || err != errKernel {
			t.Fatalf("recovered %v, want %v", r, errKernel)
		}
		if n := inKernel.Load(); n != 0 {
			t.Fatalf("%d helpers still running after the panic", n)
		}
	}
	// The helpers still serve other products.
	ok := &impl[float64]{name: "go", mr: 4, nr: 4, kc: 256, mc: 64, nc: 4096, kern: goKernel4x4[float64]}
	if r := recoverGemm(ok, 256, 256, 64); r != nil {
		t.Fatalf("panic %v", r)
	}
}
