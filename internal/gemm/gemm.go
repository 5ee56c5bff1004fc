// Package gemm is the CPU backend's matrix product: single- and
// double-precision GEMM in the GotoBLAS/BLIS style.
//
// Sgemm and Dgemm compute C = alpha·op(A)·op(B) + beta·C for row-major
// matrices with the semantics of gonum's blas32/blas64 Gemm (NoTrans/Trans),
// including its argument checks and quick returns: beta == 0 overwrites C
// without reading it, and alpha == 0 or k == 0 only scales C.
//
// # Algorithm
//
// The loops are the five around the micro-kernel of BLIS:
//
//	for jc over N in steps of NC          (KC×NC block of B: L3)
//	  for pc over K in steps of KC
//	    pack B[pc:pc+KC, jc:jc+NC] into KC×NR micro-panels
//	    for ic over M in steps of MC      (MC×KC block of A: L2)
//	      pack A[ic:ic+MC, pc:pc+KC] into MR×KC micro-panels
//	      for jr over the block in steps of NR   (B micro-panel: L1)
//	        for ir over the block in steps of MR
//	          micro-kernel: MR×NR tile of C += A micro-panel · B micro-panel
//
// Packing makes both operands contiguous in the order the kernel reads them
// whatever their transposition, and pads partial panels with zeros, so the
// kernel always computes a full tile; a tile that sticks out of C is
// computed into a scratch tile and copied (fringe). Block sizes are balanced:
// K is cut into ceil(K/KC) equal blocks, and likewise M and N.
//
// On amd64 with AVX2 and FMA the kernels are in assembly (kernel_amd64.s):
// 6×16 tiles for float32 and 6×8 for float64, twelve YMM accumulators each.
// Elsewhere, or with forcePortable set, a 4×4 Go kernel runs inside the same
// blocking and packing.
//
// # Parallelism and determinism
//
// A product large enough is split into GOMAXPROCS pieces along N (whole
// columns of C, each piece packing all of A) when M ≤ N, else along M (each
// piece packing all of B), at tile boundaries. Each element of C is computed
// by exactly one goroutine, as Σ over the K blocks in order of (Σ over the
// block in order, one fused multiply-add per term), and the way a tile is
// written back (alpha·acc and beta·C rounded, then added) is the same in
// the kernel and the fringe code. The K blocking depends only on K, so the
// bits of C do not depend on the number of goroutines, on the split, or on
// where a tile falls. (They do depend on the kernel: the portable path
// differs from the assembly in rounding.)
//
// Packing buffers come from a sync.Pool and the helper goroutines are kept
// between calls, so a call allocates nothing in steady state.
package gemm

import (
	"runtime"
	"sync"
)

type float interface{ ~float32 | ~float64 }

// kernelFunc computes one mr×nr tile of C from packed micro-panels:
//
//	acc[i][j] = Σ_p a[p*mr+i]·b[p*nr+j]   for p = 0, …, kc-1 in order
//	c[i*ldc+j] = T(alpha·acc[i][j]) + T(beta·c[i*ldc+j])
//
// with c[i*ldc+j] = T(alpha·acc[i][j]), C not read, when beta == 0. kc ≥ 1.
type kernelFunc[T float] func(kc int, a, b, c *T, ldc int, alpha, beta T)

// impl is one GEMM implementation: a kernel and its tile and block sizes.
// mc is a multiple of mr and nc of nr.
type impl[T float] struct {
	name               string
	mr, nr, kc, mc, nc int
	kern               kernelFunc[T]
	// Packing routines for full micro-panels of A (mr rows) and B (nr
	// columns), not transposed and transposed; nil: Go loops.
	packAN, packAT, packBN, packBT packFunc[T]

	scratch sync.Pool // *scratch[T]
	jobs    sync.Pool // *job[T]
}

var (
	// The assembly implementations, set by init where the CPU has them.
	fast32 *impl[float32]
	fast64 *impl[float64]

	portable32 = &impl[float32]{name: "go", mr: 4, nr: 4, kc: 256, mc: 128, nc: 4096, kern: goKernel4x4[float32]}
	portable64 = &impl[float64]{name: "go", mr: 4, nr: 4, kc: 256, mc: 64, nc: 4096, kern: goKernel4x4[float64]}

	// forcePortable makes Sgemm and Dgemm use the portable kernels (tests).
	forcePortable bool
	// maxWorkers, if positive, caps the number of goroutines (tests).
	maxWorkers int
)

