package devicetest

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// matView returns a MatLayout of kind for batch rows×cols matrices and the
// length of a buffer that holds it: "dense", "transposed" (column-major
// matrices), "padded" (row stride above cols, offset, gaps between
// matrices), "strided" (neither stride 1) or "shared" (batch stride 0).
func (c *tc) matView(kind string, batch, rows, cols int) (device.MatLayout, int) {
	var l device.MatLayout
	switch kind {
	case "dense", "shared":
		l = device.MatLayout{RowStride: cols, ColStride: 1, BatchStride: rows * cols}
	case "transposed":
		l = device.MatLayout{RowStride: 1, ColStride: rows, BatchStride: rows * cols}
	case "padded":
		l = device.MatLayout{RowStride: cols + 1 + c.rng.IntN(3), ColStride: 1, Offset: 1 + c.rng.IntN(3)}
		l.BatchStride = rows*l.RowStride + c.rng.IntN(3)
	case "strided":
		l = device.MatLayout{RowStride: 2 * cols, ColStride: 2, Offset: c.rng.IntN(2)}
		l.BatchStride = rows * l.RowStride
	}
	if kind == "shared" {
		l.BatchStride = 0
	}
	hi := l.Offset + (batch-1)*l.BatchStride + (rows-1)*l.RowStride + (cols-1)*l.ColStride
	return l, max(hi+1, l.Offset+1)
}

func matPos(l device.MatLayout, b, r, col int) int {
	return l.Offset + b*l.BatchStride + r*l.RowStride + col*l.ColStride
}

func testMatMul(c *tc) {
	type dims struct{ batch, m, n, k int }
	cases := []dims{{1, 1, 1, 1}, {1, 3, 4, 5}, {2, 2, 3, 4}, {3, 5, 1, 2}, {1, 1, 7, 3}, {2, 4, 4, 1},
		{1, 17, 19, 23}, {2, 9, 33, 8}, {1, 3, 4, 0}, {2, 0, 3, 2}, {1, 3, 0, 2}, {0, 2, 2, 2}}
	for range 4 {
		cases = append(cases, dims{1 + c.rng.IntN(3), 1 + c.rng.IntN(6), 1 + c.rng.IntN(6), 1 + c.rng.IntN(6)})
	}
	kinds := []string{"dense", "transposed", "padded", "strided", "shared"}
	for _, d := range cases {
		for _, ak := range kinds {
			bk := kinds[c.rng.IntN(len(kinds))]
			dk := []string{"dense", "padded"}[c.rng.IntN(2)]
			al, an := c.matView(ak, d.batch, d.m, d.k)
			bl, bn := c.matView(bk, d.batch, d.k, d.n)
			dl, dn := c.matView(dk, d.batch, d.m, d.n)
			av, bv := c.uniform(an, -2, 2), c.uniform(bn, -2, 2)
			a, b := c.buffer(av), c.buffer(bv)
			dst := c.buffer(filled(dn, sentinel))
			c.be.MatMul(dst, dl, a, al, b, bl, d.batch, d.m, d.n, d.k)
			want, mag := filled(dn, sentinel), make([]float64, dn)
			for i := 0; i < d.batch; i++ {
				for r := 0; r < d.m; r++ {
					for j := 0; j < d.n; j++ {
						s, m := 0.0, 0.0
						for p := 0; p < d.k; p++ {
							t := av[matPos(al, i, r, p)] * bv[matPos(bl, i, p, j)]
							s += t
							m += math.Abs(t)
						}
						want[matPos(dl, i, r, j)], mag[matPos(dl, i, r, j)] = s, m
					}
				}
			}
			c.check(fmtf("MatMul batch %d, %d×%d·%d×%d, a %s %+v, b %s %+v, dst %s %+v", d.batch, d.m, d.k, d.k, d.n, ak, al, bk, bl, dk, dl),
				c.all(dst), want, mag, c.tol.Reduction)
		}
	}
}

