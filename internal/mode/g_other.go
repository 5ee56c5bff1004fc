//go:build !((amd64 || arm64) && gc)

package mode

// self identifies the calling goroutine by its id (see stackID). This is
// the slow, portable path (about a microsecond) for architectures without
// the assembly one; it is taken only while some goroutine is inside a scope.
func self() any { return stackID() }
