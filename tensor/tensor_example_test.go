package tensor_test

import (
	"errors"
	"fmt"

	"github.com/tapegrad/tapegrad/tensor"
)

func ExampleArray() {
	x := tensor.Array([][]float32{{1, 2}, {3, 4}})
	fmt.Println(x)
	fmt.Println(x.Shape(), x.DType(), x.Device())
	y := tensor.Array([]float64{0.5, -1})
	fmt.Println(y, y.DType())
	// Output:
	// [[1 2]
	//  [3 4]]
	// [2 2] float32 cpu
	// [0.5  -1] float64
}

func ExampleTensor_Add() {
	// NumPy broadcasting: a column against a row.
	col := tensor.Array([][]float32{{0}, {10}, {20}})
	row := tensor.Array([]float32{1, 2, 3})
	fmt.Println(col.Add(row))
	fmt.Println(row.MulScalar(2).Sub(tensor.Scalar(1)))
	// Output:
	// [[ 1  2  3]
	//  [11 12 13]
	//  [21 22 23]]
	// [1 3 5]
}

func ExampleTensor_Sum() {
	x := tensor.Arange(0, 6, 1).Reshape(2, 3)
	fmt.Println(x)
	fmt.Println(x.Sum())
	fmt.Println(x.Sum(0))
	fmt.Println(x.Mean(-1))
	fmt.Println(x.SumKeepDims(1))
	fmt.Println(x.Max(1), x.Norm())
	// Output:
	// [[0 1 2]
	//  [3 4 5]]
	// 15
	// [3 5 7]
	// [1 4]
	// [[ 3]
	//  [12]]
	// [2 5] 7.4162
}

func ExampleTensor_MatMul() {
	a := tensor.Array([][]float64{{1, 2}, {3, 4}})
	b := tensor.Array([][]float64{{5, 6}, {7, 8}})
	fmt.Println(a.MatMul(b))
	v := tensor.Array([]float64{1, 1})
	fmt.Println(a.MatMul(v)) // matrix · vector
	fmt.Println(v.MatMul(v)) // dot product
	// A batch of two matrices times one matrix.
	batch := tensor.Stack([]*tensor.Tensor{a, b}, 0)
	fmt.Println(batch.MatMul(a.T()).Shape())
	// Output:
	// [[19 22]
	//  [43 50]]
	// [3 7]
	// 2
	// [2 2 2]
}

func ExampleTensor_Reshape() {
	x := tensor.Arange(0, 6, 1)
	m := x.Reshape(2, -1) // a view: no copy
	fmt.Println(m)
	fmt.Println(m.T()) // a transposed view
	fmt.Println(m.T().Reshape(6))
	fmt.Println(m.Transpose(1, 0).Index(-1), m.Slice(1, 1, 3))
	// Output:
	// [[0 1 2]
	//  [3 4 5]]
	// [[0 3]
	//  [1 4]
	//  [2 5]]
	// [0 3 1 4 2 5]
	// [2 5] [[1 2]
	//  [4 5]]
}

func ExampleMaybe() {
	a := tensor.Zeros([]int{2, 3})
	b := tensor.Zeros([]int{4})
	// Operations panic on misuse; Maybe turns the panic into an error.
	err := tensor.Maybe(func() { a.Add(b) })
	fmt.Println(err)
	fmt.Println(errors.Is(err, tensor.ErrShape))
	var te *tensor.Error
	if errors.As(err, &te) {
		fmt.Println(te.Op, te.Shapes)
	}
	// Output:
	// tensor: Add: shape mismatch: cannot broadcast: axis -1 has lengths 3 and 4 (shapes [2 3], [4]; dtypes float32, float32; devices cpu, cpu)
	// true
	// Add [[2 3] [4]]
}
