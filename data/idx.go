package data

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// IDXType is the element type of an IDX file: the third byte of its magic
// number. The IDX format (from the MNIST database's page) stores an array
// as a 4-byte magic number 0x0000TTNN (TT the element type, NN the number
// of dimensions), NN big-endian uint32 dimension sizes, and the elements in
// row-major order, big-endian.
type IDXType byte

// The IDX element types.
const (
	IDXUint8   IDXType = 0x08 // unsigned byte
	IDXInt8    IDXType = 0x09 // signed byte
	IDXInt16   IDXType = 0x0B // short, 2 bytes
	IDXInt32   IDXType = 0x0C // int, 4 bytes
	IDXFloat32 IDXType = 0x0D // float, 4 bytes
	IDXFloat64 IDXType = 0x0E // double, 8 bytes
)

// Size returns the size of an element in bytes, or 0 for a byte that is not
// an IDX element type.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// String returns the type's name in the format's description ("unsigned
// byte", "float", ...).
func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "unsigned byte"
	case IDXInt8:
		return "signed byte"
	case IDXInt16:
		return "short"
	case IDXInt32:
		return "int"
	case IDXFloat32:
		return "float"
	case IDXFloat64:
		return "double"
	}
	return fmt.Sprintf("IDXType(0x%02x)", byte(t))
}

// IDXMagic returns the magic number of an IDX file of element type t and
// ndims dimensions: 0x00000803 for uint8 images, 0x00000801 for uint8
// labels.
func IDXMagic(t IDXType, ndims int) uint32 { return uint32(t)<<8 | uint32(byte(ndims)) }

// IDX is the contents of an IDX file.
type IDX struct {
	Type IDXType // the element type
	Dims []int   // the dimension sizes (none for a single value)
	// Data holds the product of Dims elements in row-major order, as a
	// []uint8, []int8, []int16, []int32, []float32 or []float64 according
	// to Type.
	Data any
}

// Magic returns the file's magic number.
func (x *IDX) Magic() uint32 { return IDXMagic(x.Type, len(x.Dims)) }

// Len returns the number of elements, the product of Dims.
func (x *IDX) Len() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// Float32s returns a copy of the elements converted to float32, unscaled.
func (x *IDX) Float32s() []float32 {
	switch v := x.Data.(type) {
	case []uint8:
		return convert[uint8](v)
	case []int8:
		return convert[int8](v)
	case []int16:
		return convert[int16](v)
	case []int32:
		return convert[int32](v)
	case []float32:
		return append([]float32(nil), v...)
	case []float64:
		return convert[float64](v)
	}
	return nil
}

func convert[T uint8 | int8 | int16 | int32 | float64](v []T) []float32 {
	out := make([]float32, len(v))
	for i, e := range v {
		out[i] = float32(e)
	}
	return out
}

// ReadIDX reads an IDX file of any element type, gzip-compressed (detected
// by the gzip magic bytes 1f 8b) or not. Errors are [*Error]s naming path;
// errors.Is matches [ErrNotFound] for a missing file and [ErrFormat] for
// anything malformed: a magic number that is not an IDX one, a truncated
// header or data, data after the declared elements, a corrupt gzip stream.
func ReadIDX(path string) (*IDX, error) { return readIDXFile(path, nil) }

// DecodeIDX reads an IDX array from r, as [ReadIDX] does from a file. It
// reads r to its end: an IDX file holds one array, and anything after it is
// an [ErrFormat] error.
func DecodeIDX(r io.Reader) (*IDX, error) { return decodeIDX(r, "", -1, nil) }

