package npy_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

// npyBytes assembles a .npy file by the format specification: magic,
// version, little-endian header length, the header dict padded with spaces
// and ended by '\n' so that the data starts at a multiple of 64 bytes, then
// the data.
func npyBytes(major byte, dict string, spaces int, data []byte) []byte {
	lenBytes := 2
	if major > 1 {
		lenBytes = 4
	}
	hlen := len(dict) + spaces + 1
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.WriteByte(major)
	b.WriteByte(0)
	if lenBytes == 2 {
		binary.Write(&b, binary.LittleEndian, uint16(hlen))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(hlen))
	}
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", spaces))
	b.WriteByte('\n')
	b.Write(data)
	return b.Bytes()
}

func le32(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func le64(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// TestWriteMatchesSpec compares Write with files assembled by hand from
// the specification and NumPy's writer: the dict with sorted keys, 21 minus
// the digits of shape[0] spaces of room for growth (none for 0-d), padding
// to 64 bytes.
func TestWriteMatchesSpec(t *testing.T) {
	cases := []struct {
		name string
		t    *tensor.Tensor
		want []byte
	}{
		{"f4 (2, 3)", tensor.FromSlice([]float32{0, 1, 2, 3, 4, 5}, []int{2, 3}),
			// 10 + 59 + 20 + 38 + 1 = 128; header length 118 = 0x76.
			npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20+38, le32(0, 1, 2, 3, 4, 5))},
		{"f8 ()", tensor.Scalar(2.5, tensor.WithDType(tensor.Float64)),
			// 10 + 55 + 62 + 1 = 128.
			npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 62, le64(2.5))},
		{"f8 (5,)", tensor.FromSlice([]float64{1, -2, 3, math.Inf(1), math.NaN()}, []int{5}),
			npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", 20+40, le64(1, -2, 3, math.Inf(1), math.NaN()))},
		{"f4 (0,)", tensor.Zeros([]int{0}),
			npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", 20+40, nil)},
		{"f4 (12, 0, 3)", tensor.Zeros([]int{12, 0, 3}),
			npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 0, 3), }", 19+35, nil)},
		// Fifteen axes: the room for growth pushes the header from 128 to
		// 192 bytes.
		{"f4 (1,)*15", tensor.Ones(ones(15)),
			npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': ("+strings.Repeat("1, ", 14)+"1), }", 20+63, le32(1))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.want) > 0 && (len(c.want)-c.t.Size()*int(c.t.DType().Size()))%64 != 0 {
				t.Fatalf("bad reference: header of %d bytes", len(c.want)-c.t.Size()*c.t.DType().Size())
			}
			var buf bytes.Buffer
			if err := npy.Write(&buf, c.t); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), c.want) {
				t.Fatalf("got\n%q\nwant\n%q", buf.Bytes(), c.want)
			}
		})
	}
}

func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// sameBits compares shape, dtype and the bits of every element.
func sameBits(t *testing.T, got, want *tensor.Tensor) {
	t.Helper()
	if got.DType() != want.DType() || !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("got %v %v, want %v %v", got.DType(), got.Shape(), want.DType(), want.Shape())
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range w {
		if math.Float64bits(g[i]) != math.Float64bits(w[i]) {
			t.Fatalf("element %d: got %v, want %v", i, g[i], w[i])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tensor.Seed(7)
	shapes := [][]int{{}, {0}, {5}, {2, 3}, {2, 0, 3}, {1, 1, 1}, {3, 4, 5}, {70000}}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, sh := range shapes {
			x := tensor.RandNormal(0, 1e3, sh, tensor.WithDType(dt))
			if x.Size() > 2 {
				// Specials survive bit for bit.
				x = x.Flatten()
				v := x.Float64s()
				v[0], v[1], v[2] = math.NaN(), math.Inf(-1), math.Copysign(0, -1)
				x = tensor.FromSlice(v, sh, tensor.WithDType(dt))
			}
			name := filepath.Join(dir, "x.npy")
			if err := npy.Save(name, x); err != nil {
				t.Fatal(err)
			}
			y, err := npy.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, y, x)

			var buf bytes.Buffer
			if err := npy.Write(&buf, x); err != nil {
				t.Fatal(err)
			}
			z, err := npy.Read(&buf)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, z, x)
		}
	}
}

func TestNonContiguousWrittenInCOrder(t *testing.T) {
	x := tensor.Arange(0, 24, 1).Reshape(2, 3, 4)
	views := map[string]*tensor.Tensor{
		"transposed": x.Transpose(2, 0, 1),
		"sliced":     x.Slice(2, 1, 3).Index(1),
		"broadcast":  x.Index(0).Index(1).BroadcastTo(3, 4),
		"T of 2-d":   x.Reshape(6, 4).T(),
	}
	for name, v := range views {
		var got, want bytes.Buffer
		if err := npy.Write(&got, v); err != nil {
			t.Fatal(err)
		}
		if err := npy.Write(&want, v.Clone()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: differs from writing a row-major copy", name)
		}
		y, err := npy.Read(&got)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, y, v)
	}
}

