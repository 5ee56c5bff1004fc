package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotFamilies are the op families plotted as GB/s against size, each with
// its case kinds.
var plotFamilies = []struct {
	name  string
	kinds []string
}{
	{"copy", []string{"copy"}},
	{"unary", []string{"unary/exp", "unary/tanh", "unary/relu"}},
	{"binary", []string{"binary/add", "binary/mul", "scalar/mul"}},
	{"broadcast", []string{"broadcast/row/add", "broadcast/col/add"}},
	{"reduce", []string{"reduce/sum/all", "reduce/sum/inner", "reduce/sum/outer", "norm"}},
}

// plotFiles returns the paths writePlots writes for r.
func plotFiles(dir string, r *Run) []string {
	var out []string
	for _, f := range plotFamilies {
		out = append(out, plotPath(dir, r, f.name))
	}
	for _, n := range []string{"matmul", "seed", "mlp-step", "overhead"} {
		out = append(out, plotPath(dir, r, n))
	}
	return out
}

func plotPath(dir string, r *Run, name string) string {
	return filepath.Join(dir, strings.ReplaceAll(r.Device, ":", "")+"-"+name+".png")
}

// library is one line style in the plots: a report and, for torch, a mode.
type library struct {
	label string
	rep   *Report
	mode  string // "" = each case's fastest mode (one mode per name)
}

func libraries(r *Run) []library {
	var libs []library
	if o := r.reportOf(ours); o != nil {
		libs = append(libs, library{ours, o, "eager"})
	}
	for _, c := range peerColumns(r) {
		libs = append(libs, library{c.title, c.rep, c.mode})
	}
	return libs
}

// cases returns the measured cases of lib whose name satisfies keep, one per
// name (the fastest where several modes qualify).
func (l library) cases(keep func(name string) bool) []*Case {
	best := map[string]*Case{}
	var order []string
	for i := range l.rep.Cases {
		c := &l.rep.Cases[i]
		if !c.OK() || !keep(c.Name) || (l.mode != "" && c.Mode != l.mode) {
			continue
		}
		if b, ok := best[c.Name]; !ok {
			order = append(order, c.Name)
			best[c.Name] = c
		} else if c.MedianNs < b.MedianNs {
			best[c.Name] = c
		}
	}
	out := make([]*Case, len(order))
	for i, n := range order {
		out[i] = best[n]
	}
	return out
}

