// Package tensor provides Tensor, an n-dimensional array of float32,
// float64, bfloat16, float16 or integers on a device (the CPU or a CUDA
// GPU), its operations, and the reverse-mode automatic differentiation
// engine behind package autograd.
//
// # NaN and infinity
//
// Arithmetic is IEEE 754 arithmetic in the tensor's dtype, as Go's float32
// and float64 do it, on every device (for [BFloat16] and [Float16], in
// float32, each result rounded once to the dtype; see [BFloat16]). Nothing traps and nothing is
// checked: NaN and ±Inf flow through operations as values, without errors
// or warnings.
//
//   - Division and products: 1/0 = +Inf, −1/0 = −Inf, 0/0 = NaN,
//     Inf − Inf = NaN, 0·Inf = NaN; Recip(±0) = ±Inf.
//   - Log(0) = −Inf (also for −0), Log(x < 0) = NaN, Log(+Inf) = +Inf.
//     Sqrt(x < 0) = NaN, Sqrt(−0) = −0.
//   - Exp overflows to +Inf (above about 88.72 for float32, 709.78 for
//     float64) and underflows to 0. Sigmoid and Tanh saturate to exactly
//     0 and 1, and −1 and 1, also at ±Inf, never NaN; so do their
//     gradients, to 0.
//   - Pow and PowScalar follow Go's math.Pow (C99's pow, as NumPy):
//     x⁰ = 1 and 1ʸ = 1 even for NaN, 0⁻¹ = +Inf, (−8)^(1/3) = NaN,
//     (−1)^±Inf = 1. Float32 results are math.Pow's rounded.
//   - Sin and Cos of ±Inf are NaN. Abs(−0) = +0; Sign keeps NaN and ±0;
//     ReLU(NaN) = NaN.
//   - Comparisons with NaN are false (0), except Ne, which is true (1).
//     Where takes a NaN condition as true: it tests cond != 0.
//   - Maximum, Minimum, MaximumScalar, MinimumScalar and the reductions
//     Max and Min propagate NaN, as NumPy's maximum and max do (not fmax
//     or nanmax). ArgMax and ArgMin return the index of the first NaN if
//     there is one, as NumPy's argmax.
//   - Sum and Mean propagate NaN, and +Inf with −Inf gives NaN. Norm is
//     NaN if any element is NaN, else +Inf if any is infinite. Float32
//     reductions accumulate in float64, so a float32 Norm overflows only
//     when its result does; float64 squares can overflow (Norm of 1e200 is
//     +Inf). Over zero elements Sum is 0 and Mean is NaN (0/0); Max and
//     Min panic with ErrShape. CumSum is NaN from the first NaN of a line
//     on (and from where +Inf and −Inf have both been added), and sums
//     float32 data in float64 too.
//   - MatMul: every entry is the IEEE sum of its products, so a NaN poisons
//     its row or column of the result, and a product 0·Inf or 0·NaN makes
//     its entry NaN on every device. (BLAS GEMMs skip zeros, which would
//     hide such terms; the CPU backend corrects for it.)
//   - Shape operations, copies (Clone, Contiguous, To) and the file
//     formats of packages npy and checkpoint carry values bit for bit,
//     −0 and NaN included. AsType to Float32 rounds values beyond
//     float32's range to ±Inf.
//   - Full, Scalar, FromSlice and Array accept NaN and ±Inf; Arange
//     rejects them as bounds (ErrArgument). String prints nan, inf and
//     -inf, as NumPy.
//
// Gradients follow the same arithmetic: a derivative that is infinite at
// a pole is infinite (Log, Sqrt and Recip at 0 give ±Inf), and a NaN in a
// head gradient reaches exactly the elements that depend on it (through a
// Sum, all of them). A scale of 0 times an infinite gradient is NaN. Some
// rules take a value where the derivative is undefined:
//
//   - ReLU's gradient is g where x > 0, else 0: 0 at NaN.
//   - Maximum and Minimum give the whole gradient to the other operand
//     where one is NaN (neither wins), half to each on ties.
//   - Max and Min share the gradient among the elements equal to the
//     result; a slice containing NaN has none, and its gradient is NaN.
//   - Pow's gradient with respect to the exponent, aᵇ·ln a, is taken as 0
//     where a = 0; Norm's gradient at a zero norm is 0.
//
// The Where trap: Where(cond, f(x), y) still differentiates f at every
// element. Where cond is false, f's backward rule receives a zero
// gradient, and 0 times an infinite derivative is NaN: the gradient of
// Where(x.GtScalar(0), x.Log(), zeros) at x = 0 is NaN, as in PyTorch and
// JAX. Make the argument safe instead: compute
// Where(c, Where(c, x, ones).Log(), zeros).
//
// To find NaNs, compare a tensor with itself: x.Ne(x).Sum().Item() counts
// them.
//
// # Bad indices and labels
//
// Indices (IndexSelect, Take, Gather) outside their axis and labels
// (SoftmaxCrossEntropy, OneHot) that are not class indices panic with an
// [*Error] of kind [ErrIndex] (out of range) or [ErrArgument] (a label
// that is not an integer: fractional, NaN, infinite), in the forward and
// the backward pass. On the CPU the panic comes from the operation, before
// anything is computed. On CUDA the kernels check the values on the device,
// so that the host neither copies them back nor waits per call: the
// operation returns, its outputs are NaN where the bad value is used (a
// OneHot row is all zeros), and the panic, naming the operation, comes at
// the next read of a tensor on that device ([Tensor.Item], [Tensor.Float32s],
// [Tensor.To], ...), as PyTorch's device-side asserts do, but typed and
// recoverable with [Maybe]: the device stays usable.
//
// # Autocast
//
// Inside package amp's Autocast scope (per goroutine), MatMul, Conv2D and
// ScaledDotProductAttention cast their float32 operands to the scope's
// half type, precision-sensitive operations (Softmax, LogSoftmax,
// SoftmaxCrossEntropy, LayerNorm, RMSNorm, Sum, Mean, Norm, CumSum, Exp,
// Log, Pow, ...) cast half operands up to float32, and elementwise
// operations accept mixed float dtypes, promoting to the wider one; see
// [Autocasting]. Outside the scope operations behave as described above.
package tensor