func TestReadVariants(t *testing.T) {
	want := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, []int{2, 3})
	data := le32(1, 2, 3, 4, 5, 6)
	var bigData []byte
	for _, v := range []float32{1, 2, 3, 4, 5, 6} {
		bigData = binary.BigEndian.AppendUint32(bigData, math.Float32bits(v))
	}
	cases := map[string][]byte{
		"version 2.0": npyBytes(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 53, data),
		"version 3.0": npyBytes(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 53, data),
		"big-endian":  npyBytes(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 58, bigData),
		// Key order, quotes, spacing and 16-byte alignment of old writers;
		// Python 2's long integers.
		"old writer": npyBytes(1, `{"shape":(2L,3L),'fortran_order':False,"descr":"<f4"}`, 5, data),
		"no padding": npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 0, data),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := npy.Read(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, got, want)
		})
	}
	t.Run("big-endian f8", func(t *testing.T) {
		var d []byte
		for _, v := range []float64{1.5, -2} {
			d = binary.BigEndian.AppendUint64(d, math.Float64bits(v))
		}
		got, err := npy.Read(bytes.NewReader(npyBytes(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", 0, d)))
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, got, tensor.FromSlice([]float64{1.5, -2}, []int{2}))
	})
	t.Run("options", func(t *testing.T) {
		got, err := npy.Read(bytes.NewReader(cases["version 2.0"]), tensor.WithDType(tensor.Float64))
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, got, want.AsType(tensor.Float64))
	})
}

func TestLongHeaderUsesVersion2(t *testing.T) {
	// 22000 axes of length 1: the header is longer than format 1.0's
	// 16-bit length allows.
	x := tensor.Full(3, ones(22000), tensor.WithDType(tensor.Float64))
	var buf bytes.Buffer
	if err := npy.Write(&buf, x); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if b[6] != 2 || b[7] != 0 {
		t.Fatalf("version %d.%d, want 2.0", b[6], b[7])
	}
	hlen := int(binary.LittleEndian.Uint32(b[8:]))
	if (12+hlen)%64 != 0 || b[12+hlen-1] != '\n' || len(b) != 12+hlen+8 {
		t.Fatalf("header length %d, file %d bytes", hlen, len(b))
	}
	y, err := npy.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, y, x)
}

func TestStream(t *testing.T) {
	var buf bytes.Buffer
	a, b := tensor.Arange(0, 3, 1), tensor.Ones([]int{2, 2}, tensor.WithDType(tensor.Float64))
	for _, x := range []*tensor.Tensor{a, b} {
		if err := npy.Write(&buf, x); err != nil {
			t.Fatal(err)
		}
	}
	r := bytes.NewReader(buf.Bytes())
	for _, want := range []*tensor.Tensor{a, b} {
		got, err := npy.Read(r)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, got, want)
	}
	if _, err := npy.Read(r); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

func checkErr(t *testing.T, err error, kind error, field string, msg string) {
	t.Helper()
	var e *npy.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *npy.Error", err, err)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want kind %v", err, kind)
	}
	if e.Field != field {
		t.Fatalf("error %v: field %q, want %q", err, e.Field, field)
	}
	if msg != "" && err.Error() != msg {
		t.Fatalf("error\n%s\nwant\n%s", err, msg)
	}
}

