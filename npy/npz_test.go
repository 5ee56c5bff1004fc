package npy_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

func TestNPZRoundTrip(t *testing.T) {
	dir := t.TempDir()
	arrays := map[string]*tensor.Tensor{
		"w":       tensor.Arange(0, 12, 1).Reshape(3, 4),
		"b":       tensor.Scalar(-1, tensor.WithDType(tensor.Float64)),
		"empty":   tensor.Zeros([]int{0, 2}),
		"layer/1": tensor.Ones([]int{5}).MulScalar(0.5),
	}
	for _, compress := range []bool{false, true} {
		path := filepath.Join(dir, "a.npz")
		save := npy.SaveNPZ
		if compress {
			save = npy.SaveNPZCompressed
		}
		if err := save(path, arrays); err != nil {
			t.Fatal(err)
		}
		got, err := npy.LoadNPZ(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(arrays) {
			t.Fatalf("got %d arrays, want %d", len(got), len(arrays))
		}
		for name, want := range arrays {
			sameBits(t, got[name], want)
		}
		// Members are in sorted order with the method asked for.
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
			want := zip.Store
			if compress {
				want = zip.Deflate
			}
			if f.Method != want {
				t.Errorf("%s: method %d, want %d", f.Name, f.Method, want)
			}
			// Each member is the .npy file Write produces.
			rc, _ := f.Open()
			var b, w bytes.Buffer
			b.ReadFrom(rc)
			rc.Close()
			npy.Write(&w, arrays[f.Name[:len(f.Name)-4]])
			if !bytes.Equal(b.Bytes(), w.Bytes()) {
				t.Errorf("%s differs from Write's output", f.Name)
			}
		}
		zr.Close()
		if !sort.StringsAreSorted(names) {
			t.Errorf("members %v not sorted", names)
		}
	}
}

func TestNPZDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	m1 := map[string]*tensor.Tensor{}
	m2 := map[string]*tensor.Tensor{}
	names := []string{"z", "a", "m", "b", "y"}
	for i, n := range names {
		m1[n] = tensor.Full(float64(i), []int{2})
	}
	for i := len(names) - 1; i >= 0; i-- {
		m2[names[i]] = tensor.Full(float64(i), []int{2})
	}
	if err := npy.WriteNPZ(&a, m1, false); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteNPZ(&b, m2, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same arrays gave different archives")
	}
}

func TestNPZErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, members map[string][]byte, method uint16) string {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		var keys []string
		for k := range members {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: k, Method: method})
			w.Write(members[k])
		}
		zw.Close()
		p := filepath.Join(dir, name)
		os.WriteFile(p, buf.Bytes(), 0o644)
		return p
	}
	var good bytes.Buffer
	npy.Write(&good, tensor.Ones([]int{3}))

	// Deflated members written by another zip writer load.
	p := write("ok.npz", map[string][]byte{"x.npy": good.Bytes()}, zip.Deflate)
	if m, err := npy.LoadNPZ(p); err != nil || m["x"] == nil {
		t.Fatalf("%v %v", m, err)
	}

	p = write("other.npz", map[string][]byte{"x.npy": good.Bytes(), "notes.txt": []byte("hi")}, zip.Store)
	if _, err := npy.LoadNPZ(p); !errors.Is(err, npy.ErrUnsupported) {
		t.Fatalf("non-.npy member: %v", err)
	}
	p = write("bad.npz", map[string][]byte{"x.npy": good.Bytes()[:good.Len()-1]}, zip.Store)
	_, err := npy.LoadNPZ(p)
	if !errors.Is(err, npy.ErrFormat) {
		t.Fatalf("truncated member: %v", err)
	}
	if want := "npy: " + p + ":x.npy: "; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("message %q does not start with %q", err, want)
	}
	p = write("trail.npz", map[string][]byte{"x.npy": append(good.Bytes(), 1)}, zip.Deflate)
	if _, err := npy.LoadNPZ(p); !errors.Is(err, npy.ErrFormat) {
		t.Fatalf("trailing bytes in member: %v", err)
	}
	p = filepath.Join(dir, "junk.npz")
	os.WriteFile(p, []byte("not a zip"), 0o644)
	if _, err := npy.LoadNPZ(p); !errors.Is(err, npy.ErrFormat) {
		t.Fatalf("not a zip: %v", err)
	}

	// A flipped byte inside a stored member is caught by the CRC-32 or by
	// the header checks.
	var buf bytes.Buffer
	npy.WriteNPZ(&buf, map[string]*tensor.Tensor{"x": tensor.Arange(0, 16, 1)}, false)
	b := buf.Bytes()
	i := bytes.Index(b, []byte("\x93NUMPY")) + 128 + 5 // inside the data
	b[i] ^= 0x40
	if _, err := npy.ReadNPZ(bytes.NewReader(b), int64(len(b))); !errors.Is(err, npy.ErrFormat) || !errors.Is(err, zip.ErrChecksum) {
		t.Fatalf("corrupt data: %v", err)
	}
	if err := npy.WriteNPZ(&buf, map[string]*tensor.Tensor{"": tensor.Ones(nil)}, false); err == nil {
		t.Fatal("empty name accepted")
	}
}
