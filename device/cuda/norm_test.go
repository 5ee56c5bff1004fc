package cuda

import (
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// TestLayerNormPlans checks, on the fake driver, the kernels LayerNorm and
// LayerNormGrad launch (a warp per row up to normWarpMax columns, a block
// beyond; the dw/db passes only when asked for), their grids and the
// arguments they pack, optional buffers as null pointers.
func TestLayerNormPlans(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	for _, dt := range []device.DType{device.Float32, device.Float64} {
		x, y, dy, dx := alloc(t, b, dt, 1<<14), alloc(t, b, dt, 1<<14), alloc(t, b, dt, 1<<14), alloc(t, b, dt, 1<<14)
		mean, rstd := alloc(t, b, dt, 1<<10), alloc(t, b, dt, 1<<10)
		w, bias, dw, db := alloc(t, b, dt, 1<<12), alloc(t, b, dt, 1<<12), alloc(t, b, dt, 1<<12), alloc(t, b, dt, 1<<12)
		for _, c := range []struct {
			rows, cols int
			plan       kernels.NormPlan
			grid       uint32
		}{
			{100, 128, kernels.NormWarp, 13}, // 8 rows per block of 256
			{8, 1024, kernels.NormWarp, 1},
			{3, 1025, kernels.NormBlock, 3},
			{1, 4096, kernels.NormBlock, 1},
		} {
			p := device.NormParams{Rows: c.rows, Cols: c.cols, Eps: 1e-5}
			b.LayerNorm(y, mean, rstd, x, w, bias, p)
			l := lastLaunch(t, ctx)
			a := decode[normArgs](l)
			if l.name != kernels.LayerNormName(dt, c.plan) || l.grid[0] != c.grid || l.block != block1D ||
				a.Y != y.ptr || a.Mean != mean.ptr || a.Rstd != rstd.ptr || a.X != x.ptr || a.W != w.ptr || a.B != bias.ptr ||
				a.Rows != int64(c.rows) || a.Cols != int64(c.cols) || a.Eps != 1e-5 || a.RMS != 0 {
				t.Errorf("LayerNorm %dx%d %v: launched %s grid %v with %+v", c.rows, c.cols, dt, l.name, l.grid, a)
			}
			// RMSNorm without a weight: null mean, weight and bias.
			b.LayerNorm(y, nil, rstd, x, nil, nil, device.NormParams{Rows: c.rows, Cols: c.cols, Eps: 0.5, RMS: true})
			a = decode[normArgs](lastLaunch(t, ctx))
			if a.Mean != 0 || a.W != 0 || a.B != 0 || a.RMS != 1 || a.Eps != 0.5 {
				t.Errorf("RMSNorm %dx%d: %+v", c.rows, c.cols, a)
			}

			// The backward with dw and db: dx, partial sums, final sums.
			k := len(ctx.launches)
			b.LayerNormGrad(dx, dw, db, dy, x, mean, rstd, w, p)
			ls := ctx.launches[k:]
			chunks := int64((c.rows + normChunkRows - 1) / normChunkRows)
			if len(ls) != 3 || ls[0].name != kernels.LayerNormGradName(dt, c.plan) || ls[0].grid[0] != c.grid ||
				ls[1].name != kernels.LayerNormGradName(dt, kernels.NormPart) || ls[1].grid != grid1D(chunks*int64(c.cols), 1) ||
				ls[2].name != kernels.LayerNormGradName(dt, kernels.NormFinal) || ls[2].grid != grid1D(int64(c.cols), 1) {
				t.Fatalf("LayerNormGrad %dx%d %v launched %v", c.rows, c.cols, dt, ls)
			}
			g := decode[normGradArgs](ls[1])
			if g.DX != dx.ptr || g.DW != dw.ptr || g.DB != db.ptr || g.DY != dy.ptr || g.X != x.ptr || g.Mean != mean.ptr ||
				g.Rstd != rstd.ptr || g.W != w.ptr || g.Part == 0 || g.Rows != int64(c.rows) || g.Cols != int64(c.cols) ||
				g.ChunkRows != normChunkRows || g.Chunks != chunks || g.RMS != 0 {
				t.Errorf("LayerNormGrad %dx%d: %+v", c.rows, c.cols, g)
			}
			if f := decode[normGradArgs](ls[2]); f != g {
				t.Errorf("the final pass got %+v, the partial pass %+v", f, g)
			}
			// dx alone: one launch, no scratch buffer.
			k = len(ctx.launches)
			b.LayerNormGrad(dx, nil, nil, dy, x, nil, rstd, nil, device.NormParams{Rows: c.rows, Cols: c.cols, RMS: true})
			if ls := ctx.launches[k:]; len(ls) != 1 || decode[normGradArgs](ls[0]).Part != 0 || decode[normGradArgs](ls[0]).DW != 0 {
				t.Errorf("RMSNorm dx only %dx%d launched %v", c.rows, c.cols, ls)
			}
		}
		// No rows: no forward, and dw and db are zeroed by the final pass
		// alone.
		k := len(ctx.launches)
		b.LayerNorm(y, mean, rstd, x, w, bias, device.NormParams{Rows: 0, Cols: 5})
		b.LayerNormGrad(dx, dw, db, dy, x, mean, rstd, w, device.NormParams{Rows: 0, Cols: 5})
		if ls := ctx.launches[k:]; len(ls) != 1 || ls[0].name != kernels.LayerNormGradName(dt, kernels.NormFinal) ||
			decode[normGradArgs](ls[0]).Chunks != 0 {
			t.Errorf("no rows: launched %v", ls)
		}
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}