// geoms returns convolution geometries: fixed ones covering stride,
// padding, 1×1 windows and windows as large as the input, and random ones.
// Padding is at most half the window, so every window holds an input
// position.
func (c *tc) geoms() []device.ConvGeom {
	gs := []device.ConvGeom{
		{N: 1, C: 1, H: 4, W: 4, KH: 2, KW: 2, SH: 2, SW: 2},
		{N: 2, C: 3, H: 5, W: 4, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1},
		{N: 1, C: 2, H: 3, W: 5, KH: 1, KW: 1, SH: 1, SW: 2},
		{N: 2, C: 1, H: 3, W: 3, KH: 3, KW: 3, SH: 1, SW: 1},
		{N: 1, C: 2, H: 6, W: 5, KH: 3, KW: 2, SH: 2, SW: 1, PH: 1, PW: 1},
	}
	for range 4 {
		g := device.ConvGeom{N: 1 + c.rng.IntN(2), C: 1 + c.rng.IntN(3), H: 1 + c.rng.IntN(6), W: 1 + c.rng.IntN(6),
			SH: 1 + c.rng.IntN(2), SW: 1 + c.rng.IntN(2)}
		g.KH, g.KW = 1+c.rng.IntN(3), 1+c.rng.IntN(3)
		g.PH, g.PW = c.rng.IntN(g.KH/2+1), c.rng.IntN(g.KW/2+1)
		if g.KH > g.H+2*g.PH || g.KW > g.W+2*g.PW {
			g.KH, g.KW, g.PH, g.PW = 1, 1, 0, 0
		}
		gs = append(gs, g)
	}
	for i := range gs {
		g := &gs[i]
		g.OH = (g.H+2*g.PH-g.KH)/g.SH + 1
		g.OW = (g.W+2*g.PW-g.KW)/g.SW + 1
	}
	return gs
}

// window calls f with the column (n, oy, ox), the row (c, ky, kx) and the
// input position index (n, c, y, x) of every in-bounds entry of Im2Col's
// output, in (ky, kx) order for each (n, c, oy, ox).
func window(g device.ConvGeom, f func(n, ch, oy, ox, ky, kx, y, x int)) {
	for n := 0; n < g.N; n++ {
		for ch := 0; ch < g.C; ch++ {
			for oy := 0; oy < g.OH; oy++ {
				for ox := 0; ox < g.OW; ox++ {
					for ky := 0; ky < g.KH; ky++ {
						for kx := 0; kx < g.KW; kx++ {
							y, x := oy*g.SH+ky-g.PH, ox*g.SW+kx-g.PW
							if y >= 0 && y < g.H && x >= 0 && x < g.W {
								f(n, ch, oy, ox, ky, kx, y, x)
							}
						}
					}
				}
			}
		}
	}
}

// colIndex is the position of row (ch, ky, kx), column (n, oy, ox) in the
// dense Im2Col output.
func colIndex(g device.ConvGeom, n, ch, oy, ox, ky, kx int) int {
	r := (ch*g.KH+ky)*g.KW + kx
	return r*(g.N*g.OH*g.OW) + (n*g.OH+oy)*g.OW + ox
}

func imgShape(g device.ConvGeom) []int { return []int{g.N, g.C, g.H, g.W} }

func testIm2Col(c *tc) {
	for _, g := range c.geoms() {
		for _, kind := range viewKinds[:4] {
			x := c.operand(imgShape(g), kind, uni(-3, 3))
			n := g.C * g.KH * g.KW * g.N * g.OH * g.OW
			out := c.output(n)
			c.be.Im2Col(out, x.buf, x.l, g)
			want := make([]float64, n)
			window(g, func(nn, ch, oy, ox, ky, kx, y, xx int) {
				want[colIndex(g, nn, ch, oy, ox, ky, kx)] = x.at([]int{nn, ch, y, xx})
			})
			c.exact(fmtf("Im2Col %+v at %v", g, x.l), c.result("Im2Col", out, n), want)
		}
	}
}

func testCol2Im(c *tc) {
	for _, g := range c.geoms() {
		ncol := g.C * g.KH * g.KW * g.N * g.OH * g.OW
		nimg := g.N * g.C * g.H * g.W
		cols := c.uniform(ncol, -3, 3)
		out := c.output(nimg)
		c.be.Col2Im(out, c.buffer(cols), g)
		want, mag := make([]float64, nimg), make([]float64, nimg)
		window(g, func(n, ch, oy, ox, ky, kx, y, x int) {
			v := cols[colIndex(g, n, ch, oy, ox, ky, kx)]
			p := ((n*g.C+ch)*g.H+y)*g.W + x
			want[p] += v
			mag[p] += math.Abs(v)
		})
		got := c.result("Col2Im", out, nimg)
		c.check(fmtf("Col2Im %+v", g), got, want, mag, c.tol.Reduction)

		// Adjoint: <Im2Col(x), y> = <x, Col2Im(y)>, on the backend's own
		// results.
		xs := c.uniform(nimg, -3, 3)
		im := c.output(ncol)
		c.be.Im2Col(im, c.buffer(xs), device.Contiguous(imgShape(g)), g)
		ix := c.result("Im2Col", im, ncol)
		lhs, rhs, m := 0.0, 0.0, 0.0
		for i := range ix {
			lhs += ix[i] * cols[i]
			m += math.Abs(ix[i] * cols[i])
		}
		for i := range xs {
			rhs += xs[i] * got[i]
		}
		if d := math.Abs(lhs - rhs); d > c.tol.Reduction*math.Max(m, c.tiny()) {
			c.t.Errorf("Col2Im %+v: <Im2Col(x), y> = %v but <x, Col2Im(y)> = %v", g, lhs, rhs)
		}
	}
}

