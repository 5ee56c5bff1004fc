//go:build kernelsim

package sim

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The fused LayerNorm (module layernorm) against the CPU backend's
// LayerNorm and LayerNormGrad. Both sum in double and use the same element
// formulas; only the order of the row sums differs (a tree here, four
// interleaved sums there), so y, the statistics and dx agree within 1 ulp
// or 1e-12 of the row's scale. dw and db add the same terms in the same
// order when the CPU's chunks of rows are the kernels' (16 rows: up to
// 1024 rows), and then agree bit for bit.

// normChunkRows mirrors device/cuda's normChunkRows.
const normChunkRows = 16

// normExpect compares got with want: within 1 ulp of dt, or within 1e-12
// of scale[i/cols] (the magnitude of row i's terms).
func normExpect(t *testing.T, what string, dt device.DType, got, want, scale []float64, cols int) {
	t.Helper()
	bad := 0
	for i := range want {
		if ulps(dt, got[i], want[i]) <= 1 || math.Abs(got[i]-want[i]) <= 1e-12*scale[i/cols] {
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(want))
	}
}

func TestLayerNormKernels(t *testing.T) {
	type variant struct {
		name      string
		rms, w, b bool
	}
	variants := []variant{{"affine", false, true, true}, {"plain", false, false, false}, {"bias", false, false, true},
		{"rms-weight", true, true, false}, {"rms", true, false, false}}
	geoms := []struct {
		rows, cols  int
		plan        kernels.NormPlan
		grid, block int
	}{
		{37, 100, kernels.NormWarp, 5, 128},  // 4 rows per block, the grid loops, the last pass part-empty
		{20, 33, kernels.NormWarp, 1, 64},    // 2 rows per block, one block
		{3, 1, kernels.NormWarp, 1, 32},      // single elements
		{5, 1100, kernels.NormBlock, 2, 128}, // a block per row, looping
		{2, 2500, kernels.NormBlock, 2, 256},
		{40, 7, kernels.NormWarp, 3, 96}, // several chunks of dw/db, 3 warps per block
	}
	for _, dt := range dts {
		for _, v := range variants {
			for _, g := range geoms {
				what := fmt.Sprintf("%s %s %dx%d %s grid %d block %d", dtName(dt), v.name, g.rows, g.cols,
					kernels.NormPlans[g.plan], g.grid, g.block)
				testLayerNormKernels(t, what, dt, v.rms, v.w, v.b, g.rows, g.cols, g.plan, g.grid, g.block)
			}
		}
	}
}

