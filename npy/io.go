package npy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/atomicfile"
	"github.com/tapegrad/tapegrad/tensor"
)

// Write writes t to w in .npy format, exactly as numpy.save writes an
// array of the same dtype ('<f2' for Float16, '<f4' for Float32, '<f8' for
// Float64, '<i4' for Int32, '<i8' for Int64) and shape. The elements are
// written in C (row-major) order whatever t's layout. A BFloat16 tensor
// is refused with an [*Error] of kind [ErrUnsupported] (see the package
// documentation). A released tensor gives the *tensor.Error that reading
// it panics with.
func Write(w io.Writer, t *tensor.Tensor) error {
	var f32 []float32
	var f64 []float64
	var ints []int64
	if err := tensor.Maybe(func() {
		switch t.DType() {
		case tensor.Float64:
			f64 = t.Float64s()
		case tensor.Int32, tensor.Int64:
			ints = t.Int64s()
		case tensor.BFloat16:
		default:
			f32 = t.Float32s()
		}
	}); err != nil {
		return err
	}
	if t.DType() == tensor.BFloat16 {
		return &Error{Kind: ErrUnsupported, Field: "descr", Detail: fmt.Sprintf(
			"a bfloat16 tensor of shape %v: NumPy has no bfloat16 dtype; convert with AsType(tensor.Float32) (exact) first", t.Shape())}
	}
	descr := map[tensor.DType]string{tensor.Float16: "<f2", tensor.Float32: "<f4", tensor.Float64: "<f8", tensor.Int32: "<i4", tensor.Int64: "<i8"}[t.DType()]
	if _, err := w.Write(wrapHeader(headerText(descr, t.Shape()))); err != nil {
		return &Error{Err: err}
	}
	if err := writeData(w, f32, f64, ints, t.DType() == tensor.Int32, t.DType() == tensor.Float16); err != nil {
		return &Error{Err: err}
	}
	return nil
}