// poolRef returns MaxPool's reference output and indices for the dense
// image x: the first maximum of each window, NaN counting as the maximum.
func poolRef(g device.ConvGeom, x []float64) (out, idx []float64) {
	n := g.N * g.C * g.OH * g.OW
	out, idx = make([]float64, n), make([]float64, n)
	for i := range idx {
		idx[i] = -1
	}
	window(g, func(nn, ch, oy, ox, ky, kx, y, xx int) {
		o := ((nn*g.C+ch)*g.OH+oy)*g.OW + ox
		v := x[((nn*g.C+ch)*g.H+y)*g.W+xx]
		if idx[o] < 0 || !math.IsNaN(out[o]) && (v > out[o] || math.IsNaN(v)) {
			out[o], idx[o] = v, float64(y*g.W+xx)
		}
	})
	return out, idx
}

func testMaxPool(c *tc) {
	for _, g := range c.geoms() {
		for _, kind := range viewKinds[:4] {
			for _, withNaN := range []bool{false, true} {
				f := mix(uni(-3, 3), pick(-1, 0, 1), 2) // ties are common
				if withNaN {
					f = mix(f, pick(math.NaN()), 6)
				}
				x := c.operand(imgShape(g), kind, f)
				n := g.N * g.C * g.OH * g.OW
				out, idx := c.output(n), c.output(n)
				c.be.MaxPool(out, idx, x.buf, x.l, g)
				want, wantIdx := poolRef(g, gather(x.vals, x.l))
				what := fmtf("MaxPool %+v at %v", g, x.l)
				c.exact(what+": values", c.result("MaxPool", out, n), want)
				c.exact(what+": indices", c.result("MaxPool", idx, n), wantIdx)
			}
		}
	}
}

// poolIdx returns indices like MaxPool's: a random in-bounds position of
// each window (windows overlap when the stride is below the window, so
// positions receive several entries).
func (c *tc) poolIdx(g device.ConvGeom) []float64 {
	n := g.N * g.C * g.OH * g.OW
	cands := make([][]float64, n)
	window(g, func(nn, ch, oy, ox, ky, kx, y, x int) {
		o := ((nn*g.C+ch)*g.OH+oy)*g.OW + ox
		cands[o] = append(cands[o], float64(y*g.W+x))
	})
	idx := make([]float64, n)
	for i, cs := range cands {
		idx[i] = cs[c.rng.IntN(len(cs))]
	}
	return idx
}

func testPoolScatter(c *tc) {
	for _, g := range c.geoms() {
		idx := c.poolIdx(g)
		n := len(idx)
		dy := c.uniform(n, -3, 3)
		nimg := g.N * g.C * g.H * g.W
		out := c.output(nimg)
		c.be.PoolScatter(out, c.buffer(dy), c.buffer(idx), g)
		want, mag := make([]float64, nimg), make([]float64, nimg)
		hw, ohw := g.H*g.W, g.OH*g.OW
		for o, k := range idx {
			p := (o/ohw)*hw + int(k)
			want[p] += dy[o]
			mag[p] += math.Abs(dy[o])
		}
		c.check(fmtf("PoolScatter %+v", g), c.result("PoolScatter", out, nimg), want, mag, c.tol.Reduction)
	}
}

func testPoolGather(c *tc) {
	for _, g := range c.geoms() {
		idx := c.poolIdx(g)
		n := len(idx)
		src := c.uniform(g.N*g.C*g.H*g.W, -3, 3)
		out := c.output(n)
		c.be.PoolGather(out, c.buffer(src), c.buffer(idx), g)
		want := make([]float64, n)
		hw, ohw := g.H*g.W, g.OH*g.OW
		for o, k := range idx {
			want[o] = src[(o/ohw)*hw+int(k)]
		}
		c.exact(fmtf("PoolGather %+v", g), c.result("PoolGather", out, n), want)
	}
}
