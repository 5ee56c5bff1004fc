package cpu

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// grain is the number of elements below which a loop stays in one
// goroutine.
const grain = 1 << 15

// block bounds the length of a row segment whose operands are gathered into
// scratch memory.
const block = 4096

// walker visits the elements of several same-shaped layouts in row-major
// order, a row segment at a time.
type walker struct {
	shape   []int   // coalesced shape
	strides [][]int // coalesced strides, one list per operand
	base    []int   // offsets of element 0, one per operand
	inner   []int   // innermost stride per operand
}

func newWalker(ls ...device.Layout) *walker {
	st := make([][]int, len(ls))
	base := make([]int, len(ls))
	for k, l := range ls {
		st[k] = l.Strides
		base[k] = l.Offset
	}
	shape, strides := device.Coalesce(ls[0].Shape, st...)
	inner := make([]int, len(ls))
	for k := range strides {
		inner[k] = strides[k][len(shape)-1]
	}
	return &walker{shape: shape, strides: strides, base: base, inner: inner}
}

// walk calls seg for consecutive segments covering elements [lo, hi) in
// row-major order. pos is the index of the segment's first element, offs
// the operands' offsets of it, m its length (at most maxSeg). seg must not
// keep offs.
func (w *walker) walk(lo, hi, maxSeg int, seg func(pos int, offs []int, m int)) {
	nd := len(w.shape)
	idx := make([]int, nd)
	offs := make([]int, len(w.base))
	rem := lo
	for d := nd - 1; d >= 0; d-- {
		idx[d] = rem % w.shape[d]
		rem /= w.shape[d]
	}
	for k := range offs {
		o := w.base[k]
		for d := 0; d < nd; d++ {
			o += idx[d] * w.strides[k][d]
		}
		offs[k] = o
	}
	innerLen := w.shape[nd-1]
	pos := lo
	for pos < hi {
		m := innerLen - idx[nd-1]
		if m > hi-pos {
			m = hi - pos
		}
		if m > maxSeg {
			m = maxSeg
		}
		seg(pos, offs, m)
		pos += m
		if pos >= hi {
			return
		}
		// Advance the multi-index by m.
		idx[nd-1] += m
		for k := range offs {
			offs[k] += m * w.inner[k]
		}
		for d := nd - 1; d > 0 && idx[d] == w.shape[d]; d-- {
			idx[d] = 0
			idx[d-1]++
			for k := range offs {
				offs[k] += w.strides[k][d-1] - w.shape[d]*w.strides[k][d]
			}
		}
	}
}

// operand returns the m elements of x starting at off with stride st: the
// slice itself when st is 1, else a copy in scratch.
func operand[T float](x []T, off, st, m int, scratch []T) []T {
	if st == 1 {
		return x[off : off+m]
	}
	s := scratch[:m]
	if st == 0 {
		v := x[off]
		for i := range s {
			s[i] = v
		}
		return s
	}
	for i := range s {
		s[i] = x[off]
		off += st
	}
	return s
}

// contiguousSlice returns the elements of a contiguous layout.
func contiguousSlice[T float](x []T, l device.Layout, n int) []T {
	return x[l.Offset : l.Offset+n]
}

// Unary writes op(src) to dst.
func (be *Backend) Unary(op device.UnaryOp, dst, src device.Buffer, sl device.Layout) {
	if buf(dst).dt == device.Float64 {
		unary(op, buf(dst).f64, buf(src).f64, sl)
	} else {
		unary(op, buf(dst).f32, buf(src).f32, sl)
	}
}

func unary[T float](op device.UnaryOp, d, x []T, sl device.Layout) {
	n := sl.Size()
	d = d[:n]
	st := storesFor[T](n)
	if sl.IsContiguous() {
		x = contiguousSlice(x, sl, n)
		if n < 2*grain {
			unaryKernel(op, d, x, st) // no closure: small ops allocate nothing here
			return
		}
		parallel.For(n, grain, func(lo, hi int) { unaryKernel(op, d[lo:hi], x[lo:hi], st) })
		return
	}
	w := newWalker(sl)
	st, fence := deferFence(st)
	parallel.For(n, grain, func(lo, hi int) {
		scratch := make([]T, block)
		w.walk(lo, hi, block, func(pos int, offs []int, m int) {
			unaryKernel(op, d[pos:pos+m], operand(x, offs[0], w.inner[0], m, scratch), st)
		})
		fence()
	})
}

// Scalar writes op(src, s) to dst.
func (be *Backend) Scalar(op device.ScalarOp, dst, src device.Buffer, sl device.Layout, s float64) {
	if buf(dst).dt == device.Float64 {
		scalarOp(op, buf(dst).f64, buf(src).f64, sl, s)
	} else {
		scalarOp(op, buf(dst).f32, buf(src).f32, sl, float32(s))
	}
}

