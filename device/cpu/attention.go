package cpu

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// Fused scaled-dot-product attention. The scores of a block of attnRows
// queries against the keys they see are computed by one GEMM into a
// per-goroutine scratch block of attnRows×S elements (never the whole L×S
// matrix), turned in place into e^(s−m) with m the row's maximum (the
// exponentials summed in float64, as Reduce sums) and multiplied by the values with a
// second GEMM, whose rows are then divided by the sums. A causal block
// stops at the last key its last query sees (the keys after a row's own
// are zeroed in its scratch row). The backward pass recomputes each block's
// probabilities from the saved log-sum-exps and accumulates dK and dV over
// the query blocks of one (batch, head) pair in order, so the results do
// not depend on scheduling.

// attnRows is the number of queries per block: the block of scores stays
// in L2 (64×2048 float32 is 512 KiB) and the GEMMs are large enough to
// run at full speed.
const attnRows = 64

// Attention computes out and lse for every (batch, head) pair.
func (be *Backend) Attention(out, lse, q, k, v device.Buffer, g device.AttentionGeom) {
	if buf(out).dt == device.Float64 {
		attention(buf(out).f64, buf(lse).f64, buf(q).f64, buf(k).f64, buf(v).f64, g, gemmAB64, gemmAB64Serial)
	} else {
		attention(buf(out).f32, buf(lse).f32, buf(q).f32, buf(k).f32, buf(v).f32, g, gemmAB32, gemmAB32Serial)
	}
}

// AttentionGrad computes dq, dk and dv for every (batch, head) pair.
func (be *Backend) AttentionGrad(dq, dk, dv, dout, q, k, v, out, lse device.Buffer, g device.AttentionGeom) {
	if buf(dq).dt == device.Float64 {
		attentionGrad(buf(dq).f64, buf(dk).f64, buf(dv).f64, buf(dout).f64, buf(q).f64, buf(k).f64,
			buf(v).f64, buf(out).f64, buf(lse).f64, g, gemmAB64, gemmAB64Serial)
	} else {
		attentionGrad(buf(dq).f32, buf(dk).f32, buf(dv).f32, buf(dout).f32, buf(q).f32, buf(k).f32,
			buf(v).f32, buf(out).f32, buf(lse).f32, g, gemmAB32, gemmAB32Serial)
	}
}

