package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
	"github.com/tapegrad/tapegrad/device"
)

// quickPeerCases are the cases the peers run with -quick: enough to keep the
// peer programs building and running in CI and to show a ratio for each kind
// of workload, while the whole -quick run stays under a minute on a 2-core
// machine. GoMLX skips mlp/step there (its matmul gradients materialise
// [M,K,N] tensors: about a second per step, see bench/peers/README.md).
// gorgonia also runs fashion/epoch (6000 images with -quick, 2-3 s here with
// loading the dataset; skipped by the peer when the dataset is missing).
var quickPeerCases = map[string]string{
	"gorgonia": `^(binary/add/1048576|reduce/sum/all/1048576|seed/1048576|overhead/op|mlp/step|fashion/epoch)$`,
	"gomlx":    `^(binary/add/1048576|reduce/sum/all/1048576|seed/1048576|overhead/op)$`,
	"torch":    `^(binary/add/1048576|reduce/sum/all/1048576|matmul/256x784x512|half/bfloat16/matmul/256x784x512|seed/1048576|layernorm/4096x128|overhead/op|mlp/step|charlm/step|embedding/114x128/32x128)$`,
}

// runPeers runs the configured peers on device d (the Go peers only on the
// CPU) and loads -peer-json files for d. It returns their reports and notes
// about peers that were skipped or failed.
func runPeers(cfg *config, d device.Device, stderr io.Writer) ([]Report, []string) {
	var reps []Report
	var notes []string
	loaded := map[string]bool{}
	for _, f := range cfg.peerJSON {
		rep, err := readReport(f)
		if err != nil {
			notes = append(notes, fmt.Sprintf("-peer-json %s: %v", f, err))
			continue
		}
		if !sameDevice(rep.Device, d) {
			continue
		}
		var keep []Case // the cases -cases selects
		for _, c := range rep.Cases {
			if cfg.want(c.Name) {
				keep = append(keep, c)
			}
		}
		if len(keep) == 0 {
			continue
		}
		rep.Cases = keep
		reps = append(reps, *rep)
		loaded[rep.Peer] = true
		notes = append(notes, fmt.Sprintf("%s: results loaded from %s (run %s on %s), not measured in this run", rep.Peer, f, rep.Date, rep.Machine))
	}
	if len(cfg.peers) == 0 {
		return reps, notes
	}
	root, err := repoRoot()
	if err != nil {
		return reps, append(notes, "peers not run: "+err.Error())
	}
	tmp, err := os.MkdirTemp("", "tapegrad-bench-")
	if err != nil {
		return reps, append(notes, "peers not run: "+err.Error())
	}
	defer os.RemoveAll(tmp)
	for _, p := range cfg.peers {
		if loaded[p] {
			continue
		}
		start, meter := time.Now(), startCPUMeter()
		rep, note, err := runPeer(cfg, root, tmp, p, d, stderr)
		if rep != nil {
			note = peerkit.Join(note, othersNote(p+"'s cases", meter))
		}
		switch {
		case err != nil:
			notes = append(notes, fmt.Sprintf("%s: failed: %v", p, err))
			fmt.Fprintf(stderr, "bench: peer %s failed: %v\n", p, err)
		case rep == nil:
			if note != "" {
				notes = append(notes, fmt.Sprintf("%s: %s", p, note))
				fmt.Fprintf(stderr, "bench: peer %s: %s\n", p, note)
			}
		default:
			reps = append(reps, *rep)
			notes = append(notes, fmt.Sprintf("%s %s: %d cases in %s%s", p, rep.Version, len(rep.Cases),
				time.Since(start).Round(100*time.Millisecond), strings.TrimSuffix("; "+note, "; ")))
		}
	}
	return reps, notes
}

// sameDevice reports whether a peer report's device ("cpu", "cuda",
// "cuda:N") is d; torch_bench.py says "cuda" for whichever GPU it ran on.
func sameDevice(peerDev string, d device.Device) bool {
	pd, err := device.Parse(peerDev)
	if err != nil {
		return false
	}
	if peerDev == "cuda" {
		return d.IsCUDA()
	}
	return pd == d
}

