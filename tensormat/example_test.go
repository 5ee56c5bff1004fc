package tensormat_test

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/tapegrad/tapegrad/tensor"
	"github.com/tapegrad/tapegrad/tensormat"
)

func ExampleToDense() {
	x := tensor.Array([][]float32{{1, 2, 3}, {4, 5, 6}})
	m, err := tensormat.ToDense(x.T()) // any layout; a float64 copy
	if err != nil {
		panic(err)
	}
	fmt.Printf("%v\n", mat.Formatted(m))

	_, err = tensormat.ToDense(tensor.Ones([]int{3}))
	fmt.Println(err)
	// Output:
	// ⎡1  4⎤
	// ⎢2  5⎥
	// ⎣3  6⎦
	// tensor: tensormat.ToDense: shape mismatch: want a rank-2 tensor, got rank 1 (shapes [3]; dtypes float32)
}

func ExampleFromDense() {
	m := mat.NewDense(2, 2, []float64{1, 2, 3, 4})
	x := tensormat.FromDense(m) // a Float64 copy on the default device
	fmt.Println(x.DType(), x.Shape())
	fmt.Println(x.MatMul(x))

	v := tensormat.FromVecDense(mat.NewVecDense(2, []float64{1, -1}), tensor.WithDType(tensor.Float32))
	fmt.Println(v.DType(), v)
	// Output:
	// float64 [2 2]
	// [[ 7 10]
	//  [15 22]]
	// float32 [ 1 -1]
}
