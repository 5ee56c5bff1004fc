package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/distributed"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/optim"
	"github.com/tapegrad/tapegrad/tensor"
)

// The data-parallel cases (-dist; needs the gloo build tag):
//
//   - allreduce/N on 2 and 4 processes over loopback: the time of an
//     AllReduce (sum) of N float32 elements (back-to-back calls, the median
//     of three batches' means), its algorithm bandwidth
//     (4N bytes / time) and its bus bandwidth, algbw·2(p−1)/p, the
//     convention of NCCL's nccl-tests, which makes rings of any size
//     comparable with the link's bandwidth.
//   - dp/mlp: training steps of the Fashion-MNIST MLP (784-256-128-10,
//     float32, Adam) on random inputs with a global batch of 128: one
//     process without a group, then two processes with DataParallel (64
//     examples each), each at GOMAXPROCS 1 and at GOMAXPROCS 2; the
//     speed-up is the one process's time per step over the two processes'.
//
// The processes are this program started again with the environment that
// cmd/tgrun would give them (distChildEnv names the case).

const distChildEnv = "TAPEGRAD_BENCH_DIST"

// distChild runs one rank of a data-parallel case and prints its result
// (rank 0) as "RESULT key=value ..." lines.
func distChild(spec string) int {
	if err := distChildRun(spec); err != nil {
		fmt.Fprintf(os.Stderr, "rank %s: %v\n", os.Getenv("RANK"), err)
		return 1
	}
	return 0
}

func distChildRun(spec string) error {
	f := strings.Fields(spec)
	switch f[0] {
	case "allreduce":
		g, err := distributed.InitFromEnv()
		if err != nil {
			return err
		}
		defer g.Close()
		for _, s := range f[1:] {
			n, _ := strconv.Atoi(s)
			x := tensor.Ones([]int{n})
			reps := max(2, min(50, (64<<20)/(4*n)))
			for range 2 {
				if err := g.AllReduce(x, distributed.Sum); err != nil {
					return err
				}
			}
			// As nccl-tests: back-to-back calls, the mean of a batch; the
			// median of three batches.
			times := make([]time.Duration, 0, 3)
			for range 3 {
				if err := g.Barrier(); err != nil {
					return err
				}
				t0 := time.Now()
				for range reps {
					if err := g.AllReduce(x, distributed.Sum); err != nil {
						return err
					}
				}
				times = append(times, time.Since(t0)/time.Duration(reps))
			}
			if g.Rank() == 0 {
				fmt.Printf("RESULT n=%d reps=%d median=%d\n", n, reps, int64(medianDuration(times)))
			}
		}
		return nil
	case "dp":
		steps, _ := strconv.Atoi(f[1])
		world, _ := strconv.Atoi(os.Getenv("WORLD_SIZE"))
		var g *distributed.ProcessGroup
		rank := 0
		if world > 1 {
			var err error
			if g, err = distributed.InitFromEnv(); err != nil {
				return err
			}
			defer g.Close()
			rank = g.Rank()
		}
		const batch = 128
		tensor.Seed(3)
		model := nn.Sequential{nn.NewDense(784, 256), nn.ReLU{}, nn.NewDense(256, 128), nn.ReLU{}, nn.NewDense(128, 10)}
		var dp *distributed.DataParallel
		if g != nil {
			var err error
			if dp, err = distributed.NewDataParallel(g, model, distributed.DataParallelOptions{}); err != nil {
				return err
			}
		}
		gen := tensor.NewGenerator(5)
		x := tensor.RandNormal(0, 1, []int{batch * 8, 784}, tensor.WithGenerator(gen))
		labels := make([]float32, batch*8)
		for i := range labels {
			labels[i] = float32(i * 7 % 10)
		}
		y := tensor.FromSlice(labels, []int{len(labels)})
		d := data.NewTensors(x, y)
		opts := []data.Option{data.DropLast()}
		local := batch
		if g != nil {
			local = batch / g.WorldSize()
			opts = append(opts, data.Shard(g.Rank(), g.WorldSize()))
		}
		opt := optim.NewAdam(model.Params(), 1e-3)
		var t0 time.Time
		var syncWait time.Duration
		step := 0
		const warm = 5
		for epoch := 0; step < steps+warm; epoch++ {
			for b := range d.Batches(local, true, uint64(epoch), opts...) {
				if step == warm {
					if g != nil {
						if err := g.Barrier(); err != nil {
							return err
						}
					}
					t0, syncWait = time.Now(), 0
				}
				var loss *tensor.Tensor
				autograd.Record(func() { loss = nn.CrossEntropy(model.Forward(b[0]), b[1]) })
				loss.Backward()
				if dp != nil {
					s := time.Now()
					if err := dp.Sync(); err != nil {
						return err
					}
					syncWait += time.Since(s)
				}
				opt.Step()
				if step++; step == steps+warm {
					break
				}
			}
		}
		el := time.Since(t0)
		if rank == 0 {
			fmt.Printf("RESULT steps=%d per-step=%d sync-wait=%d\n", steps, int64(el)/int64(steps), int64(syncWait)/int64(steps))
		}
		return nil
	}
	return fmt.Errorf("unknown case %q", spec)
}

