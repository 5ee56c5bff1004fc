package atomicfile

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestRemoveStale checks the rule of the package documentation.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "m.bin")
	// A process that has exited.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid
	stem := ".m.bin.tmp." + hostTag() + "."
	old := time.Now().Add(-2 * StaleAge)
	files := map[string]bool{ // name → removed
		stem + strconv.Itoa(dead) + ".1":                                true,  // dead writer
		stem + strconv.Itoa(os.Getpid()) + ".2":                         true,  // this process, not in use
		stem + strconv.Itoa(os.Getppid()) + ".3":                        false, // live writer
		".m.bin.tmp.0badc0de." + strconv.Itoa(dead) + ".4":              false, // another machine, fresh
		".m.bin.tmp.0badc0de.1.5":                                       true,  // another machine, old (aged below)
		".m.bin.tmp123":                                                 false, // earlier versions, fresh
		".m.bin.tmp456":                                                 true,  // earlier versions, old
		".m.bin.tmp-half":                                               false, // not a temporary file name
		".other.bin.tmp." + hostTag() + "." + strconv.Itoa(dead) + ".6": false,
	}
	for name := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("x"), 0o600)
		if name == ".m.bin.tmp.0badc0de.1.5" || name == ".m.bin.tmp456" {
			os.Chtimes(p, old, old)
		}
	}
	f, err := Create(target, 0o644) // in use: must survive
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	RemoveStale(target)
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := os.IsNotExist(err); gone != removed {
			t.Errorf("%s: removed %v, want %v", name, gone, removed)
		}
	}
	if _, err := os.Stat(f.Name()); err != nil {
		t.Fatalf("a save in progress lost its file: %v", err)
	}
	f.Write([]byte("new"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("%q", b)
	}
}

// TestPanicRemovesTemp: a panic while writing leaves no temporary file.
func TestPanicRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	func() {
		defer func() { recover() }()
		WriteFile(filepath.Join(dir, "x"), 0o644, func(w io.Writer) error { panic("boom") })
	}()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("%v", ents)
	}
}
