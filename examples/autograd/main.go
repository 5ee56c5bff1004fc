// Command autograd runs the MXNet autograd walk-through with tapegrad: the
// gradient of y = 2x², then the gradient of a function with data-dependent
// control flow. It runs on the default device (TAPEGRAD_DEVICE, else a GPU
// when the binary is built with -tags cuda and one is present, else the
// CPU).
//
//	go run ./examples/autograd
package main

import (
	"fmt"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// f doubles a until its L2 norm reaches 1000, then picks element 0 or 1 by
// the sign of the sum.
func f(a *tensor.Tensor) *tensor.Tensor {
	b := a.MulScalar(2)
	for b.Norm().Item() < 1000 {
		b = b.MulScalar(2)
	}
	if b.Sum().Item() >= 0 {
		return b.Index(0)
	}
	return b.Index(1)
}

func main() {
	fmt.Println("device:", device.Default())

	x := tensor.Array([][]float32{{1, 2}, {3, 4}})
	fmt.Println("x =")
	fmt.Println(x)
	x.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = x.MulScalar(2).Mul(x) })
	y.Backward()
	fmt.Println("dy/dx for y = 2x² (expect 4x) =")
	fmt.Println(x.Grad())

	a := tensor.RandUniform(0, 1, []int{2})
	a.AttachGrad()
	var c *tensor.Tensor
	autograd.Record(func() { c = f(a) })
	c.Backward()
	fmt.Println("a =", a)
	fmt.Println("dc/da =", a.Grad())
	fmt.Println("c/a =", c.Div(a))
}
