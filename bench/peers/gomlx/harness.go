// Code shared by the Go peer benchmarks. The same file is kept in
// bench/peers/gorgonia and bench/peers/gomlx (each peer is its own module so
// the main tapegrad module never depends on a peer); keep the copies in sync.

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"
)

// Report is the JSON document every peer writes (tapegrad's harness, the Go
// peers and torch_bench.py share this schema).
type Report struct {
	Peer    string `json:"peer"`
	Version string `json:"version"`
	Device  string `json:"device"`
	Machine string `json:"machine"`
	Date    string `json:"date"`
	Go      string `json:"go,omitempty"`
	Mode    string `json:"mode"`
	Cases   []Case `json:"cases"`
}

// Case is one measured (or skipped) workload. Times are per repetition; a
// repetition may be the mean over a short batch of back-to-back runs (see
// Timer), so sub-microsecond cases are still resolved.
type Case struct {
	Name     string  `json:"name"`
	Mode     string  `json:"mode,omitempty"`
	Size     int64   `json:"size,omitempty"`
	DType    string  `json:"dtype,omitempty"`
	MedianNs int64   `json:"median_ns,omitempty"`
	MinNs    int64   `json:"min_ns,omitempty"`
	MaxNs    int64   `json:"max_ns,omitempty"`
	Reps     int     `json:"reps,omitempty"`
	Bytes    int64   `json:"bytes,omitempty"`
	Flops    int64   `json:"flops,omitempty"`
	Value    float64 `json:"value,omitempty"`
	Unit     string  `json:"unit,omitempty"`
	Note     string  `json:"note,omitempty"`
	Skipped  string  `json:"skipped,omitempty"`
}

// Options are the command-line flags common to the Go peers.
type Options struct {
	Quick    bool
	JSONPath string
	Cases    *regexp.Regexp
	SelfTest bool
	List     bool
	CPUProf  string
	Validate bool // validate the JSON files in flag.Args() and exit

	WarmupMin  time.Duration // warm-up lasts at least this long
	WarmupRuns int           // and at least this many runs
	Target     time.Duration // total measured time per case
	RepMin     time.Duration // one repetition is batched up to at least this long
	MinReps    int
	MaxReps    int
	CaseBudget time.Duration // hard cap on the measured time of one case
}

// selfTestCases is the subset -selftest runs: one case of every kind at the
// smallest size.
const selfTestCases = `^(unary/(exp|relu)/1024|binary/add/1024|scalar/mul/1024|broadcast/(row|col)/add/1024|` +
	`reduce/sum/(all|inner|outer)/1024|norm/1024|matmul/256x512x10|seed/1024|overhead/op|mlp/step)$`

// newOptions returns the timing options of a full (quick=false) or -quick run.
func newOptions(quick bool) *Options {
	o := &Options{Quick: quick, MinReps: 5, MaxReps: 2000, RepMin: time.Millisecond, WarmupRuns: 3}
	if quick {
		o.WarmupMin = 20 * time.Millisecond
		o.Target = 50 * time.Millisecond
		o.CaseBudget = time.Second
	} else {
		o.WarmupMin = 100 * time.Millisecond
		o.Target = 200 * time.Millisecond
		o.CaseBudget = 10 * time.Second
	}
	return o
}

// selfTest turns o into a -selftest run: the selfTestCases subset (unless
// -cases is given) with minimal timing.
func (o *Options) selfTest() {
	o.Quick, o.SelfTest = true, true
	o.WarmupMin, o.WarmupRuns, o.Target, o.CaseBudget, o.MinReps = time.Millisecond, 1, 5*time.Millisecond, 300*time.Millisecond, 2
	if o.Cases == nil {
		o.Cases = regexp.MustCompile(selfTestCases)
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
	o := newOptions(quick)
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
		o.selfTest()
	}
	return o
}

func main() {
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
		for _, n := range caseNames(o) {
			if o.Want(n) {
				fmt.Println(n)
			}
		}
		return
	}
	os.Exit(execute(o))
}