func scalarOp[T float](op device.ScalarOp, d, x []T, sl device.Layout, s T) {
	n := sl.Size()
	d = d[:n]
	st := storesFor[T](n)
	if sl.IsContiguous() {
		x = contiguousSlice(x, sl, n)
		if n < 2*grain {
			scalarKernel(op, d, x, s, st)
			return
		}
		parallel.For(n, grain, func(lo, hi int) { scalarKernel(op, d[lo:hi], x[lo:hi], s, st) })
		return
	}
	w := newWalker(sl)
	st, fence := deferFence(st)
	parallel.For(n, grain, func(lo, hi int) {
		scratch := make([]T, block)
		w.walk(lo, hi, block, func(pos int, offs []int, m int) {
			scalarKernel(op, d[pos:pos+m], operand(x, offs[0], w.inner[0], m, scratch), s, st)
		})
		fence()
	})
}

// Binary writes op(a, b) to dst.
func (be *Backend) Binary(op device.BinaryOp, dst, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout) {
	switch buf(dst).dt {
	case device.Float64:
		binary(op, buf(dst).f64, buf(a).f64, al, buf(b).f64, bl)
	case device.Float32:
		binary(op, buf(dst).f32, buf(a).f32, al, buf(b).f32, bl)
	case device.Int32:
		compareInt(op, buf(dst).i32, buf(a).i32, al, buf(b).i32, bl)
	default:
		compareInt(op, buf(dst).i64, buf(a).i64, al, buf(b).i64, bl)
	}
}

// compareInt writes a op b (1 or 0) for the comparisons, the only binary
// operations of integer tensors (the CUDA kernels' compare_int).
func compareInt[T int32 | int64](op device.BinaryOp, d, a []T, al device.Layout, b []T, bl device.Layout) {
	var cmp func(x, y T) bool
	switch op {
	case device.Eq:
		cmp = func(x, y T) bool { return x == y }
	case device.Ne:
		cmp = func(x, y T) bool { return x != y }
	case device.Lt:
		cmp = func(x, y T) bool { return x < y }
	case device.Le:
		cmp = func(x, y T) bool { return x <= y }
	case device.Gt:
		cmp = func(x, y T) bool { return x > y }
	case device.Ge:
		cmp = func(x, y T) bool { return x >= y }
	default:
		panic("cpu: binary op " + op.String() + " on integers (only comparisons are defined)")
	}
	n := al.Size()
	if n == 0 {
		return
	}
	d = d[:n]
	w := newWalker(al, bl)
	sa, sb := w.inner[0], w.inner[1]
	parallel.For(n, grain, func(lo, hi int) {
		w.walk(lo, hi, n, func(pos int, offs []int, m int) {
			ia, ib := offs[0], offs[1]
			for j := range m {
				var r T
				if cmp(a[ia+j*sa], b[ib+j*sb]) {
					r = 1
				}
				d[pos+j] = r
			}
		})
	})
}

func binary[T float](op device.BinaryOp, d, a []T, al device.Layout, b []T, bl device.Layout) {
	n := al.Size()
	d = d[:n]
	st := storesFor[T](n)
	aC, bC := al.IsContiguous(), bl.IsContiguous()
	switch {
	case aC && bC:
		a, b = contiguousSlice(a, al, n), contiguousSlice(b, bl, n)
		if n < 2*grain {
			binaryVV(op, d, a, b, st)
			return
		}
		parallel.For(n, grain, func(lo, hi int) { binaryVV(op, d[lo:hi], a[lo:hi], b[lo:hi], st) })
		return
	case aC && bl.IsScalarBroadcast():
		a, s := contiguousSlice(a, al, n), b[bl.Offset]
		if n < 2*grain {
			binaryVS(op, d, a, s, st)
			return
		}
		parallel.For(n, grain, func(lo, hi int) { binaryVS(op, d[lo:hi], a[lo:hi], s, st) })
		return
	case bC && al.IsScalarBroadcast():
		s, b := a[al.Offset], contiguousSlice(b, bl, n)
		if n < 2*grain {
			binarySV(op, d, s, b, st)
			return
		}
		parallel.For(n, grain, func(lo, hi int) { binarySV(op, d[lo:hi], s, b[lo:hi], st) })
		return
	}
	w := newWalker(al, bl)
	st, fence := deferFence(st)
	sa, sb := w.inner[0], w.inner[1]
	maxSeg := n
	if (sa != 1 && sa != 0) || (sb != 1 && sb != 0) || (sa == 0 && sb == 0) {
		maxSeg = block
	}
	parallel.For(n, grain, func(lo, hi int) {
		var scratch []T
		if maxSeg == block {
			scratch = make([]T, block)
		}
		w.walk(lo, hi, maxSeg, func(pos int, offs []int, m int) {
			dd := d[pos : pos+m]
			switch {
			case sa == 1 && sb == 1:
				binaryVV(op, dd, a[offs[0]:offs[0]+m], b[offs[1]:offs[1]+m], st)
			case sa == 1 && sb == 0:
				binaryVS(op, dd, a[offs[0]:offs[0]+m], b[offs[1]], st)
			case sa == 0 && sb == 1:
				binarySV(op, dd, a[offs[0]], b[offs[1]:offs[1]+m], st)
			case sb == 0:
				binaryVS(op, dd, operand(a, offs[0], sa, m, scratch), b[offs[1]], st)
			case sa == 0:
				binarySV(op, dd, a[offs[0]], operand(b, offs[1], sb, m, scratch), st)
			case sa == 1:
				// a is read in place (and may be dst itself): gather only b.
				binaryVV(op, dd, a[offs[0]:offs[0]+m], operand(b, offs[1], sb, m, scratch), st)
			default:
				// Both strided: gather a into scratch, b into dd, then combine in place.
				av := operand(a, offs[0], sa, m, scratch)
				bv := operand(b, offs[1], sb, m, dd)
				binaryVV(op, dd, av, bv, st)
			}
		})
		fence()
	})
}

