package checkpoint

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

const (
	headerLen = len(magic) + 4 + 4 + 8
	sumLen    = sha256.Size
	dtF32     = 1
	dtF64     = 2
	dtI32     = 3
	dtI64     = 4
	dtBF16    = 5
	dtF16     = 6
)

// dtCodes are the dtypes' codes in the format.
var dtCodes = map[tensor.DType]byte{tensor.Float32: dtF32, tensor.Float64: dtF64, tensor.Int32: dtI32, tensor.Int64: dtI64,
	tensor.BFloat16: dtBF16, tensor.Float16: dtF16}

// Write writes c to w in the checkpoint format (see the package
// documentation). Tensors may be on any device and in any layout.
//
// A nil c, an empty tensor name or a nil tensor is an error matching
// [ErrInvalid], and then nothing is written.
func Write(w io.Writer, c *Checkpoint) error {
	if err := c.check(); err != nil {
		return err
	}
	names := sortedKeys(c.Tensors)
	keys := sortedKeys(c.Metadata)

	// The body's length, from the shapes.
	body := uint64(4)
	for _, k := range keys {
		body += 8 + uint64(len(k)) + uint64(len(c.Metadata[k]))
	}
	body += 4
	for _, n := range names {
		t := c.Tensors[n]
		body += 4 + uint64(len(n)) + 1 + 4 + 8*uint64(t.Rank()) + uint64(t.Size())*uint64(t.DType().Size())
	}

	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<16)
	var b []byte
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, Version)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, body)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		v := c.Metadata[k]
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(names)))
	if _, err := bw.Write(b); err != nil {
		return &Error{Err: err}
	}
	for _, n := range names {
		t := c.Tensors[n]
		b = b[:0]
		b = binary.LittleEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
		dt := dtCodes[t.DType()]
		b = append(b, dt)
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Rank()))
		for _, d := range t.Shape() {
			b = binary.LittleEndian.AppendUint64(b, uint64(d))
		}
		if _, err := bw.Write(b); err != nil {
			return &Error{Err: err}
		}
		if err := writeValues(bw, t); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return &Error{Err: err}
	}
	if _, err := w.Write(h.Sum(nil)); err != nil {
		return &Error{Err: err}
	}
	return nil
}

// check reports what makes c impossible to store, if anything.
func (c *Checkpoint) check() error {
	if c == nil {
		return &Error{Kind: ErrInvalid, Detail: "nil *Checkpoint"}
	}
	for _, n := range sortedKeys(c.Tensors) {
		if n == "" {
			return &Error{Kind: ErrInvalid, Detail: "empty tensor name"}
		}
		if c.Tensors[n] == nil {
			return &Error{Kind: ErrInvalid, Detail: fmt.Sprintf("tensor %q is nil", n)}
		}
	}
	return nil
}

