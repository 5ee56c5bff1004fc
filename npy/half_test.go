package npy_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

// float16 values with every special: ±0, ±Inf, the largest, the smallest
// subnormal, a rounded third and a NaN (written as NumPy writes its NaN).
var f16Vals = []float64{1, -2, 65504, inf, math.Inf(-1), negZero, 0x1p-24, 0.333251953125, math.NaN()}

func TestFloat16RoundTrip(t *testing.T) {
	x := tensor.FromSlice(f16Vals, []int{3, 3}, tensor.WithDType(tensor.Float16))
	var b bytes.Buffer
	if err := npy.Write(&b, x); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("'descr': '<f2'")) || b.Len() != 128+2*9 {
		t.Fatalf("header or size: %q", b.Bytes())
	}
	raw := b.Bytes()
	y, err := npy.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if y.DType() != tensor.Float16 {
		t.Fatalf("read back as %v", y.DType())
	}
	g, w := y.Float64s(), x.Float64s()
	for i := range w {
		if math.Float64bits(g[i]) != math.Float64bits(w[i]) && !(g[i] != g[i] && w[i] != w[i]) {
			t.Errorf("element %d: %v, want %v", i, g[i], w[i])
		}
	}
	// WithDType converts on reading; a transposed view is written in C
	// order.
	z, err := npy.Read(bytes.NewReader(raw), tensor.WithDType(tensor.Float32))
	if err != nil || z.DType() != tensor.Float32 || z.Float64s()[7] != 0.333251953125 {
		t.Fatalf("WithDType(Float32): %v %v", z, err)
	}
	var bt bytes.Buffer
	npy.Write(&bt, x.T())
	tt, _ := npy.Read(&bt)
	if tt.Float64s()[1] != inf || tt.Float64s()[3] != -2 {
		t.Errorf("transposed: %v", tt)
	}
	// Truncated data is an ErrFormat.
	if _, err := npy.Read(bytes.NewReader(raw[:len(raw)-1])); !errors.Is(err, npy.ErrFormat) {
		t.Errorf("truncated: %v", err)
	}
}

// bfloat16 has no NumPy dtype: the writers refuse it with ErrUnsupported
// and write nothing.
func TestBFloat16Refused(t *testing.T) {
	x := tensor.Ones([]int{2}, tensor.WithDType(tensor.BFloat16))
	var b bytes.Buffer
	err := npy.Write(&b, x)
	var e *npy.Error
	if !errors.Is(err, npy.ErrUnsupported) || !errors.As(err, &e) || e.Field != "descr" || b.Len() != 0 {
		t.Fatalf("Write(bfloat16): %v, %d bytes", err, b.Len())
	}
	dir := t.TempDir()
	if err := npy.Save(filepath.Join(dir, "x.npy"), x); !errors.Is(err, npy.ErrUnsupported) {
		t.Errorf("Save(bfloat16): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.npy")); err == nil {
		t.Error("Save(bfloat16) left a file")
	}
	if err := npy.SaveNPZ(filepath.Join(dir, "x.npz"), map[string]*tensor.Tensor{"x": x}); !errors.Is(err, npy.ErrUnsupported) {
		t.Errorf("SaveNPZ(bfloat16): %v", err)
	}
	// Converted first, it is written exactly.
	if err := npy.Write(&b, x.AsType(tensor.Float32)); err != nil {
		t.Error(err)
	}
}

// NumPy's float16 files read as Float16 tensors, and Write gives the bytes
// numpy.save writes; numpy reads them back.
func TestFloat16AgainstNumPy(t *testing.T) {
	py := python()
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s cannot import numpy (%v); set TAPEGRAD_PYTHON to an interpreter that can", py, err)
	}
	dir := t.TempDir()
	script := `
import sys, numpy as np
d = sys.argv[1]
v = np.array([1, -2, 65504, np.inf, -np.inf, -0.0, 2**-24, 1/3, np.nan], dtype="<f2").reshape(3, 3)
np.save(d + "/f2.npy", v)
np.save(d + "/f2_big.npy", v.astype(">f2"))
np.save(d + "/f2_0d.npy", np.array(65520, dtype="<f4").astype("<f2"))
`
	if out, err := exec.Command(py, "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	x := tensor.FromSlice(f16Vals, []int{3, 3}, tensor.WithDType(tensor.Float16))
	want, err := os.ReadFile(filepath.Join(dir, "f2.npy"))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	npy.Write(&got, x)
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("Write differs from numpy.save:\n%q\n%q", got.Bytes(), want)
	}
	for _, name := range []string{"f2.npy", "f2_big.npy"} {
		y, err := npy.Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if y.DType() != tensor.Float16 {
			t.Fatalf("%s: %v", name, y.DType())
		}
		g, w := y.Float64s(), x.Float64s()
		for i := range w {
			if math.Float64bits(g[i]) != math.Float64bits(w[i]) && !(g[i] != g[i] && w[i] != w[i]) {
				t.Errorf("%s: element %d: %v, want %v", name, i, g[i], w[i])
			}
		}
	}
	if y, err := npy.Load(filepath.Join(dir, "f2_0d.npy")); err != nil || y.Rank() != 0 || !math.IsInf(y.Item(), 1) {
		t.Errorf("0-d overflowed float16: %v %v", y, err)
	}
	// Our conversion from float32 agrees with NumPy's on a sweep of
	// values, ties and subnormals included.
	p := filepath.Join(dir, "ours.npy")
	vals := make([]float32, 0, 4096)
	for i := range 4096 {
		vals = append(vals, float32(math.Ldexp(float64(i)-2048.5, -8-i%30)))
	}
	if err := npy.Save(p, tensor.FromSlice(vals, []int{len(vals)}, tensor.WithDType(tensor.Float16))); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src.npy")
	npy.Save(src, tensor.FromSlice(vals, []int{len(vals)}))
	check := `
import sys, numpy as np
ours = np.load(sys.argv[1])
ref = np.load(sys.argv[2]).astype(np.float16)
assert ours.dtype == np.float16 and ours.shape == ref.shape
assert (ours.view(np.uint16) == ref.view(np.uint16)).all(), np.nonzero(ours.view(np.uint16) != ref.view(np.uint16))
`
	if out, err := exec.Command(py, "-c", check, p, src).CombinedOutput(); err != nil {
		t.Errorf("numpy disagrees with the float16 file: %v\n%s", err, out)
	}
}
