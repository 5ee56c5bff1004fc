package cpu

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// The operations of neural-network training: convolution by im2col,
// max-pooling, fused softmax cross-entropy and optimiser steps. Loops that
// accumulate run one (image, channel) plane per goroutine, in a fixed order,
// so results do not depend on scheduling.

// dense returns src's elements in row-major order: src itself when sl is
// contiguous, else a gathered copy.
func dense[T float](src []T, sl device.Layout) []T {
	n := sl.Size()
	if sl.IsContiguous() {
		return src[sl.Offset : sl.Offset+n]
	}
	tmp := make([]T, n)
	copyStrided(tmp, device.Contiguous(sl.Shape), src, sl)
	return tmp
}

// Im2Col writes the convolution windows of src into dst.
func (be *Backend) Im2Col(dst, src device.Buffer, sl device.Layout, g device.ConvGeom) {
	if buf(dst).dt == device.Float64 {
		im2col(buf(dst).f64, dense(buf(src).f64, sl), g)
	} else {
		im2col(buf(dst).f32, dense(buf(src).f32, sl), g)
	}
}

func im2col[T float](d, x []T, g device.ConvGeom) {
	kk := g.KH * g.KW
	ohw := g.OH * g.OW
	// Each (image, channel) plane fills its own rows' segments.
	parallel.For(g.N*g.C, max(1, grain/max(1, kk*ohw)), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			n, c := nc/g.C, nc%g.C
			plane := x[nc*g.H*g.W : (nc+1)*g.H*g.W]
			for ky := 0; ky < g.KH; ky++ {
				for kx := 0; kx < g.KW; kx++ {
					r := (c*g.KH+ky)*g.KW + kx
					row := d[(r*g.N+n)*ohw : (r*g.N+n+1)*ohw]
					for oy := 0; oy < g.OH; oy++ {
						iy := oy*g.SH + ky - g.PH
						out := row[oy*g.OW : (oy+1)*g.OW]
						if iy < 0 || iy >= g.H {
							for i := range out {
								out[i] = 0
							}
							continue
						}
						in := plane[iy*g.W : (iy+1)*g.W]
						for ox := range out {
							ix := ox*g.SW + kx - g.PW
							if ix < 0 || ix >= g.W {
								out[ox] = 0
							} else {
								out[ox] = in[ix]
							}
						}
					}
				}
			}
		}
	})
}

// Col2Im sums windows back into an image (the adjoint of Im2Col).
func (be *Backend) Col2Im(dst, src device.Buffer, g device.ConvGeom) {
	if buf(dst).dt == device.Float64 {
		col2im(buf(dst).f64, buf(src).f64, g)
	} else {
		col2im(buf(dst).f32, buf(src).f32, g)
	}
}

func col2im[T float](d, col []T, g device.ConvGeom) {
	kk := g.KH * g.KW
	ohw := g.OH * g.OW
	parallel.For(g.N*g.C, max(1, grain/max(1, kk*ohw)), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			n, c := nc/g.C, nc%g.C
			plane := d[nc*g.H*g.W : (nc+1)*g.H*g.W]
			for i := range plane {
				plane[i] = 0
			}
			for ky := 0; ky < g.KH; ky++ {
				for kx := 0; kx < g.KW; kx++ {
					r := (c*g.KH+ky)*g.KW + kx
					row := col[(r*g.N+n)*ohw : (r*g.N+n+1)*ohw]
					for oy := 0; oy < g.OH; oy++ {
						iy := oy*g.SH + ky - g.PH
						if iy < 0 || iy >= g.H {
							continue
						}
						out := plane[iy*g.W : (iy+1)*g.W]
						for ox, v := range row[oy*g.OW : (oy+1)*g.OW] {
							if ix := ox*g.SW + kx - g.PW; ix >= 0 && ix < g.W {
								out[ix] += v
							}
						}
					}
				}
			}
		}
	})
}

// MaxPool writes window maxima and the index of each window's first
// maximum.
func (be *Backend) MaxPool(dst, idx, src device.Buffer, sl device.Layout, g device.ConvGeom) {
	if buf(dst).dt == device.Float64 {
		maxPool(buf(dst).f64, buf(idx).f64, dense(buf(src).f64, sl), g)
	} else {
		maxPool(buf(dst).f32, buf(idx).f32, dense(buf(src).f32, sl), g)
	}
}

