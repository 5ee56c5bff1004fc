// Package maintest runs a command's main function in a child process of
// the command's own test binary, so that its tests can check what a user
// sees: the exit status, standard output and standard error. It also holds
// the checks that every command taking a device shares.
//
// A command's tests use it as
//
//	func TestMain(m *testing.M) { maintest.Main(m, main) }
//
//	func TestBadDevice(t *testing.T) { maintest.BadDevice(t, "autograd: ") }
package maintest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

const (
	runVar  = "TAPEGRAD_TEST_MAIN"
	argsVar = "TAPEGRAD_TEST_MAIN_ARGS"
)

// Main is a TestMain: in a child started by [Run] it runs main with the
// child's arguments and exits with status 0 if main returns; otherwise it
// runs the tests.
func Main(m *testing.M, main func()) {
	if os.Getenv(runVar) == "1" {
		os.Args = append([]string{os.Args[0]}, strings.Fields(os.Getenv(argsVar))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Run runs main (see [Main]) in a child process with args (split on spaces
// in the child, so no argument may contain one) and TAPEGRAD_DEVICE set to
// env, or unset when env is "-". It returns the exit status and the output.
func Run(t *testing.T, env string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{runVar + "=1", argsVar + "=" + strings.Join(args, " ")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, device.EnvVar+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if env != "-" {
		cmd.Env = append(cmd.Env, device.EnvVar+"="+env)
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// BadDevice checks that a bad -device flag or TAPEGRAD_DEVICE makes the
// command print one line, starting with prefix, that names the value (and
// the accepted forms, for a name that does not parse), and exit with
// status 2: not a panic and its goroutine dump.
func BadDevice(t *testing.T, prefix string) {
	t.Helper()
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"-", []string{"-device", "gpu"}, `bad device name "gpu": device: cannot parse device name: the accepted forms are cpu, cuda, cuda:N`},
		{"tpu", nil, `bad TAPEGRAD_DEVICE "tpu": device: cannot parse device name: the accepted forms are cpu, cuda, cuda:N`},
		{"cuda:-1", []string{"-device", "cpu"}, `bad TAPEGRAD_DEVICE "cuda:-1"`},
		{"-", []string{"-device", "cuda:99"}, `device name "cuda:99": device: not available`},
	} {
		code, stdout, stderr := Run(t, tc.env, tc.args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, prefix) ||
			!strings.Contains(stderr, tc.want) {
			t.Errorf("TAPEGRAD_DEVICE=%s %v: exit status %d, stdout %q, stderr %q; want 2, nothing, one line with %q",
				tc.env, tc.args, code, stdout, stderr, tc.want)
		}
	}
}
