package data_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/tensor"
)

func TestTensorsDataset(t *testing.T) {
	x := tensor.Arange(0, 20, 1, tensor.WithDType(tensor.Float64)).Reshape(10, 2)
	y := tensor.Arange(100, 110, 1, tensor.WithDType(tensor.Int64))
	d := data.NewTensors(x, y)
	if d.Len() != 10 {
		t.Fatalf("Len %d", d.Len())
	}
	for _, shuffle := range []bool{false, true} {
		var seen []int64
		sizes := []int{}
		for b := range d.Batches(4, shuffle, 7) {
			bx, by := b[0], b[1]
			if by.DType() != tensor.Int64 || bx.DType() != tensor.Float64 {
				t.Fatalf("dtypes %v %v", bx.DType(), by.DType())
			}
			xs, ys := bx.Float64s(), by.Int64s()
			for j, l := range ys {
				// Row l-100 of x is (2(l-100), 2(l-100)+1): rows stay paired.
				if xs[2*j] != float64(2*(l-100)) || xs[2*j+1] != float64(2*(l-100)+1) {
					t.Fatalf("row %d: x %v, label %d", j, xs[2*j:2*j+2], l)
				}
			}
			seen = append(seen, ys...)
			sizes = append(sizes, len(ys))
		}
		if !slices.Equal(sizes, []int{4, 4, 2}) {
			t.Errorf("shuffle %v: batch sizes %v", shuffle, sizes)
		}
		sorted := slices.Clone(seen)
		slices.Sort(sorted)
		if !slices.Equal(sorted, []int64{100, 101, 102, 103, 104, 105, 106, 107, 108, 109}) {
			t.Errorf("shuffle %v: examples %v", shuffle, seen)
		}
		if shuffle {
			perm := data.Permutation(10, 7)
			for i, v := range seen {
				if v != int64(100+perm[i]) {
					t.Fatalf("order %v, want the permutation %v", seen, perm)
				}
			}
		}
	}
	n := 0
	for range d.Batches(4, true, 1, data.DropLast()) {
		n++
	}
	if n != 2 {
		t.Errorf("DropLast: %d batches", n)
	}
	for name, f := range map[string]func(){
		"no tensors": func() { data.NewTensors() },
		"mismatch":   func() { data.NewTensors(x, y.Slice(0, 0, 3)) },
		"0-d":        func() { data.NewTensors(tensor.Scalar(1)) },
		"batch 0":    func() { d.Batches(0, false, 0) },
	} {
		func() {
			defer func() {
				var e *tensor.Error
				if err, _ := recover().(error); !errors.As(err, &e) {
					t.Errorf("%s: %v, want a *tensor.Error", name, err)
				}
			}()
			f()
		}()
	}
}
