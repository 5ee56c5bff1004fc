package gemm

import (
	"runtime"
	"sync/atomic"
)

// Helper goroutines.
//
// gemm offers pieces of a product to helper goroutines through a buffered
// channel and works on the product itself meanwhile; the goroutines share
// the work through the job's unit counter. A helper claims its piece when
// it starts; once the caller has run out of units it revokes the pieces no
// helper has claimed, so it never waits for a helper that has not started
// (waking a parked thread takes 0.1 to several ms on this kind of virtual
// machine). Helpers do not spin between pieces: in a training step that
// did not make products faster, and a spinning goroutine keeps its P from
// stealing the other goroutines of the program.
//
// Handing a piece to a helper allocates nothing.
//
// A panic in a piece does not end the helper or the process: runPiece
// recovers it into the job, which stops handing out units, waits for its
// pieces and panics again with the first value in the caller of Sgemm or
// Dgemm.

type runner interface{ runPiece(w int, gen uint64) }

type task struct {
	r   runner
	w   int
	gen uint64
}

var (
	tasks   = make(chan task, 64)
	helpers atomic.Int32
)

// offer hands t to a helper if the queue has room, starting helpers up to
// GOMAXPROCS-1 first.
func offer(t task) bool {
	for want := int32(runtime.GOMAXPROCS(0) - 1); ; {
		h := helpers.Load()
		if h >= want {
			break
		}
		if helpers.CompareAndSwap(h, h+1) {
			go helper()
		}
	}
	select {
	case tasks <- t:
		return true
	default:
		return false
	}
}

func helper() {
	for t := range tasks {
		t.r.runPiece(t.w, t.gen)
	}
}

// Claim states of a piece, in the low bits of a word whose high bits are
// the job's generation.
const (
	pieceOffered = iota
	pieceClaimed
	pieceRevoked
)

// maxPieces caps the goroutines on one product.
const maxPieces = 64
