package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/tapegrad/tapegrad/device"
)

const ours = "tapegrad"

// reportOf returns the run's report of peer, or nil.
func (r *Run) reportOf(peer string) *Report {
	for i := range r.Reports {
		if r.Reports[i].Peer == peer {
			return &r.Reports[i]
		}
	}
	return nil
}

func isCUDA(r *Run) bool { return strings.HasPrefix(r.Device, "cuda") }

// kindOf returns a case name without its size ("unary/exp/1024" →
// "unary/exp") and the size (0 if the last element is not a number).
func kindOf(name string) (string, int64) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, 0
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil {
		return name, 0
	}
	return name[:i], n
}

// bandwidthFamily classifies the memory-bound kinds for the targets:
// "elementwise", "broadcast", "reduce" (sums and the norm), or "".
func bandwidthFamily(kind string) string {
	switch {
	case strings.HasPrefix(kind, "unary/"), strings.HasPrefix(kind, "binary/"), kind == "scalar/mul":
		return "elementwise"
	case strings.HasPrefix(kind, "broadcast/"):
		return "broadcast"
	case strings.HasPrefix(kind, "reduce/"), kind == "norm":
		return "reduce"
	}
	return ""
}

// mlpFlops is the arithmetic of one mlp/step: the forward products, the
// weight gradients of both layers and the hidden layer's input gradient.
const mlpFlops = 2*256*(784*512+512*10) + 2*256*784*512 + 4*256*512*10

// floorNs is the least time case c could take on this run's device: its
// bytes at the roofline, or its flops at the peak; 0 if there is none.
func (r *Run) floorNs(c *Case) (ns float64, basis string) {
	kind, n := kindOf(c.Name)
	switch {
	case c.Bytes > 0 && r.Roofline > 0:
		return float64(c.Bytes) / r.Roofline, "bytes/roofline"
	case c.Flops > 0 && r.PeakGFLOPS > 0:
		return float64(c.Flops) / r.PeakGFLOPS, "flops/peak"
	case kind == "seed" && n > 0 && r.Roofline > 0:
		return float64(8*n) / r.Roofline, "8N bytes/roofline"
	case c.Name == "mlp/step" && r.PeakGFLOPS > 0:
		return mlpFlops / r.PeakGFLOPS, "flops/peak"
	}
	return 0, ""
}

