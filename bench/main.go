// Command bench is tapegrad's benchmark harness: it measures tapegrad's
// elementwise ops, reductions, matrix products and autograd workloads on
// every available device, runs the peer programs in bench/peers (gorgonia,
// GoMLX, PyTorch) on the same workloads in the same run, and prints one
// Markdown table per device with tapegrad, each peer, the ratio of their
// times, the floor of every case and the project's performance targets.
//
// Usage, from the repository root:
//
//	go run ./bench                      # every device, Go peers (+ torch if importable)
//	go run ./bench -quick               # under a minute on a 2-core machine (CI runs it)
//	go run ./bench -device cpu -cases 'seed|mlp' -peers gorgonia
//	go run ./bench -json out.json -plot bench/results -results bench/RESULTS.md
//	go run -tags cuda ./bench -device cuda:0    # on a machine with a GPU
//
// Flags:
//
//	-device cpu|cuda:N  only this device (default: every device.Available())
//	-quick              sizes 1K, 64K, 1M (matmul operands up to 1M elements),
//	                    20 ms warm-up and 50 ms of repetitions per case, and
//	                    peers restricted to a few cases (see below)
//	-cases REGEXP       only cases whose name matches (the roofline copy
//	                    always runs); peers get the same selection
//	-list               print the case names for the selected devices and exit
//	-peers LIST         comma-separated peers to run: gorgonia, gomlx, torch,
//	                    or none (default gorgonia,gomlx,torch)
//	-peer-json FILES    comma-separated peer JSON files to merge instead of
//	                    running those peers (a file's "device" picks the run)
//	-torch-args ARGS    extra arguments for torch_bench.py (e.g. --no-compile)
//	-json FILE          write the run as one JSON document (see Document)
//	-plot DIR           write PNG plots per device into DIR
//	-results FILE       rewrite this device's section of a results file
//	                    (bench/RESULTS.md), keeping the other devices' sections
//	-cpuprofile FILE    write a CPU profile of tapegrad's cases
//	-dist               measure the data-parallel cases instead (see dist.go;
//	                    go run -tags gloo ./bench -dist): all-reduce bus
//	                    bandwidth on 2 and 4 processes over loopback, and
//	                    DataParallel's speed-up of 2 processes over 1
//	-from-json FILE     measure nothing: print the tables of a document that
//	                    -json wrote (and with -plot/-results, its plots and
//	                    results sections), e.g. one written on a GPU machine
//
// # Cases and timing
//
// Case names are those of bench/peers/README.md, so rows line up with the
// peers': copy/N, unary/{exp,tanh,relu}/N, binary/{add,mul}/N, scalar/mul/N,
// broadcast/{row,col}/add/N, reduce/sum/{all,inner,outer}/N, norm/N,
// matmul/MxKxN, seed/N, layernorm/RxC, overhead/op, mlp/step, plus
// overhead/op/forward
// (the overhead chain recorded without its backward pass; tapegrad only).
// N is 1K, 64K, 1M, 16M elements, and 64M on a GPU. Timing follows the peers:
// a warm-up, then the median, min and max per call over repetitions, where a
// repetition is a batch of calls lasting at least 1 ms; inputs of at most
// 50 MB rotate among copies; outputs are released (Tensor.Release) after every
// call. On CUDA each repetition is timed on the device, with a pair of events
// recorded on the stream before and after the batch (the backend's
// device.Timer), as the PyTorch peer times with torch.cuda.Event pairs;
// fashion/epoch is one epoch on the host's clock, ended by Synchronize().
// Every result is checked
// against a float64 reference before it is timed; a failed check marks the
// case skipped and makes the exit status 1.
//
// # Roofline and floors
//
// The roofline is a copy measured in the same run, far larger than any cache
// (copy/16777216 on the CPU, copy/67108864 on a GPU): on the CPU Go's
// built-in copy on one goroutine (mode "go") and split over GOMAXPROCS
// goroutines ("go-parallel"; this one is the roofline, since tapegrad's CPU
// kernels are split the same way), a plain Go loop d[i] = s[i] split the same
// way ("go-loop": what Go code without vector instructions gets, for reference),
// and tapegrad's own Clone ("eager"); on
// CUDA tapegrad's Clone of a dense tensor, a device-to-device cuMemcpyDtoD.
// The roofline copy is measured again after all other cases (mode
// "go-parallel-end", "eager-end") and the faster of the two medians is the
// roofline, so that a burst of other work on a shared machine during one of
// them does not lower it.
// Every bandwidth case shows its GB/s as a fraction of the roofline and its
// floor, bytes / roofline. Matmul floors are flops / peak, with the peak
// stated (the CPU's theoretical FMA peak from /proc/cpuinfo, a GPU's data
// sheet figure) or, for an unknown GPU, the best matmul measured in the run.
// seed/N's floor is 8N bytes (read x, write dx) at the roofline;
// layernorm/RxC's is 20·R·C bytes (x and y in the forward; x, dy and dx in
// the backward); mlp/step's is its flops at the peak.
//
// # Peers
//
// The Go peers are built with `go build` in their module directories and run
// as subprocesses with -json into a temporary directory; torch_bench.py runs
// when `python3 -c "import torch"` works (and sees a GPU, for a CUDA run),
// else it is skipped with a note naming the interpreter. The environment
// variable TAPEGRAD_PYTHON chooses another interpreter than the first
// python3 on PATH (TAPEGRAD_PYTHON=/opt/venv/bin/python go run ./bench). The Go peers run on the CPU only. A peer
// that fails is reported in the notes; it does not change the exit status.
// With -quick the peers run with -quick and only the cases in quickPeerCases
// (binary/add and reduce/sum/all at 1M, seed/1048576, overhead/op, and
// mlp/step for gorgonia and torch, plus fashion/epoch for gorgonia and one
// matmul for torch), which keeps
// the whole run under a minute; the table then has peer numbers in those
// rows only. Without -quick every peer runs its full suite (about two
// minutes each for the Go peers here), restricted by -cases if given.
//
// # Output
//
// A progress line per case goes to stderr; the table goes to stdout. -json
// writes a Document: one JSON document per run, with one Run per device,
// each holding a Report per library (tapegrad's and each peer's, in exactly
// the peers' schema, so bench/peers/*/ -validate accepts each of them) and
// the evaluated targets. -plot writes, per device, GB/s against size for each
// op family with the roofline as a horizontal line, GFLOP/s against size for
// matmul, and time per step for seed/N and mlp/step, tapegrad against peers.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
	// The CUDA backend registers itself in builds with the cuda tag; without
	// the tag this import adds nothing but the Name/MemStats methods' types.
	_ "github.com/tapegrad/tapegrad/device/cuda"
)

