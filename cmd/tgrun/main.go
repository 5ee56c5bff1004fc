// Command tgrun starts a data-parallel job on one machine: N copies of a
// program, each with the environment variables that torchrun sets (RANK,
// LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so
// that distributed.InitFromEnv makes them one process group.
//
//	go run ./cmd/tgrun -nproc 2 ./examples/fashion-mnist -dist -epochs 1
//	go run ./cmd/tgrun -nproc 4 -tags gloo ./examples/charlm -dist -steps 100
//	go run ./cmd/tgrun -nproc 2 ./prog-binary -flag
//
// The program is an executable file, or a Go package (a path starting with
// "." or "/" that is a directory, or an import path), which tgrun builds
// once with `go build -tags <tags>` (default gloo, the CPU engine) into a
// temporary directory. Arguments after the program go to it. Each line a
// rank writes is prefixed with "[rank r] " (standard output to standard
// output, standard error to standard error); -quiet keeps only rank 0's.
//
// When a rank exits with an error, the others are given -grace to fail on
// their own (a process group reports a dead peer as a typed error within
// its timeout) and then killed; tgrun exits with the first failing rank's
// status. Interrupting tgrun (Ctrl-C) interrupts every rank.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	nproc := flag.Int("nproc", 2, "number of processes (ranks)")
	addr := flag.String("master-addr", "127.0.0.1", "MASTER_ADDR: the address rank 0 serves the rendezvous store on")
	port := flag.Int("master-port", 0, "MASTER_PORT (0: a free port)")
	tags := flag.String("tags", "gloo", "build tags when the program is a Go package")
	grace := flag.Duration("grace", 90*time.Second, "after a rank fails, how long the others may run before they are killed")
	quiet := flag.Bool("quiet", false, "show only rank 0's output")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: tgrun [flags] program|package [args...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 || *nproc < 1 {
		flag.Usage()
		os.Exit(2)
	}
	code, err := run(*nproc, *addr, *port, *tags, *grace, *quiet, flag.Arg(0), flag.Args()[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tgrun:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// program returns the executable to run, building a Go package if need be.
func program(target, tags string) (path string, cleanup func(), err error) {
	if st, err := os.Stat(target); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		abs, err := filepath.Abs(target)
		return abs, func() {}, err
	}
	dir, err := os.MkdirTemp("", "tgrun")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, filepath.Base(strings.TrimSuffix(target, "/")))
	args := []string{"build", "-o", path}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, target)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("go build %s: %w", target, err)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// prefixLines copies r to w line by line, each line prefixed.
func prefixLines(w io.Writer, mu *sync.Mutex, prefix string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mu.Lock()
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
		mu.Unlock()
	}
}

func run(n int, addr string, port int, tags string, grace time.Duration, quiet bool, target string, args []string) (int, error) {
	exe, cleanup, err := program(target, tags)
	if err != nil {
		return 1, err
	}
	defer cleanup()
	if port == 0 {
		if port, err = freePort(addr); err != nil {
			return 1, err
		}
	}
	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, n)
	cmds := make([]*exec.Cmd, n)
	var outMu sync.Mutex
	for r := range n {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(),
			"RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r),
			"WORLD_SIZE="+strconv.Itoa(n), "LOCAL_WORLD_SIZE="+strconv.Itoa(n),
			"MASTER_ADDR="+addr, "MASTER_PORT="+strconv.Itoa(port))
		cmd.Stdin = nil
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return 1, err
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return 1, err
		}
		if err := cmd.Start(); err != nil {
			for _, c := range cmds[:r] {
				c.Process.Kill()
			}
			return 1, err
		}
		cmds[r] = cmd
		prefix := fmt.Sprintf("[rank %d] ", r)
		outW, errW := io.Writer(os.Stdout), io.Writer(os.Stderr)
		if quiet && r != 0 {
			outW, errW = io.Discard, io.Discard
		}
		var copies sync.WaitGroup
		copies.Add(2)
		go func() { defer copies.Done(); prefixLines(outW, &outMu, prefix, stdout) }()
		go func() { defer copies.Done(); prefixLines(errW, &outMu, prefix, stderr) }()
		go func(r int) {
			// Wait only once both pipes are drained.
			copies.Wait()
			exits <- exit{r, cmd.Wait()}
		}(r)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	code, first := 0, error(nil)
	var deadline <-chan time.Time
	for left := n; left > 0; {
		select {
		case e := <-exits:
			left--
			if e.err != nil && first == nil {
				first = fmt.Errorf("rank %d: %w", e.rank, e.err)
				code = 1
				var ee *exec.ExitError
				if errors.As(e.err, &ee) && ee.ExitCode() > 0 {
					code = ee.ExitCode()
				}
				if left > 0 {
					fmt.Fprintf(os.Stderr, "tgrun: rank %d failed (%v); the others have %v to finish\n", e.rank, e.err, grace)
					deadline = time.After(grace)
				}
			}
		case s := <-sigs:
			for _, c := range cmds {
				c.Process.Signal(s)
			}
		case <-deadline:
			fmt.Fprintf(os.Stderr, "tgrun: killing the ranks still running after %v\n", grace)
			for _, c := range cmds {
				c.Process.Kill()
			}
			deadline = nil
		}
	}
	return code, first
}
