package tensor

import (
	"fmt"
	"slices"

	"github.com/tapegrad/tapegrad/device"
)

// Indexing by integer tensors: IndexSelect (NumPy's take along an axis;
// PyTorch's index_select and embedding lookup), Take (flat indices) and
// Gather (PyTorch's gather, NumPy's take_along_axis). The indices are Int32
// or Int64 tensors on the source's device, each in [0, length) of the axis
// it indexes (no negative indices, as PyTorch). On the CPU they are
// checked before anything is computed and a bad one panics with ErrIndex
// at the operation; on CUDA the kernels check them without the host
// waiting: the outputs are NaN where a bad index is used (0 for integer
// tensors), and the ErrIndex panic comes at the next read of a tensor on
// that device (Item, Float32s, To, ...), as with PyTorch's device-side
// asserts but recoverable with [Maybe]. The gradients are scatter-adds
// that sum the contributions to each element in the order of the indices'
// positions, so they are the same bits on every run and device (no
// floating-point atomics).

// IndexSelect returns the slices of t at the given indices along axis: the
// result has t's shape with the axis replaced by idx's shape, and
// out[..., i..., ...] = t[..., idx[i...], ...]. With t of shape [V, E] and
// token ids of shape [B, T], t.IndexSelect(0, ids) is an embedding lookup of
// shape [B, T, E]. It is differentiable in t.
func (t *Tensor) IndexSelect(axis int, idx *Tensor) *Tensor {
	const op = "IndexSelect"
	checkIndexOperands(op, t, idx)
	ax := normAxes(op, t, []int{axis})[0]
	checkIndices(op, idx, t.shape[ax], t)
	shape := slices.Concat(t.shape[:ax], idx.shape, t.shape[ax+1:])
	numElements(op, shape, t, idx)
	g := device.GatherGeom{
		Outer: device.NumElements(t.shape[:ax]), N: t.shape[ax], M: idx.Size(),
		Inner: device.NumElements(t.shape[ax+1:]), IdxStrides: [3]int{0, 1, 0},
	}
	return gatherRecorded(op, t, idx, g, shape)
}

// Take returns the elements of t at the flat (row-major) indices idx, in
// idx's shape (PyTorch's take). It is differentiable in t.
func (t *Tensor) Take(idx *Tensor) *Tensor {
	const op = "Take"
	checkIndexOperands(op, t, idx)
	checkIndices(op, idx, t.Size(), t)
	g := device.GatherGeom{Outer: 1, N: t.Size(), M: idx.Size(), Inner: 1, IdxStrides: [3]int{0, 1, 0}}
	return gatherRecorded(op, t.Reshape(-1), idx, g, idx.Shape())
}

// Gather returns out[p] = t[p with its axis coordinate replaced by idx[p]]
// for every position p of idx, which has t's rank and, on every other
// axis, at most t's length (PyTorch's gather, NumPy's take_along_axis).
// Picking each row's entry at its label is Gather(1, labels.Reshape(-1,
// 1)). It is differentiable in t.
func (t *Tensor) Gather(axis int, idx *Tensor) *Tensor {
	const op = "Gather"
	checkIndexOperands(op, t, idx)
	ax := normAxes(op, t, []int{axis})[0]
	if len(idx.shape) != len(t.shape) {
		fail(ErrShape, op, fmt.Sprintf("the indices have rank %d, the tensor %d", len(idx.shape), len(t.shape)), t, idx)
	}
	src := t
	for d, n := range idx.shape {
		if d != ax && n > t.shape[d] {
			fail(ErrShape, op, fmt.Sprintf("axis %d of the indices has length %d, more than the tensor's %d", d, n, t.shape[d]), t, idx)
		}
		if d != ax && n < t.shape[d] {
			src = src.Slice(d, 0, n)
		}
	}
	checkIndices(op, idx, t.shape[ax], t)
	m, in := idx.shape[ax], device.NumElements(idx.shape[ax+1:])
	g := device.GatherGeom{
		Outer: device.NumElements(idx.shape[:ax]), N: t.shape[ax], M: m, Inner: in,
		IdxStrides: [3]int{m * in, in, 1},
	}
	return gatherRecorded(op, src, idx, g, idx.Shape())
}

