// Package mode holds the process-wide autograd state: whether operations
// are being recorded and whether the program is in training mode.
//
// It lives in its own package so that package tensor (which reads the
// state on every operation) and package autograd (whose Record, Pause,
// TrainMode and PredictMode change it) need not import each other.
//
// The state is a stack of scopes in the order they were entered; the
// newest scope still open decides. A goroutine that leaves its scope
// removes its own entry wherever it sits, so scopes of concurrent
// goroutines may end in any order without turning recording off under
// another goroutine's feet. Reading the state is one atomic load.
package mode

import (
	"sync"
	"sync/atomic"
)

const (
	recordingBit = 1 << iota
	trainingBit
)

type entry struct {
	id    uint64
	state uint32
}

var (
	mu     sync.Mutex
	stack  []entry
	nextID uint64
	cur    atomic.Uint32
)

// Recording reports whether operations are being recorded.
func Recording() bool { return cur.Load()&recordingBit != 0 }

// Training reports whether the program is in training mode.
func Training() bool { return cur.Load()&trainingBit != 0 }

// Scope identifies an entered scope.
type Scope uint64

// Enter opens a scope with the given recording and training state.
func Enter(recording, training bool) Scope {
	var s uint32
	if recording {
		s |= recordingBit
	}
	if training {
		s |= trainingBit
	}
	return push(func(uint32) uint32 { return s })
}

// EnterTraining opens a scope that keeps the current recording state and
// sets training mode.
func EnterTraining(training bool) Scope {
	return push(func(old uint32) uint32 {
		if training {
			return old | trainingBit
		}
		return old &^ trainingBit
	})
}

func push(f func(uint32) uint32) Scope {
	mu.Lock()
	defer mu.Unlock()
	nextID++
	s := f(cur.Load())
	stack = append(stack, entry{id: nextID, state: s})
	cur.Store(s)
	return Scope(nextID)
}

// Exit closes a scope opened by Enter or EnterTraining.
func Exit(sc Scope) {
	mu.Lock()
	defer mu.Unlock()
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].id == uint64(sc) {
			stack = append(stack[:i], stack[i+1:]...)
			break
		}
	}
	if n := len(stack); n > 0 {
		cur.Store(stack[n-1].state)
	} else {
		cur.Store(0)
	}
}
