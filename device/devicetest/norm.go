package devicetest

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// normShapes are the [rows, cols] of the LayerNorm cases: single rows and
// columns, rows shorter and longer than a warp, more than 1024 columns (a
// block per row on CUDA), enough rows for several chunks of the dw/db
// partial sums, and no rows.
var normShapes = [][2]int{{1, 1}, {3, 5}, {4, 33}, {7, 128}, {2, 1000}, {3, 2500}, {40, 7}, {150, 20}, {0, 4}}

// normVariant is one combination of LayerNorm's options.
type normVariant struct {
	name         string
	rms, w, b    bool
	dw, db, keep bool // which gradients to ask for; keep: offset inputs
}

var normVariants = []normVariant{
	{name: "LayerNorm/affine", w: true, b: true, dw: true, db: true},
	{name: "LayerNorm/weight", w: true, dw: true},
	{name: "LayerNorm/plain"},
	{name: "LayerNorm/bias-grad-only", w: true, b: true, db: true},
	{name: "LayerNorm/offset", w: true, b: true, dw: true, db: true, keep: true},
	{name: "RMSNorm/weight", rms: true, w: true, dw: true},
	{name: "RMSNorm/plain", rms: true},
}

// normRef returns the float64 statistics of the rows of x: the mean (0
// with rms) and 1/√(variance + eps) (mean square with rms), two-pass.
func normRef(x []float64, rows, cols int, eps float64, rms bool) (mean, rstd []float64) {
	mean, rstd = make([]float64, rows), make([]float64, rows)
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		mu := 0.0
		if !rms {
			for _, v := range row {
				mu += v
			}
			mu /= float64(cols)
		}
		ss := 0.0
		for _, v := range row {
			ss += (v - mu) * (v - mu)
		}
		mean[i], rstd[i] = mu, 1/math.Sqrt(ss/float64(cols)+eps)
	}
	return mean, rstd
}

// float64s returns a Float64 buffer holding vals.
func (c *tc) float64s(vals []float64) device.Buffer {
	c.t.Helper()
	b, err := c.be.Alloc(device.Float64, len(vals))
	if err != nil {
		c.t.Fatalf("Alloc(float64, %d): %v", len(vals), err)
	}
	c.t.Cleanup(func() { c.be.Free(b) })
	c.be.Upload(b, append([]float64(nil), vals...))
	return b
}

func testLayerNorm(c *tc) {
	for _, v := range normVariants {
		c.run(v.name, func(c *tc) {
			for _, s := range normShapes {
				testLayerNormShape(c, v, s[0], s[1])
			}
		})
	}
}