// WriteIDX writes x to w in the IDX format, uncompressed (wrap w in a
// gzip.Writer for a .gz file). Data must be of the Go type that Type
// names and hold the product of Dims elements.
func WriteIDX(w io.Writer, x *IDX) error {
	if len(x.Dims) > 255 {
		return fmt.Errorf("data: WriteIDX: %d dimensions, at most 255", len(x.Dims))
	}
	if err := checkData(x); err != nil {
		return err
	}
	hdr := make([]byte, 4+4*len(x.Dims))
	binary.BigEndian.PutUint32(hdr, x.Magic())
	for i, d := range x.Dims {
		if d < 0 || uint64(d) > math.MaxUint32 {
			return fmt.Errorf("data: WriteIDX: dimension %d has size %d", i, d)
		}
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	var err error
	switch v := x.Data.(type) {
	case []uint8:
		_, err = w.Write(v)
	default:
		err = binary.Write(w, binary.BigEndian, v)
	}
	return err
}

func checkData(x *IDX) error {
	var n int
	ok := false
	switch v := x.Data.(type) {
	case []uint8:
		n, ok = len(v), x.Type == IDXUint8
	case []int8:
		n, ok = len(v), x.Type == IDXInt8
	case []int16:
		n, ok = len(v), x.Type == IDXInt16
	case []int32:
		n, ok = len(v), x.Type == IDXInt32
	case []float32:
		n, ok = len(v), x.Type == IDXFloat32
	case []float64:
		n, ok = len(v), x.Type == IDXFloat64
	}
	if !ok {
		return fmt.Errorf("data: WriteIDX: Data is %T, Type is %v", x.Data, x.Type)
	}
	if n != x.Len() {
		return fmt.Errorf("data: WriteIDX: %d elements for dimensions %s", n, dimsString(x.Dims))
	}
	return nil
}

// expect is what a reader requires of a file's header.
type expect struct {
	typ   IDXType
	ndims int
	what  string // "an image file"
}

func (e *expect) String() string {
	return fmt.Sprintf("0x%08x (%s) for %s", IDXMagic(e.typ, e.ndims), describe(e.typ, e.ndims), e.what)
}

var (
	imageFile = &expect{IDXUint8, 3, "an image file"}
	labelFile = &expect{IDXUint8, 1, "a label file"}
)

func describe(t IDXType, ndims int) string {
	if ndims == 1 {
		return t.String() + ", 1 dimension"
	}
	return t.String() + ", " + strconv.Itoa(ndims) + " dimensions"
}

// describeMagic explains a magic number: "unsigned byte, 2 dimensions" or
// "not an IDX file".
func describeMagic(m uint32) string {
	if m>>16 != 0 || IDXType(m>>8).Size() == 0 {
		return "not an IDX file"
	}
	return describe(IDXType(m>>8), int(m&0xff))
}

func dimsString(dims []int) string {
	if len(dims) == 0 {
		return "1"
	}
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, "×")
}

func readIDXFile(path string, want *expect) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, osErr(path, err)
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return decodeIDX(f, path, size, want)
}

