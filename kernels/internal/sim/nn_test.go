//go:build kernelsim

package sim

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// The training kernels (module nn) against the CPU backend's loops. All of
// them but the softmax reproduce the CPU's order of operations, so their
// results must be bitwise equal; the softmax sums exponentials with a tree
// (in double), so it may differ in the last bits.

func geomOf(g device.ConvGeom) ConvGeom {
	return ConvGeom{int64(g.N), int64(g.C), int64(g.H), int64(g.W), int64(g.KH), int64(g.KW),
		int64(g.SH), int64(g.SW), int64(g.PH), int64(g.PW), int64(g.OH), int64(g.OW)}
}

var convGeoms = []device.ConvGeom{
	{N: 2, C: 3, H: 7, W: 6, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, OH: 7, OW: 6},
	{N: 1, C: 2, H: 9, W: 8, KH: 3, KW: 2, SH: 2, SW: 3, PH: 1, PW: 0, OH: 5, OW: 3},
	{N: 3, C: 1, H: 5, W: 5, KH: 5, KW: 5, SH: 1, SW: 1, PH: 2, PW: 2, OH: 5, OW: 5},
}

func TestIm2ColCol2Im(t *testing.T) {
	for gi, g := range convGeoms {
		nIn := g.N * g.C * g.H * g.W
		nCol := g.C * g.KH * g.KW * g.N * g.OH * g.OW
		x := data(nIn, uint64(10+gi))
		c := data(nCol, uint64(20+gi))
		for _, dt := range dts {
			// im2col
			src, dst := newDev(dt, x), newDev(dt, make([]float64, nCol))
			launch(t, "tg_im2col_"+dtName(dt), &ConvArgs{Dst: dst.at(0), Src: src.at(0), G: geomOf(g)}, ewGrid, ewBlock)
			want := host(dt, make([]float64, nCol))
			be.Im2Col(want, host(dt, x), device.Contiguous([]int{g.N, g.C, g.H, g.W}), g)
			expect(t, "im2col", dt, dst.get(), hostVals(want), 0)
			// col2im
			csrc, img := newDev(dt, c), newDev(dt, make([]float64, nIn))
			launch(t, "tg_col2im_"+dtName(dt), &ConvArgs{Dst: img.at(0), Src: csrc.at(0), G: geomOf(g)}, ewGrid, ewBlock)
			want = host(dt, make([]float64, nIn))
			be.Col2Im(want, host(dt, c), g)
			expect(t, "col2im", dt, img.get(), hostVals(want), 0)
			for _, m := range []dev{src, dst, csrc, img} {
				m.Free()
			}
		}
	}
}

func TestMaxPoolKernels(t *testing.T) {
	geoms := []device.ConvGeom{
		{N: 2, C: 3, H: 6, W: 8, KH: 2, KW: 2, SH: 2, SW: 2, OH: 3, OW: 4},
		{N: 1, C: 2, H: 7, W: 7, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, OH: 4, OW: 4},
	}
	for gi, g := range geoms {
		nIn, nOut := g.N*g.C*g.H*g.W, g.N*g.C*g.OH*g.OW
		x := data(nIn, uint64(30+gi)) // includes NaN, ±Inf and ties
		dy := data(nOut, uint64(40+gi))
		for _, dt := range dts {
			src := newDev(dt, x)
			out, idx := newDev(dt, make([]float64, nOut)), newDev(dt, make([]float64, nOut))
			launch(t, "tg_maxpool_"+dtName(dt), &PoolArgs{Dst: out.at(0), Idx: idx.at(0), Src: src.at(0), G: geomOf(g)}, ewGrid, ewBlock)
			wantOut, wantIdx := host(dt, make([]float64, nOut)), host(dt, make([]float64, nOut))
			be.MaxPool(wantOut, wantIdx, host(dt, x), device.Contiguous([]int{g.N, g.C, g.H, g.W}), g)
			expect(t, "maxpool values", dt, out.get(), hostVals(wantOut), 0)
			expect(t, "maxpool indices", dt, idx.get(), hostVals(wantIdx), 0)

			// Scatter dy back by those indices, and gather x with them.
			gy := newDev(dt, dy)
			dx := newDev(dt, make([]float64, nIn))
			launch(t, "tg_poolscatter_"+dtName(dt), &PoolArgs{Dst: dx.at(0), Idx: idx.at(0), Src: gy.at(0), G: geomOf(g)}, ewGrid, ewBlock)
			wantDx := host(dt, make([]float64, nIn))
			be.PoolScatter(wantDx, host(dt, dy), wantIdx, g)
			expect(t, "poolscatter", dt, dx.get(), hostVals(wantDx), 0)

			gathered := newDev(dt, make([]float64, nOut))
			launch(t, "tg_poolgather_"+dtName(dt), &PoolArgs{Dst: gathered.at(0), Idx: idx.at(0), Src: src.at(0), G: geomOf(g)}, ewGrid, ewBlock)
			wantG := host(dt, make([]float64, nOut))
			be.PoolGather(wantG, host(dt, x), wantIdx, g)
			expect(t, "poolgather", dt, gathered.get(), hostVals(wantG), 0)
			for _, m := range []dev{src, out, idx, gy, dx, gathered} {
				m.Free()
			}
		}
	}
}

