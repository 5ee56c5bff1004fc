// Package testkit holds helpers that the tests of several packages share:
// measuring what a function allocates, and killing a child process (the
// test binary re-run as a worker) at a random moment, for the crash tests
// of the savers. It is imported by tests only.
package testkit

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// Allocated returns the bytes that f allocates (runtime.MemStats'
// TotalAlloc before and after, after a collection).
func Allocated(f func()) int64 {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return int64(b.TotalAlloc - a.TotalAlloc)
}

// Ready is what a child started by [KillChild] prints once it has done its
// first unit of work.
func Ready() { os.Stdout.WriteString("ready\n") }

// KillChild re-runs the test binary as a child that runs only the test
// named test, with the environment variable env set to value (the child's
// test sees it and works in a loop instead of testing). Once the child has
// called [Ready], KillChild waits a random time of at most maxDelay, kills
// the child (SIGKILL on Unix) and waits for it. It skips the test where
// processes cannot be killed, and fails it if the child does not start or
// exits by itself.
func KillChild(t *testing.T, test, env, value string, maxDelay time.Duration) {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs SIGKILL and subprocesses")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+value)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child did not start working: %q %v", line, err)
	}
	time.Sleep(rand.N(maxDelay))
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the child exited normally before it was killed")
	}
}
