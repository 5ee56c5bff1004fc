package npy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/tapegrad/tapegrad/tensor"
)

// Write writes t to w in .npy format, exactly as numpy.save writes an
// array of the same dtype ('<f4' for Float32, '<f8' for Float64) and
// shape. The elements are written in C (row-major) order whatever t's
// layout. A released tensor gives the *tensor.Error that reading it panics
// with.
func Write(w io.Writer, t *tensor.Tensor) error {
	var f32 []float32
	var f64 []float64
	if err := tensor.Maybe(func() {
		if t.DType() == tensor.Float64 {
			f64 = t.Float64s()
		} else {
			f32 = t.Float32s()
		}
	}); err != nil {
		return err
	}
	descr := "<f4"
	if t.DType() == tensor.Float64 {
		descr = "<f8"
	}
	if _, err := w.Write(wrapHeader(headerText(descr, t.Shape()))); err != nil {
		return &Error{Err: err}
	}
	if err := writeData(w, f32, f64); err != nil {
		return &Error{Err: err}
	}
	return nil
}

// writeData writes the elements little-endian, in chunks.
func writeData(w io.Writer, f32 []float32, f64 []float64) error {
	const chunk = 1 << 16
	buf := make([]byte, 0, chunk)
	flush := func() error {
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	for _, v := range f32 {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) >= chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for _, v := range f64 {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		if len(buf) >= chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(buf) > 0 {
		return flush()
	}
	return nil
}

// Save writes t to the file path in .npy format (see [Write]), replacing
// the file if it exists.
func Save(path string, t *tensor.Tensor) error {
	return saveFile(path, func(w io.Writer) error { return Write(w, t) })
}

// saveFile creates (or truncates) the file path and writes it with write
// through a buffer; errors name the file.
func saveFile(path string, write func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return &Error{Err: err}
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = &Error{Err: cerr}
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		return inFile(err, path)
	}
	if err := bw.Flush(); err != nil {
		return &Error{File: path, Err: err}
	}
	return nil
}

// Read reads one .npy array from r and returns it as a new tensor; opts
// are the tensor constructors' options (tensor.On, tensor.WithDType). It
// reads exactly the bytes of one array, so arrays written one after
// another to a stream can be read back one by one; at the end of the
// stream the error matches io.EOF. Errors are *Error values (see the
// package documentation); an error placing the tensor (an unavailable
// device) is the *tensor.Error of the constructor.
func Read(r io.Reader, opts ...tensor.Option) (*tensor.Tensor, error) {
	return read(r, -1, opts)
}

// Load reads the .npy file at path (see [Read]). The file must hold
// exactly one array: trailing bytes are an error.
func Load(path string, opts ...tensor.Option) (*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Err: err}
	}
	t, err := read(bufio.NewReaderSize(f, 1<<16), st.Size(), opts)
	return t, inFile(err, path)
}

// read reads one array. size is the number of bytes r holds, or -1 when
// unknown (a stream: read exactly one array).
func read(r io.Reader, size int64, opts []tensor.Option) (*tensor.Tensor, error) {
	h, hdrBytes, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	need := int64(h.n) * int64(h.itemBytes)
	if size >= 0 && size-hdrBytes != need {
		return nil, &Error{Kind: ErrFormat, Detail: fmt.Sprintf(
			"wrong data length: %d bytes of data, but shape %v of %s needs %d", size-hdrBytes, shapeRepr(h.shape), h.descr, need)}
	}
	raw, err := readN(r, need)
	if err != nil {
		return nil, &Error{Kind: ErrFormat, Detail: fmt.Sprintf(
			"truncated data: shape %v of %s needs %d bytes, got %d", shapeRepr(h.shape), h.descr, need, len(raw)), Err: err}
	}
	var t *tensor.Tensor
	terr := tensor.Maybe(func() {
		big := h.descr[0] == '>'
		if h.itemBytes == 4 {
			t = tensor.FromSlice(decode32(raw, big), h.shape, opts...)
		} else {
			t = tensor.FromSlice(decode64(raw, big), h.shape, opts...)
		}
	})
	if terr != nil {
		return nil, terr
	}
	return t, nil
}

func shapeRepr(shape []int) string {
	t := make(pyTuple, len(shape))
	for i, s := range shape {
		t[i] = pyInt{v: int64(s)}
	}
	return repr(t)
}

// maxHeader bounds the header length a reader accepts (NumPy's own default
// limit is 10000 characters; a header of a tensor of rank 10 needs about
// 300).
const maxHeader = 1 << 24

// readHeader reads the magic, version and header and returns the parsed
// header and the number of bytes read.
func readHeader(r io.Reader) (header, int64, error) {
	var pre [8]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		if n == 0 && err == io.EOF {
			return header{}, 0, &Error{Kind: ErrFormat, Detail: "empty input", Err: io.EOF}
		}
		return header{}, 0, &Error{Kind: ErrFormat, Detail: "truncated magic string", Err: unexpected(err)}
	}
	if string(pre[:6]) != magic {
		return header{}, 0, &Error{Kind: ErrFormat, Detail: fmt.Sprintf("bad magic string %q: not a .npy file", pre[:6])}
	}
	major, minor := pre[6], pre[7]
	var lenBytes int
	switch {
	case major == 1 && minor == 0:
		lenBytes = 2
	case (major == 2 || major == 3) && minor == 0:
		lenBytes = 4
	default:
		return header{}, 0, &Error{Kind: ErrUnsupported, Detail: fmt.Sprintf("format version %d.%d is not supported (want 1.0, 2.0 or 3.0)", major, minor)}
	}
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:lenBytes]); err != nil {
		return header{}, 0, &Error{Kind: ErrFormat, Detail: "truncated header length", Err: unexpected(err)}
	}
	hlen := int64(binary.LittleEndian.Uint32(lb[:]))
	if hlen > maxHeader {
		return header{}, 0, &Error{Kind: ErrFormat, Detail: fmt.Sprintf("header length %d exceeds the limit of %d bytes", hlen, maxHeader)}
	}
	text, err := readN(r, hlen)
	if err != nil {
		return header{}, 0, &Error{Kind: ErrFormat, Detail: fmt.Sprintf("truncated header: %d of %d bytes", len(text), hlen), Err: err}
	}
	d, err := parseHeader(text)
	if err != nil {
		return header{}, 0, err
	}
	h, err := interpret(d)
	return h, int64(8+lenBytes) + hlen, err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readN reads exactly n bytes. Large reads grow the buffer as data
// arrives, so that a header claiming more data than the input holds costs
// no more memory than the input.
func readN(r io.Reader, n int64) ([]byte, error) {
	if n <= 1<<20 {
		b := make([]byte, n)
		k, err := io.ReadFull(r, b)
		if err != nil {
			return b[:k], unexpected(err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return b, err
	}
	if int64(len(b)) != n {
		return b, io.ErrUnexpectedEOF
	}
	return b, nil
}

func decode32(raw []byte, big bool) []float32 {
	out := make([]float32, len(raw)/4)
	var bo binary.ByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	for i := range out {
		out[i] = math.Float32frombits(bo.Uint32(raw[4*i:]))
	}
	return out
}

func decode64(raw []byte, big bool) []float64 {
	out := make([]float64, len(raw)/8)
	var bo binary.ByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	for i := range out {
		out[i] = math.Float64frombits(bo.Uint64(raw[8*i:]))
	}
	return out
}
