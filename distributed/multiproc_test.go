package distributed

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Multi-process tests run this test binary as N child processes (the
// environment variable below names the scenario), each a rank of a group
// over loopback, with the environment torchrun would give them.

const childEnv = "TAPEGRAD_DIST_TEST_CHILD"

// scenarios are what a child process can run; they return an error to
// make the child exit with status 1 (printing it).
var scenarios = map[string]func() error{}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		f, ok := scenarios[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown scenario %q\n", name)
			os.Exit(3)
		}
		if err := f(); err != nil {
			fmt.Fprintf(os.Stderr, "rank %s: %v\n", os.Getenv(EnvRank), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// childResult is how one rank ended.
type childResult struct {
	rank     int
	err      error // the exit status, nil for 0
	output   string
	duration time.Duration
}

// spawn runs scenario as n ranks and returns how each ended, waiting at
// most limit for all of them (then killing the rest).
func spawn(t *testing.T, n int, scenario string, limit time.Duration, env ...string) []childResult {
	t.Helper()
	port := freePort(t)
	res := make([]childResult, n)
	var wg sync.WaitGroup
	start := time.Now()
	for r := 0; r < n; r++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			childEnv+"="+scenario,
			EnvRank+"="+strconv.Itoa(r), EnvLocalRank+"="+strconv.Itoa(r), EnvWorldSize+"="+strconv.Itoa(n),
			EnvMasterAddr+"=127.0.0.1", EnvMasterPort+"="+strconv.Itoa(port), "GOMAXPROCS=1")
		cmd.Env = append(cmd.Env, env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(limit):
				cmd.Process.Kill()
				err = fmt.Errorf("still running after %v: killed", limit)
				<-done
			}
			res[r] = childResult{rank: r, err: err, output: out.String(), duration: time.Since(start)}
		}(r)
	}
	wg.Wait()
	return res
}

// requireAll fails the test unless every rank exited with status 0.
func requireAll(t *testing.T, res []childResult) {
	t.Helper()
	for _, r := range res {
		if r.err != nil {
			t.Errorf("rank %d: %v\n%s", r.rank, r.err, r.output)
		}
	}
}

func needGloo(t *testing.T) {
	t.Helper()
	if !HaveGloo {
		t.Skip("built without the Gloo engine: go test -tags gloo ./distributed (needs Debian's libgloo-dev)")
	}
}

// rankEnv returns rank and world size of a child.
func rankEnv() (rank, world int) {
	rank, _ = strconv.Atoi(os.Getenv(EnvRank))
	world, _ = strconv.Atoi(os.Getenv(EnvWorldSize))
	return rank, world
}

func joinLines(res []childResult) string {
	var b strings.Builder
	for _, r := range res {
		fmt.Fprintf(&b, "rank %d (%v, %v): %s\n", r.rank, r.err, r.duration.Round(time.Millisecond), r.output)
	}
	return b.String()
}
