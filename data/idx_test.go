package data_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/data"
)

// idxBytes encodes x, gzip-compressed if gz.
func idxBytes(t testing.TB, x *data.IDX, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := data.WriteIDX(&b, x); err != nil {
		t.Fatal(err)
	}
	if !gz {
		return b.Bytes()
	}
	return gzipBytes(t, b.Bytes())
}

func gzipBytes(t testing.TB, p []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func writeFile(t testing.TB, dir, name string, p []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, p, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIDXRoundTrip(t *testing.T) {
	arrays := []*data.IDX{
		{Type: data.IDXUint8, Dims: []int{3, 2, 2}, Data: []uint8{0, 1, 2, 3, 4, 5, 6, 7, 128, 200, 254, 255}},
		{Type: data.IDXUint8, Dims: []int{4}, Data: []uint8{9, 0, 0, 3}},
		{Type: data.IDXUint8, Dims: []int{0, 28, 28}, Data: []uint8{}},
		{Type: data.IDXInt8, Dims: []int{4}, Data: []int8{-128, -1, 0, 127}},
		{Type: data.IDXInt16, Dims: []int{2, 2}, Data: []int16{-32768, -2, 1, 32767}},
		{Type: data.IDXInt32, Dims: []int{1, 3}, Data: []int32{math.MinInt32, -7, math.MaxInt32}},
		{Type: data.IDXFloat32, Dims: []int{2, 1, 2}, Data: []float32{-1.5, 0, float32(math.Inf(1)), 3.25e-20}},
		{Type: data.IDXFloat64, Dims: []int{3}, Data: []float64{math.Pi, -0.0, 1e300}},
		{Type: data.IDXFloat64, Dims: []int{}, Data: []float64{42}}, // a single value, 0 dimensions
	}
	dir := t.TempDir()
	for i, x := range arrays {
		for _, gz := range []bool{false, true} {
			p := idxBytes(t, x, gz)
			path := writeFile(t, dir, "a.idx", p)
			for how, read := range map[string]func() (*data.IDX, error){
				"ReadIDX":   func() (*data.IDX, error) { return data.ReadIDX(path) },
				"DecodeIDX": func() (*data.IDX, error) { return data.DecodeIDX(bytes.NewReader(p)) },
			} {
				got, err := read()
				if err != nil {
					t.Fatalf("array %d, gzip %v, %s: %v", i, gz, how, err)
				}
				if got.Type != x.Type || !reflect.DeepEqual(got.Dims, x.Dims) || !reflect.DeepEqual(got.Data, x.Data) {
					t.Errorf("array %d, gzip %v, %s: got %+v, want %+v", i, gz, how, got, x)
				}
				if got.Magic() != uint32(x.Type)<<8|uint32(len(x.Dims)) || got.Len() != x.Len() {
					t.Errorf("array %d: magic 0x%08x, len %d", i, got.Magic(), got.Len())
				}
				if f := got.Float32s(); len(f) != x.Len() {
					t.Errorf("array %d: Float32s has %d values", i, len(f))
				}
			}
		}
	}
	if m := data.IDXMagic(data.IDXUint8, 3); m != 0x00000803 {
		t.Errorf("IDXMagic(IDXUint8, 3) = 0x%08x", m)
	}
	if got := (&data.IDX{Type: data.IDXInt16, Dims: []int{2}, Data: []int16{-3, 4}}).Float32s(); !reflect.DeepEqual(got, []float32{-3, 4}) {
		t.Errorf("Float32s = %v", got)
	}
}

func TestWriteIDXErrors(t *testing.T) {
	for _, x := range []*data.IDX{
		{Type: data.IDXUint8, Dims: []int{3}, Data: []uint8{1, 2}},
		{Type: data.IDXFloat32, Dims: []int{1}, Data: []float64{1}},
		{Type: data.IDXUint8, Dims: []int{-1}, Data: []uint8{}},
	} {
		if err := data.WriteIDX(io.Discard, x); err == nil {
			t.Errorf("WriteIDX(%+v) succeeded", x)
		}
	}
}

// corrupt is one malformed input: the image and label files (nil: a valid
// one), which file the error must name, and what its message must say.
type corrupt struct {
	name           string
	images, labels []byte
	file           string // "images" or "labels"
	kind           error
	msg            string // the message after "data: PATH: "; a prefix if it ends in "..."
}

func validImages(n int) *data.IDX {
	p := make([]uint8, n*12)
	for i := range p {
		p[i] = uint8(i * i * 37 >> 3) // not too compressible
	}
	return &data.IDX{Type: data.IDXUint8, Dims: []int{n, 4, 3}, Data: p}
}

func validLabels(n int) *data.IDX {
	return &data.IDX{Type: data.IDXUint8, Dims: []int{n}, Data: make([]uint8, n)}
}

func corruptions(t *testing.T) []corrupt {
	img := idxBytes(t, validImages(5), false) // 16 + 60 bytes
	imgGz := gzipBytes(t, img)
	lbl := idxBytes(t, validLabels(5), false)
	flipped := append([]byte(nil), imgGz...)
	flipped[len(flipped)-5] ^= 0xff // in the CRC-32 of the trailer
	bigGz := gzipBytes(t, []byte{0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0, 0, 0, 1, 1, 2, 3})
	return []corrupt{
		{name: "image magic of 2 dimensions", images: append([]byte{0, 0, 8, 2}, img[4:]...), file: "images", kind: data.ErrFormat,
			msg: "magic 0x00000802 (unsigned byte, 2 dimensions), want 0x00000803 (unsigned byte, 3 dimensions) for an image file"},
		{name: "image magic of 2 dimensions, gzip", images: gzipBytes(t, append([]byte{0, 0, 8, 2}, img[4:]...)), file: "images", kind: data.ErrFormat,
			msg: "magic 0x00000802 (unsigned byte, 2 dimensions), want 0x00000803 (unsigned byte, 3 dimensions) for an image file"},
		{name: "float images", images: idxBytes(t, &data.IDX{Type: data.IDXFloat32, Dims: []int{1, 1, 1}, Data: []float32{1}}, false), file: "images", kind: data.ErrFormat,
			msg: "magic 0x00000d03 (float, 3 dimensions), want 0x00000803 (unsigned byte, 3 dimensions) for an image file"},
		{name: "labels as images", images: lbl, file: "images", kind: data.ErrFormat,
			msg: "magic 0x00000801 (unsigned byte, 1 dimension), want 0x00000803 (unsigned byte, 3 dimensions) for an image file"},
		{name: "images as labels", labels: img, file: "labels", kind: data.ErrFormat,
			msg: "magic 0x00000803 (unsigned byte, 3 dimensions), want 0x00000801 (unsigned byte, 1 dimension) for a label file"},
		{name: "not an IDX file", images: []byte("PK\x03\x04 a zip file"), file: "images", kind: data.ErrFormat,
			msg: "magic 0x504b0304 (not an IDX file), want 0x00000803 (unsigned byte, 3 dimensions) for an image file"},
		{name: "unknown element type", images: []byte{0, 0, 7, 3, 0, 0, 0, 0}, file: "images", kind: data.ErrFormat,
			msg: "magic 0x00000703 (not an IDX file), want 0x00000803 (unsigned byte, 3 dimensions) for an image file"},
		{name: "empty file", images: []byte{}, file: "images", kind: data.ErrFormat,
			msg: "empty file, want an IDX file with magic 0x00000803 (unsigned byte, 3 dimensions) for an image file"},
		{name: "empty gzip stream", images: gzipBytes(t, nil), file: "images", kind: data.ErrFormat,
			msg: "empty gzip stream, want an IDX file with magic 0x00000803 (unsigned byte, 3 dimensions) for an image file"},
		{name: "truncated magic", images: []byte{0, 0, 8}, file: "images", kind: data.ErrFormat,
			msg: "truncated header: the file ends after 3 bytes"},
		{name: "truncated dimensions", images: img[:10], file: "images", kind: data.ErrFormat,
			msg: "truncated header: magic 0x00000803 declares 3 dimensions (16 header bytes), the file ends after 10"},
		{name: "truncated data", images: img[:len(img)-1], file: "images", kind: data.ErrFormat,
			msg: "truncated data: the header declares 5×4×3 unsigned bytes (60 bytes), the file has 59 bytes of data"},
		{name: "truncated data, gzip", images: gzipBytes(t, img[:len(img)-7]), file: "images", kind: data.ErrFormat,
			msg: "truncated data: the header declares 5×4×3 unsigned bytes (60 bytes), the gzip stream ends after 53"},
		{name: "gzip stream cut short", images: imgGz[:len(imgGz)-20], file: "images", kind: data.ErrFormat,
			msg: "truncated data: the header declares 5×4×3 unsigned bytes (60 bytes), the gzip stream ends after ..."},
		{name: "gzip trailer missing", images: imgGz[:len(imgGz)-8], file: "images", kind: data.ErrFormat,
			msg: "truncated gzip stream: it ends after the data, before its checksum"},
		{name: "gzip checksum", images: flipped, file: "images", kind: data.ErrFormat,
			msg: "corrupt gzip stream: gzip: invalid checksum"},
		{name: "gzip header cut short", images: imgGz[:5], file: "images", kind: data.ErrFormat,
			msg: "truncated gzip header"},
		{name: "corrupt deflate data", images: append(append([]byte(nil), imgGz[:10]...), 0xff, 0xff, 0xff, 0xff), file: "images", kind: data.ErrFormat,
			msg: "corrupt gzip stream: flate: corrupt input before offset ..."},
		{name: "extra data", images: append(append([]byte(nil), img...), 1, 2, 3), file: "images", kind: data.ErrFormat,
			msg: "3 bytes of extra data after the 5×4×3 unsigned bytes (60 bytes) that the header declares"},
		{name: "extra data, gzip", images: gzipBytes(t, append(append([]byte(nil), img...), 1, 2, 3)), file: "images", kind: data.ErrFormat,
			msg: "3 bytes of extra data after the 5×4×3 unsigned bytes (60 bytes) that the header declares"},
		{name: "a header for 4 GiB in a small gzip stream", images: bigGz, file: "images", kind: data.ErrFormat,
			msg: "truncated data: the header declares 2147483647×2×1 unsigned bytes (4294967294 bytes), the gzip stream ends after 3"},
		{name: "a header for 2^96 bytes", images: []byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, file: "images", kind: data.ErrFormat,
			msg: "the header declares 4294967295×4294967295×4294967295 unsigned bytes, too many for this machine"},
		{name: "a header for 2^64 bytes", images: []byte{0, 0, 8, 3, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 4}, file: "images", kind: data.ErrFormat,
			msg: "the header declares 2147483648×2147483648×4 unsigned bytes, too many for this machine"},
		{name: "fewer labels than images", labels: idxBytes(t, validLabels(4), true), file: "labels", kind: data.ErrFormat,
			msg: "4 labels for the 5 images of ..."},
		{name: "images of 0 rows", images: idxBytes(t, &data.IDX{Type: data.IDXUint8, Dims: []int{5, 0, 3}, Data: []uint8{}}, false), file: "images", kind: data.ErrFormat,
			msg: "images of 0×3 pixels"},
	}
}

func checkErr(t *testing.T, name string, err error, kind error, path, msg string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", name)
		return
	}
	if !errors.Is(err, kind) {
		t.Errorf("%s: %v is not %v", name, err, kind)
	}
	var e *data.Error
	if !errors.As(err, &e) || e.Path != path {
		t.Errorf("%s: %#v does not name %s", name, err, path)
	}
	prefix := "data: " + path + ": "
	if m, ok := strings.CutSuffix(msg, "..."); ok {
		if !strings.HasPrefix(err.Error(), prefix+m) {
			t.Errorf("%s:\n got %s\nwant %s...", name, err, prefix+m)
		}
	} else if err.Error() != prefix+msg {
		t.Errorf("%s:\n got %s\nwant %s", name, err, prefix+msg)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range corruptions(t) {
		dir := t.TempDir()
		images, labels := c.images, c.labels
		if images == nil {
			images = idxBytes(t, validImages(5), false)
		}
		if labels == nil {
			labels = idxBytes(t, validLabels(5), false)
		}
		ip := writeFile(t, dir, "images", images)
		lp := writeFile(t, dir, "labels", labels)
		d, err := data.Load(ip, lp)
		if d != nil {
			t.Errorf("%s: Load returned a dataset", c.name)
		}
		path := ip
		if c.file == "labels" {
			path = lp
		}
		checkErr(t, c.name, err, c.kind, path, c.msg)
	}
}

func TestReadIDXErrors(t *testing.T) {
	dir := t.TempDir()
	// Without a wanted header: any IDX array is fine, and a bad magic says
	// what an IDX magic number is.
	path := writeFile(t, dir, "x", []byte{0, 0, 7, 3})
	_, err := data.ReadIDX(path)
	checkErr(t, "bad magic", err, data.ErrFormat, path,
		"magic 0x00000703 is not an IDX magic number (0x0000TTNN: element type TT one of 08, 09, 0b, 0c, 0d, 0e; NN dimensions)")
	// DecodeIDX names no path.
	_, err = data.DecodeIDX(bytes.NewReader([]byte{0, 0, 8, 1, 0, 0, 0, 2, 7}))
	if !errors.Is(err, data.ErrFormat) || err.Error() != "data: truncated data: the header declares 2 unsigned bytes (2 bytes), the file ends after 1" {
		t.Errorf("DecodeIDX: %v", err)
	}
	// A truncated file of another element type.
	path = writeFile(t, dir, "f", idxBytes(t, &data.IDX{Type: data.IDXFloat64, Dims: []int{2}, Data: []float64{1, 2}}, false)[:20])
	_, err = data.ReadIDX(path)
	checkErr(t, "truncated doubles", err, data.ErrFormat, path,
		"truncated data: the header declares 2 doubles (16 bytes), the file has 12 bytes of data")
}

func TestNotFound(t *testing.T) {
	dir := t.TempDir()
	lp := writeFile(t, dir, "labels", idxBytes(t, validLabels(5), false))
	missing := filepath.Join(dir, "train-images-idx3-ubyte.gz")
	_, err := data.Load(missing, lp)
	checkErr(t, "missing", err, data.ErrNotFound, missing, "no such file")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v is not fs.ErrNotExist", err)
	}
	_, err = data.ReadIDX(missing)
	checkErr(t, "missing", err, data.ErrNotFound, missing, "no such file")

	// A directory is an I/O error, of no kind of ours.
	_, err = data.ReadIDX(dir)
	var e *data.Error
	if !errors.As(err, &e) || e.Path != dir || e.Kind != nil || errors.Is(err, data.ErrFormat) {
		t.Errorf("reading a directory: %#v", err)
	}
}
