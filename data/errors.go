package data

import (
	"errors"
	"fmt"
	"io/fs"
)

// The kinds of error that loading and encoding return, wrapped in an
// [*Error]. Test for them with errors.Is.
var (
	// ErrNotFound: a file or dataset directory does not exist. It wraps
	// [fs.ErrNotExist], so errors.Is(err, fs.ErrNotExist) holds as well.
	ErrNotFound = fmt.Errorf("data: not found: %w", fs.ErrNotExist)
	// ErrFormat: a file is not what it should be: not an IDX file, an IDX
	// file of the wrong element type or number of dimensions, a header that
	// does not fit the data (truncated data, extra data after it), a corrupt
	// gzip stream, or image and label files that do not belong together.
	ErrFormat = errors.New("data: malformed data file")
	// ErrUnknownChar: [Vocab.Encode] met a character that is not in the
	// vocabulary.
	ErrUnknownChar = errors.New("data: character not in the vocabulary")
)

// Error is the error that reading and loading return. Its message has the
// form "data: PATH: what is wrong".
type Error struct {
	Path   string // the file or directory; "" when reading an io.Reader
	Kind   error  // ErrNotFound, ErrFormat, ErrUnknownChar, or nil for other I/O errors
	Detail string // what exactly is wrong
	Err    error  // the underlying cause, if any (an *fs.PathError, a gzip error, ...)
}

// Error formats the error as "data: PATH: detail".
func (e *Error) Error() string {
	if e.Path == "" {
		return "data: " + e.Detail
	}
	return "data: " + e.Path + ": " + e.Detail
}

// Unwrap returns the kind and the underlying cause, so that errors.Is
// matches both.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func formatErr(path string, cause error, format string, args ...any) *Error {
	return &Error{Path: path, Kind: ErrFormat, Detail: fmt.Sprintf(format, args...), Err: cause}
}

// osErr wraps an error from opening or reading path.
func osErr(path string, err error) *Error {
	detail := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		detail = pe.Op + ": " + pe.Err.Error()
	}
	e := &Error{Path: path, Detail: detail, Err: err}
	if errors.Is(err, fs.ErrNotExist) {
		e.Kind = ErrNotFound
		e.Detail = "no such file"
	}
	return e
}