// minParallel is the m·n·k below which a product runs in the calling
// goroutine: 2^19 multiply-adds are about 10 µs of one core's work, where
// waking a helper goroutine (a few µs) starts to pay. (A variable for the
// tests.)
var minParallel = 1 << 19

func impl32() *impl[float32] {
	if fast32 == nil || forcePortable {
		return portable32
	}
	return fast32
}

func impl64() *impl[float64] {
	if fast64 == nil || forcePortable {
		return portable64
	}
	return fast64
}

// Kernel returns the name of the kernel Sgemm and Dgemm use: "avx2" or
// "go".
func Kernel() string { return impl32().name }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, where op(A) is m×k and
// op(B) is k×n, all row-major: op(X) is X, or Xᵀ if transX. It is gonum's
// blas32.Implementation.Sgemm with blas.NoTrans/blas.Trans, and panics on
// the same bad arguments.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	impl32().gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm for float64 (gonum's blas64 Dgemm).
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	impl64().gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (g *impl[T]) gemm(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m < 0 {
		panic("gemm: m < 0")
	}
	if n < 0 {
		panic("gemm: n < 0")
	}
	if k < 0 {
		panic("gemm: k < 0")
	}
	if tA && lda < max(1, m) || !tA && lda < max(1, k) {
		panic("gemm: bad lda")
	}
	if tB && ldb < max(1, k) || !tB && ldb < max(1, n) {
		panic("gemm: bad ldb")
	}
	if ldc < max(1, n) {
		panic("gemm: bad ldc")
	}
	if m == 0 || n == 0 {
		return
	}
	if tA && len(a) < (k-1)*lda+m || !tA && len(a) < (m-1)*lda+k {
		panic("gemm: insufficient length of a")
	}
	if tB && len(b) < (n-1)*ldb+k || !tB && len(b) < (k-1)*ldb+n {
		panic("gemm: insufficient length of b")
	}
	if len(c) < (m-1)*ldc+n {
		panic("gemm: insufficient length of c")
	}
	if alpha == 0 || k == 0 {
		scale(beta, c, m, n, ldc)
		return
	}

	j, _ := g.jobs.Get().(*job[T])
	if j == nil {
		j = &job[T]{g: g}
	}
	j.tA, j.tB, j.m, j.n, j.k = tA, tB, m, n, k
	j.alpha, j.beta, j.a, j.b, j.c, j.lda, j.ldb, j.ldc = alpha, beta, a, b, c, lda, ldb, ldc
	j.split()
	if j.p == 1 {
		j.compute(0, m, 0, n)
	} else {
		j.wg.Add(j.p - 1)
		for w := 1; w < j.p; w++ {
			dispatch(j, w)
		}
		j.runPiece(0)
		j.wg.Wait()
	}
	j.a, j.b, j.c = nil, nil, nil
	g.jobs.Put(j)
}

