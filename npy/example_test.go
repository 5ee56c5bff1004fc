package npy_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tapegrad/tapegrad/npy"
	"github.com/tapegrad/tapegrad/tensor"
)

func Example() {
	dir, _ := os.MkdirTemp("", "npy")
	defer os.RemoveAll(dir)

	// Save a tensor as NumPy would (np.load("w.npy") reads it back).
	w := tensor.Array([][]float32{{1, 2, 3}, {4, 5, 6}})
	path := filepath.Join(dir, "w.npy")
	if err := npy.Save(path, w); err != nil {
		panic(err)
	}
	v, err := npy.Load(path)
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Shape(), v.DType())
	fmt.Println(v)

	// Several named tensors in one .npz archive (np.savez).
	arch := filepath.Join(dir, "params.npz")
	if err := npy.SaveNPZ(arch, map[string]*tensor.Tensor{"w": w, "b": tensor.Zeros([]int{3})}); err != nil {
		panic(err)
	}
	m, err := npy.LoadNPZ(arch)
	if err != nil {
		panic(err)
	}
	fmt.Println(m["b"])
	// Output:
	// [2 3] float32
	// [[1 2 3]
	//  [4 5 6]]
	// [0 0 0]
}