func TestUnsupported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.npy")
	if err := os.WriteFile(path, npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 0, le32(1, 2, 3, 4, 5, 6)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := npy.Load(path)
	checkErr(t, err, npy.ErrUnsupported, "fortran_order",
		"npy: "+path+": header field 'fortran_order' is True: only C order is supported")

	for _, descr := range []string{"'<i2'", "'|b1'", "'<c8'", "'|V2'", "'|u1'", "'<u8'", "[('a', '<f4'), ('b', '<f8')]"} {
		b := npyBytes(1, "{'descr': "+descr+", 'fortran_order': False, 'shape': (1,), }", 0, make([]byte, 16))
		_, err := npy.Read(bytes.NewReader(b))
		checkErr(t, err, npy.ErrUnsupported, "descr", "")
		if !strings.Contains(err.Error(), "header field 'descr'") {
			t.Errorf("%s: message %q does not name the field", descr, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	good := npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0, le32(1, 2, 3, 4, 5, 6))
	cases := []struct {
		name  string
		b     []byte
		field string
	}{
		{"bad magic", append([]byte("\x93NUMPX"), good[6:]...), ""},
		{"not npy at all", []byte("PK\x03\x04 this is a zip"), ""},
		{"short data", good[:len(good)-1], ""},
		{"missing key", npyBytes(1, "{'descr': '<f4', 'shape': (2, 3), }", 0, le32(1, 2, 3, 4, 5, 6)), "fortran_order"},
		{"extra key", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 0, le32(1, 2, 3, 4, 5, 6)), "x"},
		{"shape not a tuple", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", 0, le32(1, 2, 3, 4, 5, 6)), "shape"},
		{"negative dim", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 0, le32(1, 2, 3, 4, 5, 6)), "shape"},
		{"float dim", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0, 3), }", 0, le32(1, 2, 3, 4, 5, 6)), ""},
		{"fortran_order not bool", npyBytes(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", 0, le32(1, 2, 3, 4, 5, 6)), "fortran_order"},
		{"descr not a string", npyBytes(1, "{'descr': 4, 'fortran_order': False, 'shape': (2, 3), }", 0, le32(1, 2, 3, 4, 5, 6)), "descr"},
		{"not a dict", npyBytes(1, "[1, 2]", 0, nil), ""},
		{"garbage header", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }}", 0, nil), ""},
		{"unterminated", npyBytes(1, "{'descr': '<f4", 0, nil), ""},
		{"too many elements", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0, nil), "shape"},
		{"beyond int64", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0, nil), "shape"},
		{"deep nesting", npyBytes(1, strings.Repeat("(", 100)+strings.Repeat(")", 100), 0, nil), ""},
		// A header that claims a huge array on a tiny input fails without
		// allocating the claimed size.
		{"huge claim", npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", 0, le64(1)), ""},
		{"huge header length", []byte("\x93NUMPY\x02\x00\xff\xff\xff\xff{"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := npy.Read(bytes.NewReader(c.b))
			checkErr(t, err, npy.ErrFormat, c.field, "")
		})
	}
	t.Run("version 4.0 is unsupported, not malformed", func(t *testing.T) {
		b := append([]byte("\x93NUMPY\x04\x00"), good[8:]...)
		_, err := npy.Read(bytes.NewReader(b))
		if !errors.Is(err, npy.ErrUnsupported) {
			t.Fatal(err)
		}
	})
	t.Run("truncated at every length", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			_, err := npy.Read(bytes.NewReader(good[:n]))
			checkErr(t, err, npy.ErrFormat, "", "")
			if n > 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated to %d: %v does not match io.ErrUnexpectedEOF", n, err)
			}
		}
	})
	t.Run("file with trailing bytes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "x.npy")
		os.WriteFile(path, append(good, 0, 0, 0, 0), 0o644)
		_, err := npy.Load(path)
		checkErr(t, err, npy.ErrFormat, "", "")
		if !strings.Contains(err.Error(), "x.npy") || !strings.Contains(err.Error(), "wrong data length") {
			t.Fatalf("message %q", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := npy.Load(filepath.Join(t.TempDir(), "nope.npy"))
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.npy") {
			t.Fatalf("%v", err)
		}
	})
}

func TestReleased(t *testing.T) {
	x := tensor.Ones([]int{1 << 15}) // large enough to have a buffer of its own
	x.Release()
	err := npy.Write(io.Discard, x)
	if !errors.Is(err, tensor.ErrReleased) {
		t.Fatalf("%v", err)
	}
}

// Integer arrays: '<i4' and '<i8' (and big-endian) read into Int32 and
// Int64 tensors exactly, and Int32/Int64 tensors written as numpy.save
// writes them.
func TestIntegers(t *testing.T) {
	for _, c := range []struct {
		descr string
		data  []byte
		want  []int64
		dt    tensor.DType
	}{
		{"'<i8'", le64i(1<<53+1, -7, 0), []int64{1<<53 + 1, -7, 0}, tensor.Int64},
		{"'>i8'", be64i(1<<62, -1, 5), []int64{1 << 62, -1, 5}, tensor.Int64},
		{"'<i4'", le32i(-2147483648, 7, 2147483647), []int64{-2147483648, 7, 2147483647}, tensor.Int32},
	} {
		b := npyBytes(1, "{'descr': "+c.descr+", 'fortran_order': False, 'shape': (3,), }", 0, c.data)
		x, err := npy.Read(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", c.descr, err)
		}
		if x.DType() != c.dt || !slices.Equal(x.Int64s(), c.want) {
			t.Errorf("%s: %v %v, want %v %v", c.descr, x.DType(), x.Int64s(), c.dt, c.want)
		}
		// Round trip: written little-endian with the dtype's descr.
		var buf bytes.Buffer
		if err := npy.Write(&buf, x); err != nil {
			t.Fatal(err)
		}
		y, err := npy.Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if y.DType() != c.dt || !slices.Equal(y.Int64s(), c.want) {
			t.Errorf("%s round trip: %v %v", c.descr, y.DType(), y.Int64s())
		}
	}
	var buf bytes.Buffer
	if err := npy.Write(&buf, tensor.FromSlice([]int32{1, -2}, []int{2})); err != nil {
		t.Fatal(err)
	}
	if b := buf.Bytes(); !bytes.Contains(b, []byte("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }")) ||
		!bytes.HasSuffix(b, le32i(1, -2)) || len(b)%64 != 8 {
		t.Errorf("int32 file %q", b)
	}
}

func le64i(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

func be64i(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint64(b, uint64(x))
	}
	return b
}

func le32i(v ...int32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return b
}
