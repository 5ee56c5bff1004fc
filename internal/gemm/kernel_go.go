package gemm

import "unsafe"

// goKernel4x4 is the portable micro-kernel (see kernelFunc) for 4×4 tiles:
// sixteen accumulators, which fit the registers of most targets.
func goKernel4x4[T float](kc int, a, b, c *T, ldc int, alpha, beta T) {
	as := unsafe.Slice(a, kc*4)
	bs := unsafe.Slice(b, kc*4)
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 T
	for p := 0; p < kc; p++ {
		ap := as[p*4 : p*4+4 : p*4+4]
		bp := bs[p*4 : p*4+4 : p*4+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	store4(cs[0:4:4], c00, c01, c02, c03, alpha, beta)
	store4(cs[ldc:ldc+4:ldc+4], c10, c11, c12, c13, alpha, beta)
	store4(cs[2*ldc:2*ldc+4:2*ldc+4], c20, c21, c22, c23, alpha, beta)
	store4(cs[3*ldc:3*ldc+4:3*ldc+4], c30, c31, c32, c33, alpha, beta)
}

func store4[T float](c []T, x0, x1, x2, x3, alpha, beta T) {
	if beta == 0 {
		c[0], c[1], c[2], c[3] = T(alpha*x0), T(alpha*x1), T(alpha*x2), T(alpha*x3)
		return
	}
	c[0] = T(alpha*x0) + T(beta*c[0])
	c[1] = T(alpha*x1) + T(beta*c[1])
	c[2] = T(alpha*x2) + T(beta*c[2])
	c[3] = T(alpha*x3) + T(beta*c[3])
}
