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
// The loops are those around the micro-kernel of BLIS/GotoBLAS. With A
// the shared operand (m ≤ n), each unit of columns [n0, n1) of C (at most
// NC wide) does
//
//	for pc over K in steps of KC
//	  pack B[pc:pc+KC, n0:n1] into KC×NR micro-panels   (KC×NC block: L2/L3)
//	  for ic over M in steps of MC
//	    packed A[ic:ic+MC, pc:pc+KC] (MR×KC micro-panels, shared)  (L2)
//	    for jr in steps of NR                            (B micro-panel: L1)
//	      for ir in steps of MR
//	        micro-kernel: MR×NR tile of C = A micro-panel · B micro-panel
//
// and with B shared (m > n), each unit of rows [m0, m1) of C packs its own
// MC×KC blocks of A and multiplies them by the shared packed blocks of B,
// 8·NR columns at a time.
//
// Packing makes both operands contiguous in the order the kernel reads them
// whatever their transposition, and pads partial panels with zeros, so the
// kernel always computes a full tile; a tile that sticks out of C is
// computed into a scratch tile and copied (fringe). Block sizes are balanced:
// K is cut into ceil(K/KC) equal blocks, and likewise M.
//
// On amd64 with AVX2 and FMA the kernels are in assembly (kernel_amd64.s):
// 6×16 tiles for float32 and 6×8 for float64, twelve YMM accumulators each.
// Elsewhere, or with forcePortable set, a 4×4 Go kernel runs inside the same
// blocking and packing.
//
// # Parallelism and determinism
//
// A product of at least minParallel multiply-adds is shared by up to
// GOMAXPROCS goroutines (see job). The smaller operand is packed once into
// a shared buffer (each block by the first goroutine that needs it); the
// other dimension of C is cut, at tile boundaries, into about three units
// per goroutine, which the goroutines take from a counter, so one that gets
// less of the CPU delays the others by at most a unit, and one that starts
// late finds less to do (the caller does not wait for helpers that have
// not started; see workers.go). Each element of C is
// computed by exactly one goroutine, as Σ over the K blocks in order of
// (Σ over the block in order, one fused multiply-add per term), and a tile
// is written back the same way by the kernel and by the fringe code
// (alpha·acc and beta·C rounded, then added). The K blocking depends only on
// K, so the bits of C do not depend on the number of goroutines, on which
// goroutine did which unit, or on where a tile falls. (They do depend on
// the kernel: the portable path rounds differently from the assembly.)
//
// SgemmHalf takes A and B as 16-bit bits (bfloat16, float16) and widens
// them to float32 as it packs them, through the same blocking and kernels,
// so that C is the same bits as Sgemm's of float32 copies.
//
// Packing buffers come from a sync.Pool and the helper goroutines are kept
// between calls, so a call allocates nothing in steady state.
package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tapegrad/tapegrad/internal/parallel"
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
// goroutine: 2^20 multiply-adds are about 25 µs of one core's work, while
// a parked helper takes 0.1 ms or more to wake on a virtual machine like
// this one, so it would rarely arrive in time and would burn CPU in the
// scheduler. (A variable for the tests.)
var minParallel = 1 << 20

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
// blas32.Implementation.Sgemm with blas.NoTrans/blas.Trans, and panics in
// the same cases of bad arguments.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	impl32().gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm for float64 (gonum's blas64 Dgemm).
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	impl64().gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm computed in the calling goroutine only, whatever
// its size: for callers that already run many products at once, one per
// goroutine (the results are the same bits as Sgemm's).
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	impl32().gemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true)
}

// SgemmHalf is Sgemm with alpha 1 and beta 0 for A and B stored in a
// 16-bit format (bfloat16 or float16 bits), which widen converts to
// float32 exactly (widen(d, s) writes len(d) values from s): the elements
// are widened as the panels are packed, with no float32 copy of A or B.
// C is the same bits as Sgemm's of the widened A and B.
func SgemmHalf(transA, transB bool, m, n, k int, a []uint16, lda int, b []uint16, ldb int, c []float32, ldc int, widen func(d []float32, s []uint16)) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	g := impl32()
	if k == 0 {
		scale(0, c, m, n, ldc)
		return
	}
	j, _ := g.jobs.Get().(*job[float32])
	if j == nil {
		j = &job[float32]{g: g}
	}
	j.tA, j.tB, j.m, j.n, j.k, j.serial = transA, transB, m, n, k, false
	j.alpha, j.beta, j.a, j.b, j.c, j.lda, j.ldb, j.ldc = 1, 0, nil, nil, c, lda, ldb, ldc
	j.ha, j.hb, j.widen = a, b, widen
	j.run()
	j.c, j.ha, j.hb, j.widen = nil, nil, nil, nil
	g.jobs.Put(j)
}

