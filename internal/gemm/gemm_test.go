package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var raceEnabled bool

// paths runs f once per implementation available here: the portable Go
// kernels and, on a machine that has them, the assembly ones.
func paths(t *testing.T, f func(t *testing.T)) {
	t.Run("go", func(t *testing.T) {
		forcePortable = true
		defer func() { forcePortable = false }()
		f(t)
	})
	if fast32 != nil {
		t.Run("avx2", f)
	} else {
		t.Log("no assembly kernels on this machine: only the portable path is tested")
	}
}

func gemmT[T float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch any(alpha).(type) {
	case float32:
		Sgemm(tA, tB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	default:
		Dgemm(tA, tB, m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

func eps[T float]() float64 {
	var x T
	if _, ok := any(x).(float32); ok {
		return 0x1p-24
	}
	return 0x1p-53
}

func randSlice[T float](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.NormFloat64())
	}
	return s
}

type problem struct {
	tA, tB        bool
	m, n, k       int
	lda, ldb, ldc int
	alpha, beta   float64
}

func (p problem) String() string {
	tr := func(t bool) string {
		if t {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_%dx%dx%d_ld%d,%d,%d_a%g_b%g", tr(p.tA), tr(p.tB), p.m, p.n, p.k, p.lda, p.ldb, p.ldc, p.alpha, p.beta)
}

// check runs one product and compares it with a float64 dot product per
// element (all of them, or a sample for large products), with a tolerance
// relative to alpha·Σ|a||b| + |beta·c|. It also checks that C's padding
// is untouched, that C is not read when beta == 0 and A and B are not
// read when alpha == 0.
func check[T float](t *testing.T, r *rand.Rand, p problem) {
	t.Helper()
	ar, ac := p.m, p.k
	if p.tA {
		ar, ac = ac, ar
	}
	br, bc := p.k, p.n
	if p.tB {
		br, bc = bc, br
	}
	a := randSlice[T](r, max(0, (ar-1)*p.lda+ac))
	b := randSlice[T](r, max(0, (br-1)*p.ldb+bc))
	c := randSlice[T](r, max(0, (p.m-1)*p.ldc+p.n))
	if p.alpha == 0 {
		for i := range a {
			a[i] = T(math.NaN())
		}
		for i := range b {
			b[i] = T(math.NaN())
		}
	}
	const pad = -12345
	for i := 0; i < p.m; i++ {
		for j := p.n; j < p.ldc && i*p.ldc+j < len(c); j++ {
			c[i*p.ldc+j] = pad
		}
	}
	if p.beta == 0 {
		for i := 0; i < p.m; i++ {
			for j := 0; j < p.n; j++ {
				c[i*p.ldc+j] = T(math.NaN())
			}
		}
	}
	c0 := append([]T(nil), c...)
	gemmT(p.tA, p.tB, p.m, p.n, p.k, T(p.alpha), a, p.lda, b, p.ldb, T(p.beta), c, p.ldc)

	// op(A) by rows and op(B) by columns, in float64.
	opA, opB := make([]float64, p.m*p.k), make([]float64, p.n*p.k)
	for i := 0; i < p.m; i++ {
		for l := 0; l < p.k; l++ {
			if p.tA {
				opA[i*p.k+l] = float64(a[l*p.lda+i])
			} else {
				opA[i*p.k+l] = float64(a[i*p.lda+l])
			}
		}
	}
	for j := 0; j < p.n; j++ {
		for l := 0; l < p.k; l++ {
			if p.tB {
				opB[j*p.k+l] = float64(b[j*p.ldb+l])
			} else {
				opB[j*p.k+l] = float64(b[l*p.ldb+j])
			}
		}
	}
	errs := 0
	elem := func(i, j int) {
		var s, abs float64
		if p.alpha != 0 {
			x, y := opA[i*p.k:(i+1)*p.k], opB[j*p.k:(j+1)*p.k]
			for l, v := range x {
				s += v * y[l]
				abs += math.Abs(v * y[l])
			}
		}
		want := p.alpha * s
		bound := math.Abs(p.alpha) * abs
		if p.beta != 0 {
			cv := float64(c0[i*p.ldc+j])
			want += p.beta * cv
			bound += math.Abs(p.beta * cv)
		}
		tol := float64(p.k+4) * eps[T]() * bound
		got := float64(c[i*p.ldc+j])
		if !(math.Abs(got-want) <= tol) && errs < 5 {
			errs++
			t.Errorf("%v: C[%d,%d] = %v, want %v (tolerance %.3g)", p, i, j, got, want, tol)
		}
	}
	if p.m*p.n*p.k <= 1<<21 {
		for i := 0; i < p.m; i++ {
			for j := 0; j < p.n; j++ {
				elem(i, j)
			}
		}
	} else {
		// Corners, edges and a sample of the rest.
		for _, i := range []int{0, p.m - 1} {
			for j := 0; j < p.n; j++ {
				elem(i, j)
			}
		}
		for _, j := range []int{0, p.n - 1} {
			for i := 0; i < p.m; i++ {
				elem(i, j)
			}
		}
		for s := 0; s < 500; s++ {
			elem(r.IntN(p.m), r.IntN(p.n))
		}
	}
	for i := 0; i < p.m; i++ {
		for j := p.n; j < p.ldc && i*p.ldc+j < len(c); j++ {
			if c[i*p.ldc+j] != pad {
				t.Fatalf("%v: padding C[%d,%d] overwritten", p, i, j)
			}
		}
	}
}

// shapes are m, n, k: degenerate, odd, around the tile sizes (6×16, 6×8,
// 4×4) and block sizes (KC 256, MC 144/72/128/64, NC 4080/4096), and the
// MLP's products.
var shapes = [][3]int{
	{1, 1, 1}, {1, 1, 0}, {3, 5, 0}, {1, 1, 7}, {1, 40, 9}, {37, 1, 9}, {7, 13, 5},
	{6, 16, 1}, {6, 16, 4}, {6, 16, 5}, {5, 15, 3}, {7, 17, 6}, {12, 32, 8}, {6, 8, 3},
	{65, 129, 33}, {4, 4, 255}, {6, 16, 256}, {7, 9, 257}, {3, 5, 513}, {13, 11, 1000},
	{143, 20, 7}, {144, 20, 7}, {145, 20, 7}, {73, 9, 3}, {289, 33, 5}, {129, 17, 6},
	{2, 4081, 3}, {3, 4097, 2}, {8, 8193, 1},
	{100, 300, 40}, {300, 100, 40},
	{256, 10, 512}, {256, 512, 784}, {784, 512, 256}, {256, 784, 512},
}

func testShapes[T float](t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		size := m * n * k
		if raceEnabled && size > 1<<18 {
			continue // the race detector makes the reference loops slow
		}
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			if size > 1<<22 && forcePortable && (tr[0] || tr[1]) {
				continue // the slow kernel does the big shapes once
			}
			p := problem{tA: tr[0], tB: tr[1], m: m, n: n, k: k, alpha: 1, beta: 0}
			lda := func(extra int) int {
				if p.tA {
					return max(1, m) + extra
				}
				return max(1, k) + extra
			}
			ldb := func(extra int) int {
				if p.tB {
					return max(1, k) + extra
				}
				return max(1, n) + extra
			}
			p.lda, p.ldb, p.ldc = lda(0), ldb(0), max(1, n)
			check[T](t, r, p)
			if size > 1<<20 {
				continue // the big shapes once per transposition
			}
			p.lda, p.ldb, p.ldc = lda(3), ldb(5), n+2
			ab := [][2]float64{{1, 1}, {-0.5, 2}, {0, 0.5}, {0, 0}, {2, 0}, {1, -1}}
			if size > 1<<16 {
				ab = ab[1:2]
			}
			for _, ab := range ab {
				p.alpha, p.beta = ab[0], ab[1]
				check[T](t, r, p)
			}
		}
	}
}

func TestShapes(t *testing.T) {
	paths(t, func(t *testing.T) {
		t.Run("float32", testShapes[float32])
		t.Run("float64", testShapes[float64])
	})
}

// TestPathsAgree compares the portable path with the assembly one.
func TestPathsAgree(t *testing.T) {
	if fast32 == nil {
		t.Skip("no assembly kernels on this machine")
	}
	testPathsAgree[float32](t)
	testPathsAgree[float64](t)
}

func testPathsAgree[T float](t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][3]int{{1, 1, 1}, {7, 13, 5}, {65, 129, 33}, {150, 70, 300}} {
		m, n, k := s[0], s[1], s[2]
		a, b := randSlice[T](r, m*k), randSlice[T](r, k*n)
		c1, c2 := randSlice[T](r, m*n), make([]T, m*n)
		copy(c2, c1)
		gemmT(false, true, m, n, k, 1.5, a, k, b, k, 0.5, c1, n)
		forcePortable = true
		gemmT(false, true, m, n, k, 1.5, a, k, b, k, 0.5, c2, n)
		forcePortable = false
		for i := range c1 {
			if d := math.Abs(float64(c1[i] - c2[i])); d > float64(k+4)*eps[T]()*(1.5*float64(k)*4+1) {
				t.Fatalf("%T %v: element %d: assembly %v, portable %v", c1[0], s, i, c1[i], c2[i])
			}
		}
	}
}

// TestDeterministic checks that the bits of C depend neither on the number
// of goroutines nor on where tiles and blocks fall: a product computed as
// a whole equals, element for element, the same product split into pieces
// by the caller at odd offsets.
func TestDeterministic(t *testing.T) {
	paths(t, func(t *testing.T) {
		testDeterministic[float32](t)
		testDeterministic[float64](t)
	})
}

func testDeterministic[T float](t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	defer func(n int) { maxWorkers, minParallel = 0, n }(minParallel)
	minParallel = 0 // split even the small products of the race detector's run
	sizes := [][3]int{{67, 301, 300}, {301, 67, 530}}
	if raceEnabled {
		sizes = [][3]int{{67, 151, 30}, {151, 67, 260}}
	}
	for _, s := range sizes {
		m, n, k := s[0], s[1], s[2]
		a, b, c0 := randSlice[T](r, m*k), randSlice[T](r, k*n), randSlice[T](r, m*n)
		var ref []T
		for _, w := range []int{1, 2, 3, 5} {
			maxWorkers = w
			c := append([]T(nil), c0...)
			gemmT(false, false, m, n, k, 0.75, a, k, b, n, 1.25, c, n)
			if ref == nil {
				ref = c
				continue
			}
			for i := range c {
				if math.Float64bits(float64(c[i])) != math.Float64bits(float64(ref[i])) {
					t.Fatalf("%T %v: %d goroutines: element %d is %v, 1 goroutine gave %v", c[0], s, w, i, c[i], ref[i])
				}
			}
		}
		// Rows [i0, m) × columns [j0, n) as a product of its own, shifting
		// every tile boundary.
		maxWorkers = 1
		for _, off := range [][2]int{{1, 3}, {5, 15}, {2, 7}} {
			i0, j0 := off[0], off[1]
			c := append([]T(nil), c0...)
			gemmT(false, false, m-i0, n-j0, k, 0.75, a[i0*k:], k, b[j0:], n, 1.25, c[i0*n+j0:], n)
			for i := i0; i < m; i++ {
				for j := j0; j < n; j++ {
					if math.Float64bits(float64(c[i*n+j])) != math.Float64bits(float64(ref[i*n+j])) {
						t.Fatalf("%T %v offset %v: C[%d,%d] is %v, whole product gave %v", c[0], s, off, i, j, c[i*n+j], ref[i*n+j])
					}
				}
			}
		}
	}
}

// TestSerial: SgemmSerial and DgemmSerial give Sgemm's and Dgemm's bits
// for a product large enough to be shared among goroutines.
func TestSerial(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	m, n, k := 130, 150, 70
	if raceEnabled {
		m, n, k = 40, 50, 30
	}
	defer func(n int) { minParallel = n }(minParallel)
	minParallel = 0
	a32, b32, c32 := randSlice[float32](r, m*k), randSlice[float32](r, k*n), randSlice[float32](r, m*n)
	want32, got32 := append([]float32(nil), c32...), append([]float32(nil), c32...)
	Sgemm(true, false, m, n, k, 0.5, a32, m, b32, n, 1, want32, n)
	SgemmSerial(true, false, m, n, k, 0.5, a32, m, b32, n, 1, got32, n)
	a64, b64, c64 := randSlice[float64](r, m*k), randSlice[float64](r, k*n), randSlice[float64](r, m*n)
	want64, got64 := append([]float64(nil), c64...), append([]float64(nil), c64...)
	Dgemm(false, true, m, n, k, 0.5, a64, k, b64, k, 1, want64, n)
	DgemmSerial(false, true, m, n, k, 0.5, a64, k, b64, k, 1, got64, n)
	for i := range want32 {
		if math.Float32bits(got32[i]) != math.Float32bits(want32[i]) || math.Float64bits(got64[i]) != math.Float64bits(want64[i]) {
			t.Fatalf("element %d: serial %v, %v; shared %v, %v", i, got32[i], got64[i], want32[i], want64[i])
		}
	}
}

// TestSuperBlocks makes the shared packed operand small, so that products
// take several super-blocks, with A and with B shared.
func TestSuperBlocks(t *testing.T) {
	defer func(n, p int) { sharedMax, minParallel = n, p }(sharedMax, minParallel)
	sharedMax, minParallel = 3000, 0
	paths(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, s := range [][3]int{{40, 70, 300}, {70, 40, 300}, {7, 300, 600}, {300, 9, 600}} {
			p := problem{m: s[0], n: s[1], k: s[2], lda: s[2], ldb: s[1], ldc: s[1], alpha: 1.5, beta: -1}
			check[float32](t, r, p)
			check[float64](t, r, p)
		}
	})
}