// writePlots writes r's plots into dir and returns the files written.
func writePlots(dir string, r *Run) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	libs := libraries(r)
	var files []string
	save := func(p *plot.Plot, name string) error {
		widenLog(&p.X)
		widenLog(&p.Y)
		if _, ok := p.Y.Scale.(plot.LogScale); !ok && p.Y.Max > 0 {
			p.Y.Max *= 1.15 // room for the legend and the roofline under the title
		}
		f := plotPath(dir, r, name)
		if err := savePNG(p, 7*vg.Inch, 4.5*vg.Inch, f); err != nil {
			return err
		}
		files = append(files, f)
		return nil
	}
	// Two lines: the machine description can be long.
	title := func(what string) string { return fmt.Sprintf("%s\non %s (%s)", what, r.Device, r.Machine) }

	for _, fam := range plotFamilies {
		p := newPlot(title(fam.name+": achieved bandwidth"), "elements (float32)", "GB/s", true, false)
		minX, maxX, lines := 0.0, 0.0, 0
		for li, lib := range libs {
			for ki, kind := range fam.kinds {
				// tapegrad's copies come in three modes, each a line.
				modes := []string{lib.mode}
				if kind == "copy" && lib.rep.Peer == ours {
					modes = []string{"go", "go-parallel", "go-loop", "eager"}
				}
				for mi, mode := range modes {
					l := lib
					l.mode = mode
					var xys plotter.XYs
					for _, c := range l.cases(func(n string) bool { k, _ := kindOf(n); return k == kind }) {
						if _, n := kindOf(c.Name); n > 0 && c.Unit == "GB/s" && c.Value > 0 {
							xys = append(xys, plotter.XY{X: float64(n), Y: c.Value})
						}
					}
					if len(xys) == 0 {
						continue
					}
					sort.Slice(xys, func(a, b int) bool { return xys[a].X < xys[b].X })
					label := strings.TrimPrefix(strings.TrimPrefix(kind, "unary/"), "reduce/")
					if kind == "copy" && lib.rep.Peer == ours {
						label = map[string]string{"go": "Go copy, 1 goroutine", "go-parallel": "Go copy, parallel", "go-loop": "Go loop, parallel", "eager": "Clone"}[mode]
					}
					if err := addLine(p, xys, label+" ("+lib.label+")", lib.label, ki+mi, li == 0); err != nil {
						return files, err
					}
					lines++
					if minX == 0 || xys[0].X < minX {
						minX = xys[0].X
					}
					maxX = max(maxX, xys[len(xys)-1].X)
				}
			}
		}
		if lines == 0 {
			continue
		}
		if fam.name == "copy" {
			p.Legend.Left = false // cache-resident small copies are the high points on the left
		}
		if r.Roofline > 0 {
			roof, err := plotter.NewLine(plotter.XYs{{X: minX, Y: r.Roofline}, {X: maxX, Y: r.Roofline}})
			if err != nil {
				return files, err
			}
			roof.Color = color.Black
			roof.Width = vg.Points(1.5)
			roof.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
			p.Add(roof)
			p.Legend.Add(fmt.Sprintf("roofline %.1f GB/s (%s)", r.Roofline, r.RooflineCase), roof)
		}
		if err := save(p, fam.name); err != nil {
			return files, err
		}
	}

	// Matmul: GFLOP/s against the product's flops.
	p := newPlot(title("matmul"), "flops per product (2·M·K·N)", "GFLOP/s", false, false)
	lines := 0
	for li, lib := range libs {
		var xys plotter.XYs
		for _, c := range lib.cases(func(n string) bool { return strings.HasPrefix(n, "matmul/") }) {
			if c.Flops > 0 && c.Value > 0 {
				xys = append(xys, plotter.XY{X: float64(c.Flops), Y: c.Value})
			}
		}
		if len(xys) == 0 {
			continue
		}
		sort.Slice(xys, func(a, b int) bool { return xys[a].X < xys[b].X })
		if err := addLine(p, xys, lib.label, lib.label, 0, li == 0); err != nil {
			return files, err
		}
		lines++
	}
	if lines > 0 {
		if err := save(p, "matmul"); err != nil {
			return files, err
		}
	}

	// seed/N: time per forward+backward against N.
	p = newPlot(title("seed y = sum(2·x·x), forward + backward"), "elements (float32)", "time per step (ms)", true, true)
	lines = 0
	for li, lib := range libs {
		var xys plotter.XYs
		for _, c := range lib.cases(func(n string) bool { return strings.HasPrefix(n, "seed/") }) {
			if _, n := kindOf(c.Name); n > 0 {
				xys = append(xys, plotter.XY{X: float64(n), Y: float64(c.MedianNs) / 1e6})
			}
		}
		if len(xys) == 0 {
			continue
		}
		sort.Slice(xys, func(a, b int) bool { return xys[a].X < xys[b].X })
		if err := addLine(p, xys, lib.label, lib.label, 0, li == 0); err != nil {
			return files, err
		}
		lines++
	}
	if lines > 0 {
		if err := save(p, "seed"); err != nil {
			return files, err
		}
	}

	// Bars: mlp/step time per step, overhead/op time per op.
	for _, bar := range []struct{ file, name, what, unit string }{
		{"mlp-step", "mlp/step", "MLP training step (784-512-10, batch 256)", "ms per step"},
		{"overhead", "overhead/op", "host cost per op (forward + backward, [16] tensors)", "µs per op"},
	} {
		var vals []float64
		var names, labels []string
		for _, lib := range libs {
			cs := lib.cases(func(n string) bool { return n == bar.name })
			if len(cs) == 0 {
				continue
			}
			v := float64(cs[0].MedianNs) / 1e6
			if bar.name == "overhead/op" {
				v = float64(cs[0].MedianNs) / 100 / 1e3
			}
			vals = append(vals, v)
			labels = append(labels, lib.label)
			names = append(names, fmt.Sprintf("%s\n%s", lib.label, sig3(v)))
		}
		if len(vals) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = title(bar.what)
		p.Title.TextStyle.Font.Size = vg.Points(11)
		p.Y.Label.Text = bar.unit
		p.Add(plotter.NewGrid())
		// One bar chart per library, each in the library's colour, at its
		// own position on the nominal axis.
		for i, v := range vals {
			bc, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(40))
			if err != nil {
				return files, err
			}
			bc.XMin = float64(i)
			bc.Color = libColor(labels[i])
			bc.LineStyle.Width = vg.Points(0.5)
			p.Add(bc)
		}
		p.X.Min, p.X.Max = -0.6, float64(len(vals))-0.4
		p.Y.Min = 0
		p.NominalX(names...)
		if err := save(p, bar.file); err != nil {
			return files, err
		}
	}
	return files, nil
}

