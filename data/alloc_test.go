package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/internal/testkit"
)

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// idxHeader is the header of a one-dimensional IDX array of n elements.
func idxHeader(typ IDXType, n uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, IDXMagic(typ, 1)), n)
}

// TestIDXAllocation: a header that declares more than the input holds
// costs about what the input holds (a plain file's size is checked before
// allocating; a stream is read in chunks), and a whole array costs its
// data once for a plain file and twice for a stream.
func TestIDXAllocation(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tiny := idxHeader(IDXUint8, 0xffffffff) // 8 bytes declaring 4 GiB - 1
	const n = 1 << 20
	const data = 4 * n // float32
	honest := append(idxHeader(IDXFloat32, n), make([]byte, data)...)
	lying := append(idxHeader(IDXUint8, 1<<30), make([]byte, 2<<20)...)
	const small = 512 << 10 // buffers of bufio and gzip, the header
	pTiny, pTinyGz := write("tiny", tiny), write("tiny.gz", gzipped(tiny))
	pHonest, pHonestGz := write("honest", honest), write("honest.gz", gzipped(honest))
	pLyingGz := write("lying.gz", gzipped(lying))
	for _, c := range []struct {
		name  string
		read  func() (*IDX, error)
		ok    bool
		bound int64
	}{
		{"8-byte file", func() (*IDX, error) { return ReadIDX(pTiny) }, false, small},
		{"8-byte stream", func() (*IDX, error) { return DecodeIDX(bytes.NewReader(tiny)) }, false, small},
		{"8-byte gzip", func() (*IDX, error) { return ReadIDX(pTinyGz) }, false, small},
		{"honest file", func() (*IDX, error) { return ReadIDX(pHonest) }, true, data + small},
		{"honest stream", func() (*IDX, error) { return DecodeIDX(bytes.NewReader(honest)) }, true, 2*data + small},
		{"honest gzip", func() (*IDX, error) { return ReadIDX(pHonestGz) }, true, 2*data + small},
		// 1 GiB declared, 2 MiB there.
		{"lying gzip", func() (*IDX, error) { return ReadIDX(pLyingGz) }, false, 2*(2<<20) + small},
	} {
		t.Run(c.name, func(t *testing.T) {
			var x *IDX
			var err error
			got := testkit.Allocated(func() { x, err = c.read() })
			if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v", err)
			}
			if c.ok && (x.Len() != n || len(x.Data.([]float32)) != n) {
				t.Fatalf("read %v", x.Dims)
			}
			t.Logf("allocated %d", got)
			if got > c.bound {
				t.Fatalf("allocated %d bytes, want at most %d", got, c.bound)
			}
		})
	}
}

// TestIDXDecodeAllTypes: every element type decodes the same from a
// plain file, a stream and a gzip stream, across chunk boundaries.
func TestIDXDecodeAllTypes(t *testing.T) {
	for _, typ := range []IDXType{IDXUint8, IDXInt8, IDXInt16, IDXInt32, IDXFloat32, IDXFloat64} {
		n := (3*firstChunk + 5) / typ.Size()
		b := idxHeader(typ, uint32(n))
		for i := range n * typ.Size() {
			b = append(b, byte(i*7+i/251))
		}
		p := filepath.Join(t.TempDir(), "x")
		os.WriteFile(p, b, 0o644)
		pg := filepath.Join(t.TempDir(), "x.gz")
		os.WriteFile(pg, gzipped(b), 0o644)
		var out [][]byte
		for _, read := range []func() (*IDX, error){
			func() (*IDX, error) { return ReadIDX(p) },
			func() (*IDX, error) { return ReadIDX(pg) },
			func() (*IDX, error) { return DecodeIDX(bytes.NewReader(b)) },
		} {
			x, err := read()
			if err != nil {
				t.Fatalf("%v: %v", typ, err)
			}
			var w bytes.Buffer
			if err := WriteIDX(&w, x); err != nil {
				t.Fatal(err)
			}
			out = append(out, w.Bytes())
		}
		for _, o := range out {
			if !bytes.Equal(o, b) {
				t.Fatalf("%v: read and written back differs from the input", typ)
			}
		}
	}
}

// TestMaxIDXBytes: a header declaring more than MaxIDXBytes is refused
// before the data is allocated.
func TestMaxIDXBytes(t *testing.T) {
	defer func(old int64) { MaxIDXBytes = old }(MaxIDXBytes)
	MaxIDXBytes = 1 << 20
	b := append(idxHeader(IDXInt16, 1<<19+1), make([]byte, 1<<20+2)...)
	var err error
	got := testkit.Allocated(func() { _, err = DecodeIDX(bytes.NewReader(b)) })
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "MaxIDXBytes") || got > 256<<10 {
		t.Fatalf("allocated %d, error %v", got, err)
	}
	if _, err := DecodeIDX(bytes.NewReader(b[:len(b)-2])); err == nil {
		t.Fatal("a mismatched length accepted")
	}
	if _, err := DecodeIDX(bytes.NewReader(append(idxHeader(IDXInt16, 1<<19), make([]byte, 1<<20)...))); err != nil {
		t.Fatalf("exactly MaxIDXBytes: %v", err)
	}
}
