package checkpoint_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tapegrad/tapegrad/checkpoint"
	"github.com/tapegrad/tapegrad/tensor"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.ckpt")

	w := tensor.Array([][]float32{{1, 2}, {3, 4}})
	b := tensor.Zeros([]int{2})
	ck := &checkpoint.Checkpoint{
		Tensors:  map[string]*tensor.Tensor{"w": w, "b": b},
		Metadata: map[string]string{"epoch": "7"},
	}
	// Optimiser state goes in as further named tensors.
	ck.Put("sgd/momentum", map[string]*tensor.Tensor{"w": tensor.Zeros([]int{2, 2}), "b": tensor.Zeros([]int{2})})
	if err := checkpoint.Save(path, ck); err != nil {
		panic(err)
	}

	// Resume: check the file against the parameters and take the loaded
	// values in their place.
	params := map[string]*tensor.Tensor{"w": w, "b": b}
	got, err := checkpoint.LoadLike(path, params)
	if err != nil {
		panic(err)
	}
	w, b = got.Tensors["w"], got.Tensors["b"]
	fmt.Println(w)
	fmt.Println(got.Metadata["epoch"], len(got.Prefixed("sgd/momentum")))
	// Output:
	// [[1 2]
	//  [3 4]]
	// 7 2
}
