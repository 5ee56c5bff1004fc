// Package mode holds the autograd state of each goroutine: whether its
// operations are recorded, whether it is in training mode, whether
// anomaly detection is on, and which half type it autocasts to (package
// amp's Autocast).
//
// It lives in its own package so that package tensor (which reads the
// state on every recorded operation) and package autograd (whose Record,
// Pause, TrainMode and PredictMode change it) need not import each other.
//
// # Per goroutine
//
// A scope (Enter, then Exit by defer in the same goroutine) changes the
// state of the calling goroutine only. A goroutine inside no scope has the
// zero State: not recording, predict mode, no anomaly detection, whatever
// other goroutines do. Scopes of one goroutine nest strictly (they end by
// defer), so Enter returns the state to restore and Exit restores it.
//
// Go has no goroutine-local storage, so the states live in a concurrent
// map keyed by the calling goroutine's identity (the address of its runtime
// descriptor, read by two instructions of assembly on amd64 and arm64; its
// id from the stack header elsewhere). A goroutine's entry exists while it
// is inside a scope and is removed when its outermost scope ends, so the
// map holds only goroutines that are inside a scope.
//
// # Cost
//
// While no goroutine is inside a scope, Current is one atomic load. Else
// it is a map look-up (about 10 ns). Entering and leaving an outermost
// scope adds and removes the map entry (two allocations); inner scopes
// cost a look-up each.
package mode

import (
	"sync"
	"sync/atomic"
)

// State is a goroutine's autograd state, a set of bits.
type State uint32

// The bits of a State.
const (
	RecordBit    State = 1 << iota // operations are recorded
	TrainBit                       // training mode (else predict mode)
	AnomalyBit                     // anomaly detection is on
	AutocastBF16                   // autocast to bfloat16 (amp.Autocast)
	AutocastF16                    // autocast to float16 (amp.Autocast)

	// AutocastBits are the autocast bits: at most one is set.
	AutocastBits = AutocastBF16 | AutocastF16
)

// Has reports whether every bit of b is set in s.
func (s State) Has(b State) bool { return s&b == b }

type gstate struct {
	cur   State
	depth int
	slot  any // Slot's value: package tensor's autocast cast cache
}

var (
	open      atomic.Int32 // goroutines inside at least one scope
	anomalies atomic.Int32 // goroutines whose state has AnomalyBit
	autocasts atomic.Int32 // goroutines whose state has an autocast bit
	states    sync.Map     // self() -> *gstate, only for goroutines inside a scope
)

// Current returns the calling goroutine's state.
func Current() State {
	if open.Load() == 0 {
		return 0
	}
	return lookup()
}

func lookup() State {
	v, ok := states.Load(self())
	if !ok {
		return 0
	}
	return v.(*gstate).cur
}

// Recording reports whether the calling goroutine records operations.
func Recording() bool { return Current()&RecordBit != 0 }

// Training reports whether the calling goroutine is in training mode.
func Training() bool { return Current()&TrainBit != 0 }

// Anomaly reports whether anomaly detection is on in the calling
// goroutine. While no goroutine has it on, it is one atomic load.
func Anomaly() bool {
	if anomalies.Load() == 0 {
		return false
	}
	return lookup()&AnomalyBit != 0
}

// Autocast returns the autocast bits of the calling goroutine's state
// (AutocastBF16, AutocastF16 or 0). While no goroutine autocasts, it is
// one atomic load, so the operations that autocasting changes can read it
// on every call.
func Autocast() State {
	if autocasts.Load() == 0 {
		return 0
	}
	return lookup() & AutocastBits
}

// Slot returns the value the calling goroutine's innermost scope holds in
// its slot (SetSlot), or nil outside every scope. Package tensor keeps its
// autocast cast cache there.
func Slot() any {
	if open.Load() == 0 {
		return nil
	}
	v, ok := states.Load(self())
	if !ok {
		return nil
	}
	return v.(*gstate).slot
}

// SetSlot sets the calling goroutine's slot to v and returns the previous
// value, for the caller to restore (by defer) before its scope ends. It
// must be called inside a scope (after Enter); outside one it does
// nothing and returns nil.
func SetSlot(v any) (prev any) {
	if open.Load() == 0 {
		return nil
	}
	x, ok := states.Load(self())
	if !ok {
		return nil
	}
	g := x.(*gstate)
	prev, g.slot = g.slot, v
	return prev
}

// Enter sets the calling goroutine's state to s and returns the state to
// restore with Exit, which the same goroutine must call (by defer).
func Enter(s State) (prev State) {
	k := self()
	v, ok := states.Load(k)
	if !ok {
		v, _ = states.LoadOrStore(k, new(gstate))
	}
	g := v.(*gstate)
	if g.depth == 0 {
		open.Add(1)
	}
	g.depth++
	prev = g.cur
	g.set(s)
	return prev
}

// Exit ends the calling goroutine's innermost scope, restoring prev (the
// value its Enter returned).
func Exit(prev State) {
	k := self()
	v, ok := states.Load(k)
	if !ok {
		panic("mode: Exit in a goroutine that is inside no scope")
	}
	g := v.(*gstate)
	g.set(prev)
	g.depth--
	if g.depth == 0 {
		states.Delete(k)
		open.Add(-1)
	}
}

func (g *gstate) set(s State) {
	if (g.cur^s)&AnomalyBit != 0 {
		if s&AnomalyBit != 0 {
			anomalies.Add(1)
		} else {
			anomalies.Add(-1)
		}
	}
	if (g.cur&AutocastBits != 0) != (s&AutocastBits != 0) {
		if s&AutocastBits != 0 {
			autocasts.Add(1)
		} else {
			autocasts.Add(-1)
		}
	}
	g.cur = s
}
