package tensor

import (
	"fmt"
	"math"
	"slices"

	"github.com/tapegrad/tapegrad/device"
)

// The fused layer normalisations. Forward and backward are one backend
// call each (device.Backend.LayerNorm and LayerNormGrad); the forward
// saves each row's mean and reciprocal standard deviation for the
// backward. When the backward is itself recorded (CreateGraph), it is
// computed from recorded tensor operations instead, so that gradients of
// gradients work.

// LayerNorm normalises t over its last axes axes (PyTorch's
// layer_norm): with μ and σ² the mean and the biased variance of each
// block of those axes,
//
//	y = (t − μ)/√(σ² + eps)·weight + bias.
//
// weight and bias have the shape of the last axes axes of t, or are nil
// (left out). The statistics are computed in two passes (the mean, then
// the squared deviations from it), float32 data in float64. Forward and
// backward are one fused operation each; the result is differentiable in
// t, weight and bias, to any order. A non-contiguous t is copied first.
//
// It panics with a *Error: ErrAxis unless 1 <= axes <= t.Rank(),
// ErrShape for a weight or bias of another shape, ErrDType or ErrDevice
// for operands of other dtypes or devices (or integer t), ErrArgument
// for a negative or NaN eps.
func (t *Tensor) LayerNorm(axes int, weight, bias *Tensor, eps float64) *Tensor {
	return layerNorm("LayerNorm", t, axes, weight, bias, eps, false)
}

// RMSNorm scales t by the reciprocal root mean square over its last axes
// axes (PyTorch's rms_norm):
//
//	y = t/√(mean(t²) + eps)·weight,
//
// with weight of the shape of those axes, or nil. Fused, differentiable
// and checked as [Tensor.LayerNorm].
func (t *Tensor) RMSNorm(axes int, weight *Tensor, eps float64) *Tensor {
	return layerNorm("RMSNorm", t, axes, weight, nil, eps, true)
}

func layerNorm(op string, x *Tensor, axes int, w, b *Tensor, eps float64, rms bool) *Tensor {
	x, w, b = autocastUp(x), autocastUp(w), autocastUp(b)
	x.live(op)
	x.needFloat(op)
	r := len(x.shape)
	if axes < 1 || axes > r {
		fail(ErrAxis, op, fmt.Sprintf("normalising the last %d axes of a %d-d tensor", axes, r), x)
	}
	if !(eps >= 0) || math.IsInf(eps, 0) {
		fail(ErrArgument, op, fmt.Sprintf("eps %v: want a finite eps >= 0", eps), x)
	}
	trail := x.shape[r-axes:]
	for _, p := range []struct {
		t    *Tensor
		name string
	}{{w, "weight"}, {b, "bias"}} {
		if p.t == nil {
			continue
		}
		checkPair(op, x, p.t)
		if !slices.Equal(p.t.shape, trail) {
			fail(ErrShape, op, fmt.Sprintf("%s must have the shape %v of the input's last %d axes", p.name, trail, axes), x, p.t)
		}
	}
	cols := 1
	for _, k := range trail {
		cols *= k
	}
	rows := 0
	if cols > 0 {
		rows = x.Size() / cols
	} else {
		rows = 1
		for _, k := range x.shape[:r-axes] {
			rows *= k
		}
	}
	p := device.NormParams{Rows: rows, Cols: cols, Eps: eps, RMS: rms}
	be, dt := x.st.be, x.st.dt
	xd := x.denseCopy(op)
	var wd, bd *Tensor
	var wbuf, bbuf device.Buffer
	if w != nil {
		wd = w.denseCopy(op)
		wbuf = wd.st.buf
	}
	if b != nil {
		bd = b.denseCopy(op)
		bbuf = bd.st.buf
	}
	out := empty(op, be, dt, slices.Clone(x.shape))
	// The statistics, unrounded (Float64), for the backward.
	rstd := empty(op, be, Float64, []int{rows})
	var mean *Tensor
	var mbuf device.Buffer
	if !rms {
		mean = empty(op, be, Float64, []int{rows})
		mbuf = mean.st.buf
	}
	be.LayerNorm(out.st.buf, mbuf, rstd.st.buf, xd.st.buf, wbuf, bbuf, p)
	inputs := []*Tensor{x}
	wi, bi := -1, -1
	if w != nil {
		wi, inputs = len(inputs), append(inputs, w)
	}
	if b != nil {
		bi, inputs = len(inputs), append(inputs, b)
	}
	if !recording(inputs...) {
		return out
	}
	record(out, op, func(c *bctx) {
		if c.create {
			// Recorded form, so that the gradient can be differentiated.
			var ww *Tensor
			if wi >= 0 {
				ww = c.in(wi)
			}
			dx, dw := layerNormGradComposed(c.in(0), ww, c.g, axes, eps, rms)
			c.set(0, dx)
			if wi >= 0 {
				c.set(wi, dw)
			}
			if bi >= 0 {
				c.set(bi, c.g)
			}
			return
		}
		g := c.g.denseCopy(op)
		dx := empty(op, be, dt, slices.Clone(x.shape))
		var dw, db *Tensor
		var dwb, dbb device.Buffer
		if wi >= 0 && c.needs(wi) {
			dw = empty(op, be, dt, slices.Clone(trail))
			dwb = dw.st.buf
		}
		if bi >= 0 && c.needs(bi) {
			db = empty(op, be, dt, slices.Clone(trail))
			dbb = db.st.buf
		}
		be.LayerNormGrad(dx.st.buf, dwb, dbb, g.st.buf, xd.st.buf, mbuf, rstd.st.buf, wbuf, p)
		c.set(0, dx)
		if dw != nil {
			c.set(wi, dw)
		}
		if db != nil {
			c.set(bi, db)
		}
	}, inputs...)
	return out
}

// layerNormGradComposed returns the gradients of LayerNorm (RMSNorm with
// rms) with respect to x and to the weight w (nil: no weight, and no dw),
// for the output gradient g, from recorded operations: with x̂ the
// normalised input and r the reciprocal standard deviation,
//
//	dx = r·(gw − mean(gw) − x̂·mean(gw·x̂)),  gw = g·w
//
// (no mean(gw) term for RMSNorm), and dw = g·x̂ of the output's shape (the
// engine sums the leading axes away).
func layerNormGradComposed(x, w, g *Tensor, axes int, eps float64, rms bool) (dx, dw *Tensor) {
	ax := make([]int, axes)
	for i := range ax {
		ax[i] = len(x.shape) - axes + i
	}
	xc := x
	if !rms {
		xc = x.Sub(x.MeanKeepDims(ax...))
	}
	r := xc.Square().MeanKeepDims(ax...).AddScalar(eps).Rsqrt()
	xh := xc.Mul(r)
	gw := g
	if w != nil {
		gw = g.Mul(w)
		dw = g.Mul(xh)
	}
	t := gw.Sub(xh.Mul(gw.Mul(xh).MeanKeepDims(ax...)))
	if !rms {
		t = t.Sub(gw.MeanKeepDims(ax...))
	}
	return t.Mul(r), dw
}