// TestSharedBlockBusy checks the way out of waiting for a shared block
// that another goroutine is packing: a private copy.
func TestSharedBlockBusy(t *testing.T) {
	j := &job[float32]{state: make([]atomic.Uint32, 1)}
	j.state[0].Store(blockPacking)
	shared, priv := make([]float32, 4), make([]float32, 8)
	got := j.sharedBlock(0, shared, priv, func(d []float32) { copy(d, []float32{1, 2, 3, 4}) })
	if &got[0] != &priv[0] || len(got) != 4 || got[3] != 4 || shared[0] != 0 {
		t.Errorf("busy block: got %v (shared %v)", got, shared)
	}
	j.state[0].Store(blockEmpty)
	got = j.sharedBlock(0, shared, priv, func(d []float32) { copy(d, []float32{5, 6, 7, 8}) })
	if &got[0] != &shared[0] || shared[0] != 5 || j.state[0].Load() != blockReady {
		t.Errorf("free block: got %v, state %d", got, j.state[0].Load())
	}
	got = j.sharedBlock(0, shared, priv, func(d []float32) { t.Error("packed a ready block") })
	if &got[0] != &shared[0] {
		t.Error("ready block: not the shared copy")
	}
}

// TestLatePiece checks that a helper arriving after its piece was revoked,
// or after the round ended, does nothing (work would panic on this job).
func TestLatePiece(t *testing.T) {
	j := &job[float32]{gen: 5}
	j.claims[1].Store(5<<2 | pieceRevoked)
	j.runPiece(1, 5)
	j.claims[2].Store(5<<2 | pieceOffered)
	j.runPiece(2, 4)
	if j.claims[2].Load() != 5<<2|pieceOffered {
		t.Error("a stale piece changed the claim")
	}
}