func testLayerNormKernels(t *testing.T, what string, dt device.DType, rms, hasW, hasB bool, rows, cols int, plan kernels.NormPlan, grid, block int) {
	const eps = 1e-5
	n := rows * cols
	x := data(n, uint64(7*rows+cols))
	for i := range x { // finite, some rows far from 0
		if math.IsNaN(x[i]) || math.IsInf(x[i], 0) || math.Abs(x[i]) > 1e6 {
			x[i] = float64(i%7) - 3
		}
		if (i/cols)%3 == 1 {
			x[i] = 50 + x[i]/16
		}
	}
	dy := data(n, uint64(3*rows+cols+1))
	for i := range dy {
		if math.IsNaN(dy[i]) || math.IsInf(dy[i], 0) || math.Abs(dy[i]) > 1e6 {
			dy[i] = 0.5
		}
	}
	var wv, bv []float64
	if hasW {
		wv = make([]float64, cols)
		for j := range wv {
			wv[j] = 0.5 + float64(j%5)/4
		}
	}
	if hasB && !rms {
		bv = make([]float64, cols)
		for j := range bv {
			bv[j] = float64(j%3) - 1
		}
	}
	p := device.NormParams{Rows: rows, Cols: cols, Eps: eps, RMS: rms}

	// The CPU backend.
	hx, hdy := host(dt, x), host(dt, dy)
	var hw, hb, hmean device.Buffer
	if wv != nil {
		hw = host(dt, wv)
	}
	if bv != nil {
		hb = host(dt, bv)
	}
	f64 := device.Float64 // the statistics' dtype
	if !rms {
		hmean = host(f64, make([]float64, rows))
	}
	hy, hrstd := host(dt, make([]float64, n)), host(f64, make([]float64, rows))
	be.LayerNorm(hy, hmean, hrstd, hx, hw, hb, p)
	hdx := host(dt, make([]float64, n))
	var hdw, hdb device.Buffer
	if wv != nil {
		hdw = host(dt, make([]float64, cols))
	}
	if bv != nil || (!rms && hasB) {
		hdb = host(dt, make([]float64, cols))
	}
	be.LayerNormGrad(hdx, hdw, hdb, hdy, hx, hmean, hrstd, hw, p)

	// The kernels.
	opt := func(vals []float64) (dev, uintptr) {
		if vals == nil {
			return dev{}, 0
		}
		d := newDev(dt, vals)
		return d, d.at(0)
	}
	dx, dyv := newDev(dt, x), newDev(dt, dy)
	defer dx.Free()
	defer dyv.Free()
	dw, wp := opt(wv)
	db, bp := opt(bv)
	y, rstd := newDev(dt, make([]float64, n)), newDev(f64, make([]float64, rows))
	defer y.Free()
	defer rstd.Free()
	var mean dev
	var mp uintptr
	if !rms {
		mean = newDev(f64, make([]float64, rows))
		mp = mean.at(0)
	}
	launch(t, kernels.LayerNormName(dt, plan), &NormArgs{Y: y.at(0), Mean: mp, Rstd: rstd.at(0), X: dx.at(0), W: wp, B: bp,
		Rows: int64(rows), Cols: int64(cols), Eps: eps, RMS: b2i(rms)}, [3]int{grid, 1, 1}, block)

	// Scales: |x|·rstd·|w| + |b| per row for y, rstd·(|g| terms) for dx.
	hxv, hrs, hdyv := hostVals(hx), hostVals(hrstd), hostVals(hdy)
	ys, dxs, ones := make([]float64, rows), make([]float64, rows), make([]float64, max(rows, 1))
	for i := range rows {
		m := 0.0
		for j := range cols {
			m = math.Max(m, math.Abs(hxv[i*cols+j])+math.Abs(hdyv[i*cols+j]))
		}
		ys[i] = 4 * m * hrs[i]
		dxs[i] = 4 * m * hrs[i] * (1 + m*hrs[i])
		ones[i] = 2 * m
	}
	normExpect(t, what+": y", dt, y.get(), hostVals(hy), ys, cols)
	normExpect(t, what+": rstd", f64, rstd.get(), hrs, hrs, 1)
	if !rms {
		normExpect(t, what+": mean", f64, mean.get(), hostVals(hmean), ones, 1)
		mean.Free()
	}

	// The backward, from the CPU's statistics.
	var mp2 uintptr
	if !rms {
		dmean := newDev(f64, hostVals(hmean))
		defer dmean.Free()
		mp2 = dmean.at(0)
	}
	drs := newDev(f64, hrs)
	defer drs.Free()
	gx := newDev(dt, make([]float64, n))
	defer gx.Free()
	chunks := (rows + normChunkRows - 1) / normChunkRows
	part := newDev(device.Float64, make([]float64, 2*chunks*cols))
	defer part.Free()
	gw, gwp := opt(nil)
	gb, gbp := opt(nil)
	if hdw != nil {
		gw, gwp = opt(make([]float64, cols))
		defer gw.Free()
	}
	if hdb != nil {
		gb, gbp = opt(make([]float64, cols))
		defer gb.Free()
	}
	a := &NormGradArgs{DX: gx.at(0), DW: gwp, DB: gbp, Part: part.at(0), DY: dyv.at(0), X: dx.at(0), Mean: mp2, Rstd: drs.at(0), W: wp,
		Rows: int64(rows), Cols: int64(cols), ChunkRows: normChunkRows, Chunks: int64(chunks), RMS: b2i(rms)}
	launch(t, kernels.LayerNormGradName(dt, plan), a, [3]int{grid, 1, 1}, block)
	normExpect(t, what+": dx", dt, gx.get(), hostVals(hdx), dxs, cols)
	if hdw == nil && hdb == nil {
		return
	}
	launch(t, kernels.LayerNormGradName(dt, kernels.NormPart), a, [3]int{2, 1, 1}, 64)
	launch(t, kernels.LayerNormGradName(dt, kernels.NormFinal), a, [3]int{1, 1, 1}, 32)
	// The CPU's chunks are the kernels' up to 1024 rows: the same bits.
	if hdw != nil {
		expect(t, what+": dw", dt, gw.get(), hostVals(hdw), 0)
	}
	if hdb != nil {
		expect(t, what+": db", dt, gb.get(), hostVals(hdb), 0)
	}
	if wv != nil {
		dw.Free()
	}
	if bv != nil {
		db.Free()
	}
}
