package distributed

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/tensor"
)

// A rank killed (SIGKILL, no cleanup) in the middle of a stream of
// all-reduces makes every other rank's collective fail with a typed error
// (ErrPeer or ErrTimeout) within the group's timeout, and the next one with
// ErrAborted; no rank hangs.

const killTimeout = 3 * time.Second

func init() {
	scenarios["kill"] = killChild
}

func killChild() error {
	g, err := InitFromEnv()
	if err != nil {
		return err
	}
	rank, world := g.Rank(), g.WorldSize()
	victim := world - 1
	x := tensor.Ones([]int{1 << 18})
	for step := 0; ; step++ {
		if rank == victim && step == 20 {
			// Die in the middle of this step's collective.
			go func() {
				time.Sleep(2 * time.Millisecond)
				sig := syscall.SIGKILL
				if os.Getenv("TAPEGRAD_DIST_TEST_SIGNAL") == "STOP" {
					sig = syscall.SIGSTOP // hang, sockets open: only the timeout can tell
				}
				syscall.Kill(os.Getpid(), sig)
			}()
		}
		start := time.Now()
		err := g.AllReduce(x, Average)
		if err == nil {
			if step > 10000 {
				return fmt.Errorf("no failure after %d steps", step)
			}
			continue
		}
		took := time.Since(start)
		var e *Error
		if !errors.As(err, &e) || e.Op != "AllReduce" || e.Rank != rank || e.World != world {
			return fmt.Errorf("step %d: %v is not an *Error of AllReduce on rank %d of %d", step, err, rank, world)
		}
		if !errors.Is(err, ErrPeer) && !errors.Is(err, ErrTimeout) {
			return fmt.Errorf("step %d: %v, want ErrPeer or ErrTimeout", step, err)
		}
		if took > killTimeout+2*time.Second {
			return fmt.Errorf("step %d failed after %v, with a timeout of %v", step, took, killTimeout)
		}
		err2 := g.AllReduce(x, Sum)
		if !errors.Is(err2, ErrAborted) || !errors.Is(err2, e.Kind) {
			return fmt.Errorf("the collective after the failure: %v, want ErrAborted wrapping the failure", err2)
		}
		kind := "peer"
		if errors.Is(err, ErrTimeout) {
			kind = "timeout"
		}
		fmt.Printf("FAILED step=%d kind=%s after=%v: %v\n", step, kind, took.Round(time.Millisecond), err)
		g.Close()
		return nil
	}
}

func testKill(t *testing.T, n int, stop bool) {
	needGloo(t)
	start := time.Now()
	limit, env := 30*time.Second, []string{EnvTimeout + "=" + killTimeout.String()}
	if stop {
		// The stopped victim is killed by spawn when the limit passes.
		limit, env = killTimeout+5*time.Second, append(env, "TAPEGRAD_DIST_TEST_SIGNAL=STOP")
	}
	res := spawn(t, n, "kill", limit, env...)
	timeouts := 0
	for _, r := range res {
		if r.rank == n-1 {
			if r.err == nil || !strings.Contains(r.err.Error(), "killed") {
				t.Errorf("the victim, rank %d: %v, want killed\n%s", r.rank, r.err, r.output)
			}
			continue
		}
		if r.err != nil || !strings.Contains(r.output, "FAILED") {
			t.Errorf("rank %d: %v\n%s", r.rank, r.err, r.output)
			continue
		}
		if strings.Contains(r.output, "kind=timeout") {
			timeouts++
		}
		t.Logf("rank %d: %s", r.rank, strings.TrimSpace(r.output))
	}
	// With a stopped peer the ranks that time out first close their
	// connections, and the others may see that as ErrPeer.
	if stop && timeouts == 0 {
		t.Errorf("no rank timed out waiting for the stopped one")
	}
	// Each survivor checked its own failure time against the timeout; the
	// job as a whole only has to end (the machine may be loaded).
	if d := time.Since(start); d > limit+30*time.Second {
		t.Errorf("the job took %v with a timeout of %v", d, killTimeout)
	}
}

