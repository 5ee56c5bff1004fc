package npy

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tapegrad/tapegrad/tensor"
)

// npzTime is the modification time of every member SaveNPZ writes, so that
// the same arrays always give the same bytes.
var npzTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteNPZ writes arrays to w as a .npz archive: one member NAME.npy per
// array, in sorted name order, stored (as numpy.savez) or deflated (as
// numpy.savez_compressed). Names must not be empty.
func WriteNPZ(w io.Writer, arrays map[string]*tensor.Tensor, compress bool) error {
	names := make([]string, 0, len(arrays))
	for name := range arrays {
		if name == "" {
			return &Error{Kind: ErrFormat, Detail: "empty array name"}
		}
		names = append(names, name)
	}
	sort.Strings(names)
	method := zip.Store
	if compress {
		method = zip.Deflate
	}
	zw := zip.NewWriter(w)
	for _, name := range names {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: method, Modified: npzTime})
		if err != nil {
			return &Error{File: name + ".npy", Err: err}
		}
		if err := Write(fw, arrays[name]); err != nil {
			return inFile(err, name+".npy")
		}
	}
	if err := zw.Close(); err != nil {
		return &Error{Err: err}
	}
	return nil
}

// SaveNPZ writes arrays to the file path as a .npz archive of stored
// members (see [WriteNPZ]), replacing the file if it exists.
func SaveNPZ(path string, arrays map[string]*tensor.Tensor) error {
	return saveNPZ(path, arrays, false)
}

// SaveNPZCompressed is SaveNPZ with deflated members, as
// numpy.savez_compressed.
func SaveNPZCompressed(path string, arrays map[string]*tensor.Tensor) error {
	return saveNPZ(path, arrays, true)
}

func saveNPZ(path string, arrays map[string]*tensor.Tensor, compress bool) error {
	return saveFile(path, func(w io.Writer) error { return WriteNPZ(w, arrays, compress) })
}

// ReadNPZ reads a .npz archive of size bytes from r: every member must be
// a .npy file of a supported array (see [Read]); the map's keys are the
// member names without ".npy". Stored and deflated members are accepted.
func ReadNPZ(r io.ReaderAt, size int64, opts ...tensor.Option) (map[string]*tensor.Tensor, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, &Error{Kind: ErrFormat, Detail: "not a zip archive", Err: err}
	}
	out := make(map[string]*tensor.Tensor, len(zr.File))
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".npy") {
			return nil, &Error{Kind: ErrUnsupported, Detail: fmt.Sprintf("member %q is not a .npy file", f.Name)}
		}
		name := strings.TrimSuffix(f.Name, ".npy")
		if _, dup := out[name]; dup {
			return nil, &Error{Kind: ErrFormat, Detail: fmt.Sprintf("member %q appears twice", f.Name)}
		}
		t, err := readMember(f, opts)
		if err != nil {
			return nil, inFile(err, f.Name)
		}
		out[name] = t
	}
	return out, nil
}

func readMember(f *zip.File, opts []tensor.Option) (*tensor.Tensor, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, &Error{Kind: ErrFormat, Detail: "cannot open member", Err: err}
	}
	defer rc.Close()
	t, err := read(rc, -1, opts)
	if err != nil {
		return nil, err
	}
	// Read to the end, so that the zip reader checks the size and the
	// CRC-32, and reject trailing bytes.
	var b [1]byte
	for {
		n, err := rc.Read(b[:])
		if n > 0 {
			return nil, &Error{Kind: ErrFormat, Detail: "wrong data length: trailing bytes after the array"}
		}
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return nil, &Error{Kind: ErrFormat, Detail: "corrupt member", Err: err}
		}
	}
}

// LoadNPZ reads the .npz archive at path (see [ReadNPZ]).
func LoadNPZ(path string, opts ...tensor.Option) (map[string]*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Err: err}
	}
	m, err := ReadNPZ(f, st.Size(), opts...)
	return m, inFile(err, path)
}
