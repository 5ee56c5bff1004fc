package cuda

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The fused LayerNorm and RMSNorm (module layernorm).

const (
	// normWarpMax is the longest row that the LayerNorm kernels give one
	// warp; longer rows get a whole block.
	normWarpMax = 1024
	// normChunkRows is the number of rows whose dw and db terms one
	// thread of the partial-sum kernel adds; a fixed number, so that the
	// order of the additions depends on the shape alone.
	normChunkRows = 16
)

// normPlan returns the plan and grid of the per-row kernels for p.
func normPlan(p device.NormParams) (kernels.NormPlan, [3]uint32) {
	if p.Cols <= normWarpMax {
		return kernels.NormWarp, groupGrid(int64(p.Rows), false)
	}
	return kernels.NormBlock, groupGrid(int64(p.Rows), true)
}

func ptrOf(b device.Buffer) Ptr {
	if b == nil {
		return 0
	}
	return bufOf(b).ptr
}

// LayerNorm normalises the rows of x and writes the row statistics: one
// warp per row up to normWarpMax elements, else one block.
func (b *Backend) LayerNorm(y, mean, rstd, x, w, bias device.Buffer, p device.NormParams) {
	if p.Rows == 0 {
		return
	}
	a := normArgs{Y: ptrOf(y), Mean: ptrOf(mean), Rstd: ptrOf(rstd), X: ptrOf(x), W: ptrOf(w), B: ptrOf(bias),
		Rows: int64(p.Rows), Cols: int64(p.Cols), Eps: p.Eps, RMS: b2i(p.RMS)}
	plan, grid := normPlan(p)
	ap, sz := argBytes(&a)
	b.launch(kLayerNorm[dtIndex(bufOf(x).dt)][plan], grid, block1D, ap, sz)
}

// LayerNormGrad writes dx with the forward's plan, then dw and db (unless
// both are nil) in two passes: partial sums over chunks of normChunkRows
// rows (in float64), then the chunks added in order.
func (b *Backend) LayerNormGrad(dx, dw, db, dy, x, mean, rstd, w device.Buffer, p device.NormParams) {
	dt := dtIndex(bufOf(dx).dt)
	a := normGradArgs{DX: ptrOf(dx), DW: ptrOf(dw), DB: ptrOf(db), DY: ptrOf(dy), X: ptrOf(x), Mean: ptrOf(mean),
		Rstd: ptrOf(rstd), W: ptrOf(w), Rows: int64(p.Rows), Cols: int64(p.Cols), ChunkRows: normChunkRows,
		Chunks: int64((p.Rows + normChunkRows - 1) / normChunkRows), RMS: b2i(p.RMS)}
	if p.Rows > 0 {
		plan, grid := normPlan(p)
		ap, sz := argBytes(&a)
		b.launch(kLayerNormGrad[dt][plan], grid, block1D, ap, sz)
	}
	if (dw == nil && db == nil) || p.Cols == 0 {
		return
	}
	if a.Chunks > 0 {
		part := b.temp(device.Float64, int(2*a.Chunks*a.Cols))
		defer b.Free(part)
		a.Part = part.ptr
		ap, sz := argBytes(&a)
		b.launch(kLayerNormGrad[dt][kernels.NormPart], grid1D(a.Chunks*a.Cols, 1), block1D, ap, sz)
	}
	ap, sz := argBytes(&a)
	b.launch(kLayerNormGrad[dt][kernels.NormFinal], grid1D(a.Cols, 1), block1D, ap, sz)
}
