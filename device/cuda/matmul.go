package cuda

import (
	"errors"
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// Matrix products: cuBLAS when it loads, else the tiled kernel.

// blasOperand describes a row-major rows×cols matrix (strides rs, cs) as a
// cuBLAS column-major operand for its transpose: the memory read
// column-major with leading dimension ld is the transpose itself (trans
// false) or the matrix (trans true, so cuBLAS transposes it).
func blasOperand(rows, cols, rs, cs int) (trans bool, ld int, ok bool) {
	switch {
	case cs == 1 && (rows == 1 || rs >= cols):
		return false, max(rs, cols, 1), true
	case rs == 1 && (cols == 1 || cs >= rows):
		return true, max(cs, rows, 1), true
	}
	return false, 0, false
}

// GEMM says how the backend computes matrix products: "cuBLAS
// (libcublas.so.12)", or "tapegrad's tiled kernel" with the reason cuBLAS is
// not used (not found, cublasCreate failed, TAPEGRAD_CUDA_BLAS=off).
func (b *Backend) GEMM() string {
	blas, err := b.ctx.BLAS()
	if blas != nil {
		return "cuBLAS (" + blas.Name() + ")"
	}
	return fmt.Sprintf("tapegrad's tiled kernel (%v)", err)
}

// blasFits reports whether a product's sizes and strides fit cuBLAS's
// 32-bit int arguments (its batch strides are 64-bit); larger ones take the
// tiled kernel, whose arguments are 64-bit.
func blasFits(batch, m, n, k int, ls ...device.MatLayout) bool {
	const lim = math.MaxInt32
	if batch > lim || m > lim || n > lim || k > lim {
		return false
	}
	for _, l := range ls {
		if l.RowStride > lim || l.ColStride > lim {
			return false
		}
	}
	return true
}

// MatMul computes batched matrix products with cuBLAS when it is available
// (row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ), else with the tiled
// kernel of package kernels.
func (b *Backend) MatMul(dst device.Buffer, dl device.MatLayout, a device.Buffer, al device.MatLayout, bb device.Buffer, bl device.MatLayout, batch, m, n, k int) {
	if m == 0 || n == 0 || batch == 0 {
		return
	}
	d, x, y := bufOf(dst), bufOf(a), bufOf(bb)
	if k == 0 {
		for i := 0; i < batch; i++ {
			b.Fill(dst, device.Layout{Shape: []int{m, n}, Strides: []int{dl.RowStride, 1}, Offset: dl.Offset + i*dl.BatchStride}, 0)
		}
		return
	}
	if blas, _ := b.ctx.BLAS(); blas != nil && blasFits(batch, m, n, k, dl, al, bl) {
		b.blasMatMul(blas, d, dl, x, al, y, bl, batch, m, n, k)
		return
	}
	g := gemmArgs{C: d.ptr, A: x.ptr, B: y.ptr, M: int64(m), N: int64(n), K: int64(k), Batch: int64(batch),
		AOff: int64(al.Offset), ABS: int64(al.BatchStride), ARS: int64(al.RowStride), ACS: int64(al.ColStride),
		BOff: int64(bl.Offset), BBS: int64(bl.BatchStride), BRS: int64(bl.RowStride), BCS: int64(bl.ColStride),
		COff: int64(dl.Offset), CBS: int64(dl.BatchStride), CLd: int64(dl.RowStride)}
	p, sz := argBytes(&g)
	grid := [3]uint32{uint32((n + gemmTile - 1) / gemmTile), uint32(min((m+gemmTile-1)/gemmTile, 65535)), uint32(min(batch, 65535))}
	b.launch(kGemm[dtIndex(d.dt)], grid, block1D, p, sz)
}

// blasMatMul runs a product with cuBLAS (row-major C = A·B as
// column-major Cᵀ = Bᵀ·Aᵀ): sgemm or dgemm, or for half operands
// cublasGemmStridedBatchedEx. Operands that cuBLAS cannot address are
// copied into dense scratch matrices first. It reports the error
// wrapping ErrNoHalfGemm (nothing enqueued but those copies) to the
// caller, and keeps any other as the stream's error.
func (b *Backend) blasMatMul(blas BLAS, d *Buffer, dl device.MatLayout, x *Buffer, al device.MatLayout, y *Buffer, bl device.MatLayout, batch, m, n, k int) error {
	ta, lda, okA := blasOperand(m, k, al.RowStride, al.ColStride)
	tb, ldb, okB := blasOperand(k, n, bl.RowStride, bl.ColStride)
	if !okA {
		x, al = b.denseMatrices(x, al, batch, m, k)
		defer b.Free(x)
		ta, lda = false, k
	}
	if !okB {
		y, bl = b.denseMatrices(y, bl, batch, k, n)
		defer b.Free(y)
		tb, ldb = false, n
	}
	name, err := "cublasGemmStridedBatched", error(nil)
	if d.dt.IsHalf() {
		name = "cublasGemmStridedBatchedEx"
		err = blas.GemmStridedBatchedEx(b.stream, d.dt, tb, ta, n, m, k,
			y.at(bl.Offset), ldb, int64(bl.BatchStride), x.at(al.Offset), lda, int64(al.BatchStride),
			d.at(dl.Offset), dl.RowStride, int64(dl.BatchStride), batch)
		if errors.Is(err, ErrNoHalfGemm) {
			return err
		}
	} else {
		err = blas.GemmStridedBatched(b.stream, d.dt == device.Float64, tb, ta, n, m, k,
			y.at(bl.Offset), ldb, int64(bl.BatchStride), x.at(al.Offset), lda, int64(al.BatchStride),
			d.at(dl.Offset), dl.RowStride, int64(dl.BatchStride), batch)
	}
	b.nLaunch.Add(1)
	b.lastOp.Store(name)
	if err != nil {
		b.fail(name, err)
	}
	return nil
}

// HalfMatMul is the backend's [device.HalfMatMuler]: MatMul of matrices
// of one half dtype (a, b and dst all BFloat16 or all Float16) with
// cuBLAS's cublasGemmStridedBatchedEx, reading and writing the half
// matrices directly, accumulating in float32 (CUBLAS_COMPUTE_32F, on
// tensor cores) and rounding each output once, to nearest. It reports
// false, having done nothing, when the dtypes are not one half dtype, when
// cuBLAS is not loaded (or has no cublasGemmStridedBatchedEx), or when the
// sizes or strides do not fit cuBLAS's int arguments; device.WithHalf then
// computes the product in float32 with MatMul.
func (b *Backend) HalfMatMul(dst device.Buffer, dl device.MatLayout, a device.Buffer, al device.MatLayout, bb device.Buffer, bl device.MatLayout, batch, m, n, k int) bool {
	d, x, y := bufOf(dst), bufOf(a), bufOf(bb)
	if !d.dt.IsHalf() || x.dt != d.dt || y.dt != d.dt {
		return false
	}
	blas, _ := b.ctx.BLAS()
	if blas == nil || !blasFits(batch, m, n, k, dl, al, bl) || b.noHalfGemm.Load() {
		return false
	}
	if m == 0 || n == 0 || batch == 0 {
		return true
	}
	if k == 0 {
		for i := 0; i < batch; i++ {
			b.Fill(dst, device.Layout{Shape: []int{m, n}, Strides: []int{dl.RowStride, 1}, Offset: dl.Offset + i*dl.BatchStride}, 0)
		}
		return true
	}
	if err := b.blasMatMul(blas, d, dl, x, al, y, bl, batch, m, n, k); err != nil {
		// cuBLAS without the entry point: remember, and let the caller
		// compute in float32 (the dense scratch copies blasMatMul may
		// have made are harmless, and freed).
		b.noHalfGemm.Store(true)
		return false
	}
	return true
}

// gemmTile is the tile edge of the fallback GEMM kernel: a block of 256
// threads computes a 64×64 tile of C (kernels/gemm.cu).
const gemmTile = 64

// denseMatrices copies a batch of matrices into a dense scratch buffer.
func (b *Backend) denseMatrices(x *Buffer, l device.MatLayout, batch, rows, cols int) (*Buffer, device.MatLayout) {
	tmp := b.temp(x.dt, batch*rows*cols)
	b.Copy(tmp, device.Contiguous([]int{batch, rows, cols}), x,
		device.Layout{Shape: []int{batch, rows, cols}, Strides: []int{l.BatchStride, l.RowStride, l.ColStride}, Offset: l.Offset})
	return tmp, device.MatLayout{BatchStride: rows * cols, RowStride: cols, ColStride: 1}
}