func maxPool[T float](d, idx, x []T, g device.ConvGeom) {
	ohw := g.OH * g.OW
	parallel.For(g.N*g.C, max(1, grain/max(1, ohw*g.KH*g.KW)), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			plane := x[nc*g.H*g.W : (nc+1)*g.H*g.W]
			for oy := 0; oy < g.OH; oy++ {
				for ox := 0; ox < g.OW; ox++ {
					best, at := T(math.Inf(-1)), -1
					for ky := 0; ky < g.KH; ky++ {
						iy := oy*g.SH + ky - g.PH
						if iy < 0 || iy >= g.H {
							continue
						}
						for kx := 0; kx < g.KW; kx++ {
							ix := ox*g.SW + kx - g.PW
							if ix < 0 || ix >= g.W {
								continue
							}
							v := plane[iy*g.W+ix]
							if at < 0 || v > best || (v != v && best == best) {
								best, at = v, iy*g.W+ix
							}
						}
					}
					o := nc*ohw + oy*g.OW + ox
					d[o], idx[o] = best, T(at)
				}
			}
		}
	})
}

// PoolScatter adds each dy entry to the position its idx names.
func (be *Backend) PoolScatter(dx, dy, idx device.Buffer, g device.ConvGeom) {
	if buf(dx).dt == device.Float64 {
		poolScatter(buf(dx).f64, buf(dy).f64, buf(idx).f64, g)
	} else {
		poolScatter(buf(dx).f32, buf(dy).f32, buf(idx).f32, g)
	}
}

func poolScatter[T float](dx, dy, idx []T, g device.ConvGeom) {
	hw, ohw := g.H*g.W, g.OH*g.OW
	parallel.For(g.N*g.C, max(1, grain/max(1, hw)), func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			plane := dx[nc*hw : (nc+1)*hw]
			for i := range plane {
				plane[i] = 0
			}
			for o := nc * ohw; o < (nc+1)*ohw; o++ {
				if k := int(idx[o]); k >= 0 && k < hw {
					plane[k] += dy[o]
				}
			}
		}
	})
}

// PoolGather reads src at the positions idx names.
func (be *Backend) PoolGather(dst, src, idx device.Buffer, g device.ConvGeom) {
	if buf(dst).dt == device.Float64 {
		poolGather(buf(dst).f64, buf(src).f64, buf(idx).f64, g)
	} else {
		poolGather(buf(dst).f32, buf(src).f32, buf(idx).f32, g)
	}
}

func poolGather[T float](d, x, idx []T, g device.ConvGeom) {
	hw, ohw := g.H*g.W, g.OH*g.OW
	parallel.For(g.N*g.C*ohw, grain, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			nc := o / ohw
			if k := int(idx[o]); k >= 0 && k < hw {
				d[o] = x[nc*hw+k]
			} else {
				d[o] = T(math.NaN())
			}
		}
	})
}

// SoftmaxCE computes per-row cross-entropy losses and softmax
// probabilities, in float64 within each row.
func (be *Backend) SoftmaxCE(loss, prob, logits, labels device.Buffer, n, c int) {
	if buf(loss).dt == device.Float64 {
		softmaxCE(buf(loss).f64, buf(prob).f64, buf(logits).f64, buf(labels).f64, n, c)
	} else {
		softmaxCE(buf(loss).f32, buf(prob).f32, buf(logits).f32, buf(labels).f32, n, c)
	}
}

func softmaxCE[T float](loss, prob, x, labels []T, n, c int) {
	parallel.For(n, max(1, grain/max(1, c)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x[i*c : (i+1)*c]
			p := prob[i*c : (i+1)*c]
			m := math.Inf(-1)
			for _, v := range row {
				m = max(m, float64(v))
			}
			s := 0.0
			for _, v := range row {
				s += math.Exp(float64(v) - m)
			}
			for j, v := range row {
				p[j] = T(math.Exp(float64(v)-m) / s)
			}
			lse := m + math.Log(s)
			if l := labels[i]; l >= 0 && int(l) < c && l == T(int(l)) {
				loss[i] = T(lse - float64(row[int(l)]))
			} else {
				loss[i] = T(math.NaN())
			}
		}
	})
}

// SoftmaxCEGrad writes g_i·(prob − onehot(label_i)) row by row.
func (be *Backend) SoftmaxCEGrad(dlogits, prob, labels, g device.Buffer, gl device.Layout, n, c int) {
	if buf(dlogits).dt == device.Float64 {
		softmaxCEGrad(buf(dlogits).f64, buf(prob).f64, buf(labels).f64, buf(g).f64, gl, n, c)
	} else {
		softmaxCEGrad(buf(dlogits).f32, buf(prob).f32, buf(labels).f32, buf(g).f32, gl, n, c)
	}
}

func softmaxCEGrad[T float](d, prob, labels, g []T, gl device.Layout, n, c int) {
	off, st := gl.Offset, gl.Strides[0]
	parallel.For(n, max(1, grain/max(1, c)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gi := g[off+i*st]
			row := d[i*c : (i+1)*c]
			for j, p := range prob[i*c : (i+1)*c] {
				row[j] = gi * p
			}
			if l := labels[i]; l >= 0 && int(l) < c {
				row[int(l)] = gi * (prob[i*c+int(l)] - 1)
			}
		}
	})
}

