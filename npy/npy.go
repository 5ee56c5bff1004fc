// Package npy reads and writes NumPy's .npy and .npz files for tapegrad
// tensors.
//
// A .npy file holds one array: a magic string, a format version, a header
// (a Python dict literal naming the dtype, the memory order and the shape)
// and the raw elements. [Write] and [Save] produce exactly the bytes that
// numpy.save writes for a C-ordered little-endian float16 ('<f2'), float32
// ('<f4'), float64 ('<f8'), int32 ('<i4') or int64 ('<i8') array of the
// same shape: format 1.0 unless the header is
// too long for it (then 2.0), the header padded with spaces and a final
// newline to a multiple of 64 bytes, with NumPy's spare room for growing
// the first axis. Non-contiguous tensors (transposed, sliced, broadcast)
// are written in C (row-major) order.
//
// BFloat16 tensors are refused by the writers with an [*Error] of kind
// [ErrUnsupported]: NumPy has no bfloat16 dtype (the ml_dtypes package's
// is stored as an opaque '<V2', which numpy.load cannot interpret without
// it), and writing the bits under another dtype would be read back as
// wrong numbers. Convert with AsType(tensor.Float32) first, which is exact.
//
// [Read] and [Load] accept format versions 1.0, 2.0 and 3.0, the dtypes
// '<f2', '<f4', '<f8', '<i4', '<i8' and their big-endian forms (big-endian
// data is converted; '<f2' gives a Float16 tensor, NaN payloads quieted),
// 0-d arrays
// (shape ()), empty arrays and Python 2 style integers (2L) in the shape.
// Fortran-ordered arrays and other dtypes ('<i8', '|b1', '<c8', structured
// dtypes, ...) are rejected with an [*Error] of kind [ErrUnsupported] that
// names the header field; malformed input gives kind [ErrFormat]. Readers
// never panic on bad input and never allocate much more than the input
// provides, so they are safe on untrusted files.
//
// A .npz file is a zip archive of .npy files, one per named array (the
// name is the member's file name without ".npy"), stored or deflated:
// numpy.savez and numpy.savez_compressed. [SaveNPZ] writes stored members
// in sorted name order; [LoadNPZ] reads both kinds.
//
// Loaded tensors are new tensors with their own buffers; the options of
// [Load] and the other readers are the tensor constructors' options:
// tensor.On(d) places the tensor on device d, tensor.WithDType converts.
package npy

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// The kinds of error, wrapped in an [*Error]. Test with errors.Is.
var (
	// ErrFormat: the input is not a well-formed .npy or .npz file
	// (bad magic, truncated, unparsable header, wrong data length).
	ErrFormat = errors.New("malformed file")
	// ErrUnsupported: a well-formed array that tapegrad cannot represent
	// (Fortran order, a dtype other than float16, float32, float64, int32
	// or int64), or a tensor that NumPy cannot represent (bfloat16).
	ErrUnsupported = errors.New("unsupported array")
)

// Error describes a file that cannot be read or written.
type Error struct {
	Kind   error  // ErrFormat, ErrUnsupported, or nil for an I/O failure (see Err)
	File   string // the file ("a.npz:w.npy" for a member of an archive); "" for readers and writers
	Field  string // the header field at fault ("descr", "fortran_order", "shape"), if any
	Detail string // what exactly is wrong
	Err    error  // the underlying cause, if any (an *fs.PathError, io.ErrUnexpectedEOF, ...)
}

// Error formats the error as "npy: FILE: DETAIL: CAUSE".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("npy: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Detail != "" {
		b.WriteString(e.Detail)
	} else if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	}
	if e.Err != nil {
		if e.Detail != "" || e.Kind != nil {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	return b.String()
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

func formatErr(field, format string, args ...any) *Error {
	return &Error{Kind: ErrFormat, Field: field, Detail: fmt.Sprintf(format, args...)}
}

func fieldErr(kind error, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Detail: fmt.Sprintf("header field '%s' ", field) + fmt.Sprintf(format, args...)}
}

// inFile sets the file name of an *Error (or wraps another error).
func inFile(err error, file string) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.File == "" {
			e.File = file
		} else {
			e.File = file + ":" + e.File
		}
		return e
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &Error{Err: err} // the path error names the file
	}
	return &Error{File: file, Err: err}
}
