package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/tapegrad/tapegrad/device"
)

var commitOnce = sync.OnceValue(func() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "-dirty"
	}
	return c
})

// gitCommit returns `git rev-parse --short HEAD`, with "-dirty" when tracked
// files have uncommitted changes, or "unknown" outside a git checkout.
func gitCommit() string { return commitOnce() }

// version is the "version" of tapegrad's reports: the commit.
func version() string { return "commit " + gitCommit() }

// machineName is the CPU model for the CPU, the GPU's name for CUDA.
func machineName(d device.Device, be device.Backend) string {
	if d.IsCUDA() {
		if n, ok := be.(interface{ Name() string }); ok {
			return n.Name()
		}
		return d.String()
	}
	return cpuModel()
}

// cpuModel reads the model name from /proc/cpuinfo, with the number of
// logical CPUs.
func cpuModel() string {
	if v := cpuInfo("model name"); v != "" {
		return fmt.Sprintf("%s (%d logical CPUs)", v, runtime.NumCPU())
	}
	return fmt.Sprintf("%s/%s (%d logical CPUs)", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// cpuInfo returns the first value of key in /proc/cpuinfo, or "".
func cpuInfo(key string) string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<16), 1<<20)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg returns the 1, 5 and 15-minute load averages, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// repoRoot finds the tapegrad module's root from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/tapegrad/tapegrad\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the tapegrad repository")
		}
		dir = parent
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

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

// fmtDur formats nanoseconds with three significant digits.
func fmtDur(ns int64) string {
	d := float64(ns)
	switch {
	case d >= 1e9:
		return sig3(d/1e9) + " s"
	case d >= 1e6:
		return sig3(d/1e6) + " ms"
	case d >= 1e3:
		return sig3(d/1e3) + " µs"
	}
	return sig3(d) + " ns"
}

// sig3 formats x with three significant digits.
func sig3(x float64) string {
	switch a := math.Abs(x); {
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3g", x)
}
