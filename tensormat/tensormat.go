// Package tensormat converts between tapegrad tensors and gonum's
// matrices and vectors (gonum.org/v1/gonum/mat): a rank-2 tensor and a
// *mat.Dense, a rank-1 tensor and a *mat.VecDense.
//
// Every conversion copies: the result never shares memory with its source,
// so later changes to one (a gonum matrix written in place, a tensor's
// device buffer reused) never show in the other. gonum's matrices hold
// float64: float32 tensors are converted exactly on the way to gonum, and
// tensors made from gonum values are Float64 unless tensor.WithDType asks
// for Float32 (which rounds).
//
// It is a package of its own, not part of package tensor, so that programs
// that do not use gonum's mat (and its LAPACK dependencies) do not link
// it. Following the convention for functions outside package tensor,
// conversions that can fail on their input return an error instead of
// panicking: the error is a *tensor.Error whose kind (tensor.ErrShape for a
// rank mismatch) errors.Is matches. Conversions from gonum cannot fail on
// their input; their tensor options behave as in the tensor constructors
// (an unavailable device panics with a *tensor.Error).
package tensormat

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/tapegrad/tapegrad/tensor"
)

// FromDense returns a new r×c tensor holding a copy of m's elements, on
// the device and with the dtype that opts select (default Float64). A nil
// or empty (zero-value) matrix gives a 0×0 tensor.
func FromDense(m *mat.Dense, opts ...tensor.Option) *tensor.Tensor {
	if m == nil || m.IsEmpty() {
		return tensor.FromSlice([]float64{}, []int{0, 0}, opts...)
	}
	raw := m.RawMatrix()
	data := make([]float64, raw.Rows*raw.Cols)
	for i := 0; i < raw.Rows; i++ {
		copy(data[i*raw.Cols:(i+1)*raw.Cols], raw.Data[i*raw.Stride:i*raw.Stride+raw.Cols])
	}
	return tensor.FromSlice(data, []int{raw.Rows, raw.Cols}, opts...)
}

// FromVecDense returns a new rank-1 tensor holding a copy of v's elements
// (see [FromDense] for opts). A nil or empty vector gives a tensor of
// shape (0).
func FromVecDense(v *mat.VecDense, opts ...tensor.Option) *tensor.Tensor {
	if v == nil || v.IsEmpty() {
		return tensor.FromSlice([]float64{}, []int{0}, opts...)
	}
	raw := v.RawVector()
	data := make([]float64, raw.N)
	for i := range data {
		data[i] = raw.Data[i*raw.Inc]
	}
	return tensor.FromSlice(data, []int{raw.N}, opts...)
}

// ToDense returns a new *mat.Dense holding a copy of the rank-2 tensor t's
// elements as float64 (from any device and any layout). A tensor of
// another rank, or with a zero dimension (gonum has no such matrices),
// gives a *tensor.Error of kind tensor.ErrShape.
func ToDense(t *tensor.Tensor) (*mat.Dense, error) {
	const op = "tensormat.ToDense"
	if t.Rank() != 2 {
		return nil, shapeErr(op, t, fmt.Sprintf("want a rank-2 tensor, got rank %d", t.Rank()))
	}
	sh := t.Shape()
	if sh[0] == 0 || sh[1] == 0 {
		return nil, shapeErr(op, t, "gonum's mat.Dense cannot have a zero dimension")
	}
	data, err := float64s(t)
	if err != nil {
		return nil, err
	}
	return mat.NewDense(sh[0], sh[1], data), nil
}

// ToVecDense returns a new *mat.VecDense holding a copy of the rank-1
// tensor t's elements as float64. A tensor of another rank, or of length
// 0, gives a *tensor.Error of kind tensor.ErrShape.
func ToVecDense(t *tensor.Tensor) (*mat.VecDense, error) {
	const op = "tensormat.ToVecDense"
	if t.Rank() != 1 {
		return nil, shapeErr(op, t, fmt.Sprintf("want a rank-1 tensor, got rank %d", t.Rank()))
	}
	if t.Size() == 0 {
		return nil, shapeErr(op, t, "gonum's mat.VecDense cannot have length 0")
	}
	data, err := float64s(t)
	if err != nil {
		return nil, err
	}
	return mat.NewVecDense(len(data), data), nil
}

func shapeErr(op string, t *tensor.Tensor, detail string) error {
	return &tensor.Error{Kind: tensor.ErrShape, Op: op, Detail: detail,
		Shapes: [][]int{t.Shape()}, DTypes: []tensor.DType{t.DType()}}
}

// float64s copies t's elements to the host, returning the *tensor.Error a
// released tensor or a device failure gives.
func float64s(t *tensor.Tensor) (data []float64, err error) {
	err = tensor.Maybe(func() { data = t.Float64s() })
	return data, err
}
