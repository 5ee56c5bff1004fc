package npy_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/internal/testkit"

	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

// The two contents that the saving child alternates between.
func killA() *tensor.Tensor { return tensor.Arange(0, 60000, 1) }
func killB() *tensor.Tensor { return tensor.Full(7, []int{300, 500}) }

const saveLoopEnv = "TAPEGRAD_NPY_SAVE_LOOP"

// saveLoop is the child of TestSaveKilled: it saves A and B in turn to
// DIR/x.npy and DIR/x.npz, forever, and says "ready" after the first
// round.
func saveLoop(dir string) {
	a, b := killA(), killB()
	for i := 0; ; i++ {
		t := a
		if i%2 == 1 {
			t = b
		}
		if err := npy.Save(filepath.Join(dir, "x.npy"), t); err != nil {
			panic(err)
		}
		if err := npy.SaveNPZ(filepath.Join(dir, "x.npz"), map[string]*tensor.Tensor{"t": t, "a": a}); err != nil {
			panic(err)
		}
		if i == 0 {
			testkit.Ready()
		}
	}
}

// isAOrB fails unless got is A or B, whole.
func isAOrB(t *testing.T, what string, got *tensor.Tensor) {
	t.Helper()
	for _, want := range []*tensor.Tensor{killA(), killB()} {
		if slices.Equal(got.Shape(), want.Shape()) && slices.Equal(got.Float32s(), want.Float32s()) {
			return
		}
	}
	t.Fatalf("%s: shape %v is neither the old nor the new contents", what, got.Shape())
}

// TestSaveKilled kills (SIGKILL) a child process that saves in a loop, at
// random moments: the files always load, with the old or the new
// contents, and the next save removes the temporary files the killed
// children left.
func TestSaveKilled(t *testing.T) {
	if dir := os.Getenv(saveLoopEnv); dir != "" {
		saveLoop(dir)
		return
	}
	dir := t.TempDir()
	npyPath, npzPath := filepath.Join(dir, "x.npy"), filepath.Join(dir, "x.npz")
	const rounds = 8
	for round := range rounds {
		testkit.KillChild(t, "TestSaveKilled", saveLoopEnv, dir, 20*time.Millisecond)
		x, err := npy.Load(npyPath)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		isAOrB(t, "x.npy", x)
		m, err := npy.LoadNPZ(npzPath)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(m) != 2 || m["a"] == nil || m["t"] == nil {
			t.Fatalf("round %d: x.npz holds %v", round, m)
		}
		isAOrB(t, "x.npz:a.npy", m["a"])
		isAOrB(t, "x.npz:t.npy", m["t"])
	}
	// The children are dead: saving again removes their temporary files.
	if err := npy.Save(npyPath, killA()); err != nil {
		t.Fatal(err)
	}
	if err := npy.SaveNPZ(npzPath, map[string]*tensor.Tensor{"t": killB(), "a": killA()}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("files left after %d kills and a save: %v", rounds, names)
	}
}

// TestSaveKeepsOldFileOnError: a save that fails part way (a released
// tensor) leaves the previous file whole and no temporary file.
func TestSaveKeepsOldFileOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npz")
	if err := npy.SaveNPZ(path, map[string]*tensor.Tensor{"a": killA()}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	r := tensor.Ones([]int{1 << 15})
	r.Release()
	err := npy.SaveNPZ(path, map[string]*tensor.Tensor{"a": killA(), "b": r})
	if !errors.Is(err, tensor.ErrReleased) || !strings.Contains(err.Error(), path) {
		t.Fatalf("%v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("a failed save changed the file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("files left: %v", ents)
	}
}

// TestSaveThroughSymlink: saving to a symbolic link replaces the file it
// points to and keeps the link.
func TestSaveThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.npy")
	link := filepath.Join(dir, "link.npy")
	if err := npy.Save(real, killB()); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.npy", link); err != nil {
		t.Skip(err)
	}
	if err := npy.Save(link, killA()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	x, err := npy.Load(real)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Shape(), killA().Shape()) {
		t.Fatalf("the target was not replaced: shape %v", x.Shape())
	}
}
