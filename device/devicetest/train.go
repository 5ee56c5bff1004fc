package devicetest

import (
	"errors"
	"math"
	"slices"

	"github.com/tapegrad/tapegrad/device"
)

func testSoftmaxCE(c *tc) {
	for _, d := range [][2]int{{1, 1}, {1, 5}, {4, 3}, {3, 10}, {7, 33}, {0, 4}} {
		n, k := d[0], d[1]
		logits := c.uniform(n*k, -5, 5)
		labels := make([]float64, n)
		for i := range labels {
			labels[i] = float64(c.rng.IntN(k))
		}
		if n >= 3 {
			for j := 0; j < k; j++ { // large logits: exp overflows without the row maximum
				logits[k+j] = c.round(1000 + 3*float64(j))
			}
			labels[2] = -1 // outside [0, c): NaN loss
			if n > 3 {
				labels[3] = float64(k)
			}
		}
		loss, prob := c.output(n), c.output(n*k)
		c.be.SoftmaxCE(loss, prob, c.buffer(logits), c.buffer(labels), n, k)
		c.badLabels(device.IndexSoftmaxCE, labels, k)
		wantLoss, lossMag := make([]float64, n), make([]float64, n)
		wantProb := make([]float64, n*k)
		for i := 0; i < n; i++ {
			row := logits[i*k : (i+1)*k]
			m := math.Inf(-1)
			for _, v := range row {
				m = math.Max(m, v)
			}
			s := 0.0
			for _, v := range row {
				s += math.Exp(v - m)
			}
			for j, v := range row {
				wantProb[i*k+j] = math.Exp(v-m) / s
			}
			lse := m + math.Log(s)
			l := labels[i]
			if l >= 0 && int(l) < k {
				wantLoss[i] = lse - row[int(l)]
				lossMag[i] = math.Abs(lse) + math.Abs(row[int(l)])
			} else {
				wantLoss[i] = math.NaN()
			}
		}
		what := fmtf("SoftmaxCE n=%d c=%d", n, k)
		c.check(what+": loss", c.result("SoftmaxCE loss", loss, n), wantLoss, lossMag, c.tol.Transcendental)
		c.check(what+": prob", c.result("SoftmaxCE prob", prob, n*k), wantProb, nil, c.tol.Transcendental)
	}
}

func testSoftmaxCEGrad(c *tc) {
	for _, d := range [][2]int{{1, 1}, {1, 5}, {4, 3}, {3, 10}, {7, 33}, {0, 4}} {
		n, k := d[0], d[1]
		for _, gk := range []string{"dense", "broadcast", "strided"} {
			prob := c.uniform(n*k, 0, 1)
			labels := make([]float64, n)
			for i := range labels {
				labels[i] = float64(c.rng.IntN(k))
			}
			if n >= 3 {
				labels[2] = -1 // outside [0, c): no one-hot entry
			}
			var gl device.Layout
			var gv []float64
			switch gk {
			case "dense":
				gl, gv = device.Contiguous([]int{n}), c.uniform(n, -2, 2)
			case "broadcast":
				gl, gv = device.Layout{Shape: []int{n}, Strides: []int{0}, Offset: 1}, c.uniform(2, -2, 2)
			case "strided":
				gl, gv = device.Layout{Shape: []int{n}, Strides: []int{3}, Offset: 2}, c.uniform(3*n+2, -2, 2)
			}
			out := c.output(n * k)
			c.be.SoftmaxCEGrad(out, c.buffer(prob), c.buffer(labels), c.buffer(gv), gl, n, k)
			nanRows := c.badLabels(device.IndexSoftmaxCEGrad, labels, k)
			want, mag := make([]float64, n*k), make([]float64, n*k)
			for i := 0; i < n; i++ {
				g := gv[gl.Offset+i*gl.Strides[0]]
				for j := 0; j < k; j++ {
					p := prob[i*k+j]
					oh := 0.0
					if float64(j) == labels[i] {
						oh = 1
					}
					want[i*k+j] = g * (p - oh)
					mag[i*k+j] = math.Abs(g) * (p + oh)
					if nanRows && (labels[i] < 0 || labels[i] >= float64(k)) {
						want[i*k+j] = math.NaN() // a device that checks labels: the row is NaN
					}
				}
			}
			c.check(fmtf("SoftmaxCEGrad n=%d c=%d, g at %v", n, k, gl), c.result("SoftmaxCEGrad", out, n*k), want, mag, c.tol.Elementwise)
		}
	}
}