func TestBadArguments(t *testing.T) {
	a, b, c := make([]float32, 12), make([]float32, 12), make([]float32, 12)
	for name, f := range map[string]func(){
		"m < 0":   func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, b, 2, 0, c, 2) },
		"lda":     func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2) },
		"ldb":     func() { Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2) },
		"ldc":     func() { Sgemm(false, false, 2, 3, 2, 1, a, 2, b, 3, 0, c, 2) },
		"short a": func() { Sgemm(true, false, 3, 2, 5, 1, a, 3, b, 2, 0, c, 2) },
		"short c": func() { Sgemm(false, false, 4, 3, 2, 1, a, 2, b, 3, 0, c[:11], 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	// m == 0 or n == 0 returns before looking at the slices, as gonum does.
	Sgemm(false, false, 0, 3, 2, 1, nil, 2, nil, 3, 0, nil, 3)
}

// TestMatchesGonum checks a few products against gonum itself.
func TestMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var impl gonum.Implementation
	m, n, k := 33, 47, 65
	a, b := randSlice[float64](r, m*k), randSlice[float64](r, k*n)
	c1 := randSlice[float64](r, m*n)
	c2 := append([]float64(nil), c1...)
	Dgemm(true, false, m, n, k, 0.5, a, m, b, n, -1, c1, n)
	impl.Dgemm(blas.Trans, blas.NoTrans, m, n, k, 0.5, a, m, b, n, -1, c2, n)
	for i := range c1 {
		if math.Abs(c1[i]-c2[i]) > 1e-12 {
			t.Fatalf("element %d: %v, gonum %v", i, c1[i], c2[i])
		}
	}
}

func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	m, n, k := 96, 256, 200
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	f := func() { Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) }
	f()
	if allocs := testing.AllocsPerRun(50, f); allocs > 0 {
		t.Errorf("%v allocations per call", allocs)
	}
	t.Logf("kernel %s, GOMAXPROCS %d", Kernel(), runtime.GOMAXPROCS(0))
}
