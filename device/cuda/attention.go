package cuda

import (
	"fmt"

	"github.com/tapegrad/tapegrad/device"
)

// The kernels of module attention (kernels/attention.cu), by their index
// in kernels.AttentionOps.
const (
	attnFwd = iota
	attnDelta
	attnDKDV
	attnDQ
)

// attnThreads is the block size the attention kernels are compiled for
// (TG_ATTN_THREADS); attnTiles are their tile heights by dtype: forward
// query tiles, backward query and key tiles (TgAttnTiles).
const attnThreads = 128

var attnTiles = [2]struct{ fwdQ, bwdQ, bwdK int }{{32, 16, 16}, {16, 8, 8}}

// maxGridY is the largest grid height a launch may have.
const maxGridY = 65535

// attnGrid returns the grid of a tiled attention kernel: the tiles of n
// rows of height h across, the (batch, head) pairs down (both capped; the
// kernels loop).
func attnGrid(n, h, batch int) [3]uint32 {
	x := min(max((n+h-1)/h, 1), maxBlocks)
	return [3]uint32{uint32(x), uint32(min(max(batch, 1), maxGridY)), 1}
}

func (b *Backend) attnArgs(g device.AttentionGeom) (attnArgs, bool) {
	a := attnArgs{Batch: int64(g.Batch), L: int64(g.L), S: int64(g.S), D: int64(g.D), DVW: int64(g.DV),
		Causal: b2i(g.Causal), Scale: g.Scale}
	if g.D > device.AttentionMaxDim || g.DV > device.AttentionMaxDim {
		b.fail("Attention", fmt.Errorf("widths D=%d, DV=%d: the kernels take at most %d", g.D, g.DV, device.AttentionMaxDim))
		return a, false
	}
	return a, true
}

// Attention runs the fused forward kernel: one block per tile of queries
// and (batch, head) pair.
func (b *Backend) Attention(out, lse, q, k, v device.Buffer, g device.AttentionGeom) {
	if g.Batch == 0 || g.L == 0 {
		return
	}
	a, ok := b.attnArgs(g)
	if !ok {
		return
	}
	dt := dtIndex(bufOf(out).dt)
	a.Out, a.LSE, a.Q, a.K, a.V = bufOf(out).ptr, bufOf(lse).ptr, bufOf(q).ptr, bufOf(k).ptr, bufOf(v).ptr
	p, sz := argBytes(&a)
	b.launch(kAttn[dt][attnFwd], attnGrid(g.L, attnTiles[dt].fwdQ, g.Batch), [3]uint32{attnThreads, 1, 1}, p, sz)
}

// AttentionGrad runs the three backward kernels: the row sums
// delta = rowsum(dout∘out) into a scratch buffer, dk and dv by key tiles,
// dq by query tiles.
func (b *Backend) AttentionGrad(dq, dk, dv, dout, q, k, v, out, lse device.Buffer, g device.AttentionGeom) {
	if g.Batch == 0 {
		return
	}
	a, ok := b.attnArgs(g)
	if !ok {
		return
	}
	dt := dtIndex(bufOf(dq).dt)
	block := [3]uint32{attnThreads, 1, 1}
	a.Out, a.LSE, a.Q, a.K, a.V = bufOf(out).ptr, bufOf(lse).ptr, bufOf(q).ptr, bufOf(k).ptr, bufOf(v).ptr
	a.DOut, a.DQ, a.DK, a.DV = bufOf(dout).ptr, bufOf(dq).ptr, bufOf(dk).ptr, bufOf(dv).ptr
	if g.L > 0 {
		delta := b.temp(bufOf(dq).dt, g.Batch*g.L)
		defer b.Free(delta)
		a.Delta = delta.ptr
		p, sz := argBytes(&a)
		b.launch(kAttn[dt][attnDelta], grid1D(int64(g.Batch*g.L), 1), block, p, sz)
	}
	p, sz := argBytes(&a)
	if g.S > 0 {
		b.launch(kAttn[dt][attnDKDV], attnGrid(g.S, attnTiles[dt].bwdK, g.Batch), block, p, sz)
	}
	if g.L > 0 {
		b.launch(kAttn[dt][attnDQ], attnGrid(g.L, attnTiles[dt].bwdQ, g.Batch), block, p, sz)
	}
}
