// Package atomicfile replaces files atomically, for the savers of packages
// npy and checkpoint.
//
// [Create] opens a temporary file in the directory of the target; the
// caller writes the new contents to it and calls [File.Commit], which
// fsyncs the temporary file, renames it over the target and fsyncs the
// directory. A crash (or kill -9) at any moment leaves the target either
// as it was or with the whole new contents, never a mixture, and a failed
// write (a full disk) leaves the target untouched. [File.Abort], which is
// safe to defer and does nothing after a successful Commit, closes and
// removes the temporary file.
//
// # Symbolic links
//
// If the target is a symbolic link, Create follows it (and any further
// links) to the final target and writes next to that, so the link stays a
// link and the file it points to is replaced. A dangling link creates the
// file it points to.
//
// # Temporary files
//
// The temporary file of target NAME is named
//
//	.NAME.tmp.HOST.PID.RANDOM
//
// where HOST is 8 hex digits identifying the machine (a hash of its host
// name), PID the id of the writing process and RANDOM a random number. A
// process killed while saving leaves such a file behind. Each Create
// removes the leftover temporary files of the same target that are stale:
//
//   - files whose HOST is this machine's and whose PID is that of a
//     process that no longer exists (on Unix: kill(PID, 0) fails with
//     ESRCH), or is this process's own but not one of its saves in
//     progress (a previous process that had the same id);
//   - any other file of that name pattern, and older temporary files of
//     the form .NAME.tmpDIGITS (written by earlier versions), once it has
//     not been modified for [StaleAge] (a save in progress keeps writing
//     to its file; a machine sharing the directory over a network file
//     system cannot be checked for its processes).
//
// Files that only resemble these names (.NAME.tmp-half, say) are never
// touched. Removal is best effort: a failure to remove a stale file does
// not fail the save.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StaleAge is how long a temporary file that cannot be attributed to a
// dead process must have been left unmodified before a later save of the
// same target removes it.
const StaleAge = time.Hour

// maxLinks bounds the symbolic links followed to the final target.
const maxLinks = 40

// File is a temporary file that becomes the target on [File.Commit].
type File struct {
	f      *os.File
	target string // the final target, symbolic links resolved
	dir    string // its directory, with a trailing separator or ""
	mode   fs.FileMode
	done   bool

	// BeforeRename, if set, is called with the temporary file's name after
	// it is written, synced and closed, just before the rename; an error
	// aborts the commit (tests use it to simulate crashes).
	BeforeRename func(tmp string) error
}

// inUse holds the temporary files this process is writing, so that
// cleaning up never removes a concurrent save's file.
var inUse sync.Map // string (temporary file path) → struct{}

// Create opens a temporary file for replacing path: symbolic links are
// followed to the final target, stale temporary files of that target are
// removed (see the package documentation), and the temporary file is
// created in the target's directory. The file gets the permissions of
// the target it replaces, or perm for a new file. Errors are
// *fs.PathError values.
func Create(path string, perm fs.FileMode) (*File, error) {
	target, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	dir, base := split(target)
	if base == "" {
		return nil, &fs.PathError{Op: "create", Path: path, Err: errors.New("no file name")}
	}
	mode := perm
	if st, err := os.Stat(target); err == nil {
		mode = st.Mode().Perm()
	}
	RemoveStale(target)
	f, err := createTemp(dir, base)
	if err != nil {
		return nil, err
	}
	return &File{f: f, target: target, dir: dir, mode: mode}, nil
}

// createTemp creates a new temporary file for target dir+base, marking it
// in use before it exists, so that a concurrent RemoveStale of this
// process never takes it for a dead process's file.
func createTemp(dir, base string) (*os.File, error) {
	stem := dir + prefix(base) + hostTag() + "." + strconv.Itoa(os.Getpid()) + "."
	for try := 0; ; try++ {
		name := stem + strconv.FormatUint(uint64(rand.Uint32()), 10)
		key := filepath.Clean(name)
		if _, loaded := inUse.LoadOrStore(key, struct{}{}); loaded {
			continue
		}
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, nil
		}
		inUse.Delete(key)
		if !errors.Is(err, fs.ErrExist) || try == 100 {
			return nil, err
		}
	}
}

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// Name returns the temporary file's name.
func (f *File) Name() string { return f.f.Name() }

// Target returns the file that Commit replaces: the path given to Create
// with symbolic links resolved.
func (f *File) Target() string { return f.target }