// evaluate sets the run's roofline and peak and evaluates the targets.
func evaluate(r *Run, quick bool) {
	o := r.reportOf(ours)
	if o == nil {
		return
	}
	dev, _ := device.Parse(r.Device)
	rn := fmt.Sprintf("copy/%d", rooflineSize(dev))
	var best *Case
	for _, m := range rooflineModes(isCUDA(r)) {
		if c := o.Find(rn, m); c.OK() && (best == nil || c.Value > best.Value) {
			best = c
		}
	}
	if best != nil {
		r.Roofline, r.RooflineCase = best.Value, rn+" ("+best.Mode+")"
		var parts []string
		for _, m := range []string{"go", "go-parallel", "go-parallel-end", "go-loop", "eager", "eager-end"} {
			if c := o.Find(rn, m); c.OK() {
				what := map[string]string{"go": "Go's copy on one goroutine", "go-parallel": fmt.Sprintf("Go's copy over GOMAXPROCS=%d goroutines", runtime.GOMAXPROCS(0)),
					"go-parallel-end": "the same again after all other cases",
					"go-loop":         "a plain Go loop d[i] = s[i] over as many goroutines (no vector instructions)", "eager": "tapegrad's Clone",
					"eager-end": "tapegrad's Clone again after all other cases"}[m]
				if isCUDA(r) && m == "eager" {
					what = "tapegrad's Clone (cuMemcpyDtoD)"
				}
				parts = append(parts, fmt.Sprintf("%s %.2f GB/s", what, c.Value))
			}
		}
		r.Notes = append([]string{fmt.Sprintf("roofline: %s = %.2f GB/s (%s; the faster of its medians at the start and at the end of the run); copy at %s: %s", r.RooflineCase, r.Roofline,
			map[bool]string{false: "the parallel Go copy, since tapegrad's CPU kernels split their loops over GOMAXPROCS goroutines the same way", true: "a device-to-device copy"}[isCUDA(r)],
			sizeLabel(int64(rooflineSize(dev))), strings.Join(parts, ", "))}, r.Notes...)
	}
	r.PeakGFLOPS, r.PeakSource = peak(r)

	gor := r.reportOf("gorgonia")
	tch := r.reportOf("torch")
	add := func(c *Case, goal string, met bool, detail string) {
		st := "missed"
		if met {
			st = "met"
		}
		r.Targets = append(r.Targets, Target{Case: c.Name, Goal: goal, Status: st, Detail: detail})
	}
	na := func(c *Case, goal, why string) {
		r.Targets = append(r.Targets, Target{Case: c.Name, Goal: goal, Status: "n/a", Detail: why})
	}
	// vsPeer evaluates "peer time / our time >= factor".
	vsPeer := func(c *Case, p *Report, peerName, goal string, factor float64, fastestMode bool) {
		if p == nil {
			na(c, goal, peerName+" not run")
			return
		}
		pc := p.Find(c.Name, "eager")
		if fastestMode || pc == nil {
			pc = p.Fastest(c.Name)
		}
		if !pc.OK() {
			na(c, goal, peerName+" has no result for this case")
			return
		}
		ratio := float64(pc.MedianNs) / float64(c.MedianNs)
		mode := ""
		if pc.Mode != "" {
			mode = " " + pc.Mode
		}
		add(c, goal, ratio >= factor, fmt.Sprintf("%s%s %s / tapegrad %s = %.2f×", peerName, mode, fmtDur(pc.MedianNs), fmtDur(c.MedianNs), ratio))
	}
	for i := range o.Cases {
		c := &o.Cases[i]
		if !c.OK() || c.Mode != "eager" {
			continue
		}
		kind, n := kindOf(c.Name)
		fam := bandwidthFamily(kind)
		bw := func(frac float64) {
			goal := fmt.Sprintf(">= %.0f%% of copy bandwidth", 100*frac)
			if r.Roofline <= 0 {
				na(c, goal, "no roofline measured")
				return
			}
			f := c.Value / r.Roofline
			add(c, goal, f >= frac, fmt.Sprintf("%.0f%% (%.2f of %.2f GB/s)", 100*f, c.Value, r.Roofline))
		}
		if !isCUDA(r) {
			switch {
			case fam != "" && n == 1<<24:
				bw(0.75)
			case kind == "seed":
				vsPeer(c, gor, "gorgonia", ">= 2× faster than gorgonia's fastest path", 2, true)
			case c.Name == "mlp/step":
				vsPeer(c, gor, "gorgonia", ">= 3× faster than gorgonia", 3, true)
			}
			continue
		}
		switch {
		case fam == "elementwise" && n >= 1<<26:
			bw(0.90)
		case fam == "reduce" && n >= 1<<26:
			bw(0.95)
		case fam == "broadcast" && n >= 1<<26:
			bw(0.80)
		case kind == "matmul":
			// "within 5% of PyTorch": torch time / ours >= 1/1.05.
			vsPeer(c, tch, "torch", "within 5% of PyTorch (its fastest mode)", 1/1.05, true)
		case c.Name == "overhead/op":
			add(c, "host cost <= 3 µs per op", c.Value <= 3000, fmt.Sprintf("%.0f ns/op", c.Value))
		case kind == "seed", c.Name == "mlp/step":
			vsPeer(c, tch, "torch", "faster than PyTorch eager", 1, false)
		}
	}
	if quick {
		r.Notes = append(r.Notes, "-quick: sizes up to 1M elements, so the bandwidth targets (at 16M on the CPU, 64M on a GPU) are not evaluated")
	}
}

// gpuPeaks are FP32 (non-tensor-core) peaks from NVIDIA's data sheets, in
// GFLOP/s; the first entry whose name is contained in the GPU's name wins.
var gpuPeaks = []struct {
	name   string
	gflops float64
}{
	{"H100 PCIe", 51200}, {"H100 NVL", 60000}, {"H100", 66900}, {"H200", 66900}, {"GH200", 66900},
	{"A100", 19500}, {"L40S", 91600}, {"L40", 90500}, {"L4", 30300}, {"A10G", 31200}, {"A10", 31200},
	{"V100", 15700}, {"T4", 8100}, {"RTX 4090", 82600},
}

// peak returns the matmul peak the floors use and where it comes from.
func peak(r *Run) (float64, string) {
	if isCUDA(r) {
		for _, g := range gpuPeaks {
			if strings.Contains(r.Machine, g.name) {
				return g.gflops, fmt.Sprintf("stated: %s FP32 peak from NVIDIA's data sheet (%.1f TFLOP/s, boost clock, no tensor cores)", g.name, g.gflops/1000)
			}
		}
		best := 0.0
		for _, rep := range r.Reports {
			for _, c := range rep.Cases {
				if c.OK() && c.Unit == "GFLOP/s" && c.Value > best {
					best = c.Value
				}
			}
		}
		if best > 0 {
			return best, "measured: the best matmul GFLOP/s of this run (GPU not in the data-sheet table)"
		}
		return 0, ""
	}
	mhz, _ := strconv.ParseFloat(cpuInfo("cpu MHz"), 64)
	flags := " " + cpuInfo("flags") + " "
	perCycle := 0.0
	switch {
	case strings.Contains(flags, " avx512f ") && !strings.Contains(cpuInfo("vendor_id"), "AMD"):
		perCycle = 64 // two 512-bit FMA units
	case strings.Contains(flags, " fma ") && strings.Contains(flags, " avx2 "):
		perCycle = 32 // two 256-bit FMA units: 2 × 8 lanes × 2 flops
	case strings.Contains(flags, " sse2 "):
		perCycle = 8
	}
	if mhz <= 0 || perCycle == 0 {
		return 0, ""
	}
	p := float64(runtime.NumCPU()) * mhz / 1000 * perCycle
	return p, fmt.Sprintf("stated, theoretical: %d logical CPUs × %.0f MHz × %.0f float32 flop/cycle (two 256-bit FMA units; the clock may boost above the nominal value, so measured rates can exceed it slightly)", runtime.NumCPU(), mhz, perCycle)
}