// writeData writes the elements little-endian, in chunks: f32 (as float16
// bits with f16: the values are float16 values, widened, so exact), f64,
// or ints as int32 (ints32) or int64.
func writeData(w io.Writer, f32 []float32, f64 []float64, ints []int64, ints32, f16 bool) error {
	const chunk = 1 << 16
	buf := make([]byte, 0, chunk)
	flush := func() error {
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	for _, v := range f32 {
		if f16 {
			buf = binary.LittleEndian.AppendUint16(buf, device.Float32ToFloat16(v))
		} else {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
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
	for _, v := range ints {
		if ints32 {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
		} else {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
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
// the file atomically: the data goes to a temporary file in the same
// directory, which is synced and then renamed over path, so a crash or a
// full disk leaves either the old file or the new one, never a partial
// one. If path is a symbolic link, the file it points to is replaced. A
// new file gets mode 0644, a replaced one keeps its mode. Temporary files
// left by crashed saves of the same path are removed (see
// internal/atomicfile for the rule: their writer is a dead process, or
// they have not changed for an hour).
func Save(path string, t *tensor.Tensor) error {
	return saveFile(path, func(w io.Writer) error { return Write(w, t) })
}

// saveFile replaces the file path atomically with what write writes;
// errors name the file.
func saveFile(path string, write func(io.Writer) error) error {
	err := atomicfile.WriteFile(path, 0o644, write)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return inFile(err, path)
	}
	return &Error{File: path, Err: err}
}

// Read reads one .npy array from r and returns it as a new tensor; opts
// are the tensor constructors' options (tensor.On, tensor.WithDType). It
// reads exactly the bytes of one array, so arrays written one after
// another to a stream can be read back one by one; at the end of the
// stream the error matches io.EOF. Errors are *Error values (see the
// package documentation); an error placing the tensor (an unavailable
// device) is the *tensor.Error of the constructor.
func Read(r io.Reader, opts ...tensor.Option) (*tensor.Tensor, error) {
	return read(r, input{size: -1}, opts)
}

// Load reads the .npy file at path (see [Read]). The file must hold
// exactly one array: trailing bytes are an error. The header is checked
// against the file's size before the data is allocated.
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
	in := input{size: -1}
	if st.Mode().IsRegular() {
		in = input{size: st.Size(), backed: true}
	}
	t, err := read(bufio.NewReaderSize(f, 1<<16), in, opts)
	return t, inFile(err, path)
}

// MaxBytes is the largest amount of array data, in bytes as stored
// (elements × 2, 4 or 8), that [Read], [Load], [ReadNPZ] and [LoadNPZ]
// accept: a header that declares more is refused with an [*Error] of kind
// [ErrFormat], as a shape whose size overflows is, before anything is
// allocated.
// Raise it to read larger arrays. It is read once per array; set it
// before reading, not concurrently with readers.
var MaxBytes int64 = 4 << 30

// input describes what a reader reads from.
type input struct {
	// size is the number of bytes the reader holds, or -1 when unknown (a
	// stream: read exactly one array).
	size int64
	// backed: size is that of stored bytes (a plain file, a stored zip
	// member), so the data can be allocated in one piece once size has
	// been checked. Otherwise (a stream, a deflated member) the data is
	// read in pieces, so that a header that lies about the length of a
	// compressed stream costs no more memory than the stream holds.
	backed bool
}

// Sizes of the pieces in which the data of a stream is read.
const (
	firstPiece = 64 << 10
	maxPiece   = 1 << 20
)

// read reads one array.
func read(r io.Reader, in input, opts []tensor.Option) (*tensor.Tensor, error) {
	h, hdrBytes, err := readHeader(r, in.size)
	if err != nil {
		return nil, err
	}
	need := int64(h.n) * int64(h.itemBytes)
	if in.size >= 0 && in.size-hdrBytes != need {
		return nil, &Error{Kind: ErrFormat, Detail: fmt.Sprintf(
			"wrong data length: %d bytes of data, but shape %v of %s needs %d", in.size-hdrBytes, shapeRepr(h.shape), h.descr, need)}
	}
	if need > MaxBytes {
		return nil, &Error{Kind: ErrFormat, Detail: fmt.Sprintf("shape %s of %s declares %d bytes of data, more than the limit npy.MaxBytes = %d",
			shapeRepr(h.shape), h.descr, need, MaxBytes)}
	}
	switch h.descr[1:] {
	case "f2":
		// Decoded to float32 (exactly), stored as Float16 unless the
		// options say otherwise.
		return readData[float32](r, h, in.backed, append([]tensor.Option{tensor.WithDType(tensor.Float16)}, opts...))
	case "f4":
		return readData[float32](r, h, in.backed, opts)
	case "i4":
		return readData[int32](r, h, in.backed, opts)
	case "i8":
		return readData[int64](r, h, in.backed, opts)
	}
	return readData[float64](r, h, in.backed, opts)
}

// readData reads the elements of h from r and makes the tensor. The
// elements are decoded from a small buffer into a slice of the element
// type: for a backed input one slice of all of them, which the tensor
// constructor copies (twice the data in all); otherwise slices of at most
// maxPiece bytes, each made into a tensor as it fills, which are then
// concatenated (again twice the data, plus a piece), so that memory grows
// only as data arrives.
func readData[T float32 | float64 | int32 | int64](r io.Reader, h header, backed bool, opts []tensor.Option) (*tensor.Tensor, error) {
	size := h.itemBytes
	need := h.n * size
	pieceLen := h.n
	if !backed {
		pieceLen = min(h.n, firstPiece/size)
	}
	raw := make([]byte, min(need, 64<<10))
	var bo binary.ByteOrder = binary.LittleEndian
	if h.descr[0] == '>' {
		bo = binary.BigEndian
	}
	var dec func(b []byte) T
	switch any(*new(T)).(type) {
	case float32:
		dec = func(b []byte) T { return T(math.Float32frombits(bo.Uint32(b))) }
		if size == 2 {
			dec = func(b []byte) T { return T(device.Float16ToFloat32(bo.Uint16(b))) }
		}
	case float64:
		dec = func(b []byte) T { return T(math.Float64frombits(bo.Uint64(b))) }
	case int32:
		dec = func(b []byte) T { return T(int32(bo.Uint32(b))) }
	default:
		dec = func(b []byte) T { return T(int64(bo.Uint64(b))) }
	}
	var (
		buf    []T
		pieces []*tensor.Tensor
		t      *tensor.Tensor
	)
	defer func() {
		for _, p := range pieces {
			p.Release()
		}
	}()
	for done := 0; done < h.n || t == nil; {
		if len(buf) < pieceLen {
			buf = make([]T, pieceLen)
		}
		m := min(pieceLen, h.n-done)
		for i := 0; i < m; {
			k, err := io.ReadFull(r, raw[:min(len(raw), (m-i)*size)])
			for j := 0; j+size <= k; j += size {
				buf[i] = dec(raw[j:])
				i++
			}
			if err != nil {
				got := (done+i)*size + k%size
				return nil, &Error{Kind: ErrFormat, Detail: fmt.Sprintf(
					"truncated data: shape %v of %s needs %d bytes, got %d", shapeRepr(h.shape), h.descr, need, got), Err: unexpected(err)}
			}
		}
		done += m
		var err error
		if done == m && done == h.n {
			// All in one piece: the tensor itself.
			err = tensor.Maybe(func() { t = tensor.FromSlice(buf[:m], h.shape, opts...) })
		} else {
			err = tensor.Maybe(func() { pieces = append(pieces, tensor.FromSlice(buf[:m], []int{m}, opts...)) })
			if err == nil && done == h.n {
				err = tensor.Maybe(func() { t = tensor.Concat(pieces, 0).Reshape(h.shape...) })
			}
		}
		if err != nil {
			return nil, err
		}
		pieceLen = min(2*pieceLen, maxPiece/size)
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
// header and the number of bytes read. size is the number of bytes r
// holds, or -1 when unknown.
func readHeader(r io.Reader, size int64) (header, int64, error) {
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
	if rest := size - int64(8+lenBytes); size >= 0 && hlen > rest {
		return header{}, 0, &Error{Kind: ErrFormat, Detail: fmt.Sprintf("truncated header: %d of %d bytes", max(rest, 0), hlen), Err: io.ErrUnexpectedEOF}
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
	if n <= 64<<10 {
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
