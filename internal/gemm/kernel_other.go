//go:build !amd64 || purego

package gemm

// Elsewhere only the portable Go kernels are available: fast32 and fast64
// stay nil.
