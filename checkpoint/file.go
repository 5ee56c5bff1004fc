package checkpoint

import (
	"fmt"
	"os"
	"slices"

	"github.com/tapegrad/tapegrad/internal/atomicfile"
	"github.com/tapegrad/tapegrad/tensor"
)

// beforeRename is called with the temporary file's name after it is
// written and synced, before the rename; tests use it to simulate crashes.
var beforeRename func(tmp string) error

// Save writes c to path atomically (see the package documentation). A
// new file gets mode 0644; a replaced file keeps its mode. If path is a
// symbolic link, the file it points to is replaced and the link stays.
// A nil c, an empty tensor name or a nil tensor is an error matching
// [ErrInvalid], and then nothing is written.
func Save(path string, c *Checkpoint) error {
	if err := c.check(); err != nil {
		return withPath(err, path)
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return &Error{Path: path, Err: err}
	}
	// Abort removes the temporary file on every failure, panics included,
	// and does nothing after a successful Commit.
	defer f.Abort()
	f.BeforeRename = beforeRename
	if err := Write(f, c); err != nil {
		return withPath(err, path)
	}
	if err := f.Commit(); err != nil {
		return &Error{Path: path, Err: err}
	}
	return nil
}

// Load reads the checkpoint at path, verifies all of it, and only then
// makes its tensors with the tensor constructor options opts (tensor.On to
// choose the device). Errors match [ErrCorrupt] for truncated or damaged
// files and [ErrVersion] for other format versions; a failure to make a
// tensor (an unavailable device, out of memory) is the *tensor.Error of the
// constructor.
func Load(path string, opts ...tensor.Option) (*Checkpoint, error) {
	return load(path, func(string) []tensor.Option { return opts })
}

func load(path string, optsFor func(string) []tensor.Option) (*Checkpoint, error) {
	d, err := readFile(path)
	if err != nil {
		return nil, err
	}
	c, err := d.checkpoint(optsFor)
	return c, withPath(err, path)
}

// readFile reads and decodes (checks) the checkpoint file at path.
func readFile(path string) (*decoded, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Err: err}
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	b, err := readAll(f, size)
	if err != nil {
		return nil, withPath(err, path)
	}
	d, err := decode(b)
	if err != nil {
		return nil, withPath(err, path)
	}
	return d, nil
}

// LoadLike loads the checkpoint at path for resuming training with the
// parameters params: every parameter must be in the checkpoint with the
// same shape and dtype (else an error matching [ErrMismatch], and nothing
// is loaded), and its loaded tensor is placed on the parameter's device.
// Tensors of the checkpoint that are not parameters (optimiser state) are
// made with opts. The returned tensors are new; [LoadInto] copies the
// values into the parameters instead.
func LoadLike(path string, params map[string]*tensor.Tensor, opts ...tensor.Option) (*Checkpoint, error) {
	d, err := readFile(path)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(params) {
		p := params[name]
		e, ok := d.entries[name]
		switch {
		case !ok:
			return nil, &Error{Kind: ErrMismatch, Path: path, Detail: fmt.Sprintf("parameter %q is not in the checkpoint", name)}
		case e.dt != p.DType():
			return nil, &Error{Kind: ErrMismatch, Path: path, Detail: fmt.Sprintf("parameter %q is %v, the checkpoint has %v", name, p.DType(), e.dt)}
		case !slices.Equal(e.shape, p.Shape()):
			return nil, &Error{Kind: ErrMismatch, Path: path, Detail: fmt.Sprintf("parameter %q has shape %v, the checkpoint has %v", name, p.Shape(), e.shape)}
		}
	}
	c, err := d.checkpoint(func(name string) []tensor.Option {
		if p, ok := params[name]; ok {
			return []tensor.Option{tensor.On(p.Device())}
		}
		return opts
	})
	return c, withPath(err, path)
}

// LoadInto loads the checkpoint at path and copies every tensor of dst
// that the checkpoint holds into it, in place (tensor.Assign: views and
// optimisers holding the tensors see the new values, attached gradients
// stay). Every tensor of dst must be in the checkpoint with the same shape
// and dtype, else an error matching [ErrMismatch] and nothing is changed.
// Any other failure (the calling goroutine is recording, say: the error
// then matches tensor.ErrArgument) also leaves every tensor unchanged.
// The whole checkpoint, including entries that are not in dst and the
// metadata, is returned.
func LoadInto(path string, dst map[string]*tensor.Tensor) (*Checkpoint, error) {
	c, err := LoadLike(path, dst)
	if err != nil {
		return nil, err
	}
	names := sortedKeys(dst)
	ds, ss := make([]*tensor.Tensor, len(names)), make([]*tensor.Tensor, len(names))
	for i, name := range names {
		ds[i], ss[i] = dst[name], c.Tensors[name]
	}
	// All or nothing: AssignAll checks every pair (and that the calling
	// goroutine is not recording) before it writes any.
	if err := tensor.Maybe(func() { tensor.AssignAll(ds, ss) }); err != nil {
		return nil, &Error{Path: path, Detail: "copying into the tensors (nothing was changed)", Err: err}
	}
	return c, nil
}