// readReport reads and validates a peer JSON file.
func readReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := peerkit.ValidateJSON(data); err != nil {
		return nil, fmt.Errorf("not in the peer schema: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// runPeer runs one peer on d. A nil report with a nil error means the peer
// does not apply (a Go peer on a GPU, torch not importable); note says why.
func runPeer(cfg *config, root, tmp, peer string, d device.Device, stderr io.Writer) (*Report, string, error) {
	var cmd []string // the peer's command without -json/-cases/-quick
	var dir string
	switch peer {
	case "gorgonia", "gomlx":
		if d.IsCUDA() {
			return nil, "", nil // CPU-only peers
		}
		dir = filepath.Join(root, "bench", "peers", peer)
		bin := filepath.Join(tmp, peer)
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = dir
		if out, err := build.CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("go build in %s: %v\n%s", dir, err, out)
		}
		cmd = []string{bin}
	case "torch":
		interp, described := python()
		ver, cuda, err := torchAvailable(interp)
		if err != nil {
			return nil, described + " cannot import torch (" + err.Error() + "); skipped", nil
		}
		if d.IsCUDA() && !cuda {
			return nil, "torch " + ver + " sees no GPU (torch.cuda.is_available() is false); skipped", nil
		}
		dir = root
		cmd = append([]string{interp, filepath.Join(root, "bench", "peers", "torch_bench.py"), "--device", d.String()}, cfg.torchArgs...)
	}
	// Select the peer's cases: its own -list (with -quick when quick),
	// filtered by -cases and, with -quick, by quickPeerCases.
	var quick []string
	if cfg.quick {
		quick = []string{"-quick"}
	}
	names, err := peerList(dir, append(append(append([]string{}, cmd...), quick...), "-list"))
	if err != nil {
		return nil, "", err
	}
	var sel []string
	var qre *regexp.Regexp
	if cfg.quick {
		qre = regexp.MustCompile(quickPeerCases[peer])
	}
	for _, n := range names {
		if cfg.want(n) && (qre == nil || qre.MatchString(n)) {
			sel = append(sel, regexp.QuoteMeta(n))
		}
	}
	if len(sel) == 0 {
		return nil, "no selected case", nil
	}
	out := filepath.Join(tmp, peer+".json")
	args := append(append(append([]string{}, cmd...), quick...), "-json", out)
	if len(sel) < len(names) {
		args = append(args, "-cases", "^("+strings.Join(sel, "|")+")$")
	}
	c := exec.Command(args[0], args[1:]...)
	c.Dir = dir
	c.Stdout = prefixWriter(stderr, peer)
	c.Stderr = c.Stdout
	fmt.Fprintf(stderr, "== %s on %s: %d cases\n", peer, d, len(sel))
	if err := c.Run(); err != nil {
		return nil, "", fmt.Errorf("%s: %v", strings.Join(args[:min(len(args), 3)], " "), err)
	}
	rep, err := readReport(out)
	if err != nil {
		return nil, "", err
	}
	note := ""
	if cfg.quick {
		note = fmt.Sprintf("-quick: only %d of its cases", len(sel))
	}
	return rep, note, nil
}

// peerList runs a peer with -list and returns the case names it prints.
func peerList(dir string, args []string) ([]string, error) {
	c := exec.Command(args[0], args[1:]...)
	c.Dir = dir
	var errb bytes.Buffer
	c.Stderr = &errb
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("%s -list: %v: %s", args[0], err, peerkit.OneLine(errb.String()))
	}
	return strings.Fields(string(out)), nil
}

// PythonEnv is the environment variable that chooses the Python
// interpreter of the torch peer (a command name looked up in PATH, or a
// path); unset or empty, it is python3 on PATH.
const PythonEnv = "TAPEGRAD_PYTHON"

// python returns the interpreter that runs the torch peer and how it was
// chosen, for messages: "python3 (the first on PATH; TAPEGRAD_PYTHON
// chooses another)" or "/opt/venv/bin/python (TAPEGRAD_PYTHON)".
func python() (interp, described string) {
	if p := strings.TrimSpace(os.Getenv(PythonEnv)); p != "" {
		return p, p + " (" + PythonEnv + ")"
	}
	return "python3", "python3 (the first on PATH; " + PythonEnv + " chooses another)"
}

// torchProbes caches, per interpreter, the output of the torch probe.
var torchProbes sync.Map // interpreter -> func() (string, error)

// torchAvailable reports the version of torch that the interpreter interp
// imports and whether it sees a GPU.
func torchAvailable(interp string) (version string, cuda bool, err error) {
	probe, _ := torchProbes.LoadOrStore(interp, sync.OnceValues(func() (string, error) {
		out, err := exec.Command(interp, "-c", "import torch; print(torch.__version__, torch.cuda.is_available())").Output()
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(out)), nil
	}))
	s, err := probe.(func() (string, error))()
	if err != nil {
		return "", false, err
	}
	v, c, _ := strings.Cut(s, " ")
	return v, c == "True", nil
}

// linePrefixer writes each complete line to w with "  [peer] " in front.
type linePrefixer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func prefixWriter(w io.Writer, peer string) *linePrefixer {
	return &linePrefixer{w: w, prefix: "  [" + peer + "] "}
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		fmt.Fprintf(l.w, "%s%s\n", l.prefix, l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}
