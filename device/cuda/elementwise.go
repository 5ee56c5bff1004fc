package cuda

import (
	"fmt"
	"slices"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// Elementwise kernels: unary, scalar and binary maps, copies, fills, ranges and random numbers.

func dtIndex(dt device.DType) int {
	if dt == device.Float64 {
		return 1
	}
	return 0
}

// launchMap runs a unary or scalar kernel pair (dense id0, strided id1);
// a thread of the dense kernel takes vec elements per step.
func (b *Backend) launchMap(ids [2]int, dst, src device.Buffer, sl device.Layout, s float64, vec int64) {
	n := int64(sl.Size())
	if n == 0 {
		return
	}
	d, x := bufOf(dst), bufOf(src)
	if sl.IsContiguous() {
		a := mapArgs{Dst: d.ptr, Src: x.at(sl.Offset), N: n, S: s}
		p, sz := argBytes(&a)
		b.launch(ids[0], grid1D(n, vec), block1D, p, sz)
		return
	}
	shape, v, err := strided(sl)
	if err != nil {
		b.fail(kernelTable[ids[1]].name, err)
		return
	}
	a := mapStridedArgs{Dst: d.ptr, Src: x.ptr, S: s, Shape: shape, X: v[0]}
	p, sz := argBytes(&a)
	b.launch(ids[1], grid1D(n, 1), block1D, p, sz)
}

// Unary writes op(src) to dst.
func (b *Backend) Unary(op device.UnaryOp, dst, src device.Buffer, sl device.Layout) {
	b.launchMap(kUnary[op][dtIndex(bufOf(dst).dt)], dst, src, sl, 0, 4)
}

// Scalar writes op(src, s) to dst.
func (b *Backend) Scalar(op device.ScalarOp, dst, src device.Buffer, sl device.Layout, s float64) {
	b.launchMap(kScalar[op][dtIndex(bufOf(dst).dt)], dst, src, sl, s, 4)
}

// zipVariant picks the kernel variant for two same-shaped layouts and the
// column count the row/column variants need.
func zipVariant(al, bl device.Layout) (v int, cols int64) {
	aC, bC := al.IsContiguous(), bl.IsContiguous()
	switch {
	case aC && bC:
		return vVV, 0
	case aC && bl.IsScalarBroadcast():
		return vVS, 0
	case bC && al.IsScalarBroadcast():
		return vSV, 0
	}
	shape, st := device.Coalesce(al.Shape, al.Strides, bl.Strides)
	if len(shape) == 2 {
		c := shape[1]
		as, bs := st[0], st[1]
		switch {
		case as[0] == c && as[1] == 1 && bs[0] == 0 && bs[1] == 1:
			return vRow, int64(c)
		case bs[0] == c && bs[1] == 1 && as[0] == 0 && as[1] == 1:
			return vRowR, int64(c)
		case as[0] == c && as[1] == 1 && bs[0] == 1 && bs[1] == 0:
			return vCol, int64(c)
		case bs[0] == c && bs[1] == 1 && as[0] == 1 && as[1] == 0:
			return vColR, int64(c)
		}
	}
	return vS, 0
}

// launchZip runs a two-operand kernel: ids gives the kernel per variant
// (-1: none, the strided kernel instead); a thread of the vv, vs and sv
// kernels takes vec elements per step.
func (b *Backend) launchZip(ids *[numVariants]int, dst, a device.Buffer, al device.Layout, bb device.Buffer, bl device.Layout, alpha, beta float64, vec int64) {
	n := int64(al.Size())
	if n == 0 {
		return
	}
	d, x, y := bufOf(dst), bufOf(a), bufOf(bb)
	v, cols := zipVariant(al, bl)
	if ids[v] < 0 {
		v = vS
	}
	if v != vS {
		z := zipArgs{Dst: d.ptr, A: x.at(al.Offset), B: y.at(bl.Offset), N: n, Cols: cols, Alpha: alpha, Beta: beta}
		p, sz := argBytes(&z)
		per := vec
		if v != vVV && v != vVS && v != vSV {
			per = 1
		}
		b.launch(ids[v], grid1D(n, per), block1D, p, sz)
		return
	}
	shape, views, err := strided(al, bl)
	if err != nil {
		b.fail(kernelTable[ids[vS]].name, err)
		return
	}
	z := zipStridedArgs{Dst: d.ptr, A: x.ptr, B: y.ptr, Alpha: alpha, Beta: beta, Shape: shape, VA: views[0], VB: views[1]}
	p, sz := argBytes(&z)
	b.launch(ids[vS], grid1D(n, 1), block1D, p, sz)
}

// Binary writes op(a, b) to dst.
func (b *Backend) Binary(op device.BinaryOp, dst, a device.Buffer, al device.Layout, bb device.Buffer, bl device.Layout) {
	if dt := bufOf(dst).dt; dt.IsInt() {
		b.compareInt(op, dt, dst, a, al, bb, bl)
		return
	}
	b.launchZip(&kBinary[op][dtIndex(bufOf(dst).dt)], dst, a, al, bb, bl, 1, 1, 4)
}

// compareInt launches the comparison kernel of module index for integer
// operands (the only binary operations integers have).
func (b *Backend) compareInt(op device.BinaryOp, dt device.DType, dst, a device.Buffer, al device.Layout, bb device.Buffer, bl device.Layout) {
	if !slices.Contains(kernels.CompareOps, op) {
		b.fail("Binary", fmt.Errorf("binary op %v on %v tensors: integers have comparisons only", op, dt))
		return
	}
	id := kCompare[op][dt-device.Int32]
	n := int64(al.Size())
	if n == 0 {
		return
	}
	shape, views, err := strided(al, bl)
	if err != nil {
		b.fail(kernelTable[id].name, err)
		return
	}
	z := zipStridedArgs{Dst: bufOf(dst).ptr, A: bufOf(a).ptr, B: bufOf(bb).ptr, Shape: shape, VA: views[0], VB: views[1]}
	p, sz := argBytes(&z)
	b.launch(id, grid1D(n, 1), block1D, p, sz)
}

// AddScaled writes alpha·a + beta·b to dst.
func (b *Backend) AddScaled(dst, a device.Buffer, al device.Layout, alpha float64, bb device.Buffer, bl device.Layout, beta float64) {
	b.launchZip(axpbyIDs(kAxpby[dtIndex(bufOf(dst).dt)], al, bl), dst, a, al, bb, bl, alpha, beta, 4)
}

// axpbyIDs returns the axpby kernels by variant: the dense kernel (ids[0])
// for two dense operands, the strided one (ids[1]) for everything else.
func axpbyIDs(ids [2]int, al, bl device.Layout) *[numVariants]int {
	v := [numVariants]int{vVV: ids[0], vVS: -1, vSV: -1, vRow: -1, vRowR: -1, vCol: -1, vColR: -1, vS: ids[1]}
	if !al.IsContiguous() || !bl.IsContiguous() {
		v[vVV] = -1
	}
	return &v
}

// Where writes a where cond != 0, else b.
func (b *Backend) Where(dst, cond device.Buffer, cl device.Layout, a device.Buffer, al device.Layout, bb device.Buffer, bl device.Layout) {
	n := int64(cl.Size())
	if n == 0 {
		return
	}
	id := kWhere[dtIndex(bufOf(dst).dt)]
	shape, v, err := strided(cl, al, bl)
	if err != nil {
		b.fail(kernelTable[id].name, err)
		return
	}
	w := whereArgs{Dst: bufOf(dst).ptr, C: bufOf(cond).ptr, A: bufOf(a).ptr, B: bufOf(bb).ptr, Shape: shape, VC: v[0], VA: v[1], VB: v[2]}
	p, sz := argBytes(&w)
	b.launch(id, grid1D(n, 1), block1D, p, sz)
}

// Copy writes src (layout sl) to the positions dl of dst, converting dtype.
func (b *Backend) Copy(dst device.Buffer, dl device.Layout, src device.Buffer, sl device.Layout) {
	n := int64(sl.Size())
	if n == 0 {
		return
	}
	d, s := bufOf(dst), bufOf(src)
	dC, sC := dl.IsContiguous(), sl.IsContiguous()
	switch {
	case (d.dt.IsInt() || s.dt.IsInt() || d.dt.IsHalf() || s.dt.IsHalf()) && !(dC && sC && d.dt == s.dt):
		// Module index: one strided kernel per pair with an integer or a
		// half side.
		id := kCopyInt[s.dt][d.dt]
		shape, v, err := strided(dl, sl)
		if err != nil {
			b.fail(kernelTable[id].name, err)
			return
		}
		a := copyArgs{Dst: d.ptr, Src: s.ptr, Shape: shape, VD: v[0], VS: v[1]}
		p, sz := argBytes(&a)
		b.launch(id, grid1D(n, 1), block1D, p, sz)
	case dC && sC && d.dt == s.dt:
		if err := b.ctx.CopyDtoD(d.at(dl.Offset), s.at(sl.Offset), n*int64(d.dt.Size()), b.stream); err != nil {
			b.fail("Copy", err)
		}
	case dC && sC:
		a := mapArgs{Dst: d.at(dl.Offset), Src: s.at(sl.Offset), N: n}
		p, sz := argBytes(&a)
		b.launch(kConvert[dtIndex(s.dt)][dtIndex(d.dt)], grid1D(n, 4), block1D, p, sz)
	default:
		id := kCopy[dtIndex(s.dt)][dtIndex(d.dt)]
		shape, v, err := strided(dl, sl)
		if err != nil {
			b.fail(kernelTable[id].name, err)
			return
		}
		a := copyArgs{Dst: d.ptr, Src: s.ptr, Shape: shape, VD: v[0], VS: v[1]}
		p, sz := argBytes(&a)
		b.launch(id, grid1D(n, 1), block1D, p, sz)
	}
}

// Fill sets the positions dl of dst to v.
func (b *Backend) Fill(dst device.Buffer, dl device.Layout, v float64) {
	n := int64(dl.Size())
	if n == 0 {
		return
	}
	d := bufOf(dst)
	if d.dt.IsInt() || d.dt.IsHalf() {
		// Module index: v converted once on the device, as Copy converts
		// a float64 (for the half types, device.HalfFromFloat64).
		id := kFillInt[d.dt-device.Int32]
		shape, views, err := strided(dl)
		if err != nil {
			b.fail(kernelTable[id].name, err)
			return
		}
		a := fillArgs{Dst: d.ptr, V: v, Shape: shape, VD: views[0]}
		p, sz := argBytes(&a)
		b.launch(id, grid1D(n, 1), block1D, p, sz)
		return
	}
	dt := dtIndex(d.dt)
	if dl.IsContiguous() {
		a := mapArgs{Dst: d.at(dl.Offset), N: n, S: v}
		p, sz := argBytes(&a)
		b.launch(kFill[dt][0], grid1D(n, 4), block1D, p, sz)
		return
	}
	shape, views, err := strided(dl)
	if err != nil {
		b.fail(kernelTable[kFill[dt][1]].name, err)
		return
	}
	a := fillArgs{Dst: d.ptr, V: v, Shape: shape, VD: views[0]}
	p, sz := argBytes(&a)
	b.launch(kFill[dt][1], grid1D(n, 1), block1D, p, sz)
}

// Arange writes start + i·step to dst[i] for i < n.
func (b *Backend) Arange(dst device.Buffer, n int, start, step float64) {
	if n == 0 {
		return
	}
	d := bufOf(dst)
	a := arangeArgs{Dst: d.ptr, N: int64(n), Start: start, Step: step}
	p, sz := argBytes(&a)
	id := kArange[dtIndex(d.dt)]
	if d.dt.IsInt() {
		id = kArangeInt[d.dt-device.Int32]
	}
	b.launch(id, grid1D(int64(n), 1), block1D, p, sz)
}

// Random fills dst[0:n] from the Philox stream of device.RandomSpec.
func (b *Backend) Random(dst device.Buffer, n int, dist device.Dist, seed, counter uint64, lo, hi float64) {
	if n == 0 {
		return
	}
	d := bufOf(dst)
	a := randomArgs{Dst: d.ptr, N: int64(n), Seed: seed, Counter: counter, A: lo, B: hi}
	p, sz := argBytes(&a)
	b.launch(kRandom[dist][dtIndex(d.dt)], grid1D(int64(n), 4), block1D, p, sz)
}