// config is the parsed command line.
type config struct {
	quick      bool
	cases      *regexp.Regexp
	devices    []device.Device
	list       bool
	peers      []string
	peerJSON   []string
	torchArgs  []string
	jsonPath   string
	plotDir    string
	resultsMD  string
	cpuProfile string
	fromJSON   string
	command    string
	timing     peerkit.Timing
	dist       bool
}

// want reports whether -cases selects the case.
func (c *config) want(name string) bool { return c.cases == nil || c.cases.MatchString(name) }

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var devName, pattern, peers, peerJSON, torchArgs string
	cfg := &config{}
	fs.BoolVar(&cfg.quick, "quick", false, "small sizes, short timing, peers on a few cases only (under a minute)")
	fs.StringVar(&devName, "device", "", "only this device: cpu or cuda:N (default: every available device)")
	fs.StringVar(&pattern, "cases", "", "only cases whose name matches this regular expression")
	fs.BoolVar(&cfg.list, "list", false, "list the case names and exit")
	fs.StringVar(&peers, "peers", "gorgonia,gomlx,torch", "peers to run: comma-separated gorgonia, gomlx, torch, or none")
	fs.StringVar(&peerJSON, "peer-json", "", "comma-separated peer JSON files to merge instead of running those peers")
	fs.StringVar(&torchArgs, "torch-args", "", "extra arguments for torch_bench.py, space-separated (e.g. --no-compile)")
	fs.StringVar(&cfg.jsonPath, "json", "", "write the results as one JSON document to this file")
	fs.StringVar(&cfg.plotDir, "plot", "", "write PNG plots into this directory")
	fs.StringVar(&cfg.resultsMD, "results", "", "update this Markdown results file (e.g. bench/RESULTS.md) with each device's section")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of tapegrad's cases to this file")
	fs.BoolVar(&cfg.dist, "dist", false, "measure the data-parallel cases instead (all-reduce bus bandwidth on 2 and 4 processes, DataParallel speed-up of 2 processes over 1; needs -tags gloo)")
	fs.StringVar(&cfg.fromJSON, "from-json", "", "measure nothing: render the tables, plots and results of a document written by -json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil, fmt.Errorf("-cases: %v", err)
		}
		cfg.cases = re
	}
	if devName == "" {
		cfg.devices = device.Available()
	} else {
		d, err := device.Parse(devName)
		if err != nil {
			return nil, fmt.Errorf("bad -device %q: the accepted forms are cpu, cuda, cuda:N", devName)
		}
		if _, err := device.Lookup(d); err != nil {
			return nil, fmt.Errorf("-device %s: %v", devName, err)
		}
		cfg.devices = []device.Device{d}
	}
	for _, p := range strings.Split(peers, ",") {
		switch p = strings.TrimSpace(p); p {
		case "", "none":
		case "gorgonia", "gomlx", "torch":
			cfg.peers = append(cfg.peers, p)
		default:
			return nil, fmt.Errorf("-peers: unknown peer %q (want gorgonia, gomlx, torch or none)", p)
		}
	}
	for _, f := range strings.Split(peerJSON, ",") {
		if f = strings.TrimSpace(f); f != "" {
			cfg.peerJSON = append(cfg.peerJSON, f)
		}
	}
	cfg.torchArgs = strings.Fields(torchArgs)
	cfg.timing = peerkit.NewTiming(cfg.quick)
	cfg.command = "go run ./bench"
	if len(args) > 0 {
		cfg.command += " " + shellJoin(args)
	}
	return cfg, nil
}

