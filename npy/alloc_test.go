package npy_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/internal/testkit"

	"github.com/tapegrad/tapegrad/npy"
)

// f32Header is the .npy header of a float32 array of n elements.
func f32Header(n int) []byte {
	return npyBytes(1, fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }", n), 0, nil)
}

// npzOfZeros is a .npz archive whose one member "x.npy" declares a
// float32 array of n elements and holds real bytes of zero data after
// the header.
func npzOfZeros(t *testing.T, n, real int, method uint16) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "x.npy", Method: method})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(f32Header(n))
	w.Write(make([]byte, real))
	zw.Close()
	return buf.Bytes()
}

const slack = 4 << 20 // buffers, the zip and flate readers, the tensor

// TestReadAllocation: reading costs at most twice the data (the decoded
// elements and the tensor), whether the data is stored, deflated (where
// deflated zeros expand a thousand times) or a stream; a header that
// claims more than a deflated stream holds costs what the stream holds;
// and a file whose size contradicts its header is refused before
// anything is allocated.
func TestReadAllocation(t *testing.T) {
	const n = 4 << 20 // elements: 16 MiB of float32
	const data = 4 * n
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		b      []byte
		ok     bool
		bound  int64
		method uint16
	}{
		{"deflated, honest", npzOfZeros(t, n, data, zip.Deflate), true, 2*data + slack, 0},
		{"stored, honest", npzOfZeros(t, n, data, zip.Store), true, 2*data + slack, 0},
		// 1 GiB declared, 1 MiB there.
		{"deflated, lying", npzOfZeros(t, 1<<28, 1<<20, zip.Deflate), false, 2*(1<<20) + slack, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "")+".npz")
			os.WriteFile(p, c.b, 0o644)
			var err error
			got := testkit.Allocated(func() { _, err = npy.LoadNPZ(p) })
			if (err == nil) != c.ok {
				t.Fatalf("error %v", err)
			}
			if err != nil && !errors.Is(err, npy.ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			t.Logf("%d bytes of archive, %d allocated", len(c.b), got)
			if got > c.bound {
				t.Fatalf("allocated %d bytes, want at most %d", got, c.bound)
			}
		})
	}
	t.Run("stream, honest", func(t *testing.T) {
		b := append(f32Header(n), make([]byte, data)...)
		var err error
		got := testkit.Allocated(func() { _, err = npy.Read(bytes.NewReader(b)) })
		if err != nil || got > 2*data+slack {
			t.Fatalf("allocated %d, error %v", got, err)
		}
	})
	t.Run("stream, lying", func(t *testing.T) {
		b := append(f32Header(1<<28), make([]byte, 1<<20)...)
		var err error
		got := testkit.Allocated(func() { _, err = npy.Read(bytes.NewReader(b)) })
		if !errors.Is(err, npy.ErrFormat) || got > 2*(1<<20)+slack {
			t.Fatalf("allocated %d, error %v", got, err)
		}
	})
	t.Run("file shorter than its header says", func(t *testing.T) {
		p := filepath.Join(dir, "short.npy")
		os.WriteFile(p, append(f32Header(1<<28), 1, 2, 3, 4), 0o644)
		var err error
		got := testkit.Allocated(func() { _, err = npy.Load(p) })
		if !errors.Is(err, npy.ErrFormat) || got > 256<<10 {
			t.Fatalf("allocated %d, error %v", got, err)
		}
	})
	t.Run("header longer than the file", func(t *testing.T) {
		p := filepath.Join(dir, "hdr.npy")
		b := []byte("\x93NUMPY\x02\x00")
		b = binary.LittleEndian.AppendUint32(b, 1<<24)
		os.WriteFile(p, append(b, "{'descr'"...), 0o644)
		var err error
		got := testkit.Allocated(func() { _, err = npy.Load(p) })
		if !errors.Is(err, npy.ErrFormat) || got > 256<<10 {
			t.Fatalf("allocated %d, error %v", got, err)
		}
	})
}

// TestMaxBytes: a header declaring more than MaxBytes is refused before
// anything is allocated.
func TestMaxBytes(t *testing.T) {
	defer func(old int64) { npy.MaxBytes = old }(npy.MaxBytes)
	npy.MaxBytes = 1 << 20
	b := append(f32Header(1<<18+1), make([]byte, 4<<18+4)...)
	var err error
	got := testkit.Allocated(func() { _, err = npy.Read(bytes.NewReader(b)) })
	if !errors.Is(err, npy.ErrFormat) || !strings.Contains(err.Error(), "npy.MaxBytes") || got > 64<<10 {
		t.Fatalf("allocated %d, error %v", got, err)
	}
	p := filepath.Join(t.TempDir(), "x.npz")
	os.WriteFile(p, npzOfZeros(t, 1<<18+1, 4<<18+4, zip.Deflate), 0o644)
	if _, err := npy.LoadNPZ(p); !errors.Is(err, npy.ErrFormat) || !strings.Contains(err.Error(), "x.npy") {
		t.Fatalf("%v", err)
	}
	if _, err := npy.Read(bytes.NewReader(append(f32Header(1<<18), make([]byte, 4<<18)...))); err != nil {
		t.Fatalf("an array of exactly MaxBytes: %v", err)
	}
}
