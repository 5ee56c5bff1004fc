package cpu

import (
	"fmt"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/gemm"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// MatMul computes dst[i] = a[i]·b[i] for each batch entry with the GEMM of
// internal/gemm.
// Operands whose rows or columns are dense are passed to GEMM directly (a
// transposed view becomes a transposed GEMM operand); others are copied
// into a dense scratch matrix first.
func (be *Backend) MatMul(dst device.Buffer, dl device.MatLayout, a device.Buffer, al device.MatLayout, b device.Buffer, bl device.MatLayout, batch, m, n, k int) {
	if buf(dst).dt == device.Float64 {
		matmul(buf(dst).f64, dl, buf(a).f64, al, buf(b).f64, bl, batch, m, n, k, gemm64)
	} else {
		matmul(buf(dst).f32, dl, buf(a).f32, al, buf(b).f32, bl, batch, m, n, k, gemm32)
	}
}

type gemmFunc[T float] func(tA, tB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int)

func gemm32(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	gemm.Sgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
}

func gemm64(tA, tB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	gemm.Dgemm(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
}

// operandFor returns a GEMM operand for the rows×cols matrix at off with
// strides rs, cs: the buffer itself (possibly transposed, trans true) or a
// dense copy.
func operandFor[T float](x []T, off, rows, cols, rs, cs int) ([]T, bool, int) {
	switch {
	case cs == 1 && (rows == 1 || rs >= cols):
		ld := max(rs, cols, 1)
		if rows == 1 {
			ld = max(cols, 1)
		}
		return x[off : off+(rows-1)*ld+cols], false, ld
	case rs == 1 && (cols == 1 || cs >= rows):
		ld := max(cs, rows, 1)
		if cols == 1 {
			ld = max(rows, 1)
		}
		return x[off : off+(cols-1)*ld+rows], true, ld
	}
	tmp := make([]T, rows*cols)
	copyStrided(tmp, device.Contiguous([]int{rows, cols}), x,
		device.Layout{Shape: []int{rows, cols}, Strides: []int{rs, cs}, Offset: off})
	return tmp, false, max(cols, 1)
}

func matmul[T float](d []T, dl device.MatLayout, a []T, al device.MatLayout, b []T, bl device.MatLayout, batch, m, n, k int, gemm gemmFunc[T]) {
	if m == 0 || n == 0 || batch == 0 {
		return
	}
	ldc := dl.RowStride
	if k == 0 {
		for i := 0; i < batch; i++ {
			for r := 0; r < m; r++ {
				row := d[dl.Offset+i*dl.BatchStride+r*ldc:][:n]
				for j := range row {
					row[j] = 0
				}
			}
		}
		return
	}
	one := func(i int) {
		ad, ta, lda := operandFor(a, al.Offset+i*al.BatchStride, m, k, al.RowStride, al.ColStride)
		bd, tb, ldb := operandFor(b, bl.Offset+i*bl.BatchStride, k, n, bl.RowStride, bl.ColStride)
		off := dl.Offset + i*dl.BatchStride
		gemm(ta, tb, m, n, k, ad, lda, bd, ldb, d[off:off+(m-1)*ldc+n], ldc)
	}
	// GEMM splits large products across goroutines itself; batches of small
	// products are spread here instead.
	if batch > 1 && m*n*k < 1<<18 {
		parallel.For(batch, max(1, (1<<18)/(m*n*k)), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				one(i)
			}
		})
		return
	}
	for i := 0; i < batch; i++ {
		one(i)
	}
}

// gemmAB32 and gemmAB64 are GEMM with alpha and beta; the Serial ones run
// in the calling goroutine only, for the fused attention when it runs one
// product per goroutine itself.
func gemmAB32(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemmAB64(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemmAB32Serial(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm.SgemmSerial(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemmAB64Serial(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm.DgemmSerial(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmOperand reports how GEMM reads the rows×cols matrix with strides rs,
// cs in place, as operandFor does: not transposed (cs 1) or transposed (rs
// 1), its leading dimension and its extent from the first element; ok is
// false when neither works (operandFor copies such a matrix).
func gemmOperand(rows, cols, rs, cs int) (trans bool, ld, extent int, ok bool) {
	switch {
	case cs == 1 && (rows == 1 || rs >= cols):
		ld := max(rs, cols, 1)
		if rows == 1 {
			ld = max(cols, 1)
		}
		return false, ld, (rows-1)*ld + cols, true
	case rs == 1 && (cols == 1 || cs >= rows):
		ld := max(cs, rows, 1)
		if cols == 1 {
			ld = max(rows, 1)
		}
		return true, ld, (cols-1)*ld + rows, true
	}
	return false, 0, 0, false
}

// HalfMatMul computes MatMul for buffers of one half dtype (see
// device.HalfMatMuler): GEMM widens the elements of a and b to float32 as
// it packs its panels (gemm.SgemmHalf), into a float32 product of m×n that
// is rounded into dst's rows, to nearest even: the bits of the float32
// MatMul on widened copies, rounded. It declines (false) operands whose
// rows and columns are both strided, which MatMul copies first.
func (be *Backend) HalfMatMul(dst device.Buffer, dl device.MatLayout, a device.Buffer, al device.MatLayout, b device.Buffer, bl device.MatLayout, batch, m, n, k int) bool {
	dt, ok := sameHalf(dst, a, b)
	if !ok {
		return false
	}
	if m == 0 || n == 0 || batch == 0 {
		return true
	}
	ta, lda, ea, okA := gemmOperand(m, k, al.RowStride, al.ColStride)
	tb, ldb, eb, okB := gemmOperand(k, n, bl.RowStride, bl.ColStride)
	if k > 0 && (!okA || !okB) {
		return false
	}
	d, x, y := buf(dst).u16, buf(a).u16, buf(b).u16
	ldc := dl.RowStride
	if k == 0 {
		for i := 0; i < batch; i++ {
			for r := 0; r < m; r++ {
				clear(d[dl.Offset+i*dl.BatchStride+r*ldc:][:n])
			}
		}
		return true
	}
	widen := func(d []float32, s []uint16) { widenHalf(dt, d, s) }
	one := func(i int) {
		c, err := be.Alloc(device.Float32, m*n)
		if err != nil {
			panic(fmt.Errorf("cpu: MatMul: float32 product of %d×%d: %w", m, n, err))
		}
		cf := buf(c).f32
		ao, bo := al.Offset+i*al.BatchStride, bl.Offset+i*bl.BatchStride
		gemm.SgemmHalf(ta, tb, m, n, k, x[ao:ao+ea], lda, y[bo:bo+eb], ldb, cf, n, widen)
		off := dl.Offset + i*dl.BatchStride
		for r := 0; r < m; r++ {
			narrowHalf(dt, d[off+r*ldc:off+r*ldc+n], cf[r*n:(r+1)*n])
		}
		be.Free(c)
	}
	if batch > 1 && m*n*k < 1<<18 {
		parallel.For(batch, max(1, (1<<18)/(m*n*k)), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				one(i)
			}
		})
		return true
	}
	for i := 0; i < batch; i++ {
		one(i)
	}
	return true
}