func TestKilledRank2(t *testing.T) { testKill(t, 2, false) }
func TestKilledRank4(t *testing.T) { testKill(t, 4, false) }

// A stopped rank (SIGSTOP: alive, its sockets open, silent) is found by the
// timeout alone.
func TestStoppedRank4(t *testing.T) { testKill(t, 4, true) }

// A rank killed in the middle of a subgroup's collectives fails its
// subgroup partner with a typed error within the timeout, while the
// other subgroup goes on.
func init() { scenarios["subkill"] = subkillChild }

func subkillChild() error {
	g, err := InitFromEnv()
	if err != nil {
		return err
	}
	rank := g.Rank()
	low, err := g.NewGroup([]int{0, 1})
	if err != nil {
		return err
	}
	high, err := g.NewGroup([]int{2, 3})
	if err != nil {
		return err
	}
	if rank < 2 {
		// The healthy pair all-reduces among themselves until after the
		// other pair's failure (rank 2 counts it in the store; the pair
		// agrees on seeing it through a one-element all-reduce), and 20
		// steps more: unaffected by it.
		x := tensor.Ones([]int{1 << 12})
		after := -1
		for step := 0; after < 20; step++ {
			if step > 100000 {
				return fmt.Errorf("the healthy pair never saw the failure")
			}
			if err := low.AllReduce(x, Average); err != nil {
				return fmt.Errorf("the healthy pair, step %d: %v", step, err)
			}
			seen, err := g.Store().Add("subkill/failed", 0)
			if err != nil {
				return err
			}
			flag := tensor.Full(float64(seen), []int{1})
			if err := low.AllReduce(flag, Sum); err != nil {
				return fmt.Errorf("the healthy pair, step %d: %v", step, err)
			}
			if after >= 0 || flag.Item() > 0 {
				after++
			}
		}
		if v := x.Float64s()[0]; v != 1 {
			return fmt.Errorf("the healthy pair's average is %v, want 1", v)
		}
		fmt.Println("HEALTHY")
		return low.Close() // the world group cannot close: rank 3 is dead
	}
	x := tensor.Ones([]int{1 << 18})
	for step := 0; ; step++ {
		if rank == 3 && step == 20 {
			go func() {
				time.Sleep(2 * time.Millisecond)
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}()
		}
		start := time.Now()
		err := high.AllReduce(x, Average)
		if err == nil {
			if step > 10000 {
				return fmt.Errorf("no failure after %d steps", step)
			}
			continue
		}
		took := time.Since(start)
		if !errors.Is(err, ErrPeer) && !errors.Is(err, ErrTimeout) {
			return fmt.Errorf("step %d: %v, want ErrPeer or ErrTimeout", step, err)
		}
		if took > killTimeout+2*time.Second {
			return fmt.Errorf("step %d failed after %v, with a timeout of %v", step, took, killTimeout)
		}
		fmt.Printf("FAILED step=%d after=%v: %v\n", step, took.Round(time.Millisecond), err)
		_, err = g.Store().Add("subkill/failed", 1)
		return err
	}
}

func TestKilledRankInSubgroup4(t *testing.T) {
	needGloo(t)
	res := spawn(t, 4, "subkill", 30*time.Second, EnvTimeout+"="+killTimeout.String())
	for _, r := range res {
		switch {
		case r.rank == 3:
			if r.err == nil || !strings.Contains(r.err.Error(), "killed") {
				t.Errorf("the victim, rank 3: %v, want killed\n%s", r.err, r.output)
			}
		case r.rank == 2:
			if r.err != nil || !strings.Contains(r.output, "FAILED") {
				t.Errorf("rank 2, the victim's partner: %v\n%s", r.err, r.output)
			}
		default:
			if r.err != nil || !strings.Contains(r.output, "HEALTHY") {
				t.Errorf("rank %d, of the healthy pair: %v\n%s", r.rank, r.err, r.output)
			}
		}
		t.Logf("rank %d: %s", r.rank, strings.TrimSpace(r.output))
	}
}
