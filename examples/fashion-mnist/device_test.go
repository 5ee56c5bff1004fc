package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

// TestMain runs main itself, with the arguments in TAPEGRAD_TEST_MAIN_ARGS,
// when TAPEGRAD_TEST_MAIN is set: TestBadDevice runs the test binary that
// way to see main's exit status and output.
func TestMain(m *testing.M) {
	if os.Getenv("TAPEGRAD_TEST_MAIN") == "1" {
		os.Args = append([]string{os.Args[0]}, strings.Fields(os.Getenv("TAPEGRAD_TEST_MAIN_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs main in a subprocess with args and the environment variable
// TAPEGRAD_DEVICE set to env (unset when env is "-"), and returns its exit
// status, stdout and stderr.
func runMain(t *testing.T, env string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"TAPEGRAD_TEST_MAIN=1", "TAPEGRAD_TEST_MAIN_ARGS=" + strings.Join(args, " ")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, device.EnvVar+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if env != "-" {
		cmd.Env = append(cmd.Env, device.EnvVar+"="+env)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// A bad -device flag or TAPEGRAD_DEVICE gives one line naming the value and
// the accepted forms, and exit status 2, not a panic.
func TestBadDevice(t *testing.T) {
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
		code, stdout, stderr := runMain(t, tc.env, tc.args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "fashion-mnist: ") ||
			!strings.Contains(stderr, tc.want) {
			t.Errorf("TAPEGRAD_DEVICE=%s %v: exit status %d, stdout %q, stderr %q; want 2, nothing, one line with %q",
				tc.env, tc.args, code, stdout, stderr, tc.want)
		}
	}
	// A good device gets past the check: an unknown model then fails with
	// exit status 1 after the line that names the device.
	code, _, stderr := runMain(t, "cpu", "-device", "CPU", "-model", "nonsense", "-epochs", "1")
	if code != 1 || !strings.HasPrefix(stderr, "training nonsense on cpu:") {
		t.Errorf("-device CPU -model nonsense: exit status %d, stderr %q; want 1, \"training nonsense on cpu: ...\"", code, stderr)
	}
}
