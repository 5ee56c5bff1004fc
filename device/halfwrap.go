package device

import "fmt"

// WithHalf returns a backend that runs every method of b with BFloat16
// and Float16 buffers as well: the "compute in float32" path of mixed
// precision, written once over the Backend interface so that it serves
// every backend that can store and convert the half types (Alloc, Free,
// Upload, Download, Copy and Fill; see [Backend]).
//
// A method without half buffers goes straight to b. Otherwise each
// distinct half buffer among the operands is converted, whole and with
// its layouts unchanged, into a Float32 scratch buffer of b (b's own
// Copy, exact); b's float32 method runs on the scratch buffers; and the
// outputs are rounded back into their half buffers (to nearest even, b's
// Copy). A destination that a method reads as well (the parameters and
// moments of SGDStep and AdamStep, a strided MatMul output) is converted
// in first; a buffer that is both an operand and the destination (the
// in-place forms of Binary and AddScaled) shares one scratch buffer.
// Buffers of other dtypes (indices, the Float64 statistics of LayerNorm,
// an Int64 ArgReduce result) are passed through. So every sum, mean,
// norm, softmax, normalisation and attention statistic of a half tensor
// accumulates at least in float32 (as b does for Float32), and each
// output is rounded to the half type once, at the end of the method.
// Arange computes in float64 and Random draws the Float32 stream (see
// [RandomBlocks]), each rounded once; Uniform values that round up to b
// are lowered to the largest half value below it.
//
// A scratch buffer that b cannot allocate makes the method panic with an
// error that wraps b's. WithHalf of a backend it returned is that
// backend; [Unwrap] gives b back. The returned backend also passes
// EmptyCache and [PeerCopier] through to b. A MatMul of one half dtype
// goes to b's HalfMatMul first when b is a [HalfMatMuler], and the
// elementwise methods and Reduce go to b's own kernels first when b is a
// [HalfKernels].
func WithHalf(b Backend) Backend {
	if h, ok := b.(*halfBackend); ok {
		return h
	}
	return &halfBackend{b: b}
}

// Unwrap returns the backend that [WithHalf] wrapped, or b itself if b
// is not such a wrapper.
func Unwrap(b Backend) Backend {
	if h, ok := b.(*halfBackend); ok {
		return h.b
	}
	return b
}

type halfBackend struct{ b Backend }

// halfCall holds the float32 scratch buffers of one method call.
type halfCall struct {
	be   Backend
	op   string
	bufs map[Buffer]*halfScratch
	list []*halfScratch
}

type halfScratch struct {
	src    Buffer // the half buffer
	f32    Buffer // its float32 copy
	filled bool   // converted in
	back   int    // elements to round back from index 0; 0: none
}

func isHalf(b Buffer) bool { return b != nil && b.DType().IsHalf() }

func anyHalf(bs ...Buffer) bool {
	for _, b := range bs {
		if isHalf(b) {
			return true
		}
	}
	return false
}

func (c *halfCall) get(x Buffer) *halfScratch {
	if c.bufs == nil {
		c.bufs = map[Buffer]*halfScratch{}
	}
	if s, ok := c.bufs[x]; ok {
		return s
	}
	f, err := c.be.Alloc(Float32, x.Len())
	if err != nil {
		c.free()
		panic(fmt.Errorf("device: %s: float32 scratch for a %v buffer of %d elements: %w", c.op, x.DType(), x.Len(), err))
	}
	s := &halfScratch{src: x, f32: f}
	c.bufs[x] = s
	c.list = append(c.list, s)
	return s
}

// in returns the float32 version of the operand x (x itself unless it is
// a half buffer).
func (c *halfCall) in(x Buffer) Buffer {
	if !isHalf(x) {
		return x
	}
	s := c.get(x)
	if !s.filled {
		l := Contiguous([]int{x.Len()})
		c.be.Copy(s.f32, l, x, l)
		s.filled = true
	}
	return s.f32
}

// out returns the float32 version of the destination x, which the method
// writes densely in its first n elements without reading them; they are
// rounded back afterwards.
func (c *halfCall) out(x Buffer, n int) Buffer {
	if !isHalf(x) {
		return x
	}
	s := c.get(x)
	s.back = max(s.back, min(n, x.Len()))
	return s.f32
}

