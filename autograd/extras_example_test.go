package autograd_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/tensor"
)

// A log-sum-exp with its own backward rule: stable in the forward pass, and
// differentiable twice because the rule is written with tensor operations
// on the inputs.
func ExampleFunction() {
	logSumExp := &autograd.Function{
		Name: "LogSumExp",
		Forward: func(ctx *autograd.FunctionContext, in []*tensor.Tensor) *tensor.Tensor {
			m := in[0].Max()
			return in[0].Sub(m).Exp().Sum().Log().Add(m)
		},
		Backward: func(ctx *autograd.FunctionContext, g *tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{ctx.Inputs()[0].Softmax(0).Mul(g)}
		},
	}
	x := tensor.Array([]float64{1000, 1000, 1000, 1000})
	x.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = logSumExp.Apply(x) })
	y.Backward()
	fmt.Printf("%.4f\n", y.Item())
	fmt.Println(x.Grad())

	err := autograd.CheckGrad(func(xs []*tensor.Tensor) *tensor.Tensor { return logSumExp.Apply(xs[0]) },
		[]*tensor.Tensor{tensor.Array([]float64{0.5, -1, 2})}, autograd.CheckOptions{})
	fmt.Println("gradient check:", err)
	// Output:
	// 1001.3863
	// [0.25 0.25 0.25 0.25]
	// gradient check: <nil>
}

// The second derivative of x³ is 6x: differentiate a gradient computed with
// CreateGraph.
func ExampleGrad_secondDerivative() {
	x := tensor.Array([]float64{1, 2, 3})
	x.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = x.PowScalar(3).Sum() })
	dy := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, autograd.CreateGraph())[0]
	var s *tensor.Tensor
	autograd.Record(func() { s = dy.Sum() })
	d2y := autograd.Grad([]*tensor.Tensor{s}, []*tensor.Tensor{x})[0]
	fmt.Println(dy)
	fmt.Println(d2y)
	// Output:
	// [ 3 12 27]
	// [ 6 12 18]
}

// A hook clips the gradient flowing into a parameter; RetainGrad keeps the
// gradient of an intermediate result.
func Example_hooks() {
	w := tensor.Array([]float64{1, 2, 3})
	w.AttachGrad()
	w.RegisterHook(func(g *tensor.Tensor) *tensor.Tensor { return g.MinimumScalar(10).MaximumScalar(-10) })
	var h, loss *tensor.Tensor
	autograd.Record(func() {
		h = w.MulScalar(4)
		h.RetainGrad()
		loss = h.Square().Sum()
	})
	loss.Backward()
	fmt.Println("dloss/dh:", h.Grad())
	fmt.Println("dloss/dw clipped:", w.Grad())
	// Output:
	// dloss/dh: [ 8 16 24]
	// dloss/dw clipped: [10 10 10]
}

// Anomaly detection names the operation that produced the first NaN or
// infinity and where it was recorded.
func ExampleDetectAnomaly() {
	x := tensor.Array([]float64{0, 1})
	x.AttachGrad()
	err := tensor.Maybe(func() {
		autograd.DetectAnomaly(func() {
			var y *tensor.Tensor
			autograd.Record(func() { y = x.Sqrt().Sum() })
			y.Backward()
		})
	})
	fmt.Println(errors.Is(err, tensor.ErrAnomaly))
	// Output:
	// true
}

// The recorded graph in Graphviz DOT.
func ExampleWriteDOT() {
	x := tensor.Array([]float32{1, 2})
	x.AttachGrad()
	var y *tensor.Tensor
	autograd.Record(func() { y = x.MulScalar(2).Mul(x).Sum() })
	_ = autograd.WriteDOT(os.Stdout, y)
	// Output:
	// digraph tapegrad {
	//   rankdir=BT;
	//   node [fontname="Helvetica", fontsize=10];
	//   leaf0 [shape=ellipse, label="leaf\n[2] float32\ncpu"];
	//   op0 [shape=box, label="MulScalar\n[2] float32\ncpu"];
	//   op1 [shape=box, label="Mul\n[2] float32\ncpu"];
	//   op2 [shape=box, label="Sum\n[] float32\ncpu"];
	//   leaf0 -> op0 [label="0"];
	//   op0 -> op1 [label="0"];
	//   leaf0 -> op1 [label="1"];
	//   op1 -> op2 [label="0"];
	// }
}