func medianDuration(ts []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ts...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// spawnRanks runs spec on world processes and returns rank 0's RESULT lines.
func spawnRanks(world, gomaxprocs int, spec string) ([]map[string]int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	outs := make([]bytes.Buffer, world)
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := range world {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), distChildEnv+"="+spec, "RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r),
			"WORLD_SIZE="+strconv.Itoa(world), "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port),
			"GOMAXPROCS="+strconv.Itoa(gomaxprocs), "TAPEGRAD_DIST_TIMEOUT=120s", "TAPEGRAD_DEVICE=cpu")
		cmd.Stdout, cmd.Stderr = &outs[r], &outs[r]
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			errs[r] = cmd.Run()
		}(r)
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("rank %d of %d: %v: %s", r, world, err, outs[r].String())
		}
	}
	var res []map[string]int64
	for _, line := range strings.Split(outs[0].String(), "\n") {
		if !strings.HasPrefix(line, "RESULT ") {
			continue
		}
		m := map[string]int64{}
		for _, kv := range strings.Fields(line)[1:] {
			k, v, _ := strings.Cut(kv, "=")
			m[k], _ = strconv.ParseInt(v, 10, 64)
		}
		res = append(res, m)
	}
	return res, nil
}

// runDist measures the data-parallel cases and prints their tables.
func runDist(quick bool, stdout, stderr io.Writer) int {
	if !distributed.HaveGloo {
		fmt.Fprintln(stderr, "bench: -dist needs the Gloo engine: go run -tags gloo ./bench -dist (after apt-get install libgloo-dev, see scripts/gloo.sh)")
		return 2
	}
	fmt.Fprintf(stdout, "## Data parallel on the CPU over loopback (Gloo 0.0~git20220518; %d logical CPUs)\n\n", runtime.NumCPU())
	fmt.Fprintln(stdout, "Gloo's own benchmark program (gloo/benchmark) is not built by Debian's packages (libgloo0 holds only the library), so there is no engine tool to run beside these; the bus bandwidth follows nccl-tests' definition, algbw·2(p−1)/p.")
	fmt.Fprintln(stdout)
	sizes := []int{1 << 10, 1 << 16, 1 << 20, 1 << 24}
	steps := 60
	if quick {
		sizes, steps = sizes[:3], 20
	}
	spec := "allreduce"
	for _, n := range sizes {
		spec += " " + strconv.Itoa(n)
	}
	fmt.Fprintln(stdout, "| case | processes | median | algbw GB/s | busbw GB/s |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	status := 0
	for _, world := range []int{2, 4} {
		res, err := spawnRanks(world, 1, spec)
		if err != nil {
			fmt.Fprintln(stderr, "bench: allreduce:", err)
			status = 1
			continue
		}
		for _, m := range res {
			t := time.Duration(m["median"])
			alg := float64(4*m["n"]) / t.Seconds() / 1e9
			bus := alg * 2 * float64(world-1) / float64(world)
			fmt.Fprintf(stdout, "| allreduce/%d float32 | %d | %v | %.3f | %.3f |\n", m["n"], world, t.Round(time.Microsecond), alg, bus)
		}
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "dp/mlp: %d Adam steps of the 784-256-128-10 MLP, global batch 128, after 5 warm-up steps; rank 0's time per step.\n\n", steps)
	fmt.Fprintln(stdout, "| GOMAXPROCS per process | 1 process | 2 processes (DataParallel) | of which waiting in Sync | speed-up |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	for _, procs := range []int{1, 2} {
		one, err1 := spawnRanks(1, procs, "dp "+strconv.Itoa(steps))
		two, err2 := spawnRanks(2, procs, "dp "+strconv.Itoa(steps))
		if err1 != nil || err2 != nil || len(one) == 0 || len(two) == 0 {
			fmt.Fprintln(stderr, "bench: dp/mlp:", err1, err2)
			status = 1
			continue
		}
		t1, t2 := time.Duration(one[0]["per-step"]), time.Duration(two[0]["per-step"])
		fmt.Fprintf(stdout, "| %d | %v | %v | %v | %.2fx |\n", procs, t1.Round(time.Microsecond), t2.Round(time.Microsecond),
			time.Duration(two[0]["sync-wait"]).Round(time.Microsecond), t1.Seconds()/t2.Seconds())
	}
	return status
}