func checkIndexOperands(op string, t, idx *Tensor) {
	t.live(op)
	idx.live(op)
	if !idx.st.dt.IsInt() {
		fail(ErrDType, op, fmt.Sprintf("indices must be int32 or int64, not %v (convert with AsType(tensor.Int64))", idx.st.dt), t, idx)
	}
	if t.st.dev != idx.st.dev {
		fail(ErrDevice, op, "the tensor and the indices are on different devices; move one with To", t, idx)
	}
}

// checkIndices panics with ErrIndex unless every index is in [0, n). On a
// device that checks indices itself ([device.IndexChecker]: CUDA), the
// gather and scatter-add kernels check them instead, and a bad one
// panics at the next read of a tensor on that device.
func checkIndices(op string, idx *Tensor, n int, t *Tensor) {
	if deviceChecker(idx) != nil {
		return
	}
	if i, v, ok := firstOutside(idx, int64(n)); ok {
		fail(ErrIndex, op, fmt.Sprintf("index %d (at flat position %d) is outside [0, %d)", v, i, n), t, idx)
	}
}

// deviceChecker returns t's backend when it checks indices and labels on
// the device (t's memory is not the host's and the backend implements
// device.IndexChecker), else nil: then package tensor checks them on the
// host, at the operation.
func deviceChecker(t *Tensor) device.IndexChecker {
	if _, ok := t.st.buf.(device.HostBuffer); ok {
		return nil
	}
	ic, _ := device.Unwrap(t.st.be).(device.IndexChecker)
	return ic
}

// firstOutside returns the first element of the integer tensor idx (flat
// position and value) outside [0, n). A contiguous CPU tensor is read in
// place; others are copied to the host first (on a GPU this waits for it).
func firstOutside(idx *Tensor, n int64) (int, int64, bool) {
	if hb, ok := idx.st.buf.(device.HostBuffer); ok && idx.isContiguous() {
		lo, hi := idx.offset, idx.offset+idx.Size()
		if idx.st.dt == Int32 {
			return outside(hb.Int32s()[lo:hi], n)
		}
		return outside(hb.Int64s()[lo:hi], n)
	}
	return outside(idx.Int64s(), n)
}

func outside[I int32 | int64](v []I, n int64) (int, int64, bool) {
	for i, x := range v {
		if int64(x) < 0 || int64(x) >= n {
			return i, int64(x), true
		}
	}
	return 0, 0, false
}

// denseIndex returns idx contiguous from offset 0 of a buffer of its own
// or shared: the index geometry addresses it densely from IdxOffset.
func denseIndex(op string, idx *Tensor) (*Tensor, int) {
	if idx.isContiguous() {
		return idx, idx.offset
	}
	return materialize(op, idx), 0
}

// gatherRecorded computes the gather of src (copied first if it is not
// contiguous) and records its backward, a scatter-add into src's shape.
func gatherRecorded(op string, src, idx *Tensor, g device.GatherGeom, shape []int) *Tensor {
	if !src.isContiguous() {
		src = src.Contiguous() // recorded: the gradient flows back through the copy
	}
	idx, g.IdxOffset = denseIndex(op, idx)
	g.SrcOffset = src.offset
	out := empty(op, src.st.be, src.st.dt, shape)
	src.st.be.Gather(out.st.buf, src.st.buf, idx.st.buf, g)
	if recording(src) {
		in := src.shape
		record(out, op, func(c *bctx) { c.set(0, scatterRecorded(op+"Grad", c.g, idx, g, in)) }, src)
	}
	return out
}

// scatterRecorded computes the scatter-add of src (the gradient of a
// gather of geometry g) into a tensor of shape, and records its backward,
// a gather, so that gradients can be differentiated again.
func scatterRecorded(op string, src, idx *Tensor, g device.GatherGeom, shape []int) *Tensor {
	if !src.isContiguous() {
		src = src.Contiguous()
	}
	g.SrcOffset = src.offset
	out := empty(op, src.st.be, src.st.dt, shape)
	src.st.be.ScatterAdd(out.st.buf, src.st.buf, idx.st.buf, g)
	if recording(src) {
		in := src.shape
		record(out, op, func(c *bctx) { c.set(0, gatherRecorded(op+"Grad", c.g, idx, g, in)) }, src)
	}
	return out
}