// inout returns the float32 version of x, a destination that the method
// also reads (or writes sparsely): converted in, rounded back whole.
func (c *halfCall) inout(x Buffer) Buffer {
	if !isHalf(x) {
		return x
	}
	f := c.in(x)
	c.bufs[x].back = x.Len()
	return f
}

// done rounds the destinations back and frees the scratch buffers.
func (c *halfCall) done() {
	for _, s := range c.list {
		if s.back > 0 {
			l := Contiguous([]int{s.back})
			c.be.Copy(s.src, l, s.f32, l)
		}
	}
	c.free()
}

func (c *halfCall) free() {
	for _, s := range c.list {
		c.be.Free(s.f32)
	}
	c.list, c.bufs = nil, nil
}

func (h *halfBackend) call(op string) *halfCall { return &halfCall{be: h.b, op: op} }

// Unwrap returns the wrapped backend.
func (h *halfBackend) Unwrap() Backend { return h.b }

// EmptyCache empties the wrapped backend's buffer cache, if it has one.
func (h *halfBackend) EmptyCache() {
	if c, ok := h.b.(interface{ EmptyCache() }); ok {
		c.EmptyCache()
	}
}

// CopyFrom is the wrapped backend's [PeerCopier] (false if it is none),
// with from unwrapped.
func (h *halfBackend) CopyFrom(dst Buffer, src Buffer, from Backend, sl Layout) bool {
	pc, ok := h.b.(PeerCopier)
	return ok && pc.CopyFrom(dst, src, Unwrap(from), sl)
}

func (h *halfBackend) Device() Device                        { return h.b.Device() }
func (h *halfBackend) Alloc(dt DType, n int) (Buffer, error) { return h.b.Alloc(dt, n) }
func (h *halfBackend) Free(b Buffer)                         { h.b.Free(b) }
func (h *halfBackend) Upload(dst Buffer, src any)            { h.b.Upload(dst, src) }
func (h *halfBackend) Download(dst any, src Buffer, l Layout) error {
	return h.b.Download(dst, src, l)
}
func (h *halfBackend) Synchronize() error { return h.b.Synchronize() }
func (h *halfBackend) Copy(dst Buffer, dl Layout, src Buffer, sl Layout) {
	h.b.Copy(dst, dl, src, sl)
}
func (h *halfBackend) Fill(dst Buffer, dl Layout, v float64) { h.b.Fill(dst, dl, v) }

func (h *halfBackend) Arange(dst Buffer, n int, start, step float64) {
	if !isHalf(dst) {
		h.b.Arange(dst, n, start, step)
		return
	}
	f, err := h.b.Alloc(Float64, n)
	if err != nil {
		panic(fmt.Errorf("device: Arange: float64 scratch of %d elements: %w", n, err))
	}
	defer h.b.Free(f)
	h.b.Arange(f, n, start, step)
	l := Contiguous([]int{n})
	h.b.Copy(dst, l, f, l)
}

func (h *halfBackend) Random(dst Buffer, n int, dist Dist, seed, counter uint64, a, b float64) {
	if !isHalf(dst) {
		h.b.Random(dst, n, dist, seed, counter, a, b)
		return
	}
	c := h.call("Random")
	f := c.out(dst, n)
	h.b.Random(f, n, dist, seed, counter, a, b)
	if top, ok := halfBelow(dst.DType(), b); dist == Uniform && ok && float64(top) >= a {
		// Round, widen back, and lower what rounded up to b.
		l := Contiguous([]int{n})
		h.b.Copy(dst, l, f, l)
		h.b.Copy(f, l, dst, l)
		h.b.Scalar(MinS, f, f, l, float64(top))
	}
	c.done()
}

// halfBelow returns the largest value of the half dtype dt below b.
func halfBelow(dt DType, b float64) (float32, bool) {
	if b != b {
		return 0, false
	}
	x := HalfFromFloat64(dt, b)
	for range 4 {
		v := HalfToFloat32(dt, x)
		if v != v {
			return 0, false
		}
		if float64(v) < b {
			return v, true
		}
		switch {
		case x&0x7fff == 0:
			x = 0x8001
		case x&0x8000 == 0:
			x--
		default:
			x++
		}
	}
	return 0, false
}