// execute runs the peer's cases selected by o and returns the exit code.
func execute(o *Options) int {
	r, err := newPeerRunner(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	runAll(r)
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

func (o *Options) Want(name string) bool { return o.Cases == nil || o.Cases.MatchString(name) }

// rotateCopies is how many input copies a case rotates through so that an
// input that fits in a cache (50 MB, the size of an H100's L2, is used as the
// threshold by every peer) is not always read hot: enough copies to exceed
// 100 MB of inputs, at most 16.
func rotateCopies(inputBytes int64) int {
	const threshold = 50 << 20
	if inputBytes <= 0 || inputBytes > threshold {
		return 1
	}
	k := int((2*threshold + inputBytes - 1) / inputBytes)
	return max(1, min(k, 16))
}

// Timer runs fn: a warm-up (>= WarmupRuns and >= WarmupMin), then repetitions
// until Target is covered (>= MinReps, <= MaxReps, <= CaseBudget). A
// repetition is a batch of back-to-back calls lasting >= RepMin; its time is
// the batch time divided by the batch size. fn gets a running call index
// (used to rotate inputs). It returns median, min, max per call and reps.
func (o *Options) Timer(fn func(i int) error) (med, lo, hi time.Duration, reps int, err error) {
	i := 0
	call := func() error { e := fn(i); i++; return e }
	// Warm-up, also estimating the cost of one call.
	start := time.Now()
	n := 0
	for n < o.WarmupRuns || time.Since(start) < o.WarmupMin {
		if err = call(); err != nil {
			return
		}
		n++
		if time.Since(start) > o.CaseBudget {
			break
		}
	}
	per := time.Since(start) / time.Duration(n)
	batch := 1
	if per > 0 && per < o.RepMin {
		batch = int(o.RepMin/per) + 1
	} else if per == 0 {
		batch = 1000
	}
	var samples []time.Duration
	total := time.Duration(0)
	for len(samples) < o.MinReps || (total < o.Target && len(samples) < o.MaxReps) {
		t0 := time.Now()
		for b := 0; b < batch; b++ {
			if err = call(); err != nil {
				return
			}
		}
		d := time.Since(t0)
		total += d
		samples = append(samples, d/time.Duration(batch))
		if total > o.CaseBudget && len(samples) >= min(3, o.MinReps) {
			break
		}
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	m := len(samples)
	med = samples[m/2]
	if m%2 == 0 {
		med = (samples[m/2-1] + samples[m/2]) / 2
	}
	return med, samples[0], samples[m-1], m, nil
}

// Runner collects cases and prints progress lines to stderr.
type Runner struct {
	Opt    *Options
	Report Report
	start  time.Time
}

func newRunner(o *Options, peer, version, mode string) *Runner {
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
		Peer: peer, Version: version, Device: "cpu", Machine: cpuModel(),
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
	med, lo, hi, reps, err := r.Opt.Timer(fn)
	if err != nil {
		c.Skipped = "error: " + oneLine(err.Error())
		r.Add(c)
		return c
	}
	c.MedianNs, c.MinNs, c.MaxNs, c.Reps = med.Nanoseconds(), lo.Nanoseconds(), hi.Nanoseconds(), reps
	if c.MedianNs == 0 {
		c.MedianNs = 1 // below the clock's resolution; keep the schema's median_ns > 0
	}
	switch {
	case valueFn != nil:
		c.Value = round3(valueFn(med))
	case c.Flops > 0:
		c.Value, c.Unit = round3(float64(c.Flops)/float64(c.MedianNs)), "GFLOP/s"
	case c.Bytes > 0:
		c.Value, c.Unit = round3(float64(c.Bytes)/float64(c.MedianNs)), "GB/s"
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

// ValidateJSON checks a report against the shared schema: the header fields
// are present, and every case has a name, a dtype, a size or a value, and
// either a reason for being skipped or median_ns > 0 with min <= median <= max
// and reps > 0. Unknown fields are rejected.
func ValidateJSON(data []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		return err
	}
	var errs []error
	for field, v := range map[string]string{"peer": rep.Peer, "version": rep.Version, "device": rep.Device,
		"machine": rep.Machine, "date": rep.Date, "mode": rep.Mode} {
		if v == "" {
			errs = append(errs, fmt.Errorf("missing %q", field))
		}
	}
	if _, err := time.Parse(time.RFC3339, rep.Date); rep.Date != "" && err != nil {
		errs = append(errs, fmt.Errorf("date: %v", err))
	}
	if len(rep.Cases) == 0 {
		errs = append(errs, errors.New("no cases"))
	}
	seen := map[string]bool{}
	for i, c := range rep.Cases {
		id := fmt.Sprintf("case %d (%s)", i, c.Name)
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("%s: no name", id))
		}
		key := c.Name + "\x00" + c.Mode
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s: duplicate name+mode", id))
		}
		seen[key] = true
		if c.Size <= 0 && c.Value == 0 {
			errs = append(errs, fmt.Errorf("%s: neither size nor value", id))
		}
		if c.DType == "" {
			errs = append(errs, fmt.Errorf("%s: no dtype", id))
		}
		if c.Skipped != "" {
			continue
		}
		if c.MedianNs <= 0 || c.Reps <= 0 {
			errs = append(errs, fmt.Errorf("%s: median_ns=%d reps=%d, want > 0", id, c.MedianNs, c.Reps))
		}
		if c.MinNs > c.MedianNs || c.MedianNs > c.MaxNs {
			errs = append(errs, fmt.Errorf("%s: want min_ns <= median_ns <= max_ns, got %d, %d, %d", id, c.MinNs, c.MedianNs, c.MaxNs))
		}
		if c.Bytes < 0 || c.Flops < 0 || math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			errs = append(errs, fmt.Errorf("%s: bad bytes/flops/value", id))
		}
		if c.Value != 0 && c.Unit == "" {
			errs = append(errs, fmt.Errorf("%s: value without unit", id))
		}
	}
	return errors.Join(errs...)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				return fmt.Sprintf("%s (%d logical CPUs)", strings.TrimSpace(v), runtime.NumCPU())
			}
		}
	}
	return fmt.Sprintf("%s/%s (%d logical CPUs)", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// fill returns n pseudo-random float32 in [-1, 1) from a fixed seed.
func fill(n int, seed uint64) []float32 {
	out := make([]float32, n)
	s := seed*0x9E3779B97F4A7C15 + 1
	for i := range out {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		out[i] = float32(int64(s>>40)-(1<<23)) / (1 << 23)
	}
	return out
}

// checkSample compares 64 spread-out elements of got with want(i).
func checkSample(got []float32, n int, want func(i int) float64, tol float64) error {
	if len(got) != n {
		return fmt.Errorf("got %d elements, want %d", len(got), n)
	}
	step := max(1, n/64)
	for i := 0; i < n; i += step {
		w := want(i)
		if d := math.Abs(float64(got[i]) - w); d > tol*(1+math.Abs(w)) {
			return fmt.Errorf("element %d = %g, want %g", i, got[i], w)
		}
	}
	return nil
}

// checkReduce compares the outputs of a reduction with a float64 reference.
// scale[i] is the size of the terms reduced into output i (sum of |x| for a
// sum, the norm itself for a norm). A result off by more than 5% of its scale
// fails; a result that differs from the reference by more than 1e-4
// (relative) passes with a note, because naive float32 accumulation over
// millions of terms is the peer's own accuracy, not a benchmark error.
func checkReduce(got []float32, want, scale []float64) (note string, err error) {
	if len(got) != len(want) {
		return "", fmt.Errorf("got %d elements, want %d", len(got), len(want))
	}
	worst, wi := 0.0, -1
	for i, w := range want {
		d := math.Abs(float64(got[i]) - w)
		if d > 0.05*scale[i]+1e-6 {
			return "", fmt.Errorf("element %d = %g, want %g", i, got[i], w)
		}
		if rel := d / math.Max(math.Abs(w), 1); rel > worst {
			worst, wi = rel, i
		}
	}
	if worst > 1e-4 {
		note = fmt.Sprintf("float32 accuracy: element %d = %.7g, float64 reference %.7g (relative error %.2g)", wi, got[wi], want[wi], worst)
	}
	return note, nil
}

// sumRef returns the float64 sums of xs over groups (output i sums the
// elements j with group(j) == i) and the matching sums of |x|.
func sumRef(xs []float32, nOut int, group func(j int) int) (want, scale []float64) {
	want, scale = make([]float64, nOut), make([]float64, nOut)
	for j, v := range xs {
		g := group(j)
		want[g] += float64(v)
		scale[g] += math.Abs(float64(v))
	}
	return want, scale
}

// normRef is the float64 L2 norm of xs (as want and scale).
func normRef(xs []float32) (want, scale []float64) {
	s := 0.0
	for _, v := range xs {
		s += float64(v) * float64(v)
	}
	return []float64{math.Sqrt(s)}, []float64{math.Sqrt(s)}
}

func rotNote(k int) string {
	if k <= 1 {
		return ""
	}
	return fmt.Sprintf("inputs rotate among %d copies", k)
}

// join joins the non-empty parts with "; ".
func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
