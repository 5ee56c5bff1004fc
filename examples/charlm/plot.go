package main

import (
	"fmt"
	"image/color"
	"math"

	"github.com/tapegrad/tapegrad/internal/lossplot"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// countModels are the validation cross-entropies of package data's
// add-0.1 n-gram models of the fortunes corpus (data.NGramCrossEntropy).
var countModels = []struct {
	Name string
	Loss float64
}{{"unigram", 3.373}, {"bigram", 2.613}, {"3-char context", 1.904}}

// writePlot draws the training loss of every step (thin), its running mean
// over a fiftieth of the run (thick), the validation losses (points) and
// the count models' losses (dashed), against the step.
func writePlot(path string, res *result, cfg config) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("charlm: %d layers, width %d, context %d, batch %d", cfg.Layers, cfg.Width, cfg.Context, cfg.Batch)
	p.X.Label.Text = "step"
	p.Y.Label.Text = "cross-entropy (nats/char)"
	p.Add(plotter.NewGrid())
	window := max(len(res.Losses)/50, 1)
	maxLoss, err := lossplot.Steps(p, res.Losses, func(i int) float64 { return float64(res.Start + i + 1) }, window,
		"training loss", fmt.Sprintf("training, mean of %d steps", window))
	if err != nil {
		return err
	}
	if len(res.Evals) > 0 {
		pts := make(plotter.XYs, len(res.Evals))
		for i, e := range res.Evals {
			pts[i] = plotter.XY{X: float64(e.Step), Y: e.Loss}
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 200, G: 60, B: 20, A: 255}
		s.Color = l.Color
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3)
		p.Add(l, s)
		name := "validation"
		if cfg.EvalWindows > 0 && (cfg.ValWindows == 0 || cfg.ValWindows > cfg.EvalWindows) {
			name = fmt.Sprintf("validation (the last point on %s windows, the others on %d)", windowsName(cfg.ValWindows), cfg.EvalWindows)
		}
		p.Legend.Add(name, l, s)
	}
	x0, x1 := float64(res.Start), float64(max(res.Steps, res.Start+1))
	for i, c := range countModels {
		l, err := plotter.NewLine(plotter.XYs{{X: x0, Y: c.Loss}, {X: x1, Y: c.Loss}})
		if err != nil {
			return err
		}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		l.Color = color.Gray{Y: uint8(60 + 50*i)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s count model %.2f", c.Name, c.Loss), l)
	}
	p.Legend.Top = true
	if maxLoss == 0 {
		maxLoss = 5
	}
	p.X.Min, p.X.Max = x0, x1
	p.Y.Min, p.Y.Max = 1, math.Max(maxLoss, 3.5)*1.02
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

func windowsName(n int) string {
	if n == 0 {
		return "all"
	}
	return fmt.Sprint(n)
}