func (h *halfBackend) Unary(op UnaryOp, dst Buffer, src Buffer, sl Layout) {
	if !anyHalf(dst, src) {
		h.b.Unary(op, dst, src, sl)
		return
	}
	if hk, ok := h.b.(HalfKernels); ok && hk.HalfUnary(op, dst, src, sl) {
		return
	}
	c := h.call("Unary")
	s := c.in(src)
	h.b.Unary(op, c.out(dst, sl.Size()), s, sl)
	c.done()
}

func (h *halfBackend) Scalar(op ScalarOp, dst Buffer, src Buffer, sl Layout, v float64) {
	if !anyHalf(dst, src) {
		h.b.Scalar(op, dst, src, sl, v)
		return
	}
	if hk, ok := h.b.(HalfKernels); ok && hk.HalfScalar(op, dst, src, sl, v) {
		return
	}
	c := h.call("Scalar")
	s := c.in(src)
	h.b.Scalar(op, c.out(dst, sl.Size()), s, sl, v)
	c.done()
}

func (h *halfBackend) Binary(op BinaryOp, dst Buffer, a Buffer, al Layout, b Buffer, bl Layout) {
	if !anyHalf(dst, a, b) {
		h.b.Binary(op, dst, a, al, b, bl)
		return
	}
	if hk, ok := h.b.(HalfKernels); ok && hk.HalfBinary(op, dst, a, al, b, bl) {
		return
	}
	c := h.call("Binary")
	x, y := c.in(a), c.in(b)
	h.b.Binary(op, c.out(dst, al.Size()), x, al, y, bl)
	c.done()
}

func (h *halfBackend) AddScaled(dst Buffer, a Buffer, al Layout, alpha float64, b Buffer, bl Layout, beta float64) {
	if !anyHalf(dst, a, b) {
		h.b.AddScaled(dst, a, al, alpha, b, bl, beta)
		return
	}
	if hk, ok := h.b.(HalfKernels); ok && hk.HalfAddScaled(dst, a, al, alpha, b, bl, beta) {
		return
	}
	c := h.call("AddScaled")
	x, y := c.in(a), c.in(b)
	h.b.AddScaled(c.out(dst, al.Size()), x, al, alpha, y, bl, beta)
	c.done()
}

func (h *halfBackend) Where(dst Buffer, cond Buffer, cl Layout, a Buffer, al Layout, b Buffer, bl Layout) {
	if !anyHalf(dst, cond, a, b) {
		h.b.Where(dst, cond, cl, a, al, b, bl)
		return
	}
	c := h.call("Where")
	k, x, y := c.in(cond), c.in(a), c.in(b)
	h.b.Where(c.out(dst, cl.Size()), k, cl, x, al, y, bl)
	c.done()
}

func (h *halfBackend) Reduce(op ReduceOp, dst Buffer, src Buffer, sl Layout, axes []int) {
	if !anyHalf(dst, src) {
		h.b.Reduce(op, dst, src, sl, axes)
		return
	}
	if hk, ok := h.b.(HalfKernels); ok && hk.HalfReduce(op, dst, src, sl, axes) {
		return
	}
	kept := 1
	for i, d := range sl.Shape {
		reduced := false
		for _, a := range axes {
			reduced = reduced || a == i
		}
		if !reduced {
			kept *= d
		}
	}
	c := h.call("Reduce")
	s := c.in(src)
	h.b.Reduce(op, c.out(dst, kept), s, sl, axes)
	c.done()
}

func (h *halfBackend) CumSum(dst, src Buffer, sl Layout, axis int, reverse bool) {
	if !anyHalf(dst, src) {
		h.b.CumSum(dst, src, sl, axis, reverse)
		return
	}
	c := h.call("CumSum")
	s := c.in(src)
	h.b.CumSum(c.out(dst, sl.Size()), s, sl, axis, reverse)
	c.done()
}

func (h *halfBackend) ArgReduce(op ArgOp, dst Buffer, src Buffer, sl Layout, axis int) {
	if !anyHalf(dst, src) {
		h.b.ArgReduce(op, dst, src, sl, axis)
		return
	}
	c := h.call("ArgReduce")
	s := c.in(src)
	n := 0
	if len(sl.Shape) > 0 && sl.Shape[axis] > 0 {
		n = sl.Size() / sl.Shape[axis]
	}
	h.b.ArgReduce(op, c.out(dst, n), s, sl, axis)
	c.done()
}