// gemmAB is GEMM with alpha and beta: c = alpha·op(a)·op(b) + beta·c.
type gemmAB[T float] func(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// safe wraps a GEMM for the degenerate sizes of attention (widths of 0,
// for which the leading dimensions are 0): nothing to do for an empty C,
// and C = beta·C (beta is 0 or 1 here) for an empty sum.
func (gemm gemmAB[T]) safe(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch {
	case m == 0 || n == 0:
	case k == 0:
		if beta == 0 {
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		}
	default:
		gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// visible returns how many keys query i sees among s.
func visible(g device.AttentionGeom, i int) int {
	if g.Causal {
		return min(i+1, g.S)
	}
	return g.S
}

// expRun sets x[j] = e^x[j] (the float32 AVX2 kernel where there is one).
func expRun[T float](x []T) {
	if useSIMD && simdUnary(device.Exp, x, x, cached) {
		return
	}
	expSlice(x, x)
}

// subRun sets x[j] = x[j] − s (the AVX2 kernel where there is one).
func subRun[T float](x []T, s T) {
	if useSIMD && simdScalar(device.SubS, x, x, s, cached) {
		return
	}
	for j := range x {
		x[j] -= s
	}
}

// dsRun sets d[j] = p[j]·(d[j] − delta), each operation rounded (the AVX2
// kernels where there are).
func dsRun[T float](d, p []T, delta T) {
	if useSIMD && simdScalar(device.SubS, d, d, delta, cached) {
		if !simdBinaryVV(device.Mul, d, p, d, cached) {
			for j := range d {
				d[j] *= p[j]
			}
		}
		return
	}
	for j := range d {
		d[j] = p[j] * (d[j] - delta)
	}
}

// pickGemm returns the GEMM for work split into chunks pieces: one that
// runs in the calling goroutine when the pieces alone keep every core busy,
// else one that shares a large product among goroutines.
func pickGemm[T float](chunks int, shared, serial gemmAB[T]) gemmAB[T] {
	if chunks >= parallel.Workers() {
		return serial
	}
	return shared
}

func attention[T float](out, lse, q, k, v []T, g device.AttentionGeom, shared, serial gemmAB[T]) {
	l, s, d, dv := g.L, g.S, g.D, g.DV
	if g.Batch == 0 || l == 0 {
		return
	}
	if s == 0 {
		clear(out[:g.Batch*l*dv])
		for i := range lse[:g.Batch*l] {
			lse[i] = T(math.Inf(-1))
		}
		return
	}
	blocks := (l + attnRows - 1) / attnRows
	gemm := pickGemm(g.Batch*blocks, shared, serial)
	parallel.Chunks(g.Batch*blocks, func(c int) {
		bh, i0 := c/blocks, (c%blocks)*attnRows
		rows := min(attnRows, l-i0)
		nk := visible(g, i0+rows-1)
		sc := make([]T, rows*nk)
		qb := q[(bh*l+i0)*d:]
		kb := k[bh*s*d:]
		gemm.safe(false, true, rows, nk, d, T(g.Scale), qb, d, kb, d, 0, sc, nk)
		var inv [attnRows]T
		for r := range rows {
			row := sc[r*nk : (r+1)*nk]
			vis := visible(g, i0+r)
			m := rowMax(row[:vis])
			subRun(row[:vis], m)
			expRun(row[:vis])
			sum := sumLanes(row[:vis], false)
			clear(row[vis:])
			inv[r] = T(1 / sum)
			lse[bh*l+i0+r] = T(float64(m) + math.Log(sum))
		}
		// out = (e^(s−m)·V) / Σ e^(s−m): the rows are scaled after the
		// product (DV columns instead of S).
		ob := out[(bh*l+i0)*dv:]
		gemm.safe(false, false, rows, dv, nk, 1, sc, nk, v[bh*s*dv:], dv, 0, ob, dv)
		for r := range rows {
			o := ob[r*dv : (r+1)*dv]
			for c := range o {
				o[c] *= inv[r]
			}
		}
	})
}

// rowMax returns the maximum of x (−Inf for none). A NaN is skipped here;
// it reaches the results through the sum of the exponentials.
func rowMax[T float](x []T) T {
	m := [4]T{T(math.Inf(-1)), T(math.Inf(-1)), T(math.Inf(-1)), T(math.Inf(-1))}
	i := 0
	for ; i+4 <= len(x); i += 4 {
		if x[i] > m[0] {
			m[0] = x[i]
		}
		if x[i+1] > m[1] {
			m[1] = x[i+1]
		}
		if x[i+2] > m[2] {
			m[2] = x[i+2]
		}
		if x[i+3] > m[3] {
			m[3] = x[i+3]
		}
	}
	for ; i < len(x); i++ {
		if x[i] > m[0] {
			m[0] = x[i]
		}
	}
	return max(m[0], m[1], m[2], m[3])
}

func attentionGrad[T float](dq, dk, dv, dout, q, k, v, out, lse []T, g device.AttentionGeom, shared, serial gemmAB[T]) {
	l, s, d, dvw := g.L, g.S, g.D, g.DV
	if g.Batch == 0 {
		return
	}
	clear(dk[:g.Batch*s*d])
	clear(dv[:g.Batch*s*dvw])
	if s == 0 {
		clear(dq[:g.Batch*l*d])
		return
	}
	if l == 0 {
		return
	}
	scale := T(g.Scale)
	gemm := pickGemm(g.Batch, shared, serial)
	parallel.Chunks(g.Batch, func(bh int) {
		rowsMax := min(attnRows, l)
		p := make([]T, rowsMax*s)
		dp := make([]T, rowsMax*s)
		delta := make([]float64, rowsMax)
		kb, vb := k[bh*s*d:], v[bh*s*dvw:]
		dkb, dvb := dk[bh*s*d:], dv[bh*s*dvw:]
		for i0 := 0; i0 < l; i0 += attnRows {
			rows := min(attnRows, l-i0)
			nk := visible(g, i0+rows-1)
			qb, dqb := q[(bh*l+i0)*d:], dq[(bh*l+i0)*d:]
			ob, gb := out[(bh*l+i0)*dvw:], dout[(bh*l+i0)*dvw:]
			// delta_i = Σ_c dout_ic·out_ic, the row sums of dP∘P.
			for r := range rows {
				acc := 0.0
				for c := range dvw {
					acc += float64(gb[r*dvw+c]) * float64(ob[r*dvw+c])
				}
				delta[r] = acc
			}
			pb, dpb := p[:rows*nk], dp[:rows*nk]
			gemm.safe(false, true, rows, nk, d, scale, qb, d, kb, d, 0, pb, nk)
			for r := range rows {
				row := pb[r*nk : (r+1)*nk]
				vis := visible(g, i0+r)
				subRun(row[:vis], lse[bh*l+i0+r])
				expRun(row[:vis])
				clear(row[vis:])
			}
			// dV += Pᵀ·dO; dP = dO·Vᵀ.
			gemm.safe(true, false, nk, dvw, rows, 1, pb, nk, gb, dvw, 1, dvb, dvw)
			gemm.safe(false, true, rows, nk, dvw, 1, gb, dvw, vb, dvw, 0, dpb, nk)
			// dS = P∘(dP − delta), in place in dp.
			for r := range rows {
				dsRun(dpb[r*nk:(r+1)*nk], pb[r*nk:(r+1)*nk], T(delta[r]))
			}
			// dQ = scale·dS·K; dK += scale·dSᵀ·Q.
			gemm.safe(false, false, rows, d, nk, scale, dpb, nk, kb, d, 0, dqb, d)
			gemm.safe(true, false, nk, d, rows, scale, dpb, nk, qb, d, 1, dkb, d)
		}
	})
}
