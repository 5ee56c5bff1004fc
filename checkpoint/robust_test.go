package checkpoint

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/internal/testkit"

	"github.com/tapegrad/tapegrad/tensor"
)

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// TestSaveNil: Save(path, nil) is an ErrInvalid error, leaves the file as
// it was, and leaks no temporary file and no file descriptor.
func TestSaveNil(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.ckpt")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	fds := openFDs()
	for range 3 {
		err := Save(path, nil)
		var e *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) || e.Path != path {
			t.Fatalf("%v", err)
		}
	}
	if err := Write(&bytes.Buffer{}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Write(nil): %v", err)
	}
	if after := openFDs(); after != fds {
		t.Fatalf("%d file descriptors open before, %d after", fds, after)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the file changed")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("files left: %v", ents)
	}
}

// TestLoadReadsWhatTheHeaderDeclares: the magic is checked before
// anything else is read (Load("/dev/zero") returns at once), and a header
// promising more than the input holds costs no more than the input.
func TestLoadReadsWhatTheHeaderDeclares(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err == nil {
		done := make(chan error, 1)
		go func() { _, err := Load("/dev/zero"); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "/dev/zero") {
				t.Fatalf("%v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Load(/dev/zero) does not return")
		}
	}
	var good bytes.Buffer
	if err := Write(&good, sample()); err != nil {
		t.Fatal(err)
	}
	huge := append([]byte(nil), good.Bytes()...)
	binary.LittleEndian.PutUint64(huge[16:], 1<<40)
	var err error
	if got := testkit.Allocated(func() { _, err = Read(bytes.NewReader(huge)) }); !errors.Is(err, ErrCorrupt) || got > 2<<20 {
		t.Fatalf("stream: allocated %d, %v", got, err)
	}
	path := filepath.Join(t.TempDir(), "huge.ckpt")
	os.WriteFile(path, huge, 0o644)
	if got := testkit.Allocated(func() { _, err = Load(path) }); !errors.Is(err, ErrCorrupt) || got > 64<<10 {
		t.Fatalf("file: allocated %d, %v", got, err)
	}
	// Trailing bytes on a stream, and a good stream.
	if _, err := Read(bytes.NewReader(append(good.Bytes(), 0))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := Read(bufio.NewReader(bytes.NewReader(good.Bytes()))); err != nil {
		t.Fatal(err)
	}
}

// TestSaveThroughSymlink: saving to a symbolic link replaces the file it
// points to, keeps the link and keeps the file's mode.
func TestSaveThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "real", "m.ckpt")
	link := filepath.Join(dir, "m.ckpt")
	if err := Save(real, sample()); err != nil {
		t.Fatal(err)
	}
	os.Chmod(real, 0o600)
	if err := os.Symlink(filepath.Join("real", "m.ckpt"), link); err != nil {
		t.Skip(err)
	}
	next := &Checkpoint{Tensors: map[string]*tensor.Tensor{"x": tensor.Ones([]int{5})}}
	if err := Save(link, next); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	got, err := Load(real)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, next)
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("files next to the link: %v", ents)
	}
}

const saveLoopEnv = "TAPEGRAD_CHECKPOINT_SAVE_LOOP"

// TestKilledSavesLeaveNoTempFiles kills children that save in a loop:
// the checkpoint always loads, and the next save removes the temporary
// files the children left.
func TestKilledSavesLeaveNoTempFiles(t *testing.T) {
	if path := os.Getenv(saveLoopEnv); path != "" {
		c := &Checkpoint{Tensors: map[string]*tensor.Tensor{"w": tensor.Ones([]int{256, 256})}}
		for i := 0; ; i++ {
			if err := Save(path, c); err != nil {
				panic(err)
			}
			if i == 0 {
				testkit.Ready()
			}
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.ckpt")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	const rounds = 6
	for round := range rounds {
		testkit.KillChild(t, "TestKilledSavesLeaveNoTempFiles", saveLoopEnv, path, 10*time.Millisecond)
		if _, err := Load(path); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	// A temporary file of this process that is not a save in progress (a
	// previous process with the same id), and files that only look like
	// temporary files, which must stay.
	ents, _ := os.ReadDir(dir)
	left := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".m.ckpt.tmp.") {
			if left == 0 {
				// Reuse a killed child's host tag with this process's id.
				parts := strings.Split(e.Name(), ".")
				own := ".m.ckpt.tmp." + parts[len(parts)-3] + "." + strconv.Itoa(os.Getpid()) + ".77"
				os.WriteFile(filepath.Join(dir, own), nil, 0o600)
			}
			left++
		}
	}
	t.Logf("%d temporary files left by %d kills", left, rounds)
	keep := []string{".m.ckpt.tmp-half", ".m.ckpt.tmp.x", ".other.ckpt.tmp.00000000.1.2"}
	for _, k := range keep {
		os.WriteFile(filepath.Join(dir, k), nil, 0o600)
	}
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	ents, _ = os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1+len(keep) {
		t.Fatalf("files left after %d kills and a save: %v", rounds, names)
	}
}