func TestSoftmaxCE(t *testing.T) {
	for _, c := range []int{3, 10, 300} { // a row shorter and longer than a block
		const n = 7
		x := redData(n*c, uint64(c))
		labels := make([]float64, n)
		for i := range labels {
			labels[i] = float64((i * 7) % c)
		}
		labels[2] = float64(c) // out of range: NaN loss
		labels[4] = 0.5        // not an integer: NaN loss
		g := []float64{2}      // one value broadcast (stride 0), as Mean's gradient
		for _, dt := range dts {
			lg, lb := newDev(dt, x), newDev(dt, labels)
			loss, prob := newDev(dt, make([]float64, n)), newDev(dt, make([]float64, n*c))
			launch(t, "tg_softmaxce_"+dtName(dt), &SoftmaxArgs{Loss: loss.at(0), Prob: prob.at(0), Logits: lg.at(0), Labels: lb.at(0), N: n, C: int64(c)}, [3]int{3, 1, 1}, 256)
			wantLoss, wantProb := host(dt, make([]float64, n)), host(dt, make([]float64, n*c))
			be.SoftmaxCE(wantLoss, wantProb, host(dt, x), host(dt, labels), n, c)
			tol := 4.0
			if dt == device.Float64 {
				tol = 64 // double sums in another order
			}
			expect(t, "softmaxce loss", dt, loss.get(), hostVals(wantLoss), tol)
			expect(t, "softmaxce prob", dt, prob.get(), hostVals(wantProb), tol)
			if l := loss.get(); !math.IsNaN(l[2]) || !math.IsNaN(l[4]) {
				t.Errorf("invalid labels gave losses %v, %v", l[2], l[4])
			}

			// The gradient from the CPU's probabilities, so that it is
			// compared exactly.
			pr, gg := newDev(dt, hostVals(wantProb)), newDev(dt, g)
			dl := newDev(dt, make([]float64, n*c))
			launch(t, "tg_softmaxcegrad_"+dtName(dt), &SoftmaxGradArgs{DLogits: dl.at(0), Prob: pr.at(0), Labels: lb.at(0), G: gg.at(0), N: n, C: int64(c), GOff: 0, GStride: 0}, ewGrid, ewBlock)
			want := host(dt, make([]float64, n*c))
			be.SoftmaxCEGrad(want, wantProb, host(dt, labels), host(dt, g), device.Layout{Shape: []int{n}, Strides: []int{0}}, n, c)
			wantD := hostVals(want)
			for _, i := range []int{2, 4} { // the rows of the bad labels are NaN
				for j := range c {
					wantD[i*c+j] = math.NaN()
				}
			}
			expect(t, "softmaxcegrad", dt, dl.get(), wantD, 0)
			for _, m := range []dev{lg, lb, loss, prob, pr, gg, dl} {
				m.Free()
			}
		}
	}
}

func TestOptimizerSteps(t *testing.T) {
	const n = 517
	w0, g0, v0 := data(n, 51), data(n, 52), data(n, 53)
	// Optimiser state is finite; keep the second moment non-negative.
	for i := range v0 {
		if math.IsNaN(v0[i]) || math.IsInf(v0[i], 0) {
			v0[i] = 1
		}
		v0[i] = math.Abs(v0[i])
	}
	for _, dt := range dts {
		for _, p := range []device.SGDParams{
			{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, First: true},
			{LR: 0.05, Momentum: 0.9, Nesterov: true},
			{LR: 0.3},
		} {
			w, v, g := newDev(dt, w0), newDev(dt, v0), newDev(dt, g0)
			launch(t, "tg_sgd_"+dtName(dt), &SGDArgs{W: w.at(0), V: v.at(0), G: g.at(0), N: n, LR: p.LR, Momentum: p.Momentum,
				WD: p.WeightDecay, Nesterov: b2i(p.Nesterov), First: b2i(p.First)}, ewGrid, ewBlock)
			hw, hv := host(dt, w0), host(dt, v0)
			be.SGDStep(hw, hv, host(dt, g0), n, p)
			expect(t, "sgd w", dt, w.get(), hostVals(hw), 0)
			if p.Momentum != 0 {
				expect(t, "sgd v", dt, v.get(), hostVals(hv), 0)
			}
			for _, m := range []dev{w, v, g} {
				m.Free()
			}
		}
		for _, p := range []device.AdamParams{
			{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
			{LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.01, Step: 7},
			{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1, Step: 3, Decoupled: true},
		} {
			w, m, v, g := newDev(dt, w0), newDev(dt, g0), newDev(dt, v0), newDev(dt, g0)
			launch(t, "tg_adam_"+dtName(dt), &AdamArgs{W: w.at(0), M: m.at(0), V: v.at(0), G: g.at(0), N: n,
				LR: p.LR, Beta1: p.Beta1, Beta2: p.Beta2, Eps: p.Eps, WD: p.WeightDecay,
				C1: 1 - math.Pow(p.Beta1, float64(p.Step)), C2: 1 - math.Pow(p.Beta2, float64(p.Step)),
				Decoupled: b2i(p.Decoupled)}, ewGrid, ewBlock)
			hw, hm, hv := host(dt, w0), host(dt, g0), host(dt, v0)
			be.AdamStep(hw, hm, hv, host(dt, g0), n, p)
			expect(t, "adam w", dt, w.get(), hostVals(hw), 0)
			expect(t, "adam m", dt, m.get(), hostVals(hm), 0)
			expect(t, "adam v", dt, v.get(), hostVals(hv), 0)
			for _, x := range []dev{w, m, v, g} {
				x.Free()
			}
		}
	}
}

func dtName(dt device.DType) string {
	if dt == device.Float64 {
		return "f64"
	}
	return "f32"
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