// SGDStep applies one SGD step in place.
func (be *Backend) SGDStep(w, v, g device.Buffer, n int, p device.SGDParams) {
	if buf(w).dt == device.Float64 {
		var vv []float64
		if p.Momentum != 0 {
			vv = buf(v).f64
		}
		sgdStep(buf(w).f64[:n], vv, buf(g).f64[:n], p)
	} else {
		var vv []float32
		if p.Momentum != 0 {
			vv = buf(v).f32
		}
		sgdStep(buf(w).f32[:n], vv, buf(g).f32[:n], p)
	}
}

func sgdStep[T float](w, v, g []T, p device.SGDParams) {
	lr, mu, wd := T(p.LR), T(p.Momentum), T(p.WeightDecay)
	parallel.For(len(w), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := g[i]
			if wd != 0 {
				d = d + wd*w[i]
			}
			if mu != 0 {
				if p.First {
					v[i] = d
				} else {
					v[i] = mu*v[i] + d
				}
				if p.Nesterov {
					d = d + mu*v[i]
				} else {
					d = v[i]
				}
			}
			w[i] = w[i] - lr*d
		}
	})
}

// AdamStep applies one Adam (or AdamW) step in place.
func (be *Backend) AdamStep(w, m, v, g device.Buffer, n int, p device.AdamParams) {
	if buf(w).dt == device.Float64 {
		adamStep(buf(w).f64[:n], buf(m).f64[:n], buf(v).f64[:n], buf(g).f64[:n], p)
	} else {
		adamStep(buf(w).f32[:n], buf(m).f32[:n], buf(v).f32[:n], buf(g).f32[:n], p)
	}
}

func adamStep[T float](w, m, v, g []T, p device.AdamParams) {
	b1, b2, eps, lr, wd := T(p.Beta1), T(p.Beta2), T(p.Eps), T(p.LR), T(p.WeightDecay)
	var c adamConsts[T]
	c.mode = adamPlain
	if wd != 0 {
		c.mode = adamL2
		if p.Decoupled {
			c.mode = adamDecoupled
		}
	}
	c.k = [adamNumConsts]T{b1, 1 - b1, b2, 1 - b2, T(1 - math.Pow(p.Beta1, float64(p.Step))),
		T(1 - math.Pow(p.Beta2, float64(p.Step))), lr, eps, lr * wd, wd}
	parallel.For(len(w), grain, func(lo, hi int) {
		if useSIMD && haveSIMD {
			lo += simdAdam(w[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi], &c)
		}
		adamLoop(w[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi], &c)
	})
}

// The modes of an Adam step: no weight decay, decay added to the gradient
// (L2), decoupled decay (AdamW).
const (
	adamPlain = iota
	adamL2
	adamDecoupled
)

// adamNumConsts is the length of adamConsts.k.
const adamNumConsts = 10

// adamConsts are an Adam step's constants in the element type, in the
// order the assembly kernels (genasm.go) read them: β1, 1−β1, β2, 1−β2,
// the bias corrections c1 = 1−β1^t and c2 = 1−β2^t, lr, eps, lr·wd, wd.
type adamConsts[T float] struct {
	k    [adamNumConsts]T
	mode int
}

// adamLoop is the Adam update of each element:
//
//	w −= lr·wd·w (decoupled) or g += wd·w (L2)
//	m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g·g
//	w −= lr·(m/c1) / (√(v/c2) + eps)
//
// each product rounded (the conversions keep the compiler from fusing
// multiply-adds, GOAMD64=v3 included), in the order of the AVX2 kernels,
// which give the same bits.
func adamLoop[T float](w, m, v, g []T, c *adamConsts[T]) {
	b1, omb1, b2, omb2, c1, c2, lr, eps, lrwd, wd := c.k[0], c.k[1], c.k[2], c.k[3], c.k[4], c.k[5], c.k[6], c.k[7], c.k[8], c.k[9]
	m, v, g = m[:len(w)], v[:len(w)], g[:len(w)]
	for i := range w {
		gi, wi := g[i], w[i]
		switch c.mode {
		case adamDecoupled:
			wi = wi - T(lrwd*wi)
		case adamL2:
			gi = gi + T(wd*wi)
		}
		mi := T(b1*m[i]) + T(omb1*gi)
		vi := T(b2*v[i]) + T(T(omb2*gi)*gi)
		m[i], v[i] = mi, vi
		mh := mi / c1
		vh := vi / c2
		w[i] = wi - T(lr*mh)/(T(math.Sqrt(float64(vh)))+eps)
	}
}
