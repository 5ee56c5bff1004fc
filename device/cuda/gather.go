package cuda

import (
	"github.com/tapegrad/tapegrad/device"
)

// Gather and ScatterAdd: module index.

func gatherArgsOf(dst, src, idx *Buffer, g device.GatherGeom) gatherArgs {
	return gatherArgs{
		Dst: dst.ptr, Src: src.at(g.SrcOffset), Idx: idx.at(g.IdxOffset),
		Outer: int64(g.Outer), N: int64(g.N), M: int64(g.M), Inner: int64(g.Inner),
		IS0: int64(g.IdxStrides[0]), IS1: int64(g.IdxStrides[1]), IS2: int64(g.IdxStrides[2]),
	}
}

// Gather writes dst[o, i, k] = src[o, idx(o, i, k), k]: one thread per
// output element. An index outside [0, g.N) gives NaN (0 in an integer
// dtype) and is reported by the next synchronisation
// (device.IndexChecker).
func (b *Backend) Gather(dst, src, idx device.Buffer, g device.GatherGeom) {
	n := int64(g.Outer) * int64(g.M) * int64(g.Inner)
	if n == 0 {
		return
	}
	d, s, x := bufOf(dst), bufOf(src), bufOf(idx)
	a := gatherArgsOf(d, s, x, g)
	a.Err, a.ErrOp = b.errRecordFor(), int64(device.IndexGather)
	p, sz := argBytes(&a)
	b.launch(kGather[d.dt][x.dt-device.Int32], grid1D(n, 1), block1D, p, sz)
}

// ownerWork is the most index reads (outputs × terms) for which ScatterAdd
// gives each output element a thread that scans every index, rather than
// each (o, k) line a thread that adds its terms in turn: about a
// millisecond of reads on a current GPU, and far more parallel when the
// lines are few (an embedding table's columns).
const ownerWork = 1 << 30

// ScatterAdd writes dst[o, j, k] = Σ src[o, i, k] over the i with
// idx(o, i, k) = j, in increasing i: deterministic, no atomics. An index
// outside [0, g.N) adds nothing and is reported by the next
// synchronisation.
func (b *Backend) ScatterAdd(dst, src, idx device.Buffer, g device.GatherGeom) {
	outs := int64(g.Outer) * int64(g.N) * int64(g.Inner)
	if outs == 0 {
		return
	}
	d, s, x := bufOf(dst), bufOf(src), bufOf(idx)
	a := gatherArgsOf(d, s, x, g)
	a.Err, a.ErrOp = b.errRecordFor(), int64(device.IndexScatterAdd)
	p, sz := argBytes(&a)
	lines := int64(g.Outer) * int64(g.Inner)
	owner := g.IdxStrides[0] == 0 && g.IdxStrides[2] == 0 && lines < 1<<14 && outs*int64(g.M) <= ownerWork
	if owner {
		b.launch(kScatter[dtIndex(d.dt)][x.dt-device.Int32][1], grid1D(outs, 1), block1D, p, sz)
		return
	}
	b.launch(kScatter[dtIndex(d.dt)][x.dt-device.Int32][0], grid1D(lines, 1), block1D, p, sz)
}
