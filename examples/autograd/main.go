// Command autograd runs the MXNet autograd walk-through with tapegrad: the
// gradient of y = 2x², then the gradient of a function with data-dependent
// control flow. It runs on the device named by -device, else on the default
// device (TAPEGRAD_DEVICE, else a GPU when the binary is built with -tags
// cuda and one is present, else the CPU). A device name other than cpu,
// cuda or cuda:N, or a device this binary or machine lacks, is reported in
// one line and the exit status is 2.
//
//	go run ./examples/autograd
//	go run ./examples/autograd -device cpu
package main

import (
	"flag"
	"fmt"
	"os"

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

var deviceFlag = flag.String("device", "", "device to run on: cpu, cuda or cuda:N (default: TAPEGRAD_DEVICE, else a GPU if present, else cpu)")

func main() {
	flag.Parse()
	d, err := device.Select(*deviceFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "autograd:", err)
		os.Exit(2)
	}
	on := tensor.On(d)
	fmt.Println("device:", d)

	x := tensor.Array([][]float32{{1, 2}, {3, 4}}, on)
	fmt.Println("x =")
	fmt.Println(x)
	x.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = x.MulScalar(2).Mul(x) })
	y.Backward()
	fmt.Println("dy/dx for y = 2x² (expect 4x) =")
	fmt.Println(x.Grad())

	a := tensor.RandUniform(0, 1, []int{2}, on)
	a.AttachGrad()
	var c *tensor.Tensor
	autograd.Record(func() { c = f(a) })
	c.Backward()
	fmt.Println("a =", a)
	fmt.Println("dc/da =", a.Grad())
	fmt.Println("c/a =", c.Div(a))
	// c is linear in a along the path that was taken: c = k·a[i] for the
	// element i that f picked (k = 2^n), so dc/da is k at i and 0 elsewhere,
	// and only at i does c/a equal the gradient; the other element of c/a
	// divides c by an element that c does not depend on.
	fmt.Println("(dc/da equals c/a only at the element f picked; c does not depend on the other)")
}
