//go:build (amd64 || arm64) && gc

package mode

import "unsafe"

// getg returns the runtime's descriptor of the calling goroutine (the g
// that the runtime keeps in a register or thread-local storage). It is in
// assembly because no Go function exposes it.
func getg() unsafe.Pointer

// self identifies the calling goroutine: the address of its runtime
// descriptor. The address stays the same for the goroutine's whole life.
// The runtime reuses the descriptors of goroutines that have exited, which
// is harmless here: a goroutine leaves every scope (they end by defer)
// before it exits, so the state it leaves behind is the default one.
// A pointer in an interface costs no allocation.
func self() any { return getg() }