func (h *halfBackend) Gather(dst, src, idx Buffer, g GatherGeom) {
	if !anyHalf(dst, src, idx) {
		h.b.Gather(dst, src, idx, g)
		return
	}
	c := h.call("Gather")
	s, i := c.in(src), c.in(idx)
	h.b.Gather(c.out(dst, g.Outer*g.M*g.Inner), s, i, g)
	c.done()
}

func (h *halfBackend) ScatterAdd(dst, src, idx Buffer, g GatherGeom) {
	if !anyHalf(dst, src, idx) {
		h.b.ScatterAdd(dst, src, idx, g)
		return
	}
	c := h.call("ScatterAdd")
	s, i := c.in(src), c.in(idx)
	h.b.ScatterAdd(c.out(dst, g.Outer*g.N*g.Inner), s, i, g)
	c.done()
}

func (h *halfBackend) MatMul(dst Buffer, dl MatLayout, a Buffer, al MatLayout, b Buffer, bl MatLayout, batch, m, n, k int) {
	if !anyHalf(dst, a, b) {
		h.b.MatMul(dst, dl, a, al, b, bl, batch, m, n, k)
		return
	}
	if hm, ok := h.b.(HalfMatMuler); ok && isHalf(dst) && a.DType() == dst.DType() && b.DType() == dst.DType() &&
		hm.HalfMatMul(dst, dl, a, al, b, bl, batch, m, n, k) {
		return
	}
	c := h.call("MatMul")
	x, y := c.in(a), c.in(b)
	// The output matrices may sit anywhere in dst with gaps between
	// rows: convert it in, and round all of it back.
	h.b.MatMul(c.inout(dst), dl, x, al, y, bl, batch, m, n, k)
	c.done()
}

func (h *halfBackend) Im2Col(dst, src Buffer, sl Layout, g ConvGeom) {
	if !anyHalf(dst, src) {
		h.b.Im2Col(dst, src, sl, g)
		return
	}
	c := h.call("Im2Col")
	s := c.in(src)
	h.b.Im2Col(c.out(dst, g.C*g.KH*g.KW*g.N*g.OH*g.OW), s, sl, g)
	c.done()
}

func (h *halfBackend) Col2Im(dst, src Buffer, g ConvGeom) {
	if !anyHalf(dst, src) {
		h.b.Col2Im(dst, src, g)
		return
	}
	c := h.call("Col2Im")
	s := c.in(src)
	h.b.Col2Im(c.out(dst, g.N*g.C*g.H*g.W), s, g)
	c.done()
}

func (h *halfBackend) MaxPool(dst, idx, src Buffer, sl Layout, g ConvGeom) {
	if !anyHalf(dst, idx, src) {
		h.b.MaxPool(dst, idx, src, sl, g)
		return
	}
	c := h.call("MaxPool")
	s := c.in(src)
	n := g.N * g.C * g.OH * g.OW
	h.b.MaxPool(c.out(dst, n), c.out(idx, n), s, sl, g)
	c.done()
}

func (h *halfBackend) PoolScatter(dx, dy, idx Buffer, g ConvGeom) {
	if !anyHalf(dx, dy, idx) {
		h.b.PoolScatter(dx, dy, idx, g)
		return
	}
	c := h.call("PoolScatter")
	y, i := c.in(dy), c.in(idx)
	h.b.PoolScatter(c.out(dx, g.N*g.C*g.H*g.W), y, i, g)
	c.done()
}

func (h *halfBackend) PoolGather(dst, src, idx Buffer, g ConvGeom) {
	if !anyHalf(dst, src, idx) {
		h.b.PoolGather(dst, src, idx, g)
		return
	}
	c := h.call("PoolGather")
	s, i := c.in(src), c.in(idx)
	h.b.PoolGather(c.out(dst, g.N*g.C*g.OH*g.OW), s, i, g)
	c.done()
}