// Commit sets the file's permissions, fsyncs and closes it, renames it
// over the target and fsyncs the directory. On failure the temporary file
// is removed and the target is as it was (unless only the final directory
// sync failed: the rename has then happened but may not be durable).
func (f *File) Commit() (err error) {
	if f.done {
		return &fs.PathError{Op: "commit", Path: f.target, Err: fs.ErrClosed}
	}
	defer func() {
		if err != nil {
			f.Abort()
		}
	}()
	tmp := f.f.Name()
	if err := f.f.Chmod(f.mode); err != nil {
		return err
	}
	if err := f.f.Sync(); err != nil {
		return err
	}
	if err := f.f.Close(); err != nil {
		return err
	}
	if f.BeforeRename != nil {
		if err := f.BeforeRename(tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, f.target); err != nil {
		return err
	}
	f.done = true
	inUse.Delete(filepath.Clean(tmp))
	// Make the rename durable. Windows cannot open directories for
	// syncing; its renames are as durable as its file system makes them.
	if runtime.GOOS != "windows" {
		d, err := os.Open(dirOrDot(f.dir))
		if err != nil {
			return &fs.PathError{Op: "sync directory", Path: dirOrDot(f.dir), Err: err}
		}
		serr := d.Sync()
		d.Close()
		if serr != nil {
			return &fs.PathError{Op: "sync directory", Path: dirOrDot(f.dir), Err: serr}
		}
	}
	return nil
}

// Abort closes and removes the temporary file, leaving the target as it
// was. It does nothing after Commit succeeded or Abort ran, so it can be
// deferred right after Create.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	tmp := f.f.Name()
	f.f.Close()
	os.Remove(tmp)
	inUse.Delete(filepath.Clean(tmp))
}

// WriteFile replaces path atomically with what write writes (through a
// buffer). Errors from write are returned as they are; the others are
// *fs.PathError values. A panic in write removes the temporary file and
// goes on.
func WriteFile(path string, perm fs.FileMode, write func(io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Commit()
}

// Resolve follows symbolic links from path until it names something that
// is not a link, or does not exist, and returns that path.
func Resolve(path string) (string, error) {
	p := path
	for range maxLinks {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			// Not filepath.Join: cleaning "dir/../x" lexically is wrong
			// when dir is itself a link.
			dir, _ := split(p)
			link = dir + link
		}
		p = link
	}
	return "", &fs.PathError{Op: "resolve", Path: path, Err: errors.New("too many levels of symbolic links")}
}

// split splits path after its last separator.
func split(path string) (dir, base string) {
	i := len(path) - 1
	for i >= 0 && !os.IsPathSeparator(path[i]) {
		i--
	}
	return path[:i+1], path[i+1:]
}

func dirOrDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

func prefix(base string) string { return "." + base + ".tmp." }

var hostTag = sync.OnceValue(func() string {
	h := fnv.New32a()
	name, _ := os.Hostname()
	h.Write([]byte(name))
	return fmt.Sprintf("%08x", h.Sum32())
})

// RemoveStale removes the stale temporary files of target (see the package
// documentation) and returns the names of those it removed.
func RemoveStale(target string) []string {
	dir, base := split(target)
	d, err := os.Open(dirOrDot(dir))
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var removed []string
	now := time.Now()
	for _, name := range names {
		owned, dead := classify(name, base)
		if !owned {
			continue
		}
		p := dir + name
		if _, busy := inUse.Load(filepath.Clean(p)); busy {
			continue
		}
		if !dead {
			fi, err := os.Lstat(p)
			if err != nil || !fi.Mode().IsRegular() || now.Sub(fi.ModTime()) < StaleAge {
				continue
			}
		}
		if os.Remove(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}

// classify tells whether name is a temporary file of the target base, and
// whether its writer is known to be gone.
func classify(name, base string) (owned, dead bool) {
	legacy := "." + base + ".tmp"
	rest, ok := strings.CutPrefix(name, legacy)
	if !ok || rest == "" {
		return false, false
	}
	if allDigits(rest) {
		return true, false // os.CreateTemp(dir, ".NAME.tmp*") of earlier versions
	}
	rest, ok = strings.CutPrefix(rest, ".")
	if !ok {
		return false, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || len(parts[0]) != 8 || !isHex(parts[0]) || !allDigits(parts[1]) || !allDigits(parts[2]) {
		return false, false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || parts[0] != hostTag() {
		return true, false
	}
	if pid == os.Getpid() {
		return true, true // not in inUse (checked by the caller): a previous process
	}
	return true, processGone(pid)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
