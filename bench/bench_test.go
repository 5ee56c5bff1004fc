package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
	"github.com/tapegrad/tapegrad/device"
)

// TestQuickSubset runs the harness end to end on a few small CPU cases
// without peers: the table, the JSON document (each report in the peers'
// schema), the plots and the results file. It checks that the harness works,
// never how fast anything is.
func TestQuickSubset(t *testing.T) {
	dir := t.TempDir()
	jsonPath, plotDir, md := filepath.Join(dir, "out.json"), filepath.Join(dir, "plots"), filepath.Join(dir, "RESULTS.md")
	var stdout, stderr bytes.Buffer
	args := []string{"-quick", "-device", "cpu", "-peers", "none",
		"-cases", `^(binary/add/1024|reduce/sum/inner/1024|matmul/256x512x10|seed/1024|overhead/op|mlp/step)$`,
		"-json", jsonPath, "-plot", plotDir, "-results", md}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"| `binary/add/1024` |", "| `seed/1024` |", "| `mlp/step` |", "roofline: copy/16777216 (go-parallel"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc Document
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 1 || len(doc.Runs[0].Reports) != 1 {
		t.Fatalf("want one run with one report, got %+v", doc.Runs)
	}
	r0 := doc.Runs[0]
	if r0.Roofline <= 0 {
		t.Errorf("no roofline in %+v", r0)
	}
	rep, err := json.Marshal(r0.Reports[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := peerkit.ValidateJSON(rep); err != nil {
		t.Errorf("tapegrad's report does not match the peers' schema: %v", err)
	}
	names := map[string]bool{}
	for _, c := range r0.Reports[0].Cases {
		names[c.Name] = true
		if c.Skipped != "" {
			t.Errorf("%s skipped: %s", c.Name, c.Skipped)
		}
	}
	for _, n := range []string{"copy/16777216", "binary/add/1024", "reduce/sum/inner/1024", "matmul/256x512x10", "seed/1024", "overhead/op", "mlp/step"} {
		if !names[n] {
			t.Errorf("case %s missing", n)
		}
	}
	for _, f := range []string{"cpu-copy.png", "cpu-binary.png", "cpu-reduce.png", "cpu-matmul.png", "cpu-seed.png", "cpu-mlp-step.png"} {
		if st, err := os.Stat(filepath.Join(plotDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s: %v", f, err)
		}
	}
	// -from-json renders the same table from the document.
	var again bytes.Buffer
	if code := run([]string{"-from-json", jsonPath}, &again, &stderr); code != 0 {
		t.Fatalf("-from-json: exit status %d\n%s", code, stderr.String())
	}
	if again.String() != stdout.String() {
		t.Errorf("-from-json table differs:\n%s\nwant:\n%s", again.String(), stdout.String())
	}
	// A second update replaces the device's section instead of adding one.
	doc2 := doc
	if err := updateResults(md, plotDir, &doc2, &doc2.Runs[0]); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(text), "<!-- bench:cpu:begin -->"); n != 1 {
		t.Errorf("results file has %d cpu sections, want 1", n)
	}
	if !strings.Contains(string(text), "](plots/cpu-matmul.png)") {
		t.Errorf("results file does not link the plots:\n%s", text)
	}
}

// TestList checks -list and that the case names line up with the peers'.
func TestList(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-list", "-device", "cpu"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr.String())
	}
	for _, want := range []string{"cpu\tunary/exp/16777216\n", "cpu\tbroadcast/col/add/1024\n", "cpu\tmatmul/2048x2048x2048\n",
		"cpu\tmatmul/256x784x512\n", "cpu\tseed/16777216\n", "cpu\toverhead/op\n", "cpu\tmlp/step\n", "cpu\tcopy/16777216\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("-list lacks %q", want)
		}
	}
}

// TestFlags checks that bad flags are refused.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-peers", "numpy"}, {"-cases", "("}, {"-device", "tpu"}, {"extra"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit status %d, want 2", args, code)
		}
	}
}

func TestKindOf(t *testing.T) {
	for name, want := range map[string]string{"unary/exp/1024": "unary/exp", "mlp/step": "mlp/step", "matmul/2x3x4": "matmul/2x3x4"} {
		if k, _ := kindOf(name); k != want {
			t.Errorf("kindOf(%q) = %q, want %q", name, k, want)
		}
	}
}

// A bad -device value ends in one line naming it and the accepted forms,
// and exit status 2.
func TestBadDevice(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-device", "gpu", "-list"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	want := "bench: bad -device \"gpu\": the accepted forms are cpu, cuda, cuda:N\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("stderr %q, stdout %q; want stderr %q", stderr.String(), stdout.String(), want)
	}
}

// TAPEGRAD_PYTHON chooses the torch peer's interpreter, and an interpreter
// that cannot import torch is named in the note that skips the peer.
func TestPythonSelection(t *testing.T) {
	t.Setenv(PythonEnv, "")
	if interp, desc := python(); interp != "python3" || !strings.Contains(desc, PythonEnv) {
		t.Errorf("default: %q, %q; want python3 and a description naming %s", interp, desc, PythonEnv)
	}
	bad := filepath.Join(t.TempDir(), "no-such-python")
	t.Setenv(PythonEnv, bad)
	if interp, _ := python(); interp != bad {
		t.Errorf("%s=%s: interpreter %q", PythonEnv, bad, interp)
	}
	cfg, err := parseConfig([]string{"-device", "cpu", "-peers", "torch"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rep, note, err := runPeer(cfg, "..", t.TempDir(), "torch", device.CPU(), io.Discard)
	if rep != nil || err != nil || !strings.Contains(note, bad) || !strings.Contains(note, PythonEnv) ||
		!strings.Contains(note, "cannot import torch") {
		t.Errorf("runPeer with a missing interpreter: %v, note %q, %v; want a skip note naming %s and %s", rep, note, err, bad, PythonEnv)
	}
}