func (h *halfBackend) SoftmaxCE(loss, prob, logits, labels Buffer, n, k int) {
	if !anyHalf(loss, prob, logits, labels) {
		h.b.SoftmaxCE(loss, prob, logits, labels, n, k)
		return
	}
	c := h.call("SoftmaxCE")
	x, y := c.in(logits), c.in(labels)
	h.b.SoftmaxCE(c.out(loss, n), c.out(prob, n*k), x, y, n, k)
	c.done()
}

func (h *halfBackend) SoftmaxCEGrad(dlogits, prob, labels, g Buffer, gl Layout, n, k int) {
	if !anyHalf(dlogits, prob, labels, g) {
		h.b.SoftmaxCEGrad(dlogits, prob, labels, g, gl, n, k)
		return
	}
	c := h.call("SoftmaxCEGrad")
	p, y, gg := c.in(prob), c.in(labels), c.in(g)
	h.b.SoftmaxCEGrad(c.out(dlogits, n*k), p, y, gg, gl, n, k)
	c.done()
}

func (h *halfBackend) LayerNorm(y, mean, rstd, x, w, b Buffer, p NormParams) {
	if !anyHalf(y, mean, rstd, x, w, b) {
		h.b.LayerNorm(y, mean, rstd, x, w, b, p)
		return
	}
	c := h.call("LayerNorm")
	xx, ww, bb := c.in(x), c.in(w), c.in(b)
	h.b.LayerNorm(c.out(y, p.Rows*p.Cols), c.out(mean, p.Rows), c.out(rstd, p.Rows), xx, ww, bb, p)
	c.done()
}

func (h *halfBackend) LayerNormGrad(dx, dw, db, dy, x, mean, rstd, w Buffer, p NormParams) {
	if !anyHalf(dx, dw, db, dy, x, mean, rstd, w) {
		h.b.LayerNormGrad(dx, dw, db, dy, x, mean, rstd, w, p)
		return
	}
	c := h.call("LayerNormGrad")
	yy, xx, mm, rr, ww := c.in(dy), c.in(x), c.in(mean), c.in(rstd), c.in(w)
	h.b.LayerNormGrad(c.out(dx, p.Rows*p.Cols), c.out(dw, p.Cols), c.out(db, p.Cols), yy, xx, mm, rr, ww, p)
	c.done()
}

func (h *halfBackend) Attention(out, lse, q, k, v Buffer, g AttentionGeom) {
	if !anyHalf(out, lse, q, k, v) {
		h.b.Attention(out, lse, q, k, v, g)
		return
	}
	c := h.call("Attention")
	qq, kk, vv := c.in(q), c.in(k), c.in(v)
	h.b.Attention(c.out(out, g.Batch*g.L*g.DV), c.out(lse, g.Batch*g.L), qq, kk, vv, g)
	c.done()
}

func (h *halfBackend) AttentionGrad(dq, dk, dv, dout, q, k, v, out, lse Buffer, g AttentionGeom) {
	if !anyHalf(dq, dk, dv, dout, q, k, v, out, lse) {
		h.b.AttentionGrad(dq, dk, dv, dout, q, k, v, out, lse, g)
		return
	}
	c := h.call("AttentionGrad")
	do, qq, kk, vv, oo, ll := c.in(dout), c.in(q), c.in(k), c.in(v), c.in(out), c.in(lse)
	h.b.AttentionGrad(c.out(dq, g.Batch*g.L*g.D), c.out(dk, g.Batch*g.S*g.D), c.out(dv, g.Batch*g.S*g.DV), do, qq, kk, vv, oo, ll, g)
	c.done()
}

func (h *halfBackend) SGDStep(w, v, g Buffer, n int, p SGDParams) {
	if !anyHalf(w, v, g) {
		h.b.SGDStep(w, v, g, n, p)
		return
	}
	c := h.call("SGDStep")
	gg := c.in(g)
	h.b.SGDStep(c.inout(w), c.inout(v), gg, n, p)
	c.done()
}

func (h *halfBackend) AdamStep(w, m, v, g Buffer, n int, p AdamParams) {
	if !anyHalf(w, m, v, g) {
		h.b.AdamStep(w, m, v, g, n, p)
		return
	}
	c := h.call("AdamStep")
	gg := c.in(g)
	h.b.AdamStep(c.inout(w), c.inout(m), c.inout(v), gg, n, p)
	c.done()
}
