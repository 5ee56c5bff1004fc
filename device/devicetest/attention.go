package devicetest

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// attnRef is the float64 reference of Attention and AttentionGrad for one
// geometry, with the magnitudes that bound each result's rounding error
// (sums of absolute values of the terms, widened by the relative error of
// the probabilities, which comes from the scores).
type attnRef struct {
	out, lse, dq, dk, dv                []float64
	outMag, lseMag, dqMag, dkMag, dvMag []float64
}

func referenceAttention(g device.AttentionGeom, q, k, v, dout []float64) attnRef {
	l, s, d, dv := g.L, g.S, g.D, g.DV
	b := g.Batch
	r := attnRef{
		out: make([]float64, b*l*dv), lse: make([]float64, b*l), dq: make([]float64, b*l*d),
		dk: make([]float64, b*s*d), dv: make([]float64, b*s*dv),
		outMag: make([]float64, b*l*dv), lseMag: make([]float64, b*l), dqMag: make([]float64, b*l*d),
		dkMag: make([]float64, b*s*d), dvMag: make([]float64, b*s*dv),
	}
	for bh := range b {
		qb, kb, vb := q[bh*l*d:], k[bh*s*d:], v[bh*s*dv:]
		gb := dout[bh*l*dv:]
		for i := range l {
			vis := s
			if g.Causal {
				vis = min(i+1, s)
			}
			sc, scMag := make([]float64, vis), make([]float64, vis)
			m := math.Inf(-1)
			for j := range vis {
				for c := range d {
					sc[j] += qb[i*d+c] * kb[j*d+c]
					scMag[j] += math.Abs(qb[i*d+c] * kb[j*d+c])
				}
				sc[j] *= g.Scale
				scMag[j] *= math.Abs(g.Scale)
				m = math.Max(m, sc[j])
			}
			sum, maxMag := 0.0, 0.0
			for j := range vis {
				sum += math.Exp(sc[j] - m)
				maxMag = math.Max(maxMag, scMag[j])
			}
			row := bh*l + i
			if vis == 0 {
				r.lse[row] = math.Inf(-1)
				continue
			}
			r.lse[row] = m + math.Log(sum)
			r.lseMag[row] = 1 + math.Abs(r.lse[row]) + maxMag
			// The probabilities are off by a relative error of about the
			// score's magnitude times the rounding unit: widen every
			// magnitude by (1 + maxMag).
			wide := 1 + maxMag
			p := make([]float64, vis)
			for j := range vis {
				p[j] = math.Exp(sc[j]-m) / sum
			}
			delta, deltaMag := 0.0, 0.0
			for c := range dv {
				o, om := 0.0, 0.0
				for j := range vis {
					o += p[j] * vb[j*dv+c]
					om += p[j] * math.Abs(vb[j*dv+c])
				}
				r.out[row*dv+c] = o
				r.outMag[row*dv+c] = om * wide
				delta += gb[i*dv+c] * o
				deltaMag += math.Abs(gb[i*dv+c]) * om
			}
			for j := range vis {
				dp, dpMag := 0.0, 0.0
				for c := range dv {
					dp += gb[i*dv+c] * vb[j*dv+c]
					dpMag += math.Abs(gb[i*dv+c] * vb[j*dv+c])
				}
				ds := p[j] * (dp - delta)
				dsMag := p[j] * (dpMag + deltaMag) * wide
				for c := range dv {
					r.dv[(bh*s+j)*dv+c] += p[j] * gb[i*dv+c]
					r.dvMag[(bh*s+j)*dv+c] += p[j] * math.Abs(gb[i*dv+c]) * wide
				}
				for c := range d {
					r.dq[row*d+c] += g.Scale * ds * kb[j*d+c]
					r.dqMag[row*d+c] += math.Abs(g.Scale) * dsMag * math.Abs(kb[j*d+c])
					r.dk[(bh*s+j)*d+c] += g.Scale * ds * qb[i*d+c]
					r.dkMag[(bh*s+j)*d+c] += math.Abs(g.Scale) * dsMag * math.Abs(qb[i*d+c])
				}
			}
		}
	}
	return r
}

