// Package checkpoint saves and loads named sets of tensors, with a small
// string metadata map, in one self-checking file: model parameters, and
// the state of an optimiser stored as further named tensors.
//
// # Use
//
//	ck := &checkpoint.Checkpoint{
//		Tensors:  map[string]*tensor.Tensor{"fc1.w": w1, "fc1.b": b1},
//		Metadata: map[string]string{"epoch": "3"},
//	}
//	err := checkpoint.Save("model.ckpt", ck)
//	...
//	ck, err = checkpoint.Load("model.ckpt", tensor.On(device.CUDA(0)))
//
// [LoadLike] loads a checkpoint for resuming: it checks the stored tensors
// against existing parameters (every parameter present, with its shape
// and dtype) and places each loaded tensor on its parameter's device.
// [LoadInto] does the same checks and then copies the values into the
// existing tensors in place (tensor.Assign), so a model and an optimiser
// that hold them resume without rebuilding anything; optim's Restore loads
// an optimiser's state (its State() under a prefix) the same way.
//
// # Optimiser state
//
// Tensor names are free-form strings. By convention, parameters use their
// plain names and an optimiser stores its State() under a prefix with
// [Checkpoint.Put]: ck.Put("adam", opt.State()) stores "adam/m.0",
// "adam/v.0", ..., "adam/steps" (optim names a slot by the parameter's
// position in its list, and keeps the step count as a 0-d tensor), and
// opt.Restore(ck.Prefixed("adam")) reads them back ([Checkpoint.Prefixed]
// gives back exactly the map Restore wants).
//
// # Safety
//
// [Save] is atomic: it writes a temporary file in the target's directory,
// fsyncs it, renames it over the target and fsyncs the directory, so a
// crash leaves either the old file or the new one, never a mixture, and
// concurrent Saves to one path leave one of them whole. Saving to a
// symbolic link replaces the file the link points to. A crash can leave a
// temporary file (named ".NAME.tmp.HOST.PID.RANDOM") behind; it is never
// read, deleting it is safe, and the next Save of the same target removes
// it once its writer is known to be dead (same machine, process gone) or
// it has not changed for an hour (see internal/atomicfile for the rule).
//
// [Load] checks the magic and the version first and reads only the length
// the header declares (for a regular file, only if the file has exactly
// that size), then verifies the whole checkpoint before returning anything:
// a truncated or corrupted file is reported with an error matching
// [ErrCorrupt], a file of another format version with [ErrVersion], and
// nothing is half-loaded.
//
// # Format (version 1)
//
// All integers little-endian:
//
//	magic    8 bytes  "\x89TGCKPT\n"
//	version  uint32   1
//	flags    uint32   0 (reserved)
//	length   uint64   the length of the body in bytes
//	body:
//	  uint32 number of metadata entries, then for each, sorted by key:
//	    uint32 key length, key, uint32 value length, value
//	  uint32 number of tensors, then for each, sorted by name:
//	    uint32 name length, name, uint8 dtype (1 float32, 2 float64, 3 int32, 4 int64,
//	    5 bfloat16, 6 float16), uint32 rank, rank × uint64 dimensions,
//	    the elements in row-major order (2, 4 or 8 bytes each; the half
//	    types as their bits)
//	checksum 32 bytes SHA-256 of everything before it
//
// The same tensors and metadata always give the same bytes. The half
// dtypes (codes 5 and 6) were added without a new version: files without
// half tensors are unchanged, and readers from before them refuse a file
// with one as corrupt ("unknown dtype"). A NaN of a half tensor is stored
// quieted (its sign and the top of its payload kept).
package checkpoint

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tapegrad/tapegrad/tensor"
)

// Version is the format version this package writes and reads.
const Version = 1

const magic = "\x89TGCKPT\n"

// The kinds of error, wrapped in an [*Error]. Test with errors.Is.
var (
	// ErrCorrupt: the file is not a checkpoint, or is truncated or damaged
	// (its checksum or structure is wrong).
	ErrCorrupt = errors.New("corrupt checkpoint")
	// ErrVersion: the file is a checkpoint of a format version this
	// package does not read.
	ErrVersion = errors.New("unsupported checkpoint version")
	// ErrMismatch: LoadLike found a parameter missing from the checkpoint
	// or stored with another shape or dtype.
	ErrMismatch = errors.New("checkpoint does not match the parameters")
	// ErrInvalid: Save was given something it cannot store (an empty
	// tensor name, a nil tensor).
	ErrInvalid = errors.New("invalid checkpoint contents")
)

// Error describes a checkpoint that cannot be saved or loaded.
type Error struct {
	Kind   error  // ErrCorrupt, ErrVersion, ErrMismatch, ErrInvalid, or nil for an I/O failure
	Path   string // the file, if any
	Detail string
	Err    error // the underlying cause, if any
}

// Error formats the error as "checkpoint: PATH: KIND: DETAIL: CAUSE".
func (e *Error) Error() string {
	var parts []string
	if e.Path != "" {
		parts = append(parts, e.Path)
	}
	if e.Kind != nil {
		parts = append(parts, e.Kind.Error())
	}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	if e.Err != nil {
		parts = append(parts, e.Err.Error())
	}
	return "checkpoint: " + strings.Join(parts, ": ")
}

// Unwrap returns the kind and the cause, so that errors.Is matches both.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

func corrupt(format string, args ...any) *Error {
	return &Error{Kind: ErrCorrupt, Detail: fmt.Sprintf(format, args...)}
}

func withPath(err error, path string) error {
	var e *Error
	if errors.As(err, &e) && e.Path == "" {
		e.Path = path
	}
	return err
}

// Checkpoint is a named set of tensors and string metadata.
type Checkpoint struct {
	Tensors  map[string]*tensor.Tensor
	Metadata map[string]string
}

// Put adds the tensors of m under prefix: m["x"] becomes c.Tensors[prefix+"/x"].
func (c *Checkpoint) Put(prefix string, m map[string]*tensor.Tensor) {
	if c.Tensors == nil {
		c.Tensors = map[string]*tensor.Tensor{}
	}
	for k, v := range m {
		c.Tensors[prefix+"/"+k] = v
	}
}

// Prefixed returns the tensors whose names start with prefix+"/", with
// that part of the name removed: the inverse of Put.
func (c *Checkpoint) Prefixed(prefix string) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, v := range c.Tensors {
		if rest, ok := strings.CutPrefix(k, prefix+"/"); ok {
			out[rest] = v
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
