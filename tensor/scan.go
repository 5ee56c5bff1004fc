package tensor

// CumSum returns the inclusive cumulative sum of t along axis (negative
// counts from the end): element j along the axis is the sum of elements
// 0..j (NumPy's cumsum, torch.cumsum), with t's shape. Float32 data is
// summed in float64 and each element rounded once, on every device (as
// PyTorch's CPU cumsum does; its CUDA one sums float32 in float32). A 0-d
// tensor has no axis (ErrAxis). It is differentiable: the gradient is the
// cumulative sum of the output's gradient taken from the end of the axis.
func (t *Tensor) CumSum(axis int) *Tensor {
	t = autocastUp(t)
	ax := axisOf("CumSum", t, axis)
	return t.cumSum(ax, false)
}

// cumSum is CumSum along the non-negative axis ax, from the end of the
// axis with reverse.
func (t *Tensor) cumSum(ax int, reverse bool) *Tensor {
	const op = "CumSum"
	out := empty(op, t.st.be, t.st.dt, t.shape)
	t.st.be.CumSum(out.st.buf, t.st.buf, t.layout(), ax, reverse)
	if recording(t) {
		record(out, op, func(c *bctx) { c.set(0, c.g.cumSum(ax, !reverse)) }, t)
	}
	return out
}