func testAttention(c *tc) {
	type geom = device.AttentionGeom
	for _, x := range []struct {
		g   geom
		big bool // scores in the hundreds: exp overflows without the row maximum
	}{
		{g: geom{Batch: 1, L: 1, S: 1, D: 1, DV: 1}},
		{g: geom{Batch: 2, L: 5, S: 7, D: 3, DV: 4}},
		{g: geom{Batch: 2, L: 7, S: 5, D: 3, DV: 4, Causal: true}, big: true},
		{g: geom{Batch: 3, L: 5, S: 9, D: 8, DV: 8, Causal: true}},
		{g: geom{Batch: 1, L: 70, S: 70, D: 32, DV: 32, Causal: true}},
		{g: geom{Batch: 2, L: 40, S: 23, D: 128, DV: 128}},
		{g: geom{Batch: 1, L: 19, S: 37, D: 17, DV: 5, Causal: true}},
		{g: geom{Batch: 2, L: 3, S: 4, D: 0, DV: 2}},
		{g: geom{Batch: 1, L: 3, S: 0, D: 4, DV: 4, Causal: true}},
		{g: geom{Batch: 2, L: 0, S: 4, D: 4, DV: 3, Causal: true}},
		{g: geom{Batch: 0, L: 3, S: 4, D: 4, DV: 4}},
	} {
		g := x.g
		g.Scale = 1 / math.Sqrt(float64(max(g.D, 1)))
		if g.L == 5 && g.S == 9 {
			g.Scale = -0.7
		}
		lo, hi := -1.0, 1.0
		if x.big {
			lo, hi = -30, 30
		}
		q := c.uniform(g.Batch*g.L*g.D, lo, hi)
		k := c.uniform(g.Batch*g.S*g.D, lo, hi)
		v := c.uniform(g.Batch*g.S*g.DV, -1, 1)
		dout := c.uniform(g.Batch*g.L*g.DV, -1, 1)
		ref := referenceAttention(g, q, k, v, dout)
		what := fmtf("Attention batch=%d L=%d S=%d D=%d DV=%d causal=%v scale=%.3g", g.Batch, g.L, g.S, g.D, g.DV, g.Causal, g.Scale)
		qb, kb, vb := c.buffer(q), c.buffer(k), c.buffer(v)
		nOut, nL := g.Batch*g.L*g.DV, g.Batch*g.L
		out, lse := c.output(nOut), c.output(nL)
		c.be.Attention(out, lse, qb, kb, vb, g)
		gotOut, gotLSE := c.result("Attention out", out, nOut), c.result("Attention lse", lse, nL)
		c.check(what+": out", gotOut, ref.out, ref.outMag, c.tol.Transcendental)
		c.check(what+": lse", gotLSE, ref.lse, ref.lseMag, c.tol.Transcendental)

		// The backward pass from the backend's own out and lse, twice:
		// the results must be the same bits.
		nQ, nK, nV := g.Batch*g.L*g.D, g.Batch*g.S*g.D, g.Batch*g.S*g.DV
		var first [3][]float64
		for run := range 2 {
			dq, dk, dv := c.output(nQ), c.output(nK), c.output(nV)
			c.be.AttentionGrad(dq, dk, dv, c.buffer(dout), qb, kb, vb, out, lse, g)
			got := [3][]float64{c.result("AttentionGrad dq", dq, nQ), c.result("AttentionGrad dk", dk, nK),
				c.result("AttentionGrad dv", dv, nV)}
			if run == 1 {
				for i, name := range []string{"dq", "dk", "dv"} {
					c.exact(what+": AttentionGrad "+name+" again", got[i], first[i])
				}
				break
			}
			first = got
			c.check(what+": dq", got[0], ref.dq, ref.dqMag, c.tol.Transcendental)
			c.check(what+": dk", got[1], ref.dk, ref.dkMag, c.tol.Transcendental)
			c.check(what+": dv", got[2], ref.dv, ref.dvMag, c.tol.Transcendental)
		}
	}
}