// Where writes a where cond != 0, else b.
func (be *Backend) Where(dst, cond device.Buffer, cl device.Layout, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout) {
	if buf(dst).dt == device.Float64 {
		where(buf(dst).f64, buf(cond).f64, cl, buf(a).f64, al, buf(b).f64, bl)
	} else {
		where(buf(dst).f32, buf(cond).f32, cl, buf(a).f32, al, buf(b).f32, bl)
	}
}

func where[T float](d, c []T, cl device.Layout, a []T, al device.Layout, b []T, bl device.Layout) {
	n := cl.Size()
	d = d[:n]
	w := newWalker(cl, al, bl)
	parallel.For(n, grain, func(lo, hi int) {
		s0, s1, s2 := make([]T, block), make([]T, block), make([]T, block)
		w.walk(lo, hi, block, func(pos int, offs []int, m int) {
			cv := operand(c, offs[0], w.inner[0], m, s0)
			av := operand(a, offs[1], w.inner[1], m, s1)
			bv := operand(b, offs[2], w.inner[2], m, s2)
			dd := d[pos : pos+m]
			for i := range dd {
				if cv[i] != 0 {
					dd[i] = av[i]
				} else {
					dd[i] = bv[i]
				}
			}
		})
	})
}

// AddScaled writes alpha·a + beta·b to dst.
func (be *Backend) AddScaled(dst, a device.Buffer, al device.Layout, alpha float64, b device.Buffer, bl device.Layout, beta float64) {
	if buf(dst).dt == device.Float64 {
		addScaled(buf(dst).f64, buf(a).f64, al, alpha, buf(b).f64, bl, beta)
	} else {
		addScaled(buf(dst).f32, buf(a).f32, al, float32(alpha), buf(b).f32, bl, float32(beta))
	}
}

func addScaled[T float](d, a []T, al device.Layout, alpha T, b []T, bl device.Layout, beta T) {
	n := al.Size()
	d = d[:n]
	st := storesFor[T](n)
	kernel := func(d, a, b []T) { addScaledKernel(d, a, b, alpha, beta, st) }
	if al.IsContiguous() && bl.IsContiguous() {
		a, b = contiguousSlice(a, al, n), contiguousSlice(b, bl, n)
		parallel.For(n, grain, func(lo, hi int) { kernel(d[lo:hi], a[lo:hi], b[lo:hi]) })
		return
	}
	w := newWalker(al, bl)
	st, fence := deferFence(st)
	parallel.For(n, grain, func(lo, hi int) {
		sa, sb := make([]T, block), make([]T, block)
		w.walk(lo, hi, block, func(pos int, offs []int, m int) {
			kernel(d[pos:pos+m], operand(a, offs[0], w.inner[0], m, sa), operand(b, offs[1], w.inner[1], m, sb))
		})
		fence()
	})
}

// addScaledKernel writes alpha·a[i] + beta·b[i] to d[i] for every i, with
// the assembly kernel where there is one; st says how d is written. The
// products are rounded before the sum (T(...)), so that no architecture
// fuses them into a multiply-add: the result is the same bits everywhere,
// and the same as the assembly kernels'.
func addScaledKernel[T float](d, a, b []T, alpha, beta T, st stores) {
	a, b = a[:len(d)], b[:len(d)]
	if useSIMD && simdAddScaled(d, a, b, alpha, beta, st) {
		return
	}
	switch {
	case alpha == 1 && beta == 1:
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case alpha == 1:
		for i := range d {
			d[i] = a[i] + T(beta*b[i])
		}
	default:
		for i := range d {
			d[i] = T(alpha*a[i]) + T(beta*b[i])
		}
	}
}
