package cpu

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
)

// The memory limit.
//
// Alloc refuses a request that would take the bytes of live buffers (those
// of 64 KiB and more, counted by their size class) past the limit, after
// dropping cached buffers to make room, instead of letting the Go runtime
// fail: a request larger than memory would otherwise end the process with a
// fatal out-of-memory error (or, larger still, a makeslice panic) that no
// caller can recover. The default limit is the memory of the machine: the
// lower of MemTotal in /proc/meminfo and the memory.max (cgroup v2) or
// memory.limit_in_bytes (cgroup v1) of the process's control group and its
// ancestors, or defaultLimitBytes where none of these can be read. The
// environment variable TAPEGRAD_CPU_MEMORY_LIMIT, read when the program
// starts, replaces the default: a number of bytes, optionally with a binary
// suffix (K, M, G, T, with or without "iB", e.g. "8GiB"). SetMemoryLimit
// changes the limit at run time.
//
// The limit bounds what the backend hands out, not the whole process: the
// Go runtime's heap also holds other data and, until it collects them,
// buffers that were dropped.

// LimitEnv is the environment variable that sets the memory limit.
const LimitEnv = "TAPEGRAD_CPU_MEMORY_LIMIT"

// defaultLimitBytes is the limit where the machine's memory is unknown.
const defaultLimitBytes = 64 << 30

var (
	memLimit    atomic.Int64
	memSource   atomic.Pointer[string]
	defaultMem  int64
	defaultFrom string
)

func init() {
	defaultMem, defaultFrom = machineMemory()
	limit, from := defaultMem, defaultFrom
	if v, ok := os.LookupEnv(LimitEnv); ok && strings.TrimSpace(v) != "" {
		if n, err := parseBytes(v); err != nil {
			fmt.Fprintf(os.Stderr, "tapegrad: ignoring %s: %v\n", LimitEnv, err)
		} else {
			limit, from = n, LimitEnv+"="+strings.TrimSpace(v)
		}
	}
	setLimit(limit, from)
}

func setLimit(n int64, from string) {
	memLimit.Store(n)
	memSource.Store(&from)
}

func limitSource() string { return *memSource.Load() }

// MemoryLimit returns the memory limit in bytes and where it comes from.
func MemoryLimit() (bytes int64, source string) {
	return memLimit.Load(), limitSource()
}

// SetMemoryLimit sets the memory limit of CPU allocations to n bytes and
// returns the previous limit; n ≤ 0 restores the default (the machine's
// memory, ignoring TAPEGRAD_CPU_MEMORY_LIMIT). Buffers already allocated
// are not affected.
func SetMemoryLimit(n int64) int64 {
	old := memLimit.Load()
	if n <= 0 {
		setLimit(defaultMem, defaultFrom)
	} else {
		setLimit(n, "SetMemoryLimit")
	}
	return old
}

// parseBytes parses a byte count with an optional binary suffix.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num := strings.TrimRight(s, "KMGTkmgtiB")
	suffix := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s[len(num):], "B"), "i"))
	shift := 0
	switch suffix {
	case "":
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	default:
		return 0, fmt.Errorf("bad size %q: want bytes, optionally with a suffix K, M, G or T", s)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: %w", s, err)
	}
	if n <= 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("bad size %q: out of range", s)
	}
	return n << shift, nil
}

// machineMemory returns the memory this process may use and where the
// number comes from.
func machineMemory() (int64, string) {
	limit, from := int64(0), ""
	if n, ok := memTotal(); ok {
		limit, from = n, "MemTotal of /proc/meminfo"
	}
	if n, file, ok := cgroupLimit(); ok && (limit == 0 || n < limit) {
		limit, from = n, file
	}
	if limit == 0 {
		return defaultLimitBytes, "default"
	}
	return limit, from
}

func memTotal() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil && kb > 0
		}
	}
	return 0, false
}

// cgroupLimit returns the lowest memory limit of the process's control
// group and its ancestors, cgroup v2 or v1, and the file it comes from.
func cgroupLimit() (int64, string, bool) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, "", false
	}
	best, from, found := int64(math.MaxInt64), "", false
	try := func(file string) {
		b, err := os.ReadFile(file)
		if err != nil {
			return
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < best {
			best, from, found = n, file, true
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var root, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			root, file = "/sys/fs/cgroup", "memory.max"
		case strings.Contains(","+parts[1]+",", ",memory,"):
			root, file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		// In a container the process's path may not exist under the
		// mount (which is then its own group): try the path's ancestors
		// and the mount's root.
		for p := path.Clean("/" + parts[2]); ; p = path.Dir(p) {
			try(path.Join(root, p, file))
			if p == "/" {
				break
			}
		}
	}
	return best, from, found
}
