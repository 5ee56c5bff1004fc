package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the program tgrun starts: with TGRUN_TEST_CHILD
// set it checks its environment and exits with the status the variable
// names for its rank.

func TestMain(m *testing.M) {
	if spec := os.Getenv("TGRUN_TEST_CHILD"); spec != "" {
		rank, world := os.Getenv("RANK"), os.Getenv("WORLD_SIZE")
		if os.Getenv("LOCAL_RANK") != rank || os.Getenv("MASTER_ADDR") != "127.0.0.1" || os.Getenv("MASTER_PORT") == "" || world != "3" {
			fmt.Fprintln(os.Stderr, "bad environment:", rank, world, os.Getenv("MASTER_ADDR"), os.Getenv("MASTER_PORT"))
			os.Exit(9)
		}
		// spec: "fail=R:CODE" makes rank R exit with CODE; "hang=R" makes
		// rank R sleep until killed.
		switch {
		case spec == "fail=1:3" && rank == "1":
			os.Exit(3)
		case spec == "hang=2" && rank == "2":
			time.Sleep(time.Hour)
		case spec == "hang=2" && rank == "0":
			os.Exit(4)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRun(t *testing.T) {
	for _, c := range []struct {
		spec string
		code int
	}{{"ok", 0}, {"fail=1:3", 3}, {"hang=2", 4}} {
		t.Setenv("TGRUN_TEST_CHILD", c.spec)
		start := time.Now()
		code, err := run(3, "127.0.0.1", 0, "", 300*time.Millisecond, true, os.Args[0], []string{"-test.run=^$"})
		if code != c.code || (code == 0) != (err == nil) {
			t.Errorf("%s: exit %d, %v; want %d", c.spec, code, err, c.code)
		}
		if err != nil && !strings.Contains(err.Error(), "rank") {
			t.Errorf("%s: %v does not name the rank", c.spec, err)
		}
		// The hanging rank is killed after the grace period.
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: took %v", c.spec, d)
		}
	}
}