// newPlot returns a plot with a logarithmic x axis (sizeTicks when sizes
// is true, powers of ten otherwise), a linear y axis from 0 or, with logY, a
// logarithmic one, a grid, and the legend top left.
func newPlot(title, x, y string, sizes, logY bool) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	if sizes {
		p.X.Tick.Marker = sizeTicks{}
	}
	if logY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	} else {
		p.Y.Min = 0
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())
	return p
}

// sizeTicks marks every power of two on a log axis of element counts,
// labelling the even powers from 2^10 as 1K, 4K, ..., 16M, 64M.
type sizeTicks struct{}

// Ticks implements plot.Ticker.
func (sizeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := 0; e < 40; e++ {
		v := float64(int64(1) << e)
		if v < lo || v > hi {
			continue
		}
		label := ""
		if e >= 10 && e%2 == 0 {
			label = sizeLabel(int64(1) << e)
		}
		ts = append(ts, plot.Tick{Value: v, Label: label})
	}
	return ts
}

// libColors are the libraries' colours in the plots: each library has its
// own, whatever the plot and whichever peers ran.
var libColors = map[string]color.Color{
	ours:            color.RGBA{R: 0, G: 90, B: 181, A: 255},   // blue
	"gorgonia":      color.RGBA{R: 230, G: 120, B: 0, A: 255},  // orange
	"gomlx":         color.RGBA{R: 0, G: 150, B: 70, A: 255},   // green
	"torch":         color.RGBA{R: 200, G: 30, B: 45, A: 255},  // red
	"torch.compile": color.RGBA{R: 130, G: 60, B: 170, A: 255}, // purple
}

// libColor returns the colour of the library with the given label (grey
// for one not in libColors).
func libColor(label string) color.Color {
	if c, ok := libColors[label]; ok {
		return c
	}
	return color.RGBA{R: 110, G: 110, B: 110, A: 255}
}

// addLine adds a line with points: the colour is the library's (lib), the
// dashes and glyph tell the series of one library apart (series), and
// tapegrad's lines (ours) are thicker.
func addLine(p *plot.Plot, xys plotter.XYs, label, lib string, series int, ours bool) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color = libColor(lib)
	l.Dashes = plotutil.Dashes(series)
	l.Width = vg.Points(1.2)
	if ours {
		l.Width = vg.Points(2)
	}
	s.Color = l.Color
	s.Shape = plotutil.Shape(series)
	p.Add(l, s)
	p.Legend.Add(label, l, s)
	return nil
}

// savePNG draws p on a w×h PNG with margins on every side, so that the
// title, the outermost tick labels and the last bar are never clipped.
func savePNG(p *plot.Plot, w, h vg.Length, path string) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	m := 3 * vg.Millimeter
	p.Draw(draw.Crop(dc, m, -3*m, m, -m))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// widenLog gives a log-scale axis whose data is a single value a range of
// its own (gonum/plot would widen it by ±1, below zero).
func widenLog(a *plot.Axis) {
	if _, ok := a.Scale.(plot.LogScale); ok && a.Min == a.Max && a.Min > 0 {
		a.Min, a.Max = a.Min/2, a.Max*2
	}
}
