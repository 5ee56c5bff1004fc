package cpu

import (
	"syscall"
	"unsafe"
)

// release gives the pages of a buffer that the cache drops back to the
// operating system at once (madvise MADV_DONTNEED), rather than when the
// garbage collector has freed the buffer and the runtime's scavenger gets
// to its memory. The buffer stays valid Go memory (its pages read as
// zeros until written again), so nothing that still held it could fault;
// only whole pages inside it are given back. See [cache.dropOldest] for
// when the cache calls it.
func (b *Buffer) release() {
	var p unsafe.Pointer
	var n uintptr
	switch {
	case cap(b.f32) > 0:
		p, n = unsafe.Pointer(unsafe.SliceData(b.f32[:1])), uintptr(cap(b.f32))*4
	case cap(b.f64) > 0:
		p, n = unsafe.Pointer(unsafe.SliceData(b.f64[:1])), uintptr(cap(b.f64))*8
	case cap(b.i32) > 0:
		p, n = unsafe.Pointer(unsafe.SliceData(b.i32[:1])), uintptr(cap(b.i32))*4
	case cap(b.i64) > 0:
		p, n = unsafe.Pointer(unsafe.SliceData(b.i64[:1])), uintptr(cap(b.i64))*8
	case cap(b.u16) > 0:
		p, n = unsafe.Pointer(unsafe.SliceData(b.u16[:1])), uintptr(cap(b.u16))*2
	default:
		return
	}
	page := uintptr(syscall.Getpagesize())
	start := (uintptr(p) + page - 1) &^ (page - 1)
	end := (uintptr(p) + n) &^ (page - 1)
	if end <= start {
		return
	}
	mem := unsafe.Slice((*byte)(unsafe.Add(p, start-uintptr(p))), end-start)
	_ = syscall.Madvise(mem, syscall.MADV_DONTNEED) // advice: nothing to do if refused
}
