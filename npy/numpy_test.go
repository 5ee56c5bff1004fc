package npy_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

// TestAgainstNumPy compares with files NumPy writes, when python3 (or the
// interpreter in TAPEGRAD_PYTHON) with NumPy is installed (it is not
// needed otherwise).
func TestAgainstNumPy(t *testing.T) {
	py := python()
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s cannot import numpy (%v); set TAPEGRAD_PYTHON to an interpreter that can; the byte-level tests against the format specification still ran", py, err)
	}
	dir := t.TempDir()
	script := `
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/f4_2x3.npy", np.arange(6, dtype="<f4").reshape(2, 3))
np.save(d + "/f8_0d.npy", np.array(2.5, dtype="<f8"))
np.save(d + "/f8_5.npy", np.array([1, -2, 3, np.inf, -0.0], dtype="<f8"))
np.save(d + "/f4_empty.npy", np.zeros((2, 0, 3), dtype="<f4"))
np.save(d + "/f4_15.npy", np.ones((1,) * 15, dtype="<f4"))
np.save(d + "/f8_big.npy", np.arange(6, dtype=">f8").reshape(3, 2))
np.save(d + "/f4_fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save(d + "/i8.npy", np.arange(3))
np.savez(d + "/a.npz", w=np.arange(6, dtype="<f4").reshape(2, 3), b=np.zeros(3))
np.savez_compressed(d + "/c.npz", w=np.arange(6, dtype="<f4").reshape(2, 3), b=np.zeros(3))
`
	if out, err := exec.Command(python(), "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	same := map[string]*tensor.Tensor{
		"f4_2x3.npy":   tensor.Arange(0, 6, 1).Reshape(2, 3),
		"f8_0d.npy":    tensor.Scalar(2.5, tensor.WithDType(tensor.Float64)),
		"f8_5.npy":     tensor.Array([]float64{1, -2, 3, inf, negZero}),
		"f4_empty.npy": tensor.Zeros([]int{2, 0, 3}),
		"f4_15.npy":    tensor.Ones(ones(15)),
	}
	for name, x := range same {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		npy.Write(&got, x)
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: Write differs from numpy.save:\n%q\n%q", name, got.Bytes(), want)
		}
		y, err := npy.Load(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, y, x)
	}
	y, err := npy.Load(filepath.Join(dir, "f8_big.npy"))
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, y, tensor.Arange(0, 6, 1, tensor.WithDType(tensor.Float64)).Reshape(3, 2))
	if _, err := npy.Load(filepath.Join(dir, "f4_fortran.npy")); !errors.Is(err, npy.ErrUnsupported) {
		t.Errorf("Fortran order: %v", err)
	}
	// int64 is supported (this check still expected ErrUnsupported from
	// before integer tensors existed; it runs only where numpy is
	// installed).
	if y, err := npy.Load(filepath.Join(dir, "i8.npy")); err != nil || y.DType() != tensor.Int64 || y.Ints()[2] != 2 {
		t.Errorf("int64: %v %v", y, err)
	}
	for _, name := range []string{"a.npz", "c.npz"} {
		m, err := npy.LoadNPZ(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, m["w"], tensor.Arange(0, 6, 1).Reshape(2, 3))
		sameBits(t, m["b"], tensor.Zeros([]int{3}, tensor.WithDType(tensor.Float64)))
	}
	// And NumPy reads what SaveNPZ writes.
	p := filepath.Join(dir, "ours.npz")
	npy.SaveNPZ(p, map[string]*tensor.Tensor{"x": tensor.Arange(0, 4, 1).Reshape(2, 2)})
	check := `
import sys, numpy as np
z = np.load(sys.argv[1])
assert list(z.keys()) == ["x"], z.keys()
assert z["x"].dtype == np.float32 and z["x"].shape == (2, 2)
assert (z["x"] == np.arange(4, dtype=np.float32).reshape(2, 2)).all()
`
	if out, err := exec.Command(python(), "-c", check, p).CombinedOutput(); err != nil {
		t.Errorf("numpy could not read SaveNPZ's file: %v\n%s", err, out)
	}
}

// python returns the interpreter for the NumPy comparisons: TAPEGRAD_PYTHON
// if set, else python3 on PATH.
func python() string {
	if p := strings.TrimSpace(os.Getenv("TAPEGRAD_PYTHON")); p != "" {
		return p
	}
	return "python3"
}