// DgemmSerial is Dgemm in the calling goroutine only (see SgemmSerial).
func DgemmSerial(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	impl64().gemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true)
}

func (g *impl[T]) gemm(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	g.gemmSerial(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false)
}

// gemmSerial is gemm, in the calling goroutine only if serial.
func (g *impl[T]) gemmSerial(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, serial bool) {
	checkArgs(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(beta, c, m, n, ldc)
		return
	}

	j, _ := g.jobs.Get().(*job[T])
	if j == nil {
		j = &job[T]{g: g}
	}
	j.tA, j.tB, j.m, j.n, j.k, j.serial = tA, tB, m, n, k, serial
	j.alpha, j.beta, j.a, j.b, j.c, j.lda, j.ldb, j.ldc = alpha, beta, a, b, c, lda, ldb, ldc
	j.run()
	j.a, j.b, j.c = nil, nil, nil
	g.jobs.Put(j)
}

// checkArgs panics as gonum's Gemm does for bad arguments (lengths of the
// operands as la, lb, lc).
func checkArgs(tA, tB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
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
	if tA && la < (k-1)*lda+m || !tA && la < (m-1)*lda+k {
		panic("gemm: insufficient length of a")
	}
	if tB && lb < (n-1)*ldb+k || !tB && lb < (k-1)*ldb+n {
		panic("gemm: insufficient length of b")
	}
	if lc < (m-1)*ldc+n {
		panic("gemm: insufficient length of c")
	}
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
//
// The smaller operand (A when m ≤ n, else B) is shared: each of its packed
// blocks is packed once, by the first goroutine that needs it, into a
// buffer all of them read. The other dimension is cut into units (column
// ranges of C when A is shared, row ranges when B is), which the
// goroutines take in turn from a counter, packing their part of the other
// operand themselves. A goroutine that finds a shared block still being
// packed by another waits briefly, then packs a private copy.
//
// Rows (or columns) of C beyond what a shared buffer of sharedMax elements
// holds are done in successive super-blocks.
type job[T float] struct {
	g             *impl[T]
	tA, tB        bool
	m, n, k       int
	alpha, beta   T
	a, b, c       []T
	lda, ldb, ldc int

	// SgemmHalf: A and B as 16-bit bits (a and b nil), widened to T
	// while packing.
	ha, hb []uint16
	widen  func(d []T, s []uint16)

	serial bool // computed by the calling goroutine alone
	splitN bool // units are column ranges and A is shared (else rows, B)
	p      int  // goroutines
	kcB    int  // K block
	sbB    int  // block of the shared operand along its M (N) dimension
	s0, s1 int  // super-block: rows (columns) of C whose shared blocks are packed
	tiles  int  // tiles of the unit dimension
	units  int  // units, each a range of tiles
	next   atomic.Int64

	shared []T
	state  []atomic.Uint32 // per shared block: 0 not packed, 1 being packed, 2 packed

	// Pieces offered to helpers: claims[w] holds gen<<2 | pieceOffered,
	// pieceClaimed or pieceRevoked; gen changes with every round, so a
	// helper that comes late to an old round claims nothing.
	gen    uint64
	claims [maxPieces]atomic.Uint64
	wg     sync.WaitGroup
	pc     parallel.Catcher // the first panic of the job's goroutines
}

// sharedMax caps the shared packed operand (elements; a variable for the
// tests).
var sharedMax = 1 << 21

const (
	blockEmpty uint32 = iota
	blockPacking
	blockReady
)

func (j *job[T]) run() {
	g := j.g
	p := runtime.GOMAXPROCS(0)
	if maxWorkers > 0 {
		p = min(p, maxWorkers)
	}
	if j.serial || float64(j.m)*float64(j.n)*float64(j.k) < float64(minParallel) {
		p = 1
	}
	mt, nt := (j.m+g.mr-1)/g.mr, (j.n+g.nr-1)/g.nr
	// Share the smaller operand, unless the other dimension has too few
	// tiles to go round.
	j.splitN = j.m <= j.n
	if j.splitN && nt < p && mt > nt || !j.splitN && mt < p && nt > mt {
		j.splitN = !j.splitN
	}
	j.kcB = blocks(j.k, g.kc, 1)
	nK := (j.k + j.kcB - 1) / j.kcB

	// Units: about three per goroutine, so that one that gets less of
	// the CPU (the machine may be shared) holds up the others little, but
	// of at least 4 tiles where there are enough (every unit reads all of
	// the shared operand), and for column units at most NC wide.
	j.tiles = nt
	sharedLen, sbUnit, sbMax, maxUnit := j.m, g.mr, g.mc, g.nc/g.nr
	if !j.splitN {
		j.tiles = mt
		sharedLen, sbUnit, sbMax, maxUnit = j.n, g.nr, 8*g.nr, j.tiles
	}
	w := (j.tiles + 3*p - 1) / (3 * p)
	w = max(w, min(4, (j.tiles+p-1)/p))
	if p == 1 {
		w = maxUnit
	}
	w = max(1, min(w, maxUnit))
	j.units = (j.tiles + w - 1) / w
	j.p = max(1, min(p, j.units, maxPieces))

	// Super-blocks of the shared dimension.
	sb := max(sbUnit, sharedMax/max(1, j.k)/sbUnit*sbUnit)
	for j.s0 = 0; j.s0 < sharedLen; j.s0 += sb {
		j.s1 = min(j.s0+sb, sharedLen)
		j.sbB = blocks(j.s1-j.s0, sbMax, sbUnit)
		nSB := (j.s1 - j.s0 + j.sbB - 1) / j.sbB
		pad := (j.s1 - j.s0 + sbUnit - 1) / sbUnit * sbUnit
		j.shared = grow(j.shared, nK*pad*j.kcB)
		if cap(j.state) < nK*nSB {
			j.state = make([]atomic.Uint32, nK*nSB)
		}
		j.state = j.state[:nK*nSB]
		for i := range j.state {
			j.state[i].Store(blockEmpty)
		}
		j.next.Store(0)
		j.gen++
		offered := 1
		for ; offered < j.p; offered++ {
			j.claims[offered].Store(j.gen<<2 | pieceOffered)
			j.wg.Add(1)
			if !offer(task{j, offered, j.gen}) {
				j.wg.Done()
				break
			}
		}
		j.pc.Run(j.work)
		for w := 1; w < offered; w++ {
			if j.claims[w].CompareAndSwap(j.gen<<2|pieceOffered, j.gen<<2|pieceRevoked) {
				j.wg.Done()
			}
		}
		j.wg.Wait()
		// A panicking job is not put back in the pool (the panic unwinds
		// through gemm), so its Catcher is never reused.
		j.pc.Repanic()
	}
}

// runPiece is a helper goroutine's share of round gen of the job, if the
// round is still on and the caller has not revoked it.
func (j *job[T]) runPiece(w int, gen uint64) {
	if !j.claims[w].CompareAndSwap(gen<<2|pieceOffered, gen<<2|pieceClaimed) {
		return
	}
	defer j.wg.Done()
	defer j.pc.Catch()
	j.work()
}

// work does units until there are none left.
func (j *job[T]) work() {
	g := j.g
	s, _ := g.scratch.Get().(*scratch[T])
	if s == nil {
		s = new(scratch[T])
	}
	unitMax := (j.tiles + j.units - 1) / j.units
	if j.splitN {
		s.a = grow(s.a, j.sbB*j.kcB)
		s.b = grow(s.b, unitMax*g.nr*j.kcB)
	} else {
		s.a = grow(s.a, min(unitMax*g.mr, g.mc)*j.kcB)
		s.b = grow(s.b, j.sbB*j.kcB)
	}
	s.tile = grow(s.tile, g.mr*g.nr)
	for !j.pc.Panicked() {
		u := int(j.next.Add(1) - 1)
		if u >= j.units {
			break
		}
		lo, hi := u*j.tiles/j.units, (u+1)*j.tiles/j.units
		if j.splitN {
			j.columns(s, u, lo*g.nr, min(hi*g.nr, j.n))
		} else {
			j.rows(s, u, lo*g.mr, min(hi*g.mr, j.m))
		}
	}
	g.scratch.Put(s)
}

// columns computes C[s0:s1, n0:n1] (a column unit; A shared).
func (j *job[T]) columns(s *scratch[T], u, n0, n1 int) {
	g := j.g
	nc := n1 - n0
	nSB := (j.s1 - j.s0 + j.sbB - 1) / j.sbB
	pad := (j.s1 - j.s0 + g.mr - 1) / g.mr * g.mr
	for pc, pi := 0, 0; pc < j.k; pc, pi = pc+j.kcB, pi+1 {
		kc := min(j.kcB, j.k-pc)
		j.packB(s, s.b, pc, kc, n0, nc)
		beta := j.beta
		if pc > 0 {
			beta = 1
		}
		// Units running at the same time start at different blocks.
		for t := 0; t < nSB; t++ {
			bi := (t + u) % nSB
			ic := j.s0 + bi*j.sbB
			mc := min(j.sbB, j.s1-ic)
			off := pi*pad*j.kcB + bi*j.sbB*kc
			ap := j.sharedBlock(pi*nSB+bi, j.shared[off:off+(mc+g.mr-1)/g.mr*g.mr*kc], s.a, func(dst []T) {
				j.packA(s, dst, ic, mc, pc, kc)
			})
			g.macroKernel(ap, s.b, s.tile, mc, nc, kc, j.c[ic*j.ldc+n0:], j.ldc, j.alpha, beta)
		}
	}
}

// rows computes C[m0:m1, s0:s1] (a row unit; B shared).
func (j *job[T]) rows(s *scratch[T], u, m0, m1 int) {
	g := j.g
	mcB := blocks(m1-m0, g.mc, g.mr)
	nSB := (j.s1 - j.s0 + j.sbB - 1) / j.sbB
	pad := (j.s1 - j.s0 + g.nr - 1) / g.nr * g.nr
	for pc, pi := 0, 0; pc < j.k; pc, pi = pc+j.kcB, pi+1 {
		kc := min(j.kcB, j.k-pc)
		beta := j.beta
		if pc > 0 {
			beta = 1
		}
		for ic := m0; ic < m1; ic += mcB {
			mc := min(mcB, m1-ic)
			j.packA(s, s.a, ic, mc, pc, kc)
			for t := 0; t < nSB; t++ {
				bi := (t + u) % nSB
				jc := j.s0 + bi*j.sbB
				nc := min(j.sbB, j.s1-jc)
				off := pi*pad*j.kcB + bi*j.sbB*kc
				bp := j.sharedBlock(pi*nSB+bi, j.shared[off:off+(nc+g.nr-1)/g.nr*g.nr*kc], s.b, func(dst []T) {
					j.packB(s, dst, pc, kc, jc, nc)
				})
				g.macroKernel(s.a, bp, s.tile, mc, nc, kc, j.c[ic*j.ldc+jc:], j.ldc, j.alpha, beta)
			}
		}
	}
}

// sharedBlock returns shared block i, packing it into dst with pack if no
// one has; if another goroutine is packing it and does not finish soon, it
// packs a private copy into priv instead. Either way the contents are the
// same.
func (j *job[T]) sharedBlock(i int, dst, priv []T, pack func([]T)) []T {
	st := &j.state[i]
	if st.Load() == blockReady {
		return dst
	}
	if st.CompareAndSwap(blockEmpty, blockPacking) {
		pack(dst)
		st.Store(blockReady)
		return dst
	}
	for spin := 0; spin < 200; spin++ {
		runtime.Gosched()
		if st.Load() == blockReady {
			return dst
		}
	}
	priv = priv[:len(dst)]
	pack(priv)
	return priv
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
	row        []T // a widened row of a 16-bit operand (packHalf)
}

func grow[T float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// macroKernel multiplies the packed mc×kc block of A in ap by the packed
// kc×nc block of B in bp into the mc×nc block of C at c.
func (g *impl[T]) macroKernel(ap, bp, tile []T, mc, nc, kc int, c []T, ldc int, alpha, beta T) {
	mr, nr := g.mr, g.nr
	for jr := 0; jr < nc; jr += nr {
		nw := min(nr, nc-jr)
		b := &bp[jr*kc]
		for ir := 0; ir < mc; ir += mr {
			mh := min(mr, mc-ir)
			a := &ap[ir*kc]
			if mh == mr && nw == nr {
				g.kern(kc, a, b, &c[ir*ldc+jr], ldc, alpha, beta)
				continue
			}
			g.kern(kc, a, b, &tile[0], nr, 1, 0)
			update(c[ir*ldc+jr:], ldc, tile, nr, mh, nw, alpha, beta)
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
