package npy_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

var (
	inf     = math.Inf(1)
	negZero = math.Copysign(0, -1)
)

// FuzzRead feeds arbitrary bytes to the .npy and .npz readers: they must
// return a tensor or an *npy.Error of a documented kind, never panic, and
// a tensor they return must survive Write and Read unchanged.
func FuzzRead(f *testing.F) {
	for _, x := range []*tensor.Tensor{
		tensor.Arange(0, 6, 1).Reshape(2, 3),
		tensor.Scalar(1, tensor.WithDType(tensor.Float64)),
		tensor.Zeros([]int{0, 3}),
	} {
		var b bytes.Buffer
		npy.Write(&b, x)
		f.Add(b.Bytes())
	}
	f.Add(npyBytes(2, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", 3, le64(1)))
	f.Add(npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1L,), }", 0, le32(1)))
	var z bytes.Buffer
	npy.WriteNPZ(&z, map[string]*tensor.Tensor{"a": tensor.Ones([]int{2})}, true)
	f.Add(z.Bytes())

	f.Fuzz(func(t *testing.T, data []byte) {
		typed := func(err error) {
			var e *npy.Error
			if !errors.As(err, &e) || !(errors.Is(err, npy.ErrFormat) || errors.Is(err, npy.ErrUnsupported)) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
		}
		x, err := npy.Read(bytes.NewReader(data))
		if err != nil {
			typed(err)
		} else {
			var b bytes.Buffer
			if err := npy.Write(&b, x); err != nil {
				t.Fatal(err)
			}
			y, err := npy.Read(&b)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, y, x)
		}
		m, err := npy.ReadNPZ(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			typed(err)
		}
		for _, v := range m {
			_ = v.Shape()
		}
	})
}
