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

// rowSum returns Σ row in float64, in four interleaved partial sums
// combined as (s0+s1)+(s2+s3).
func rowSum[T float](row []T) float64 {
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(row); j += 4 {
		r := row[j : j+4 : j+4]
		s0 += float64(r[0])
		s1 += float64(r[1])
		s2 += float64(r[2])
		s3 += float64(r[3])
	}
	for ; j < len(row); j++ {
		s0 += float64(row[j])
	}
	return (s0 + s1) + (s2 + s3)
}

// rowSqDev returns Σ (row − mu)² in float64, ordered as rowSum.
func rowSqDev[T float](row []T, mu float64) float64 {
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(row); j += 4 {
		r := row[j : j+4 : j+4]
		d0, d1, d2, d3 := float64(r[0])-mu, float64(r[1])-mu, float64(r[2])-mu, float64(r[3])-mu
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; j < len(row); j++ {
		d := float64(row[j]) - mu
		s0 += d * d
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
				mu = rowSum(row) / float64(n)
				mean[i] = mu
			}
			r := 1 / math.Sqrt(rowSqDev(row, mu)/float64(n)+p.Eps)
			rstd[i] = r
			switch {
			case w != nil && b != nil:
				w, b := w[:n], b[:n]
				for j, v := range row {
					out[j] = T((float64(v)-mu)*r*float64(w[j]) + float64(b[j]))
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
		for i := c * cr; i < min(rows, (c+1)*cr); i++ {
			xr, gr, dr := x[i*n:(i+1)*n], dy[i*n:(i+1)*n], dx[i*n:(i+1)*n]
			mu := 0.0
			if !p.RMS {
				mu = mean[i]
			}
			r := rstd[i]
			// The two sums: Σ g and Σ g·x̂, g = dy·w.
			sg, sgx := 0.0, 0.0
			if w != nil {
				w := w[:n]
				for j, v := range xr {
					g := float64(gr[j]) * float64(w[j])
					sg += g
					sgx += g * ((float64(v) - mu) * r)
				}
			} else {
				for j, v := range xr {
					g := float64(gr[j])
					sg += g
					sgx += g * ((float64(v) - mu) * r)
				}
			}
			a, k := sg*inv, sgx*inv
			if p.RMS {
				a = 0
			}
			for j, v := range xr {
				d := float64(gr[j])
				g := d
				if w != nil {
					g *= float64(w[j])
				}
				xh := (float64(v) - mu) * r
				dr[j] = T(r * (g - a - xh*k))
				if cw != nil {
					cw[j] += d * xh
				}
				if cb != nil {
					cb[j] += d
				}
			}
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
