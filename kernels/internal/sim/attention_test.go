//go:build kernelsim

package sim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The attention kernels (module attention) against the CPU backend's
// Attention and AttentionGrad. Both compute in the dtype but add in
// different orders (tiles of 16 or 8 keys with an online softmax here,
// whole rows and GEMM panels there), so the results agree to a tolerance
// relative to the largest magnitude of each result: 2e-5 in float32, 1e-12
// in float64. Each gradient element is written by one thread after a fixed
// sequence of additions, so a launch on a one-block grid (the kernels
// loop over tiles and heads) must give the same bits.

// attnExpect compares got with want within tol of the largest |want|.
func attnExpect(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	scale := 0.0
	for _, w := range want {
		if !math.IsInf(w, 0) {
			scale = math.Max(scale, math.Abs(w))
		}
	}
	bad := 0
	for i := range want {
		g, w := got[i], want[i]
		if g == w || math.Abs(g-w) <= tol*scale {
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("%s: [%d] = %v, want %v", what, i, g, w)
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(want))
	}
}

func normals(n int, seed uint64, sd float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 11))
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64() * sd
	}
	return x
}

func TestAttention(t *testing.T) {
	type geom = device.AttentionGeom
	for gi, g := range []geom{
		{Batch: 2, L: 40, S: 37, D: 32, DV: 32, Causal: true},
		{Batch: 1, L: 19, S: 23, D: 128, DV: 128},
		{Batch: 2, L: 7, S: 5, D: 3, DV: 5, Causal: true},
		{Batch: 1, L: 9, S: 20, D: 0, DV: 7},
		{Batch: 1, L: 3, S: 0, D: 4, DV: 4, Causal: true},
		{Batch: 2, L: 0, S: 3, D: 4, DV: 4},
	} {
		g.Scale = 1 / math.Sqrt(float64(max(g.D, 1)))
		nq, nk, nv, no, nl := g.Batch*g.L*g.D, g.Batch*g.S*g.D, g.Batch*g.S*g.DV, g.Batch*g.L*g.DV, g.Batch*g.L
		q, k := normals(nq, uint64(100+gi), 2), normals(nk, uint64(200+gi), 2)
		v, dout := normals(nv, uint64(300+gi), 1), normals(no, uint64(400+gi), 1)
		for _, dt := range dts {
			tol := 2e-5
			if dt == device.Float64 {
				tol = 1e-12
			}
			what := func(s string) string {
				return s + " " + dtName(dt) + " " + fmtGeom(g)
			}
			wOut, wLSE := host(dt, make([]float64, no)), host(dt, make([]float64, nl))
			be.Attention(wOut, wLSE, host(dt, q), host(dt, k), host(dt, v), g)
			wdq, wdk, wdv := host(dt, make([]float64, nq)), host(dt, make([]float64, nk)), host(dt, make([]float64, nv))
			be.AttentionGrad(wdq, wdk, wdv, host(dt, dout), host(dt, q), host(dt, k), host(dt, v), wOut, wLSE, g)

			dq, dk, dv := newDev(dt, q), newDev(dt, k), newDev(dt, v)
			out, lse := newDev(dt, filledWith(no, 7)), newDev(dt, filledWith(nl, 7))
			a := AttnArgs{Out: out.at(0), LSE: lse.at(0), Q: dq.at(0), K: dk.at(0), V: dv.at(0),
				Batch: int64(g.Batch), L: int64(g.L), S: int64(g.S), D: int64(g.D), DVW: int64(g.DV), Scale: g.Scale}
			if g.Causal {
				a.Causal = 1
			}
			tiles := func(n, h int) [3]int { return [3]int{max((n+h-1)/h, 1), g.Batch, 1} }
			fq, bq, bk := 32, 16, 16
			if dt == device.Float64 {
				fq, bq, bk = 16, 8, 8
			}
			if g.L > 0 {
				launch(t, kernels.AttentionName("fwd", dt), &a, tiles(g.L, fq), 128)
			}
			attnExpect(t, what("out"), out.get(), hostVals(wOut), tol)
			attnExpect(t, what("lse"), lse.get(), hostVals(wLSE), tol)
			if g.S == 0 && g.L > 0 {
				if o, l := out.get(), lse.get(); o[0] != 0 || !math.IsInf(l[0], -1) {
					t.Errorf("%s: out[0] = %v, lse[0] = %v, want 0 and -Inf", what("no keys"), o[0], l[0])
				}
			}

			// The backward pass from the CPU's out and lse.
			gd, o2, l2 := newDev(dt, dout), newDev(dt, hostVals(wOut)), newDev(dt, hostVals(wLSE))
			delta := newDev(dt, make([]float64, max(nl, 1)))
			gq, gk, gv := newDev(dt, filledWith(nq, 7)), newDev(dt, filledWith(nk, 7)), newDev(dt, filledWith(nv, 7))
			b := a
			b.Out, b.LSE, b.DOut, b.Delta, b.DQ, b.DK, b.DV = o2.at(0), l2.at(0), gd.at(0), delta.at(0), gq.at(0), gk.at(0), gv.at(0)
			run := func(grid func(n, h int) [3]int) {
				launch(t, kernels.AttentionName("delta", dt), &b, [3]int{2, 1, 1}, 128)
				launch(t, kernels.AttentionName("dkdv", dt), &b, grid(g.S, bk), 128)
				launch(t, kernels.AttentionName("dq", dt), &b, grid(g.L, bq), 128)
			}
			run(tiles)
			attnExpect(t, what("dq"), gq.get(), hostVals(wdq), tol)
			attnExpect(t, what("dk"), gk.get(), hostVals(wdk), tol)
			attnExpect(t, what("dv"), gv.get(), hostVals(wdv), tol)
			first := [][]float64{gq.get(), gk.get(), gv.get()}
			for _, m := range []dev{gq, gk, gv} {
				m.set(filledWith(len(m.get()), 7))
			}
			run(func(int, int) [3]int { return [3]int{1, 1, 1} })
			for i, m := range []dev{gq, gk, gv} {
				expect(t, what("one-block grid "+[]string{"dq", "dk", "dv"}[i]), dt, m.get(), first[i], 0)
			}
			for _, m := range []dev{dq, dk, dv, out, lse, gd, o2, l2, delta, gq, gk, gv} {
				m.Free()
			}
		}
	}
}

func filledWith(n int, v float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = v
	}
	return x
}

func fmtGeom(g device.AttentionGeom) string {
	return "batch=" + itoa(g.Batch) + " L=" + itoa(g.L) + " S=" + itoa(g.S) + " D=" + itoa(g.D) + " DV=" + itoa(g.DV) +
		map[bool]string{true: " causal", false: ""}[g.Causal]
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
