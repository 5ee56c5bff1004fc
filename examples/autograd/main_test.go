package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestMainRuns runs the walk-through and checks the parts of its output
// that do not depend on the device or the random input.
func TestMainRuns(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	func() {
		defer func() { os.Stdout = stdout; w.Close() }()
		main()
	}()
	out := <-done
	for _, want := range []string{
		"x =\n[[1 2]\n [3 4]]\n",
		"dy/dx for y = 2x² (expect 4x) =\n[[ 4  8]\n [12 16]]\n",
		"dc/da = [",
		"c/a = [",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