// shellJoin quotes arguments that a shell would split or expand.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$|&;<>()*?[]{}\\!`#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func main() {
	if spec := os.Getenv(distChildEnv); spec != "" {
		os.Exit(distChild(spec))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if cfg.dist {
		return runDist(cfg.quick, stdout, stderr)
	}
	if cfg.list {
		for _, d := range cfg.devices {
			for _, n := range caseNames(d, cfg.quick) {
				if cfg.want(n) {
					fmt.Fprintf(stdout, "%s\t%s\n", d, n)
				}
			}
		}
		return 0
	}
	start := time.Now()
	doc := &Document{Harness: "tapegrad bench", Date: start.UTC().Format(time.RFC3339), Command: cfg.command,
		Commit: gitCommit(), Quick: cfg.quick}
	status := 0
	if cfg.fromJSON != "" {
		data, err := os.ReadFile(cfg.fromJSON)
		if err == nil {
			*doc = Document{}
			err = json.Unmarshal(data, doc)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench: -from-json:", err)
			return 1
		}
		for i := range doc.Runs {
			fmt.Fprint(stdout, markdownRun(doc, &doc.Runs[i]))
		}
		cfg.devices, cfg.jsonPath = nil, ""
	}
	for _, d := range cfg.devices {
		r, failed, err := runDevice(cfg, d, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", d, err)
			status = 1
			continue
		}
		if len(failed) > 0 {
			fmt.Fprintf(stderr, "bench: %s: %d case(s) failed:\n  %s\n", d, len(failed), strings.Join(failed, "\n  "))
			status = 1
		}
		doc.Runs = append(doc.Runs, *r)
		fmt.Fprint(stdout, markdownRun(doc, r))
	}
	if err := validateDocument(doc); err != nil {
		fmt.Fprintln(stderr, "bench: result does not match the schema:", err)
		status = 1
	}
	if cfg.jsonPath != "" {
		data, err := json.MarshalIndent(doc, "", "  ")
		if err == nil {
			err = os.WriteFile(cfg.jsonPath, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench: -json:", err)
			status = 1
		} else {
			fmt.Fprintln(stderr, "wrote", cfg.jsonPath)
		}
	}
	if cfg.plotDir != "" {
		for i := range doc.Runs {
			files, err := writePlots(cfg.plotDir, &doc.Runs[i])
			if err != nil {
				fmt.Fprintln(stderr, "bench: -plot:", err)
				status = 1
			}
			for _, f := range files {
				fmt.Fprintln(stderr, "wrote", f)
			}
		}
	}
	if cfg.resultsMD != "" {
		for i := range doc.Runs {
			if err := updateResults(cfg.resultsMD, cfg.plotDir, doc, &doc.Runs[i]); err != nil {
				fmt.Fprintln(stderr, "bench: -results:", err)
				status = 1
			}
		}
		if len(doc.Runs) > 0 {
			fmt.Fprintln(stderr, "updated", cfg.resultsMD)
		}
	}
	fmt.Fprintf(stderr, "bench: done in %s\n", time.Since(start).Round(time.Millisecond))
	return status
}

// runDevice runs tapegrad's suite and the peers on one device and evaluates
// the targets. It returns the cases of tapegrad that failed.
func runDevice(cfg *config, d device.Device, stderr io.Writer) (*Run, []string, error) {
	s, err := newSuite(cfg, d)
	if err != nil {
		return nil, nil, err
	}
	r := &Run{Device: d.String(), Machine: s.rep.Machine, Load: loadAvg()}
	fmt.Fprintf(stderr, "== %s: %s (load average %s)\n", d, r.Machine, r.Load)
	if !d.IsCUDA() {
		k := "Go loops (no AVX2, or TAPEGRAD_CPU_SIMD=off)"
		if cpu.SIMD() {
			k = "AVX2 assembly, non-temporal stores for destinations of 1 MiB and more"
		}
		r.Notes = append(r.Notes, "CPU elementwise kernels and sums: "+k)
	}
	if d.IsCUDA() {
		r.Notes = append(r.Notes, "CUDA timing: every repetition (a batch of calls) is timed with a pair of CUDA events recorded on the device's stream around the batch (device time, as torch.cuda.Event pairs); fashion/epoch on the host's clock, ended by a Synchronize()")
	}
	meter := startCPUMeter()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("-cpuprofile: %v", err)
		}
		s.all()
		pprof.StopCPUProfile()
		f.Close()
	} else {
		s.all()
	}
	if n := othersNote("tapegrad's cases", meter); n != "" {
		r.Notes = append(r.Notes, n)
	}
	r.Reports = append(r.Reports, s.rep)
	peerReports, notes := runPeers(cfg, d, stderr)
	r.Reports = append(r.Reports, peerReports...)
	r.Notes = append(r.Notes, notes...)
	if l := loadAvg(); l != "" {
		r.Load += " at the start, " + l + " at the end"
	}
	evaluate(r, cfg.quick)
	return r, s.failed, nil
}
