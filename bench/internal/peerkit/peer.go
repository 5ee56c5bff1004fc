package peerkit

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// Peer is one Go peer program: its name and version as its reports give
// them, its default mode, the names of its cases and the function that runs
// the wanted ones.
type Peer struct {
	Name, Version, Mode string
	// Start, if not nil, is called once before the cases run (to start a
	// backend or probe a library), with the runner whose Report it may
	// amend.
	Start func(r *Runner) error
	// CaseNames lists every case of a run with these options.
	CaseNames func(o *Options) []string
	// RunAll runs the cases o.Want selects, recording them in r.
	RunAll func(r *Runner)
}

// Options are the command-line flags common to the Go peers, and their
// timing.
type Options struct {
	Timing
	Quick    bool
	JSONPath string
	Cases    *regexp.Regexp
	SelfTest bool
	List     bool
	CPUProf  string
	Validate bool // validate the JSON files in flag.Args() and exit
}

// SelfTestCases is the subset -selftest runs: one case of every kind at the
// smallest size.
const SelfTestCases = `^(unary/(exp|relu)/1024|binary/add/1024|scalar/mul/1024|broadcast/(row|col)/add/1024|` +
	`reduce/sum/(all|inner|outer)/1024|norm/1024|matmul/256x512x10|seed/1024|overhead/op|mlp/step)$`

// NewOptions returns the options of a full (quick=false) or -quick run.
func NewOptions(quick bool) *Options { return &Options{Quick: quick, Timing: NewTiming(quick)} }

// SetSelfTest turns o into a -selftest run: the SelfTestCases subset
// (unless -cases is given) with minimal timing.
func (o *Options) SetSelfTest() {
	o.Quick, o.SelfTest = true, true
	o.Timing = selfTest()
	if o.Cases == nil {
		o.Cases = regexp.MustCompile(SelfTestCases)
	}
}

func parseFlags() *Options {
	var quick, self, list, validate bool
	var pattern, jsonPath, prof string
	flag.BoolVar(&quick, "quick", false, "sizes up to 1M elements only, fewer repetitions")
	flag.StringVar(&jsonPath, "json", "", "write the results as JSON to this file")
	flag.StringVar(&pattern, "cases", "", "only run cases whose name matches this regular expression")
	flag.BoolVar(&self, "selftest", false, "run one small case of each kind with minimal timing, check results and the JSON schema; exit 1 on failure")
	flag.BoolVar(&list, "list", false, "list the case names and exit")
	flag.StringVar(&prof, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.BoolVar(&validate, "validate", false, "only validate the JSON files given as arguments (any peer's, torch_bench.py's too) against the schema")
	flag.Parse()
	o := NewOptions(quick)
	o.JSONPath, o.List, o.CPUProf, o.Validate = jsonPath, list, prof, validate
	if pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad -cases: %v\n", err)
			os.Exit(2)
		}
		o.Cases = re
	}
	if self {
		o.SetSelfTest()
	}
	return o
}

// Main is a peer program's main function: it parses the flags, then
// validates JSON files (-validate), lists the cases (-list) or runs them,
// and exits.
func Main(p Peer) {
	o := parseFlags()
	if o.Validate {
		code := 0
		for _, path := range flag.Args() {
			data, err := os.ReadFile(path)
			if err == nil {
				err = ValidateJSON(data)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
				code = 1
				continue
			}
			fmt.Fprintf(os.Stderr, "%s: valid\n", path)
		}
		os.Exit(code)
	}
	if o.List {
		for _, n := range p.CaseNames(o) {
			if o.Want(n) {
				fmt.Println(n)
			}
		}
		return
	}
	os.Exit(Execute(p, o))
}

// Execute runs the cases of p that o selects and returns the exit code.
func Execute(p Peer, o *Options) int {
	r := NewRunner(o, p.Name, p.Version, p.Mode)
	if p.Start != nil {
		if err := p.Start(r); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			return 1
		}
	}
	p.RunAll(r)
	if err := r.Finish(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	if o.SelfTest {
		var bad []string
		for _, c := range r.Report.Cases {
			if c.Skipped != "" {
				bad = append(bad, c.Name+": "+c.Skipped)
			}
		}
		if len(r.Report.Cases) == 0 {
			bad = append(bad, "no case ran")
		}
		if len(bad) > 0 {
			fmt.Fprintf(os.Stderr, "selftest FAILED:\n  %s\n", strings.Join(bad, "\n  "))
			return 1
		}
		fmt.Fprintf(os.Stderr, "selftest ok: %d cases checked, JSON valid\n", len(r.Report.Cases))
	}
	return 0
}