func testSGDStep(c *tc) {
	params := []device.SGDParams{
		{LR: 0.1},
		{LR: 0.05, WeightDecay: 0.01},
		{LR: 0.1, Momentum: 0.9, First: true},
		{LR: 0.1, Momentum: 0.9},
		{LR: 0.01, Momentum: 0.5, Nesterov: true, WeightDecay: 0.1},
		{LR: 0.01, Momentum: 0.9, Nesterov: true, First: true},
	}
	for _, p := range params {
		for _, n := range []int{0, 1, 9, 70} {
			w, v, g := c.uniform(n+tail, -2, 2), c.uniform(n+tail, -1, 1), c.uniform(n+tail, -1, 1)
			wb, vb, gb := c.buffer(w), c.buffer(v), c.buffer(g)
			c.be.SGDStep(wb, vb, gb, n, p)
			rd := c.computeRound
			ww, wv := append([]float64(nil), w...), append([]float64(nil), v...)
			// mag and vmag bound the rounding errors (sums of the terms'
			// magnitudes: the lines cancel).
			mag, vmag := make([]float64, n+tail), make([]float64, n+tail)
			for i := 0; i < n; i++ {
				d := rd(g[i] + rd(p.WeightDecay)*w[i])
				dm := math.Abs(g[i]) + math.Abs(p.WeightDecay*w[i])
				if p.Momentum != 0 {
					if p.First {
						wv[i], vmag[i] = d, dm
					} else {
						wv[i] = rd(rd(p.Momentum)*v[i] + d)
						vmag[i] = math.Abs(p.Momentum*v[i]) + dm
					}
					if p.Nesterov {
						d = rd(d + rd(p.Momentum)*wv[i])
						dm += math.Abs(p.Momentum) * vmag[i]
					} else {
						d, dm = wv[i], vmag[i]
					}
				}
				ww[i] = w[i] - rd(p.LR)*d
				mag[i] = math.Abs(w[i]) + math.Abs(p.LR)*dm
			}
			what := fmtf("SGDStep %+v, n=%d", p, n)
			c.check(what+": w", c.all(wb), ww, mag, c.tol.Elementwise)
			c.check(what+": v", c.all(vb), wv, vmag, c.tol.Elementwise)
		}
	}
}

func testAdamStep(c *tc) {
	params := []device.AdamParams{
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
		{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 7},
		{LR: 1e-3, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, Step: 3, WeightDecay: 0.01},
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 2, WeightDecay: 0.1, Decoupled: true},
	}
	for _, p := range params {
		for _, n := range []int{0, 1, 9, 70} {
			w, g := c.uniform(n+tail, -2, 2), c.uniform(n+tail, -1, 1)
			m, v := c.uniform(n+tail, -0.1, 0.1), c.uniform(n+tail, 0, 0.01)
			if p.Step == 1 {
				m, v = filled(n+tail, 0), filled(n+tail, 0)
			}
			wb, mb, vb, gb := c.buffer(w), c.buffer(m), c.buffer(v), c.buffer(g)
			c.be.AdamStep(wb, mb, vb, gb, n, p)
			rd := c.computeRound
			ww, wm, wv := append([]float64(nil), w...), append([]float64(nil), m...), append([]float64(nil), v...)
			mag, mmag := make([]float64, n+tail), make([]float64, n+tail)
			c1 := 1 - math.Pow(p.Beta1, float64(p.Step))
			c2 := 1 - math.Pow(p.Beta2, float64(p.Step))
			for i := 0; i < n; i++ {
				gi, wi := g[i], w[i]
				if p.Decoupled {
					wi = rd(wi - p.LR*p.WeightDecay*wi)
				} else {
					gi = rd(gi + p.WeightDecay*wi)
				}
				wm[i] = rd(p.Beta1*m[i] + (1-p.Beta1)*gi)
				mmag[i] = math.Abs(p.Beta1*m[i]) + math.Abs((1-p.Beta1)*gi)
				wv[i] = rd(p.Beta2*v[i] + (1-p.Beta2)*gi*gi)
				den := math.Sqrt(wv[i]/c2) + p.Eps
				step := p.LR * (wm[i] / c1) / den
				ww[i] = wi - step
				mag[i] = math.Abs(wi) + p.LR*(mmag[i]/c1)/den
			}
			what := fmtf("AdamStep %+v, n=%d", p, n)
			// How 1−β is rounded in the dtype is not specified (in float32,
			// float32(1)−float32(β₂) and float32(1−β₂) differ by 1.3e-5
			// relative for β₂ = 0.999), so the moments get the looser
			// transcendental tolerance.
			tol := c.tol.Transcendental
			c.check(what+": w", c.all(wb), ww, mag, tol)
			c.check(what+": m", c.all(mb), wm, mmag, tol)
			c.check(what+": v", c.all(vb), wv, nil, tol)
		}
	}
}

// badLabels checks how the backend reports the labels outside [0, c) that
// op just read: a backend that checks labels on the device
// ([device.IndexChecker]) reports one of them (an *device.IndexError of op,
// at its position) at its next synchronisation, and nothing when all are
// good; any other backend reports nothing. It returns whether the backend
// checks labels.
func (c *tc) badLabels(op device.IndexOp, labels []float64, classes int) bool {
	c.t.Helper()
	_, checks := device.Unwrap(c.be).(device.IndexChecker)
	err := c.be.Synchronize()
	var bad []int
	for i, l := range labels {
		if l < 0 || l >= float64(classes) || l != math.Trunc(l) {
			bad = append(bad, i)
		}
	}
	var ie *device.IndexError
	switch {
	case !checks || len(bad) == 0:
		if err != nil {
			c.t.Fatalf("%v: Synchronize: %v", op, err)
		}
	case !errors.As(err, &ie) || !errors.Is(err, device.ErrBadIndex):
		c.t.Fatalf("%v with bad labels at %v: Synchronize gave %v, want a *device.IndexError", op, bad, err)
	case ie.Op != op || !slices.Contains(bad, int(ie.Pos)) || ie.Value != labels[ie.Pos] || ie.Bound != int64(classes) || ie.NotInteger:
		c.t.Errorf("%v with bad labels at %v (%v): reported %+v", op, bad, labels, *ie)
	}
	return checks
}
