package optim

import (
	"fmt"
	"math"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// grads returns the gradients of the parameters that have one, after
// checking that the calling goroutine does not record: the gradient
// buffers are updated in place, which is not recorded.
func grads(op string, params []*tensor.Tensor) []*tensor.Tensor {
	if autograd.IsRecording() {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op,
			Detail: "gradients are clipped in place, which is not recorded; call outside autograd.Record"})
	}
	var gs []*tensor.Tensor
	for _, p := range params {
		if g := p.Grad(); g != nil {
			gs = append(gs, g)
		}
	}
	return gs
}

// ClipGradNorm scales the gradients of params in place so that their
// global L2 norm (the norm of all their elements together, as if
// concatenated) is at most maxNorm, as PyTorch's clip_grad_norm_ does, and
// returns the norm they had before.
//
// When the norm exceeds maxNorm every gradient is multiplied by
// maxNorm/(norm + 1e-6), all of them or none (tensor.AssignAll); otherwise
// they are left as they are. (PyTorch multiplies by that factor clamped to
// 1, which also shrinks gradients whose norm is within 1e-6 of maxNorm by
// less than 1e-6/maxNorm.) Parameters without a gradient are skipped; with
// none the norm is 0.
//
// A norm that is not finite (a NaN or infinite gradient element) is
// returned and nothing is scaled. PyTorch's default scales anyway, which
// turns the gradients into zeros and NaNs, and its error_if_nonfinite
// makes it an error; here the caller decides, typically skipping the
// optimiser step as mixed-precision loss scaling does:
//
//	if n := optim.ClipGradNorm(params, 1); math.IsNaN(n) || math.IsInf(n, 0) {
//		opt.ZeroGrad() // skip this batch
//	} else {
//		opt.Step()
//	}
//
// maxNorm must not be negative or NaN, and the calling goroutine must not
// record (both ErrArgument). The norm is read back to the host once per
// device and dtype among the gradients.
func ClipGradNorm(params []*tensor.Tensor, maxNorm float64) (totalNorm float64) {
	const op = "ClipGradNorm"
	if !(maxNorm >= 0) {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("maxNorm %v; it must not be negative", maxNorm)})
	}
	gs := grads(op, params)
	if len(gs) == 0 {
		return 0
	}
	// The norm of each gradient, then the norm of those norms per device
	// and dtype (one read back each), then across groups on the host with
	// Hypot (no overflow of the squares).
	type key struct {
		dev device.Device
		dt  tensor.DType
	}
	var order []key
	norms := map[key][]*tensor.Tensor{}
	for _, g := range gs {
		k := key{g.Device(), g.DType()}
		if _, ok := norms[k]; !ok {
			order = append(order, k)
		}
		norms[k] = append(norms[k], g.Norm())
	}
	for _, k := range order {
		totalNorm = math.Hypot(totalNorm, tensor.Stack(norms[k], 0).Norm().Item())
	}
	if !(totalNorm > maxNorm) || math.IsInf(totalNorm, 1) {
		return totalNorm // within bounds, or NaN or infinite
	}
	coef := maxNorm / (totalNorm + 1e-6)
	scaled := make([]*tensor.Tensor, len(gs))
	for i, g := range gs {
		scaled[i] = g.MulScalar(coef)
	}
	tensor.AssignAll(gs, scaled)
	return totalNorm
}

// ClipGradValue limits every gradient element of params to [−clip, clip]
// in place, as PyTorch's clip_grad_value_. NaN elements stay NaN
// (tensor.Clip). Parameters without a gradient are skipped; the update is
// all-or-nothing (tensor.AssignAll). clip must not be negative or NaN, and
// the calling goroutine must not record (both ErrArgument).
func ClipGradValue(params []*tensor.Tensor, clip float64) {
	const op = "ClipGradValue"
	if !(clip >= 0) {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("clip %v; it must not be negative", clip)})
	}
	gs := grads(op, params)
	if len(gs) == 0 || math.IsInf(clip, 1) {
		return
	}
	clipped := make([]*tensor.Tensor, len(gs))
	for i, g := range gs {
		clipped[i] = g.Clip(-clip, clip)
	}
	tensor.AssignAll(gs, clipped)
}