// RunReport runs the cases of p that o selects as Execute does, with the
// JSON written into dir, and returns the report read back from the file
// (validated against the schema).
func RunReport(p Peer, o *Options, dir string) (*Report, error) {
	o.JSONPath = filepath.Join(dir, p.Name+".json")
	if code := Execute(p, o); code != 0 {
		return nil, fmt.Errorf("%s: exit code %d", p.Name, code)
	}
	data, err := os.ReadFile(o.JSONPath)
	if err != nil {
		return nil, err
	}
	if err := ValidateJSON(data); err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// Sizes returns the element counts of the 1-D/2-D workloads.
func (o *Options) Sizes() []int {
	if o.Quick {
		return []int{1024, 65536, 1048576}
	}
	return []int{1024, 65536, 1048576, 16777216}
}

// MatmulShapes returns the [M,K,N] shapes of the matmul cases. In -quick mode
// only shapes whose operands have at most 1M elements are kept.
func (o *Options) MatmulShapes() [][3]int {
	all := [][3]int{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}, {256, 784, 512}, {256, 512, 10}}
	if !o.Quick {
		return all
	}
	var out [][3]int
	for _, s := range all {
		if s[0]*s[1] <= 1<<20 && s[1]*s[2] <= 1<<20 && s[0]*s[2] <= 1<<20 {
			out = append(out, s)
		}
	}
	return out
}

// Want reports whether the case name is selected (-cases).
func (o *Options) Want(name string) bool { return o.Cases == nil || o.Cases.MatchString(name) }

// Runner collects cases and prints progress lines to stderr.
type Runner struct {
	Opt    *Options
	Report Report
	start  time.Time
}

// NewRunner returns a runner for a peer's CPU report, starting the CPU
// profile if o asks for one.
func NewRunner(o *Options, peer, version, mode string) *Runner {
	if o.CPUProf != "" {
		f, err := os.Create(o.CPUProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpuprofile:", err)
			os.Exit(2)
		}
	}
	return &Runner{Opt: o, start: time.Now(), Report: Report{
		Peer: peer, Version: version, Device: "cpu", Machine: CPUModel(),
		Date: time.Now().Format(time.RFC3339), Go: runtime.Version(), Mode: mode,
	}}
}

// Measure times fn and records the case c (whose Name, Size, Mode, Bytes,
// Flops, Note are filled by the caller). Derived throughput is put in
// Value/Unit (GB/s from Bytes, GFLOP/s from Flops) unless the caller set a
// Unit already; for unit "ns/op" and "steps/s" the caller passes valueFn.
func (r *Runner) Measure(c Case, fn func(i int) error, valueFn func(med time.Duration) float64) Case {
	if c.DType == "" {
		c.DType = "float32"
	}
	med, lo, hi, reps, err := r.Opt.Measure(fn, nil)
	if err != nil {
		c.Skipped = "error: " + OneLine(err.Error())
		r.Add(c)
		return c
	}
	c.MedianNs, c.MinNs, c.MaxNs, c.Reps = med.Nanoseconds(), lo.Nanoseconds(), hi.Nanoseconds(), reps
	if c.MedianNs == 0 {
		c.MedianNs = 1 // below the clock's resolution; keep the schema's median_ns > 0
	}
	switch {
	case valueFn != nil:
		c.Value = Round3(valueFn(med))
	case c.Flops > 0:
		c.Value, c.Unit = Round3(float64(c.Flops)/float64(c.MedianNs)), "GFLOP/s"
	case c.Bytes > 0:
		c.Value, c.Unit = Round3(float64(c.Bytes)/float64(c.MedianNs)), "GB/s"
	}
	r.Add(c)
	return c
}

// Add records a case as is (e.g. a skipped one) and prints its progress line.
func (r *Runner) Add(c Case) {
	if c.DType == "" {
		c.DType = "float32"
	}
	r.Report.Cases = append(r.Report.Cases, c)
	if c.Skipped != "" {
		fmt.Fprintf(os.Stderr, "%-28s %-6s skipped: %s\n", c.Name, c.Mode, c.Skipped)
		return
	}
	extra := ""
	if c.Unit != "" {
		extra = fmt.Sprintf("  %10.3f %s", c.Value, c.Unit)
	}
	fmt.Fprintf(os.Stderr, "%-28s %-6s median %12s  (min %s, max %s, %d reps)%s\n", c.Name, c.Mode,
		time.Duration(c.MedianNs), time.Duration(c.MinNs), time.Duration(c.MaxNs), c.Reps, extra)
}

// Finish validates, prints a summary and writes the JSON file if asked.
func (r *Runner) Finish() error {
	if r.Opt.CPUProf != "" {
		pprof.StopCPUProfile()
	}
	fmt.Fprintf(os.Stderr, "%s: %d cases in %s\n", r.Report.Peer, len(r.Report.Cases), time.Since(r.start).Round(time.Millisecond))
	data, err := json.MarshalIndent(r.Report, "", "  ")
	if err != nil {
		return err
	}
	if err := ValidateJSON(data); err != nil {
		return fmt.Errorf("result does not match the schema: %w", err)
	}
	if r.Opt.JSONPath != "" {
		if err := os.WriteFile(r.Opt.JSONPath, append(data, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", r.Opt.JSONPath)
	}
	return nil
}