// readAll reads one checkpoint's bytes from r, which holds size bytes
// (-1: unknown, a pipe or a device). It checks the magic and the version
// before reading further and then reads exactly what the header declares:
// with a known size it first checks that the size matches and allocates
// once; otherwise it reads in chunks that grow up to the declared length,
// so a header that promises more than r holds costs only what r holds.
// Anything after the declared end is an error.
func readAll(r io.Reader, size int64) ([]byte, error) {
	var hdr [headerLen]byte
	n, err := io.ReadFull(r, hdr[:])
	if n < len(magic) && string(hdr[:n]) != magic[:n] || n >= len(magic) && string(hdr[:len(magic)]) != magic {
		return nil, corrupt("not a tapegrad checkpoint (bad magic)")
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, corrupt("truncated to %d bytes", n)
	}
	if err != nil {
		return nil, &Error{Err: err}
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != Version {
		return nil, &Error{Kind: ErrVersion, Detail: fmt.Sprintf("format version %d; this build reads version %d", v, Version)}
	}
	body := binary.LittleEndian.Uint64(hdr[16:])
	if body > math.MaxInt-uint64(headerLen+sumLen) {
		return nil, corrupt("header declares a body of %d bytes, too many for this machine", body)
	}
	total := headerLen + int(body) + sumLen
	if size >= 0 {
		if size != int64(total) {
			return nil, corrupt("file has %d bytes, its header promises %d", size, total)
		}
		b := make([]byte, total)
		copy(b, hdr[:])
		if k, err := io.ReadFull(r, b[headerLen:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, corrupt("file has %d bytes, its header promises %d", headerLen+k, total)
			}
			return nil, &Error{Err: err}
		}
		return b, nil
	}
	const chunk = 1 << 20
	b := make([]byte, headerLen, min(total, headerLen+chunk))
	copy(b, hdr[:])
	for len(b) < total {
		if len(b) == cap(b) {
			// Grow by doubling, at most to the declared length: what is
			// allocated stays within a small factor of what r delivered.
			nb := make([]byte, len(b), min(total, 2*cap(b)))
			copy(nb, b)
			b = nb
		}
		k, err := io.ReadFull(r, b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, corrupt("file has %d bytes, its header promises %d", len(b), total)
		}
		if err != nil {
			return nil, &Error{Err: err}
		}
	}
	var one [1]byte
	if k, _ := io.ReadFull(r, one[:]); k != 0 {
		return nil, corrupt("more bytes than the %d its header promises", total)
	}
	return b, nil
}

// writeValues copies t to the host and writes its elements.
func writeValues(w io.Writer, t *tensor.Tensor) error {
	var f32 []float32
	var f64 []float64
	var ints []int64
	if err := tensor.Maybe(func() {
		switch t.DType() {
		case tensor.Float64:
			f64 = t.Float64s()
		case tensor.Int32, tensor.Int64:
			ints = t.Int64s()
		default:
			f32 = t.Float32s()
		}
	}); err != nil {
		return &Error{Kind: ErrInvalid, Detail: "reading a tensor", Err: err}
	}
	buf := make([]byte, 0, 1<<16)
	flush := func() error {
		_, err := w.Write(buf)
		buf = buf[:0]
		if err != nil {
			return &Error{Err: err}
		}
		return nil
	}
	half := t.DType().IsHalf()
	for _, v := range f32 {
		if half {
			// A half tensor's values widened exactly: their bits again.
			buf = binary.LittleEndian.AppendUint16(buf, device.HalfFromFloat32(t.DType(), v))
		} else {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		if len(buf) == cap(buf) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for _, v := range f64 {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		if len(buf) == cap(buf) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for _, v := range ints {
		if t.DType() == tensor.Int32 {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
		} else {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
		if len(buf) >= cap(buf)-8 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// decoded is a verified checkpoint whose tensors are still host slices.
type decoded struct {
	meta    map[string]string
	names   []string
	entries map[string]entry
}

type entry struct {
	dt    tensor.DType
	shape []int
	raw   []byte // little-endian elements
}

// decode verifies a whole checkpoint file and splits it into entries
// without building any tensor.
func decode(b []byte) (*decoded, error) {
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		if len(b) < len(magic) && string(b) == magic[:len(b)] {
			return nil, corrupt("truncated to %d bytes", len(b))
		}
		return nil, corrupt("not a tapegrad checkpoint (bad magic)")
	}
	if len(b) < headerLen {
		return nil, corrupt("truncated to %d bytes", len(b))
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != Version {
		return nil, &Error{Kind: ErrVersion, Detail: fmt.Sprintf("format version %d; this build reads version %d", v, Version)}
	}
	body := binary.LittleEndian.Uint64(b[16:])
	if body > uint64(len(b)) || uint64(len(b)) != uint64(headerLen)+body+sumLen {
		return nil, corrupt("file has %d bytes, its header promises %d", len(b), uint64(headerLen)+body+sumLen)
	}
	end := headerLen + int(body)
	if sum := sha256.Sum256(b[:end]); string(sum[:]) != string(b[end:]) {
		return nil, corrupt("checksum mismatch")
	}
	if f := binary.LittleEndian.Uint32(b[12:]); f != 0 {
		return nil, corrupt("unknown flags %#x", f)
	}

	// The checksum matched: the structure below can only be wrong if the
	// writer was, but check it all the same.
	r := &reader{b: b[headerLen:end]}
	d := &decoded{meta: map[string]string{}, entries: map[string]entry{}}
	nm := r.u32()
	for i := uint32(0); i < nm && r.err == nil; i++ {
		k := r.str()
		v := r.str()
		if _, dup := d.meta[k]; dup && r.err == nil {
			return nil, corrupt("metadata key %q appears twice", k)
		}
		d.meta[k] = v
	}
	nt := r.u32()
	for i := uint32(0); i < nt && r.err == nil; i++ {
		name := r.str()
		var e entry
		switch r.u8() {
		case dtF32:
			e.dt = tensor.Float32
		case dtF64:
			e.dt = tensor.Float64
		case dtI32:
			e.dt = tensor.Int32
		case dtI64:
			e.dt = tensor.Int64
		case dtBF16:
			e.dt = tensor.BFloat16
		case dtF16:
			e.dt = tensor.Float16
		default:
			if r.err == nil {
				return nil, corrupt("tensor %q: unknown dtype", name)
			}
		}
		rank := r.u32()
		if uint64(rank)*8 > uint64(len(r.b)) {
			return nil, corrupt("tensor %q: rank %d exceeds the file", name, rank)
		}
		e.shape = make([]int, rank)
		n := uint64(1)
		for j := range e.shape {
			dim := r.u64()
			if dim > uint64(math.MaxInt) {
				return nil, corrupt("tensor %q: dimension %d too large", name, dim)
			}
			e.shape[j] = int(dim)
			if n != 0 && dim != 0 && n > uint64(len(b))/dim {
				return nil, corrupt("tensor %q: shape %v exceeds the file", name, e.shape)
			}
			n *= dim
		}
		e.raw = r.bytes(n * uint64(e.dt.Size()))
		if r.err != nil {
			break
		}
		if _, dup := d.entries[name]; dup {
			return nil, corrupt("tensor %q appears twice", name)
		}
		if name == "" {
			return nil, corrupt("empty tensor name")
		}
		d.entries[name] = e
		d.names = append(d.names, name)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, corrupt("%d stray bytes after the last tensor", len(r.b))
	}
	return d, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = corrupt("structure runs past the end of the body")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str() string { return string(r.bytes(uint64(r.u32()))) }

// build makes the tensor of an entry.
func (e entry) build(opts []tensor.Option) *tensor.Tensor {
	switch e.dt {
	case tensor.Int32:
		v := make([]int32, len(e.raw)/4)
		for i := range v {
			v[i] = int32(binary.LittleEndian.Uint32(e.raw[4*i:]))
		}
		return tensor.FromSlice(v, e.shape, opts...)
	case tensor.Int64:
		v := make([]int64, len(e.raw)/8)
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(e.raw[8*i:]))
		}
		return tensor.FromSlice(v, e.shape, opts...)
	}
	if e.dt.IsHalf() {
		// Widened exactly, then stored in the half dtype unless opts
		// convert.
		v := make([]float32, len(e.raw)/2)
		for i := range v {
			v[i] = device.HalfToFloat32(e.dt, binary.LittleEndian.Uint16(e.raw[2*i:]))
		}
		return tensor.FromSlice(v, e.shape, append([]tensor.Option{tensor.WithDType(e.dt)}, opts...)...)
	}
	if e.dt == tensor.Float64 {
		v := make([]float64, len(e.raw)/8)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(e.raw[8*i:]))
		}
		return tensor.FromSlice(v, e.shape, opts...)
	}
	v := make([]float32, len(e.raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(e.raw[4*i:]))
	}
	return tensor.FromSlice(v, e.shape, opts...)
}

// Read reads one checkpoint from r, to the end of r, verifies it and returns its
// tensors, made with the tensor constructor options opts (tensor.On to
// choose the device). See [Load].
func Read(r io.Reader, opts ...tensor.Option) (*Checkpoint, error) {
	b, err := readAll(r, -1)
	if err != nil {
		return nil, err
	}
	d, err := decode(b)
	if err != nil {
		return nil, err
	}
	return d.checkpoint(func(string) []tensor.Option { return opts })
}

func (d *decoded) checkpoint(optsFor func(name string) []tensor.Option) (*Checkpoint, error) {
	c := &Checkpoint{Tensors: make(map[string]*tensor.Tensor, len(d.names)), Metadata: d.meta}
	err := tensor.Maybe(func() {
		for _, n := range d.names {
			c.Tensors[n] = d.entries[n].build(optsFor(n))
		}
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