// scale sets C = beta·C (C = 0 when beta == 0).
func scale[T float](beta T, c []T, m, n, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// job is one call of gemm, shared by the goroutines working on it.
type job[T float] struct {
	g             *impl[T]
	tA, tB        bool
	m, n, k       int
	alpha, beta   T
	a, b, c       []T
	lda, ldb, ldc int

	p      int  // pieces
	splitN bool // pieces are column ranges (else row ranges)
	units  int  // tiles along the split dimension
	wg     sync.WaitGroup
}

// split chooses the number of pieces and the dimension to cut.
func (j *job[T]) split() {
	g := j.g
	p := runtime.GOMAXPROCS(0)
	if maxWorkers > 0 {
		p = min(p, maxWorkers)
	}
	if float64(j.m)*float64(j.n)*float64(j.k) < float64(minParallel) {
		p = 1
	}
	mt, nt := (j.m+g.mr-1)/g.mr, (j.n+g.nr-1)/g.nr
	// Each piece packs all of the operand that is not cut: cut the
	// dimension of the larger one, unless it has too few tiles.
	j.splitN = j.m <= j.n
	if j.splitN && nt < p && mt > nt || !j.splitN && mt < p && nt > mt {
		j.splitN = !j.splitN
	}
	j.units = mt
	if j.splitN {
		j.units = nt
	}
	j.p = max(1, min(p, j.units))
}

func (j *job[T]) runPiece(w int) {
	lo, hi := w*j.units/j.p, (w+1)*j.units/j.p
	if j.splitN {
		j.compute(0, j.m, lo*j.g.nr, min(hi*j.g.nr, j.n))
	} else {
		j.compute(lo*j.g.mr, min(hi*j.g.mr, j.m), 0, j.n)
	}
	if w != 0 {
		j.wg.Done()
	}
}

// blocks returns the block size for cutting total into blocks of at most
// bmax (a multiple of unit) of equal size, rounded up to a multiple of unit.
func blocks(total, bmax, unit int) int {
	nb := (total + bmax - 1) / bmax
	b := (total + nb - 1) / nb
	return (b + unit - 1) / unit * unit
}

type scratch[T float] struct {
	a, b, tile []T
}

// compute does C[m0:m1, n0:n1] in the calling goroutine.
func (j *job[T]) compute(m0, m1, n0, n1 int) {
	g := j.g
	mr, nr := g.mr, g.nr
	kcB := blocks(j.k, g.kc, 1)
	mcB := blocks(m1-m0, g.mc, mr)
	ncB := blocks(n1-n0, g.nc, nr)

	s, _ := g.scratch.Get().(*scratch[T])
	if s == nil {
		s = new(scratch[T])
	}
	s.a = grow(s.a, mcB*kcB)
	s.b = grow(s.b, ncB*kcB)
	s.tile = grow(s.tile, mr*nr)

	for jc := n0; jc < n1; jc += ncB {
		nc := min(ncB, n1-jc)
		for pc := 0; pc < j.k; pc += kcB {
			kc := min(kcB, j.k-pc)
			g.packB(s.b, j.b, j.ldb, j.tB, pc, kc, jc, nc)
			beta := j.beta
			if pc > 0 {
				beta = 1
			}
			for ic := m0; ic < m1; ic += mcB {
				mc := min(mcB, m1-ic)
				g.packA(s.a, j.a, j.lda, j.tA, ic, mc, pc, kc)
				g.macroKernel(s, mc, nc, kc, j.c[ic*j.ldc+jc:], j.ldc, j.alpha, beta)
			}
		}
	}
	g.scratch.Put(s)
}

func grow[T float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// macroKernel multiplies the packed mc×kc block of A by the packed kc×nc
// block of B into the mc×nc block of C at c.
func (g *impl[T]) macroKernel(s *scratch[T], mc, nc, kc int, c []T, ldc int, alpha, beta T) {
	mr, nr := g.mr, g.nr
	for jr := 0; jr < nc; jr += nr {
		nw := min(nr, nc-jr)
		bp := &s.b[jr*kc]
		for ir := 0; ir < mc; ir += mr {
			mh := min(mr, mc-ir)
			ap := &s.a[ir*kc]
			if mh == mr && nw == nr {
				g.kern(kc, ap, bp, &c[ir*ldc+jr], ldc, alpha, beta)
				continue
			}
			g.kern(kc, ap, bp, &s.tile[0], nr, 1, 0)
			update(c[ir*ldc+jr:], ldc, s.tile, nr, mh, nw, alpha, beta)
		}
	}
}

// update writes the top-left mh×nw corner of the tile t (row stride nr)
// into C as the kernels do: C = T(alpha·t) + T(beta·C). The conversions
// keep the compiler from fusing the multiply and add, so the bits match
// the assembly's.
func update[T float](c []T, ldc int, t []T, nr, mh, nw int, alpha, beta T) {
	for i := 0; i < mh; i++ {
		row := c[i*ldc : i*ldc+nw]
		tr := t[i*nr : i*nr+nw]
		if beta == 0 {
			for j := range row {
				row[j] = T(alpha * tr[j])
			}
			continue
		}
		for j := range row {
			row[j] = T(alpha*tr[j]) + T(beta*row[j])
		}
	}
}
