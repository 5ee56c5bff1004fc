// Package lossplot draws the training-loss curves of the examples
// (examples/fashion-mnist, examples/charlm) on gonum plots.
package lossplot

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Steps adds to p the loss of every step as a thin light line, at x(i) for
// step i, and its running mean over window steps (the first steps: over
// those so far) as a thick dark one, with the legend entries rawName and
// meanName. It returns the largest finite loss (0 for none). Nothing is
// added for no losses.
func Steps(p *plot.Plot, losses []float64, x func(i int) float64, window int, rawName, meanName string) (maxLoss float64, err error) {
	n := len(losses)
	if n == 0 {
		return 0, nil
	}
	window = max(window, 1)
	raw := make(plotter.XYs, n)
	smooth := make(plotter.XYs, n)
	sum := 0.0
	for i, l := range losses {
		raw[i] = plotter.XY{X: x(i), Y: l}
		if !math.IsNaN(l) && !math.IsInf(l, 0) {
			maxLoss = math.Max(maxLoss, l)
		}
		sum += l
		if i >= window {
			sum -= losses[i-window]
		}
		smooth[i] = plotter.XY{X: raw[i].X, Y: sum / float64(min(i+1, window))}
	}
	rl, err := plotter.NewLine(raw)
	if err != nil {
		return 0, err
	}
	rl.Color = color.RGBA{R: 160, G: 190, B: 230, A: 255}
	rl.Width = vg.Points(0.5)
	sl, err := plotter.NewLine(smooth)
	if err != nil {
		return 0, err
	}
	sl.Color = color.RGBA{R: 20, G: 70, B: 160, A: 255}
	sl.Width = vg.Points(1.5)
	p.Add(rl, sl)
	p.Legend.Add(rawName, rl)
	p.Legend.Add(meanName, sl)
	return maxLoss, nil
}