// sizeLabel prints element counts as 1K, 64K, 1M, 16M, 64M.
func sizeLabel(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}

// peerColumns are the peer columns of a run's table: each peer, and torch's
// compile mode as a column of its own.
func peerColumns(r *Run) []peerColumn {
	var cols []peerColumn
	for i := range r.Reports {
		rep := &r.Reports[i]
		if rep.Peer == ours {
			continue
		}
		if rep.Peer == "torch" {
			cols = append(cols, peerColumn{rep, "torch", "eager"})
			for _, c := range rep.Cases {
				if c.Mode == "compile" {
					cols = append(cols, peerColumn{rep, "torch.compile", "compile"})
					break
				}
			}
			continue
		}
		cols = append(cols, peerColumn{rep, rep.Peer, ""})
	}
	return cols
}

type peerColumn struct {
	rep   *Report
	title string
	mode  string // only cases of this mode ("" any)
}

// markdownRun formats one device's results: a header with the date,
// machine, commit, command and load, the roofline and peak, the table, the
// targets and the notes.
func markdownRun(doc *Document, r *Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s: %s\n\n", r.Device, r.Machine)
	fmt.Fprintf(&b, "- date: %s; commit: %s; command: `%s`\n", doc.Date, doc.Commit, doc.Command)
	if r.Load != "" {
		fmt.Fprintf(&b, "- load average (1, 5, 15 min): %s\n", r.Load)
	}
	if o := r.reportOf(ours); o != nil {
		fmt.Fprintf(&b, "- tapegrad %s, %s\n", o.Version, o.Go)
	}
	for _, rep := range r.Reports {
		if rep.Peer != ours {
			fmt.Fprintf(&b, "- %s %s (%s, %s)\n", rep.Peer, rep.Version, rep.Machine, rep.Date)
		}
	}
	if r.PeakGFLOPS > 0 {
		fmt.Fprintf(&b, "- matmul peak for the floors: %.0f GFLOP/s (%s)\n", r.PeakGFLOPS, r.PeakSource)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\nTimes are medians per call; min–max is the spread over repetitions. `of roofline`: throughput / roofline. " +
		"`floor`: the least time the case could take (bytes at the roofline, or flops at the peak); `× floor`: median / floor. " +
		"Peer cells: median and peer time / tapegrad time (> 1: tapegrad is faster).\n\n")
	cols := peerColumns(r)
	b.WriteString("| case | tapegrad | min–max | throughput | of roofline | floor | × floor |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.title)
	}
	b.WriteString(" target |\n|---|---:|---:|---:|---:|---:|---:|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("---|\n")
	targets := map[string][]Target{}
	for _, t := range r.Targets {
		targets[t.Case] = append(targets[t.Case], t)
	}
	for _, row := range tableRows(r) {
		c := row.ours
		name := row.name
		switch {
		case c != nil && c.Mode != "eager" && c.Mode != "":
			name += " (" + c.Mode + ")"
		case c != nil && strings.HasPrefix(c.Name, "copy/"):
			name += " (Clone)"
		}
		fmt.Fprintf(&b, "| `%s` |", name)
		switch {
		case c == nil:
			b.WriteString(" — | | | | | |")
		case !c.OK():
			fmt.Fprintf(&b, " skipped: %s | | | | | |", mdEscape(c.Skipped))
		default:
			fmt.Fprintf(&b, " %s | %s–%s | %s |", fmtDur(c.MedianNs), fmtDur(c.MinNs), fmtDur(c.MaxNs), fmtValue(c))
			if c.Bytes > 0 && r.Roofline > 0 {
				fmt.Fprintf(&b, " %.0f%% |", 100*c.Value/r.Roofline)
			} else {
				b.WriteString(" |")
			}
			if f, _ := r.floorNs(c); f > 0 {
				fmt.Fprintf(&b, " %s | %.1f× |", fmtDur(int64(f+0.5)), float64(c.MedianNs)/f)
			} else {
				b.WriteString(" | |")
			}
		}
		for _, col := range cols {
			b.WriteString(" " + peerCell(col, row.name, c, row.showPeers) + " |")
		}
		var ts []string
		if c != nil && (c.Mode == "eager" || c.Mode == "") {
			for _, t := range targets[row.name] {
				ts = append(ts, fmt.Sprintf("**%s** %s: %s", t.Status, t.Goal, t.Detail))
			}
		}
		fmt.Fprintf(&b, " %s |\n", mdEscape(strings.Join(ts, "; ")))
	}
	met, missed, nas := 0, 0, 0
	var missedList []string
	for _, t := range r.Targets {
		switch t.Status {
		case "met":
			met++
		case "missed":
			missed++
			missedList = append(missedList, fmt.Sprintf("`%s` (%s: %s)", t.Case, t.Goal, t.Detail))
		default:
			nas++
		}
	}
	fmt.Fprintf(&b, "\nTargets: %d met, %d missed, %d not evaluable.", met, missed, nas)
	if len(missedList) > 0 {
		fmt.Fprintf(&b, " Missed: %s.", strings.Join(missedList, "; "))
	}
	b.WriteString("\n\n")
	return b.String()
}

type tableRow struct {
	name      string
	ours      *Case
	showPeers bool // peers are shown on the row of tapegrad's eager mode
}

// tableRows lists tapegrad's cases in order (one row per mode), then the
// peers' cases that tapegrad did not run.
func tableRows(r *Run) []tableRow {
	var rows []tableRow
	seen := map[string]bool{}
	if o := r.reportOf(ours); o != nil {
		for i := range o.Cases {
			c := &o.Cases[i]
			rows = append(rows, tableRow{name: c.Name, ours: c, showPeers: c.Mode == "eager" || c.Mode == ""})
			seen[c.Name] = true
		}
	}
	var extra []string
	for _, rep := range r.Reports {
		if rep.Peer == ours {
			continue
		}
		for _, c := range rep.Cases {
			if !seen[c.Name] {
				seen[c.Name] = true
				extra = append(extra, c.Name)
			}
		}
	}
	for _, n := range extra {
		rows = append(rows, tableRow{name: n, showPeers: true})
	}
	return rows
}

// peerCell formats a peer's result for a row: its median and the ratio to
// tapegrad's.
func peerCell(col peerColumn, name string, o *Case, show bool) string {
	if !show {
		return ""
	}
	var pc *Case
	if col.mode != "" {
		pc = col.rep.Find(name, col.mode)
	} else {
		pc = col.rep.Fastest(name)
		if pc == nil {
			pc = col.rep.Find(name, "")
		}
	}
	if pc == nil {
		return ""
	}
	if !pc.OK() {
		return "skipped"
	}
	s := fmtDur(pc.MedianNs)
	if col.mode == "" && pc.Mode != "" && pc.Mode != col.rep.Mode {
		s += " " + pc.Mode
	}
	if o.OK() {
		s += fmt.Sprintf(" · %.2f×", float64(pc.MedianNs)/float64(o.MedianNs))
	}
	return s
}

func fmtValue(c *Case) string {
	if c.Unit == "" {
		return ""
	}
	switch c.Unit {
	case "ns/op":
		return fmt.Sprintf("%.2f µs/op", c.Value/1000)
	case "steps/s":
		return fmt.Sprintf("%.1f steps/s", c.Value)
	}
	return sig3(c.Value) + " " + c.Unit
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// updateResults rewrites the section of run r in the Markdown file path
// (between <!-- bench:DEVICE:begin --> and <!-- bench:DEVICE:end -->),
// creating the file or appending the section if needed, and links the
// run's plots from plotDir.
func updateResults(path, plotDir string, doc *Document, r *Run) error {
	begin, end := "<!-- bench:"+r.Device+":begin -->", "<!-- bench:"+r.Device+":end -->"
	var sec strings.Builder
	sec.WriteString(begin + "\n")
	sec.WriteString(markdownRun(doc, r))
	if plotDir != "" {
		files := plotFiles(plotDir, r)
		sort.Strings(files)
		var links []string
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				continue
			}
			rel, err := filepath.Rel(filepath.Dir(path), f)
			if err != nil {
				rel = f
			}
			links = append(links, fmt.Sprintf("![%s](%s)", filepath.Base(f), filepath.ToSlash(rel)))
		}
		if len(links) > 0 {
			sec.WriteString("Plots:\n\n" + strings.Join(links, "\n") + "\n\n")
		}
	}
	sec.WriteString(end)
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	if text == "" {
		text = "# Benchmark results\n\nWritten by `go run ./bench -results` (see bench/main.go); one section per device.\n"
	}
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i >= 0 && j > i {
		text = text[:i] + sec.String() + text[j+len(end):]
	} else {
		text = strings.TrimRight(text, "\n") + "\n\n" + sec.String() + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
