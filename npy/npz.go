package npy

import (
	"archive/zip"
	"fmt"
	"io"
	"math"
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
// members (see [WriteNPZ]), replacing the file atomically as [Save]
// does.
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
		t, err := readMember(f, size, opts)
		if err != nil {
			return nil, inFile(err, f.Name)
		}
		out[name] = t
	}
	return out, nil
}

// readMember reads the member f of an archive of archiveSize bytes. The
// member's uncompressed size, which the zip reader enforces, is checked
// against the header before anything is allocated; a stored member that
// lies inside the archive is read like a file, a deflated one in pieces
// (see [input]).
func readMember(f *zip.File, archiveSize int64, opts []tensor.Option) (*tensor.Tensor, error) {
	in := input{size: -1}
	if f.UncompressedSize64 <= math.MaxInt64 {
		in.size = int64(f.UncompressedSize64)
	}
	if f.Method == zip.Store && f.CompressedSize64 == f.UncompressedSize64 {
		if off, err := f.DataOffset(); err == nil && off >= 0 && f.CompressedSize64 <= uint64(archiveSize) &&
			uint64(off) <= uint64(archiveSize)-f.CompressedSize64 {
			in.backed = true
		}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, &Error{Kind: ErrFormat, Detail: "cannot open member", Err: err}
	}
	defer rc.Close()
	t, err := read(rc, in, opts)
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