// decodeIDX reads one IDX array from r, which holds size bytes (-1:
// unknown), checking the header against want (nil: any IDX array).
func decodeIDX(r io.Reader, path string, size int64, want *expect) (*IDX, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var src io.Reader = br
	gz := false
	if b, _ := br.Peek(2); len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, readErr(path, true, err, "truncated gzip header")
		}
		src, gz, size = zr, true, -1
	}
	stream := "file"
	if gz {
		stream = "gzip stream"
	}

	// The magic number.
	var hdr [4]byte
	if n, err := io.ReadFull(src, hdr[:]); err != nil {
		if n == 0 && err == io.EOF {
			msg := "empty " + stream
			if want != nil {
				msg += ", want an IDX file with magic " + want.String()
			}
			return nil, formatErr(path, err, "%s", msg)
		}
		return nil, readErr(path, gz, err, fmt.Sprintf("truncated header: the %s ends after %d bytes", stream, n))
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	typ, ndims := IDXType(hdr[2]), int(hdr[3])
	valid := hdr[0] == 0 && hdr[1] == 0 && typ.Size() != 0
	if want != nil && (!valid || typ != want.typ || ndims != want.ndims) {
		return nil, formatErr(path, nil, "magic 0x%08x (%s), want %v", magic, describeMagic(magic), want)
	}
	if !valid {
		return nil, formatErr(path, nil, "magic 0x%08x is not an IDX magic number (0x0000TTNN: element type TT one of 08, 09, 0b, 0c, 0d, 0e; NN dimensions)", magic)
	}

	// The dimensions.
	raw := make([]byte, 4*ndims)
	if n, err := io.ReadFull(src, raw); err != nil {
		return nil, readErr(path, gz, err, fmt.Sprintf("truncated header: magic 0x%08x declares %d dimensions (%d header bytes), the %s ends after %d",
			magic, ndims, 4+len(raw), stream, 4+n))
	}
	dims := make([]int, ndims)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(raw[4*i:]))
	}
	count, big := uint64(1), false // big: more than MaxInt64 bytes
	for _, d := range dims {
		if d == 0 {
			count, big = 0, false
			break
		}
		if !big && count > math.MaxInt64/uint64(typ.Size())/uint64(d) {
			big = true
		}
		count *= uint64(d)
	}
	nbytes := int64(count) * int64(typ.Size())
	if big || int64(int(nbytes)) != nbytes {
		return nil, formatErr(path, nil, "the header declares %s %ss, too many for this machine", dimsString(dims), typ)
	}
	declared := fmt.Sprintf("%s %ss (%d bytes)", dimsString(dims), typ, nbytes)
	if nbytes > MaxIDXBytes {
		return nil, formatErr(path, nil, "the header declares %s, more than the limit data.MaxIDXBytes = %d", declared, MaxIDXBytes)
	}

	// With a known size the data's length can be checked before reading.
	if size >= 0 {
		rest := size - int64(4+len(raw))
		if rest < nbytes {
			return nil, formatErr(path, io.ErrUnexpectedEOF, "truncated data: the header declares %s, the file has %d bytes of data", declared, rest)
		}
		if rest > nbytes {
			return nil, formatErr(path, nil, "%d bytes of extra data after the %s that the header declares", rest-nbytes, declared)
		}
	}

	// A plain file's size was checked above: allocate the data at once.
	// A stream's length is unknown (a gzip stream can expand a thousand
	// times): read it in chunks first.
	var out *sink
	var got int
	var err error
	if size >= 0 {
		out = newSink(typ, int(count))
		got, err = out.fill(src)
	} else {
		out, got, err = readChunked(src, typ, int(count))
	}
	if err != nil {
		return nil, readErr(path, gz, err, fmt.Sprintf("truncated data: the header declares %s, the %s ends after %d", declared, stream, got))
	}
	// Read to the end: this checks the gzip checksum, and that nothing
	// follows the data.
	var one [1]byte
	if n, err := io.ReadFull(src, one[:]); n == 1 {
		extra, err := io.Copy(io.Discard, src)
		if err != nil {
			return nil, readErr(path, gz, err, "extra data after the declared elements, then a truncated gzip stream")
		}
		return nil, formatErr(path, nil, "%d bytes of extra data after the %s that the header declares", extra+1, declared)
	} else if err != io.EOF {
		return nil, readErr(path, gz, err, "truncated gzip stream: it ends after the data, before its checksum")
	}

	return &IDX{Type: typ, Dims: dims, Data: out.data}, nil
}

// MaxIDXBytes is the largest amount of element data, in bytes, that
// [ReadIDX], [DecodeIDX] and the dataset loaders accept: a header that
// declares more is refused with an [*Error] of kind [ErrFormat] before
// anything is allocated. Raise it to read larger files. Set it before
// reading, not concurrently with readers.
var MaxIDXBytes int64 = 4 << 30

// sink is the data of an IDX array being filled from big-endian bytes.
type sink struct {
	data any // []uint8, []int8, []int16, []int32, []float32 or []float64
	size int // bytes per element
	pos  int // elements filled
	n    int // elements in all
}

