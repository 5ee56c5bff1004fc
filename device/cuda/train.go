package cuda

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// The training operations: one kernel each, in module nn.

// denseInput returns the address of src's elements in row-major order,
// gathering a non-contiguous layout into a scratch buffer first (the
// caller frees it when it is not nil).
func (b *Backend) denseInput(src *Buffer, sl device.Layout) (Ptr, *Buffer) {
	if sl.IsContiguous() {
		return src.at(sl.Offset), nil
	}
	tmp := b.temp(src.dt, sl.Size())
	b.Copy(tmp, device.Contiguous(sl.Shape), src, sl)
	return tmp.ptr, tmp
}

func (b *Backend) conv(id int, dst Ptr, src Ptr, n int64, g device.ConvGeom) {
	if n == 0 {
		return
	}
	a := convArgs{Dst: dst, Src: src, G: convGeom(g)}
	p, sz := argBytes(&a)
	b.launch(id, grid1D(n, 1), block1D, p, sz)
}

// Im2Col writes the convolution windows of src into dst.
func (b *Backend) Im2Col(dst, src device.Buffer, sl device.Layout, g device.ConvGeom) {
	x, tmp := b.denseInput(bufOf(src), sl)
	if tmp != nil {
		defer b.Free(tmp)
	}
	b.conv(kIm2Col[dtIndex(bufOf(dst).dt)], bufOf(dst).ptr, x, int64(g.N*g.C*g.KH*g.KW*g.OH*g.OW), g)
}

// Col2Im sums windows back into an image.
func (b *Backend) Col2Im(dst, src device.Buffer, g device.ConvGeom) {
	b.conv(kCol2Im[dtIndex(bufOf(dst).dt)], bufOf(dst).ptr, bufOf(src).ptr, int64(g.N*g.C*g.H*g.W), g)
}

func (b *Backend) pool(id int, dst, idx, src Ptr, n int64, g device.ConvGeom) {
	if n == 0 {
		return
	}
	a := poolArgs{Dst: dst, Idx: idx, Src: src, G: convGeom(g)}
	p, sz := argBytes(&a)
	b.launch(id, grid1D(n, 1), block1D, p, sz)
}

// MaxPool writes window maxima and their indices.
func (b *Backend) MaxPool(dst, idx, src device.Buffer, sl device.Layout, g device.ConvGeom) {
	x, tmp := b.denseInput(bufOf(src), sl)
	if tmp != nil {
		defer b.Free(tmp)
	}
	b.pool(kMaxPool[dtIndex(bufOf(dst).dt)], bufOf(dst).ptr, bufOf(idx).ptr, x, int64(g.N*g.C*g.OH*g.OW), g)
}

// PoolScatter sums dy into the positions idx names.
func (b *Backend) PoolScatter(dx, dy, idx device.Buffer, g device.ConvGeom) {
	b.pool(kPoolScatter[dtIndex(bufOf(dx).dt)], bufOf(dx).ptr, bufOf(idx).ptr, bufOf(dy).ptr, int64(g.N*g.C*g.H*g.W), g)
}

// PoolGather reads src at the positions idx names.
func (b *Backend) PoolGather(dst, src, idx device.Buffer, g device.ConvGeom) {
	b.pool(kPoolGather[dtIndex(bufOf(dst).dt)], bufOf(dst).ptr, bufOf(idx).ptr, bufOf(src).ptr, int64(g.N*g.C*g.OH*g.OW), g)
}

// SoftmaxCE computes per-row losses and probabilities. A label that is not
// an integer in [0, c) gives a NaN loss and is reported by the next
// synchronisation (device.IndexChecker).
func (b *Backend) SoftmaxCE(loss, prob, logits, labels device.Buffer, n, c int) {
	if n == 0 {
		return
	}
	a := softmaxArgs{Loss: bufOf(loss).ptr, Prob: bufOf(prob).ptr, Logits: bufOf(logits).ptr, Labels: bufOf(labels).ptr, N: int64(n), C: int64(c),
		Err: b.errRecordFor(), ErrOp: int64(device.IndexSoftmaxCE)}
	p, sz := argBytes(&a)
	b.launch(kSoftmaxCE[dtIndex(bufOf(loss).dt)], [3]uint32{uint32(min(n, maxBlocks)), 1, 1}, block1D, p, sz)
}

// SoftmaxCEGrad writes the gradient of the losses with respect to the
// logits. A bad label gives a NaN row and is reported by the next
// synchronisation.
func (b *Backend) SoftmaxCEGrad(dlogits, prob, labels, g device.Buffer, gl device.Layout, n, c int) {
	if n == 0 || c == 0 {
		return
	}
	a := softmaxGradArgs{DLogits: bufOf(dlogits).ptr, Prob: bufOf(prob).ptr, Labels: bufOf(labels).ptr, G: bufOf(g).ptr,
		N: int64(n), C: int64(c), GOff: int64(gl.Offset), GStride: int64(gl.Strides[0]),
		Err: b.errRecordFor(), ErrOp: int64(device.IndexSoftmaxCEGrad)}
	p, sz := argBytes(&a)
	b.launch(kSoftmaxCEGrad[dtIndex(bufOf(dlogits).dt)], grid1D(int64(n*c), 1), block1D, p, sz)
}

func b2i(v bool) int64 {
	if v {
		return 1
	}
	return 0
}

// SGDStep applies one SGD step in place.
func (b *Backend) SGDStep(w, v, g device.Buffer, n int, sp device.SGDParams) {
	if n == 0 {
		return
	}
	var vp Ptr
	if v != nil {
		vp = bufOf(v).ptr
	}
	a := sgdArgs{W: bufOf(w).ptr, V: vp, G: bufOf(g).ptr, N: int64(n), LR: sp.LR, Momentum: sp.Momentum, WD: sp.WeightDecay,
		Nesterov: b2i(sp.Nesterov), First: b2i(sp.First)}
	p, sz := argBytes(&a)
	b.launch(kSGD[dtIndex(bufOf(w).dt)], grid1D(int64(n), 1), block1D, p, sz)
}

// AdamStep applies one Adam or AdamW step in place.
func (b *Backend) AdamStep(w, m, v, g device.Buffer, n int, ap device.AdamParams) {
	if n == 0 {
		return
	}
	a := adamArgs{W: bufOf(w).ptr, M: bufOf(m).ptr, V: bufOf(v).ptr, G: bufOf(g).ptr, N: int64(n),
		LR: ap.LR, Beta1: ap.Beta1, Beta2: ap.Beta2, Eps: ap.Eps, WD: ap.WeightDecay,
		C1: 1 - math.Pow(ap.Beta1, float64(ap.Step)), C2: 1 - math.Pow(ap.Beta2, float64(ap.Step)),
		Decoupled: b2i(ap.Decoupled)}
	p, sz := argBytes(&a)
	b.launch(kAdam[dtIndex(bufOf(w).dt)], grid1D(int64(n), 1), block1D, p, sz)
}
