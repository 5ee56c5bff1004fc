package tensor

import (
	"fmt"
	"slices"

	"github.com/tapegrad/tapegrad/device"
)

// Triangles and masks: Tril, Triu, MaskedFill and CausalMask, composed
// from Arange, comparisons and Where (no kernels of their own).

// triMask returns the [n, m] mask, of dtype dt on device d,
// that is 1 where column j and row i satisfy j − i ≤ k (lower) or
// j − i ≥ k (upper), 0 elsewhere. The indices are compared in float64,
// where they are exact.
func triMask(d device.Device, dt DType, n, m, k int, lower bool) *Tensor {
	rows := Arange(0, float64(n), 1, On(d), WithDType(Float64)).Reshape(n, 1)
	cols := Arange(0, float64(m), 1, On(d), WithDType(Float64)).Reshape(1, m)
	diff := cols.Sub(rows)
	var mask *Tensor
	if lower {
		mask = diff.LeScalar(float64(k))
	} else {
		mask = diff.GeScalar(float64(k))
	}
	return mask.AsType(dt)
}

func (t *Tensor) triangle(op string, k int, lower bool) *Tensor {
	t.live(op)
	r := len(t.shape)
	if r < 2 {
		fail(ErrShape, op, fmt.Sprintf("needs at least 2 axes, the tensor has %d", r), t)
	}
	mask := triMask(t.st.dev, t.st.dt, t.shape[r-2], t.shape[r-1], k, lower)
	return Where(mask, t, Full(0, nil, On(t.st.dev), WithDType(t.st.dt)))
}

// Tril returns t with the elements above diagonal k of its last two axes
// set to zero (torch.tril, batched over the leading axes): element
// (..., i, j) is kept where j − i ≤ k. k = 0 is the main diagonal, k > 0
// keeps diagonals above it, k < 0 removes diagonals below it. NaN and
// infinities in the removed part become 0. It needs at least 2 axes
// (ErrShape). It is differentiable: the gradient passes where elements are
// kept and is zero elsewhere.
func (t *Tensor) Tril(k int) *Tensor { return t.triangle("Tril", k, true) }

// Triu returns t with the elements below diagonal k of its last two axes
// set to zero (torch.triu): element (..., i, j) is kept where j − i ≥ k.
// See [Tensor.Tril].
func (t *Tensor) Triu(k int) *Tensor { return t.triangle("Triu", k, false) }

// MaskedFill returns a copy of t with value wherever mask is non-zero
// (torch.masked_fill; a NaN in the mask counts as non-zero, as in
// [Where]). mask must broadcast to t's shape, which the result keeps
// (ErrShape), and have t's dtype and device (ErrDType, ErrDevice). It is
// differentiable in t: the gradient is zero at the filled elements and
// passes elsewhere; no gradient flows to the mask.
//
// For causal self-attention over T positions, fill the scores with −Inf
// above the diagonal before the softmax:
//
//	s = s.MaskedFill(tensor.CausalMask(T, tensor.On(s.Device()), tensor.WithDType(s.DType())), math.Inf(-1))
//	p = s.Softmax(-1)
func (t *Tensor) MaskedFill(mask *Tensor, value float64) *Tensor {
	const op = "MaskedFill"
	checkPair(op, t, mask)
	if shape := broadcastShape(op, mask, t); !slices.Equal(shape, t.shape) {
		fail(ErrShape, op, fmt.Sprintf("the mask broadcasts with the tensor to %v, not to the tensor's shape", shape), t, mask)
	}
	return Where(mask, Full(value, nil, On(t.st.dev), WithDType(t.st.dt)), t)
}

// CausalMask returns the [n, n] mask of causal attention: 1 at (i, j)
// where j > i (a position after i, which position i must not attend to),
// 0 elsewhere; float32 unless [WithDType] says otherwise. Pass it to
// [Tensor.MaskedFill] with −Inf (see there). n must not be negative
// (ErrArgument).
func CausalMask(n int, opts ...Option) *Tensor {
	const op = "CausalMask"
	if n < 0 {
		fail(ErrArgument, op, fmt.Sprintf("%d positions", n))
	}
	o := resolve(opts, Float32)
	backendOf(op, o.dev)
	return triMask(o.dev, o.dt, n, n, 1, false)
}
