//go:build !linux

package cpu

// release is a no-op where the pages of a dropped buffer are left to the
// garbage collector and the runtime's scavenger (see madvise_linux.go).
func (b *Buffer) release() {}
