package cpu

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// The fused LayerNorm and RMSNorm: one pass over a row for each statistic,
// one to write the output; the backward reads x and dy twice per row (the
// two sums, then dx) and adds each row's dw and db terms to the partial
// sums of its chunk of rows. Everything accumulates in float64.

// LayerNorm normalises the rows of x and writes the row statistics.
func (be *Backend) LayerNorm(y, mean, rstd, x, w, b device.Buffer, p device.NormParams) {
	if buf(y).dt == device.Float64 {
		layerNorm(buf(y).f64, f64s(mean), buf(rstd).f64, buf(x).f64, f64s(w), f64s(b), p)
	} else {
		layerNorm(buf(y).f32, f64s(mean), buf(rstd).f64, buf(x).f32, f32s(w), f32s(b), p)
	}
}

// f32s and f64s return an optional buffer's elements (nil for nil).
func f32s(b device.Buffer) []float32 {
	if b == nil {
		return nil
	}
	return buf(b).f32
}

func f64s(b device.Buffer) []float64 {
	if b == nil {
		return nil
	}
	return buf(b).f64
}

// rowSqDev returns Σ (row − mu)² in float64, in four interleaved partial
// sums combined as (s0+s1)+(s2+s3).
func rowSqDev[T float](row []T, mu float64) float64 {
	var s0, s1, s2, s3 float64
	j := 0
	if useSIMD {
		var s [4]float64
		s, j = simdSqDev(row, mu)
		s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
	}
	for ; j+4 <= len(row); j += 4 {
		r := row[j : j+4 : j+4]
		d0, d1, d2, d3 := float64(r[0])-mu, float64(r[1])-mu, float64(r[2])-mu, float64(r[3])-mu
		s0 += float64(d0 * d0) // rounded: no build fuses it (sqDev32 does not)
		s1 += float64(d1 * d1)
		s2 += float64(d2 * d2)
		s3 += float64(d3 * d3)
	}
	for ; j < len(row); j++ {
		d := float64(row[j]) - mu
		s0 += float64(d * d)
	}
	return (s0 + s1) + (s2 + s3)
}

func layerNorm[T float](y []T, mean, rstd []float64, x, w, b []T, p device.NormParams) {
	n := p.Cols
	parallel.For(p.Rows, max(1, grain/max(1, 3*n)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x[i*n : (i+1)*n]
			out := y[i*n : (i+1)*n]
			mu := 0.0
			if !p.RMS {
				mu = sumLanes(row, false) / float64(n) // AVX2 where available
				mean[i] = mu
			}
			r := 1 / math.Sqrt(rowSqDev(row, mu)/float64(n)+p.Eps)
			rstd[i] = r
			switch {
			case w != nil && b != nil:
				w, b := w[:n], b[:n]
				j0 := 0
				if useSIMD {
					j0 = simdNormAffine(out, row, w, b, mu, r)
				}
				for j := j0; j < n; j++ {
					// Rounded before the addition, so that no build fuses
					// it (normAffine32 adds the rounded product).
					p := float64((float64(row[j]) - mu) * r * float64(w[j]))
					out[j] = T(p + float64(b[j]))
				}
			case w != nil:
				w := w[:n]
				for j, v := range row {
					out[j] = T((float64(v) - mu) * r * float64(w[j]))
				}
			case b != nil:
				b := b[:n]
				for j, v := range row {
					out[j] = T((float64(v)-mu)*r + float64(b[j]))
				}
			default:
				for j, v := range row {
					out[j] = T((float64(v) - mu) * r)
				}
			}
		}
	})
}

// normChunkRows is the number of rows whose dw and db terms the CPU
// backward adds into one partial sum: at least 16, and at most 64 chunks.
// It depends on the shape alone, so the order of the additions (the rows
// of a chunk in order, then the chunks in order) is the same on every run
// and with any number of goroutines.
func normChunkRows(rows int) int { return max(16, (rows+63)/64) }

// normGradSums sets gs[j] = dy[j]·w[j] (dy[j] for nil w) and xs[j] = x̂_j
// = (x[j] − mu)·r, and returns Σ gs and Σ gs·xs, each in four interleaved
// partial sums (j mod 4; the last n mod 4 terms into the first) added as
// (s0+s1)+(s2+s3): the lanes of the float32 AVX2 kernel (normGradSums32),
// which gives the same bits. Products are rounded before they are added
// (no build fuses them).
func normGradSums[T float](gs, xs []float64, x, dy, w []T, mu, r float64) (sg, sgx float64) {
	n := len(x)
	gs, xs, dy = gs[:n], xs[:n], dy[:n]
	var s, t [4]float64
	j := 0
	if useSIMD {
		j = simdNormGradSums(gs, xs, x, dy, w, mu, r, &s, &t)
	}
	term := func(j, l int) {
		g := float64(dy[j])
		if w != nil {
			g = float64(g * float64(w[j]))
		}
		xh := float64((float64(x[j]) - mu) * r)
		gs[j], xs[j] = g, xh
		s[l] += g
		t[l] += float64(g * xh)
	}
	for ; j+4 <= n; j += 4 {
		for l := range 4 {
			term(j+l, l)
		}
	}
	for ; j < n; j++ {
		term(j, 0)
	}
	return (s[0] + s[1]) + (s[2] + s[3]), (t[0] + t[1]) + (t[2] + t[3])
}

