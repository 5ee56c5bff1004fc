package tensormat_test

import (
	"errors"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/tapegrad/tapegrad/tensor"
	"github.com/tapegrad/tapegrad/tensormat"
)

func TestDenseRoundTrip(t *testing.T) {
	m := mat.NewDense(3, 4, nil)
	for i := 0; i < 3; i++ {
		for j := 0; j < 4; j++ {
			m.Set(i, j, float64(10*i+j)+0.125)
		}
	}
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		x := tensormat.FromDense(m, tensor.WithDType(dt))
		if x.DType() != dt || x.Rank() != 2 || x.Shape()[0] != 3 || x.Shape()[1] != 4 {
			t.Fatalf("%v %v", x.DType(), x.Shape())
		}
		back, err := tensormat.ToDense(x)
		if err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(back, m) {
			t.Fatalf("%v: round trip gave\n%v", dt, mat.Formatted(back))
		}
	}
	// A view of a larger matrix (stride > columns) and a transposed tensor.
	sub := m.Slice(1, 3, 1, 3).(*mat.Dense)
	x := tensormat.FromDense(sub)
	if got, want := x.Float64s(), []float64{11.125, 12.125, 21.125, 22.125}; !slices.Equal(got, want) {
		t.Fatalf("slice: %v, want %v", got, want)
	}
	tt, err := tensormat.ToDense(x.T())
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(tt, sub.T()) {
		t.Fatalf("transpose:\n%v", mat.Formatted(tt))
	}
}

func TestCopies(t *testing.T) {
	m := mat.NewDense(2, 2, []float64{1, 2, 3, 4})
	x := tensormat.FromDense(m)
	m.Set(0, 0, 100)
	if x.Float64s()[0] != 1 {
		t.Fatal("FromDense shares memory with the matrix")
	}
	y := tensor.Array([]float64{1, 2, 3})
	v, err := tensormat.ToVecDense(y)
	if err != nil {
		t.Fatal(err)
	}
	v.SetVec(0, 100)
	if y.Float64s()[0] != 1 {
		t.Fatal("ToVecDense shares memory with the tensor")
	}
}

func TestVecDense(t *testing.T) {
	// A strided vector: a column of a matrix.
	m := mat.NewDense(3, 2, []float64{1, 2, 3, 4, 5, 6})
	col := m.ColView(1).(*mat.VecDense)
	x := tensormat.FromVecDense(col, tensor.WithDType(tensor.Float32))
	if x.DType() != tensor.Float32 || !slices.Equal(x.Float64s(), []float64{2, 4, 6}) {
		t.Fatalf("%v %v", x.DType(), x)
	}
	v, err := tensormat.ToVecDense(x)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(v, col) {
		t.Fatalf("%v", mat.Formatted(v))
	}
	if x := tensormat.FromVecDense(&mat.VecDense{}); x.Rank() != 1 || x.Size() != 0 {
		t.Fatalf("empty vector: %v", x.Shape())
	}
	if x := tensormat.FromDense(&mat.Dense{}); x.Rank() != 2 || x.Size() != 0 {
		t.Fatalf("empty matrix: %v", x.Shape())
	}
}

func TestErrors(t *testing.T) {
	check := func(err error, kind error) {
		t.Helper()
		var te *tensor.Error
		if !errors.As(err, &te) || !errors.Is(err, kind) {
			t.Fatalf("error %v, want a *tensor.Error of kind %v", err, kind)
		}
	}
	for _, x := range []*tensor.Tensor{tensor.Scalar(1), tensor.Ones([]int{3}), tensor.Ones([]int{2, 2, 2}), tensor.Zeros([]int{0, 3})} {
		_, err := tensormat.ToDense(x)
		check(err, tensor.ErrShape)
	}
	for _, x := range []*tensor.Tensor{tensor.Scalar(1), tensor.Ones([]int{1, 3}), tensor.Zeros([]int{0})} {
		_, err := tensormat.ToVecDense(x)
		check(err, tensor.ErrShape)
	}
	r := tensor.Ones([]int{256, 256})
	r.Release()
	_, err := tensormat.ToDense(r)
	check(err, tensor.ErrReleased)
}