func testLayerNormShape(c *tc, v normVariant, rows, cols int) {
	const eps = 1e-5
	n := rows * cols
	x := c.uniform(n, -3, 3)
	if v.keep {
		// A large common offset: E[x²] − E[x]² would lose every digit
		// of the variance in float32.
		for i := range x {
			x[i] = c.round(1000 + x[i]/8)
		}
	}
	var w, b []float64
	var wb, bb device.Buffer
	if v.w {
		w = c.uniform(cols, -2, 2)
		wb = c.buffer(w)
	}
	if v.b {
		b = c.uniform(cols, -1, 1)
		bb = c.buffer(b)
	}
	p := device.NormParams{Rows: rows, Cols: cols, Eps: eps, RMS: v.rms}
	what := fmtf("%s rows=%d cols=%d", v.name, rows, cols)

	// Forward.
	// The statistics are Float64 whatever the dtype.
	y, rstdB := c.output(n), c.outputOf(device.Float64, rows)
	var meanB device.Buffer
	if !v.rms {
		meanB = c.outputOf(device.Float64, rows)
	}
	xb := c.buffer(x)
	c.be.LayerNorm(y, meanB, rstdB, xb, wb, bb, p)
	mu, rs := normRef(x, rows, cols, eps, v.rms)
	wantY, magY := make([]float64, n), make([]float64, n)
	for i := range rows {
		for j := range cols {
			k := i*cols + j
			f, m := (x[k]-mu[i])*rs[i], (math.Abs(x[k])+math.Abs(mu[i]))*rs[i]
			if w != nil {
				f, m = f*w[j], m*math.Abs(w[j])
			}
			if b != nil {
				f, m = f+b[j], m+math.Abs(b[j])
			}
			wantY[k], magY[k] = f, m
		}
	}
	c.check(what+": y", c.result("LayerNorm y", y, n), wantY, magY, c.tol.Reduction)
	if meanB != nil {
		magMu := make([]float64, rows)
		for i := range rows {
			for _, e := range x[i*cols : (i+1)*cols] {
				magMu[i] += math.Abs(e) / float64(cols)
			}
		}
		c.check(what+": mean", c.result("LayerNorm mean", meanB, rows), mu, magMu, c.tol.Reduction)
	}
	c.check(what+": rstd", c.result("LayerNorm rstd", rstdB, rows), rs, nil, 10*c.tol.Reduction)

	// Backward, from the float64 statistics.
	dy := c.uniform(n, -1, 1)
	var mb device.Buffer
	if !v.rms {
		mb = c.float64s(mu)
	}
	rb := c.float64s(rs)
	dyb := c.buffer(dy)
	dx := c.output(n)
	var dwb, dbb device.Buffer
	if v.dw {
		dwb = c.output(cols)
	}
	if v.db {
		dbb = c.output(cols)
	}
	c.be.LayerNormGrad(dx, dwb, dbb, dyb, xb, mb, rb, wb, p)
	wantDX, magDX := make([]float64, n), make([]float64, n)
	wantDW, magDW := make([]float64, cols), make([]float64, cols)
	wantDB, magDB := make([]float64, cols), make([]float64, cols)
	for i := range rows {
		sg, sgx, ag, agx := 0.0, 0.0, 0.0, 0.0
		xh := make([]float64, cols)
		g := make([]float64, cols)
		for j := range cols {
			k := i*cols + j
			xh[j] = (x[k] - mu[i]) * rs[i]
			g[j] = dy[k]
			if w != nil {
				g[j] *= w[j]
			}
			sg, ag = sg+g[j], ag+math.Abs(g[j])
			sgx, agx = sgx+g[j]*xh[j], agx+math.Abs(g[j]*xh[j])
			wantDW[j] += dy[k] * xh[j]
			magDW[j] += math.Abs(dy[k] * xh[j])
			wantDB[j] += dy[k]
			magDB[j] += math.Abs(dy[k])
		}
		a, ma := sg/float64(cols), ag/float64(cols)
		if v.rms {
			a, ma = 0, 0
		}
		for j := range cols {
			k := i*cols + j
			wantDX[k] = rs[i] * (g[j] - a - xh[j]*sgx/float64(cols))
			magDX[k] = rs[i] * (math.Abs(g[j]) + ma + math.Abs(xh[j])*agx/float64(cols))
		}
	}
	// Each x̂ carries the rounding of x − μ: relative to the
	// magnitudes, as a sum.
	c.check(what+": dx", c.result("LayerNormGrad dx", dx, n), wantDX, magDX, 10*c.tol.Reduction)
	var gotDW, gotDB []float64
	if v.dw {
		gotDW = c.result("LayerNormGrad dw", dwb, cols)
		c.check(what+": dw", gotDW, wantDW, magDW, 10*c.tol.Reduction)
	}
	if v.db {
		gotDB = c.result("LayerNormGrad db", dbb, cols)
		c.check(what+": db", gotDB, wantDB, magDB, c.tol.Reduction)
	}
	// The same bits on a second run.
	dx2 := c.output(n)
	var dw2, db2 device.Buffer
	if v.dw {
		dw2 = c.output(cols)
	}
	if v.db {
		db2 = c.output(cols)
	}
	c.be.LayerNormGrad(dx2, dw2, db2, dyb, xb, mb, rb, wb, p)
	if v.dw {
		c.exact(what+": dw reproducible", c.result("LayerNormGrad dw", dw2, cols), gotDW)
	}
	if v.db {
		c.exact(what+": db reproducible", c.result("LayerNormGrad db", db2, cols), gotDB)
	}
}