// normGradRow writes dx[j] = r·(gs[j] − a − xs[j]·k) and adds dy[j]·xs[j]
// to cw[j] and dy[j] to cb[j] (either may be nil).
func normGradRow[T float](dx, dy []T, gs, xs, cw, cb []float64, r, a, k float64) {
	n := len(gs)
	dx, dy, xs = dx[:n], dy[:n], xs[:n]
	switch {
	case cw != nil && cb != nil:
		cw, cb = cw[:n], cb[:n]
		j0 := 0
		if useSIMD {
			j0 = simdNormGradRow(dx, dy, gs, xs, cw, cb, r, a, k)
		}
		for j := j0; j < n; j++ {
			xh, d, g := xs[j], float64(dy[j]), gs[j]
			dx[j] = T(r * (g - a - float64(xh*k))) // rounded products: as normGradRow32
			cw[j] += float64(d * xh)
			cb[j] += d
		}
	case cw != nil:
		cw = cw[:n]
		for j, g := range gs {
			xh := xs[j]
			dx[j] = T(r * (g - a - xh*k))
			cw[j] += float64(dy[j]) * xh
		}
	case cb != nil:
		cb = cb[:n]
		for j, g := range gs {
			dx[j] = T(r * (g - a - xs[j]*k))
			cb[j] += float64(dy[j])
		}
	default:
		for j, g := range gs {
			dx[j] = T(r * (g - a - xs[j]*k))
		}
	}
}

// LayerNormGrad writes dx, and dw and db unless nil.
func (be *Backend) LayerNormGrad(dx, dw, db, dy, x, mean, rstd, w device.Buffer, p device.NormParams) {
	if buf(dx).dt == device.Float64 {
		layerNormGrad(buf(dx).f64, f64s(dw), f64s(db), buf(dy).f64, buf(x).f64, f64s(mean), buf(rstd).f64, f64s(w), p)
	} else {
		layerNormGrad(buf(dx).f32, f32s(dw), f32s(db), buf(dy).f32, buf(x).f32, f64s(mean), buf(rstd).f64, f32s(w), p)
	}
}

func layerNormGrad[T float](dx, dw, db, dy, x []T, mean, rstd []float64, w []T, p device.NormParams) {
	n, rows := p.Cols, p.Rows
	if rows == 0 || n == 0 {
		for _, d := range [][]T{dw, db} {
			for j := range d[:min(len(d), n)] {
				d[j] = 0
			}
		}
		return
	}
	cr := normChunkRows(rows)
	chunks := (rows + cr - 1) / cr
	var pw, pb []float64 // [chunks, n] partial sums of dw and db
	if dw != nil {
		pw = make([]float64, chunks*n)
	}
	if db != nil {
		pb = make([]float64, chunks*n)
	}
	inv := 1 / float64(n)
	parallel.Chunks(chunks, func(c int) {
		var cw, cb []float64
		if pw != nil {
			cw = pw[c*n : (c+1)*n]
		}
		if pb != nil {
			cb = pb[c*n : (c+1)*n]
		}
		// The row's g = dy·w and x̂, kept in float64 between the passes.
		gs, xs := make([]float64, n), make([]float64, n)
		for i := c * cr; i < min(rows, (c+1)*cr); i++ {
			xr, gr, dr := x[i*n:(i+1)*n], dy[i*n:(i+1)*n:(i+1)*n], dx[i*n:(i+1)*n]
			mu := 0.0
			if !p.RMS {
				mu = mean[i]
			}
			r := rstd[i]
			// The two sums: Σ g and Σ g·x̂.
			var sg, sgx float64
			if w != nil {
				sg, sgx = normGradSums(gs, xs, xr, gr, w[:n], mu, r)
			} else {
				sg, sgx = normGradSums(gs, xs, xr, gr, nil, mu, r)
			}
			a, k := sg*inv, sgx*inv
			if p.RMS {
				a = 0
			}
			normGradRow(dr, gr, gs, xs, cw, cb, r, a, k)
		}
	})
	for _, o := range []struct {
		d    []T
		part []float64
	}{{dw, pw}, {db, pb}} {
		if o.d == nil {
			continue
		}
		parallel.For(n, max(1, grain/chunks), func(lo, hi int) {
			for j := lo; j < hi; j++ {
				s := 0.0
				for c := 0; c < chunks; c++ {
					s += o.part[c*n+j]
				}
				o.d[j] = T(s)
			}
		})
	}
}
