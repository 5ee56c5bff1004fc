package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
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
	return peerkit.CPUModel()
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

// cpuMeter measures how much of the machine's CPU time other processes used
// while a phase of the run (tapegrad's cases, one peer) was going on: the
// busy time of all CPUs from /proc/stat minus this process's and its
// children's CPU time, over the wall time × the number of CPUs. On a shared
// machine it says which numbers were measured with company.
type cpuMeter struct {
	busy, total float64 // /proc/stat ticks at the start
	own         float64 // seconds of CPU used by this process and its children
	ok          bool
}

func startCPUMeter() cpuMeter {
	busy, total, ok := procStat()
	return cpuMeter{busy: busy, total: total, own: ownCPU(), ok: ok}
}

// others returns the share (0..1) of the machine's CPU time used by other
// processes since the meter started, and false where /proc/stat is missing.
func (m cpuMeter) others() (float64, bool) {
	busy, total, ok := procStat()
	if !ok || !m.ok || total <= m.total {
		return 0, false
	}
	const hz = 100 // USER_HZ: /proc/stat counts in 1/100 s on Linux
	otherTicks := (busy - m.busy) - (ownCPU()-m.own)*hz
	return max(0, min(1, otherTicks/(total-m.total))), true
}

// procStat returns the busy and total ticks of all CPUs (first line of
// /proc/stat; idle and iowait count as not busy).
func procStat() (busy, total float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, s := range f[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, 0, false
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, true
}

// ownCPU returns the user+system CPU seconds of this process and its waited
// children.
func ownCPU() float64 {
	var self, kids syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids) != nil {
		return 0
	}
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(self.Utime) + sec(self.Stime) + sec(kids.Utime) + sec(kids.Stime)
}

// othersNote formats a meter's reading for the notes.
func othersNote(what string, m cpuMeter) string {
	if f, ok := m.others(); ok {
		return fmt.Sprintf("other processes used %.0f%% of the machine's CPU time during %s", 100*f, what)
	}
	return ""
}
