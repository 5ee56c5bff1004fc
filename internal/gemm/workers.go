package gemm

import (
	"runtime"
	"sync/atomic"
)

// Helper goroutines. gemm hands pieces 1..p-1 of a product to idle helpers
// over an unbuffered channel; when none is idle it starts a new one, which
// stays (blocked on the channel) for later calls. Handing a piece to a
// helper allocates nothing, unlike a go statement with a closure.

type runner interface{ runPiece(w int) }

type task struct {
	r runner
	w int
}

var (
	tasks   = make(chan task)
	helpers atomic.Int32
)

func dispatch(r runner, w int) {
	select {
	case tasks <- task{r, w}:
		return
	default:
	}
	if int(helpers.Add(1)) <= 4*runtime.NumCPU() {
		go helper(task{r, w})
		return
	}
	helpers.Add(-1)
	go r.runPiece(w)
}

func helper(t task) {
	for {
		t.r.runPiece(t.w)
		t = <-tasks
	}
}
