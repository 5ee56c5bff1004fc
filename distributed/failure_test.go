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