func newSink(typ IDXType, n int) *sink {
	s := &sink{size: typ.Size(), n: n}
	switch typ {
	case IDXUint8:
		s.data = make([]uint8, n)
	case IDXInt8:
		s.data = make([]int8, n)
	case IDXInt16:
		s.data = make([]int16, n)
	case IDXInt32:
		s.data = make([]int32, n)
	case IDXFloat32:
		s.data = make([]float32, n)
	case IDXFloat64:
		s.data = make([]float64, n)
	}
	return s
}

// put decodes raw, whole elements, into the next elements.
func (s *sink) put(raw []byte) {
	i := s.pos
	switch v := s.data.(type) {
	case []uint8:
		copy(v[i:], raw)
	case []int8:
		for j, b := range raw {
			v[i+j] = int8(b)
		}
	case []int16:
		for j := 0; j+2 <= len(raw); j += 2 {
			v[i+j/2] = int16(binary.BigEndian.Uint16(raw[j:]))
		}
	case []int32:
		for j := 0; j+4 <= len(raw); j += 4 {
			v[i+j/4] = int32(binary.BigEndian.Uint32(raw[j:]))
		}
	case []float32:
		for j := 0; j+4 <= len(raw); j += 4 {
			v[i+j/4] = math.Float32frombits(binary.BigEndian.Uint32(raw[j:]))
		}
	case []float64:
		for j := 0; j+8 <= len(raw); j += 8 {
			v[i+j/8] = math.Float64frombits(binary.BigEndian.Uint64(raw[j:]))
		}
	}
	s.pos += len(raw) / s.size
}

// fill reads the remaining elements from r straight into the data (bytes)
// or through a small buffer, and returns the number of bytes read.
func (s *sink) fill(r io.Reader) (int, error) {
	if v, ok := s.data.([]uint8); ok {
		k, err := io.ReadFull(r, v[s.pos:])
		s.pos += k
		return k, err
	}
	start := s.pos * s.size
	raw := make([]byte, min((s.n-s.pos)*s.size, 64<<10))
	for s.pos < s.n {
		k, err := io.ReadFull(r, raw[:min(len(raw), (s.n-s.pos)*s.size)])
		s.put(raw[:k-k%s.size])
		if err != nil {
			return s.pos*s.size + k%s.size - start, err
		}
	}
	return s.pos*s.size - start, nil
}

// Chunk sizes of readChunked: the first chunk, and the largest.
const (
	firstChunk = 64 << 10
	maxChunk   = 1 << 20
)

// readChunked reads n elements of typ from a stream of unknown length.
// It reads the bytes into chunks that grow with what has arrived (up to
// maxChunk), and allocates the data only once all of it has arrived, so a
// header that declares more than the stream holds costs about what the
// stream holds. A complete array costs its bytes twice (chunks, then
// data), except one that fits in the first chunk, which is read in place.
// It returns the number of bytes read.
func readChunked(r io.Reader, typ IDXType, n int) (*sink, int, error) {
	total := n * typ.Size()
	if total <= firstChunk {
		s := newSink(typ, n)
		k, err := s.fill(r)
		return s, k, err
	}
	var chunks [][]byte
	got := 0
	for got < total {
		c := make([]byte, min(total-got, max(firstChunk, min(got, maxChunk))))
		k, err := io.ReadFull(r, c)
		got += k
		if err != nil {
			return nil, got, err
		}
		chunks = append(chunks, c)
	}
	s := newSink(typ, n)
	for i, c := range chunks {
		s.put(c) // every chunk but the last is a multiple of 8 bytes
		chunks[i] = nil
	}
	return s, got, nil
}

// readErr classifies an error from reading an IDX stream: the end of the
// data (truncated: the message says what was expected), a corrupt gzip
// stream, or an I/O error.
func readErr(path string, gz bool, err error, truncated string) *Error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return formatErr(path, err, "%s", truncated)
	case gz && (errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt)):
		return formatErr(path, err, "corrupt gzip stream: %v", err)
	}
	return osErr(path, err)
}
