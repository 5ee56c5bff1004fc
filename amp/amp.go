// Package amp is automatic mixed precision, modelled on PyTorch's
// torch.autocast and torch.cuda.amp.GradScaler: [Autocast] runs a model's
// forward pass with its matrix products in a 16-bit float type and its
// precision-sensitive operations in float32, while the parameters, their
// gradients and the optimiser state stay float32 (master weights); a
// [GradScaler] scales the loss so that small float16 gradients do not
// flush to zero, and skips the steps whose gradients overflowed.
//
//	scaler := amp.NewGradScaler() // float16; bfloat16 needs none
//	for step := range steps {
//		var loss *tensor.Tensor
//		autograd.Record(func() {
//			amp.Autocast(tensor.Float16, func() {
//				loss = nn.CrossEntropy(model.Forward(x), y)
//			})
//			loss = scaler.Scale(loss)
//		})
//		loss.Backward()
//		scaler.Unscale(opt)               // before clipping, if any
//		optim.ClipGradNorm(opt.Params(), 1)
//		scaler.Step(opt)                  // skipped if a gradient is Inf or NaN
//		scaler.Update()
//		opt.ZeroGrad()
//	}
//
// # Autocast
//
// Inside Autocast(dt, fn), with dt BFloat16 or Float16, package tensor's
// operations choose their compute dtype from PyTorch's autocast op lists
// (the full rules are in package tensor's autocast.go and
// [tensor.Autocasting]):
//
//   - Half: MatMul, Conv2D and ScaledDotProductAttention cast their
//     Float32 operands to dt and return dt tensors; so do nn.Dense (whose
//     bias is added in dt, as PyTorch's linear), nn.Conv2D and
//     nn.MultiHeadAttention, which are made of them.
//   - Float32: Softmax, LogSoftmax, SoftmaxCrossEntropy, LayerNorm,
//     RMSNorm, Sum, Mean, Norm, CumSum, Exp, Log, Pow and the other
//     precision-sensitive pointwise functions, and package nn's losses,
//     cast half operands up to Float32 and return Float32 tensors.
//   - Promotion: elementwise operations on operands of different float
//     dtypes (a residual x + f(x) with x float32 and f(x) bfloat16, say)
//     compute in the wider dtype, as PyTorch's type promotion. Outside
//     autocast mixed dtypes remain tensor.ErrDType.
//   - Everything else (GELU, ReLU, reshapes, Embedding, ...) computes in
//     its operand's dtype.
//
// The casts are ordinary recorded AsType operations, whose backward casts
// the gradient back to the source dtype: a float32 parameter used by a
// bfloat16 product receives a float32 gradient. Backward passes ignore
// the autocast state (they run in the dtypes the forward pass chose), so
// calling Backward inside or outside the scope gives the same result;
// PyTorch's advice to call it outside holds here too. Casts are not
// cached: a parameter used twice in one forward pass is cast twice
// (PyTorch caches these weight casts per scope; this is a possible
// optimisation, not a difference in values).
//
// Autocast is a scope like autograd.Record: it belongs to the calling
// goroutine, nests (the inner scope's dtype wins; [Disable] turns it off
// for a block), composes with Record, Pause, TrainMode and the others in
// any order, and is carried to other goroutines by autograd.Go and
// autograd.Capture like the rest of the goroutine's state. Other
// goroutines are unaffected.
//
// bfloat16 has float32's exponent range, so bfloat16 autocast needs no
// loss scaling. float16 overflows above 65504 and flushes gradients below
// about 6e-8 to zero; use a GradScaler with it.
//
// On the CPU the half types compute in float32 (elementwise operations and
// reductions convert block by block in their kernels, the others convert
// whole operands to float32 and back), so autocast saves little or no time
// there: it reproduces the numerics of mixed-precision training. On CUDA
// the half types are stored and converted on the device, matrix products
// in them go through cuBLAS's GemmEx (half inputs, float32 accumulation,
// tensor cores), elementwise operations and reductions have half kernels
// of their own, and the other operations compute in float32 scratch
// buffers (device.WithHalf); none of it has run on a GPU yet.
//
// # Casts of parameters
//
// As in PyTorch, an autocast region casts each parameter (a Float32 tensor
// with a gradient attached) to the half type once, however many half
// operations use it: a weight shared by several layers or used at every
// step of a recurrent loop is cast once, and one gradient flows back
// through that cast (summed over the uses in the half type). The cache
// belongs to the outermost Autocast call of the goroutine and ends with
// it; a parameter written in place inside the region (an optimiser step)
// and a cast whose graph a backward pass freed are cast again at their
// next use.
//
// # Cost outside autocast
//
// The half operations read the goroutine's autocast state on every call:
// one atomic load while no goroutine anywhere autocasts, a map look-up
// (about 10 ns) while one does. The float32 operations and the
// elementwise promotion read it only for half operands or mixed dtypes,
// so float32 code outside autocast pays nothing there.
package amp

import (
	"fmt"

	"github.com/tapegrad/tapegrad/internal/mode"
	"github.com/tapegrad/tapegrad/tensor"
)

// Autocast runs fn with the calling goroutine autocasting to dt
// (tensor.BFloat16 or tensor.Float16; anything else panics with a
// *tensor.Error of kind ErrDType), then restores the goroutine's previous
// state, also on panic. Other parts of the state (recording, training
// mode, anomaly detection) are kept. The outermost Autocast of a goroutine
// keeps the region's casts of parameters (see "Casts of parameters").
func Autocast(dt tensor.DType, fn func()) {
	var bit mode.State
	switch dt {
	case tensor.BFloat16:
		bit = mode.AutocastBF16
	case tensor.Float16:
		bit = mode.AutocastF16
	default:
		panic(&tensor.Error{Kind: tensor.ErrDType, Op: "Autocast", DTypes: []tensor.DType{dt},
			Detail: fmt.Sprintf("autocast to %v; it casts to bfloat16 or float16", dt)})
	}
	prev := mode.Current()
	defer mode.Exit(mode.Enter(prev&^mode.AutocastBits | bit))
	if prev&mode.AutocastBits == 0 {
		// The outermost autocast region starts with an empty cast cache
		// (package tensor's, in the goroutine's mode slot) and drops it
		// on exit.
		defer mode.SetSlot(mode.SetSlot(nil))
	}
	fn()
}

// Disable runs fn with autocast off in the calling goroutine (PyTorch's
// autocast(enabled=False)), for a region that must compute in its
// operands' dtypes inside an autocast scope; then restores the previous
// state. Cast half tensors made by the enclosing scope to Float32 with
// AsType where the region needs float32.
func Disable(fn func()) {
	defer mode.Exit(mode.Enter(mode.Current() &^ mode.AutocastBits))
	fn()
}

// Enabled reports whether the calling goroutine autocasts, and to which
// dtype (tensor.Autocasting).
func Enabled() (tensor.DType, bool) { return tensor.Autocasting() }
