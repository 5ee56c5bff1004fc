// Command driftmem measures the memory that the CPU backend's buffer cache
// costs on a workload whose tensor sizes drift, so that freed buffers rarely
// fit the next request exactly.
//
// Each of -g goroutines keeps a ring of -ring float32 tensors whose sizes
// follow a seeded random walk between -min and -max MiB (each step scales
// the size by a factor in [0.9, 1.1]); every iteration creates a tensor with
// tensor.Zeros and drops the oldest one, leaving it to the garbage collector
// and the tensor package's cleanups (as a program that never calls Release
// does). With -backend the goroutines call the backend's Alloc and Free
// directly instead, which leaves the garbage collector out.
//
// It prints the largest number of bytes live at once (the sum over the
// rings), the peak resident set (VmHWM of /proc/self/status), the final
// resident set, the largest bytes the cache accounted for at once (its
// live and cached buffers, sampled every millisecond; live includes
// tensors dropped and not yet collected) and the cache's counters:
//
//	go run ./device/cpu/internal/driftmem -g 1 -iters 3000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
	"github.com/tapegrad/tapegrad/tensor"
)

func main() {
	var (
		goroutines = flag.Int("g", 1, "goroutines")
		iters      = flag.Int("iters", 3000, "tensors created per goroutine")
		ring       = flag.Int("ring", 3, "tensors each goroutine keeps live")
		minMiB     = flag.Float64("min", 4, "smallest tensor, MiB")
		maxMiB     = flag.Float64("max", 40, "largest tensor, MiB")
		backend    = flag.Bool("backend", false, "call the backend's Alloc and Free instead of package tensor")
		profile    = flag.String("cpuprofile", "", "write a CPU profile to this file")
	)
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	var live, peak atomic.Int64
	addLive := func(d int64) {
		v := live.Add(d)
		for p := peak.Load(); v > p && !peak.CompareAndSwap(p, v); p = peak.Load() {
		}
	}
	be := cpu.Get()
	start := time.Now()
	var acct atomic.Int64 // the largest live + cached bytes of the cache
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			st := be.Stats()
			if v := st.LiveBytes + st.CachedBytes; v > acct.Load() {
				acct.Store(v)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range *goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			lo, hi := *minMiB*(1<<20)/4, *maxMiB*(1<<20)/4
			size := lo + rng.Float64()*(hi-lo)
			type entry struct {
				t *tensor.Tensor
				b device.Buffer
				n int64
			}
			held := make([]entry, *ring)
			for i := range *iters {
				size *= 0.9 + 0.2*rng.Float64()
				size = min(max(size, lo), hi)
				n := int(size)
				k := i % *ring
				if old := held[k]; old.n > 0 {
					// Drop the oldest: the tensor is left to the
					// garbage collector, a backend buffer is freed.
					if old.b != nil {
						be.Free(old.b)
					}
					held[k] = entry{}
					addLive(-old.n)
				}
				addLive(int64(4 * n))
				if *backend {
					b, err := be.Alloc(device.Float32, n)
					if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					clear(b.(*cpu.Buffer).Float32s()) // touch it, as Zeros does
					held[k] = entry{b: b, n: int64(4 * n)}
				} else {
					held[k] = entry{t: tensor.Zeros([]int{n}), n: int64(4 * n)}
				}
			}
			for _, e := range held {
				if e.b != nil {
					be.Free(e.b)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	st := be.Stats()
	fmt.Printf("goroutines %d, %d tensors each, ring %d, sizes %.0f..%.0f MiB, backend %v: %.1fs\n",
		*goroutines, *iters, *ring, *minMiB, *maxMiB, *backend, time.Since(start).Seconds())
	fmt.Printf("peak live %d MB, peak RSS (VmHWM) %d MB, final RSS %d MB\n",
		peak.Load()>>20, status("VmHWM")>>20, status("VmRSS")>>20)
	fmt.Printf("peak accounted (live + cached, sampled each ms) %d MB\n", acct.Load()>>20)
	fmt.Printf("cache: %+v\n", st)
}

// status returns a field of /proc/self/status in bytes (0 if unknown).
func status(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb << 10
		}
	}
	return 0
}
