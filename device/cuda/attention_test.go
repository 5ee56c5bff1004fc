package cuda

import (
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// TestAttentionPlans checks, on the fake driver, the kernels Attention and
// AttentionGrad launch, in order, with their grids (tiles across, heads
// down, both capped), block size and packed arguments; that empty
// problems launch only what writes their (zero) gradients; and that a
// width over device.AttentionMaxDim is an error at the next
// synchronisation instead of a launch.
func TestAttentionPlans(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	block := [3]uint32{attnThreads, 1, 1}
	for dt, tiles := range attnTiles {
		d := device.DType(dt)
		name := func(op string) string { return kernels.AttentionName(op, d) }
		buf := func() *Buffer { return alloc(t, b, d, 1<<16) }
		q, k, v, out, lse, g, dq, dk, dv := buf(), buf(), buf(), buf(), buf(), buf(), buf(), buf(), buf()
		for _, c := range []struct {
			g device.AttentionGeom
		}{
			{device.AttentionGeom{Batch: 128, L: 128, S: 128, D: 32, DV: 32, Scale: 0.25, Causal: true}},
			{device.AttentionGeom{Batch: 3, L: 70, S: 33, D: 128, DV: 100, Scale: -1}},
			{device.AttentionGeom{Batch: 70000, L: 1, S: 1, D: 0, DV: 0, Scale: 1}},
		} {
			gm := c.g
			grid := func(n, h int) [3]uint32 {
				return [3]uint32{uint32(max((n+h-1)/h, 1)), uint32(min(gm.Batch, 65535)), 1}
			}
			check := func(l launchRecord, op string, grid [3]uint32) attnArgs {
				t.Helper()
				a := decode[attnArgs](l)
				if l.name != name(op) || l.grid != grid || l.block != block || a.Batch != int64(gm.Batch) || a.L != int64(gm.L) ||
					a.S != int64(gm.S) || a.D != int64(gm.D) || a.DVW != int64(gm.DV) || a.Scale != gm.Scale || a.Causal != b2i(gm.Causal) ||
					a.Q != q.ptr || a.K != k.ptr || a.V != v.ptr || a.LSE != lse.ptr || a.Out != out.ptr {
					t.Errorf("%+v: launched %s grid %v block %v with %+v, want %s grid %v", gm, l.name, l.grid, l.block, a, name(op), grid)
				}
				return a
			}
			n := len(ctx.launches)
			b.Attention(out, lse, q, k, v, gm)
			if len(ctx.launches) != n+1 {
				t.Fatalf("%+v: Attention launched %d kernels, want 1", gm, len(ctx.launches)-n)
			}
			check(ctx.launches[n], "fwd", grid(gm.L, tiles.fwdQ))

			n = len(ctx.launches)
			b.AttentionGrad(dq, dk, dv, g, q, k, v, out, lse, gm)
			if len(ctx.launches) != n+3 {
				t.Fatalf("%+v: AttentionGrad launched %d kernels, want 3", gm, len(ctx.launches)-n)
			}
			a := check(ctx.launches[n], "delta", grid1D(int64(gm.Batch*gm.L), 1))
			if a.Delta == 0 || a.DOut != g.ptr {
				t.Errorf("%+v: delta kernel with scratch %#x, dout %#x", gm, a.Delta, a.DOut)
			}
			for i, op := range []struct {
				name string
				grid [3]uint32
			}{{"dkdv", grid(gm.S, tiles.bwdK)}, {"dq", grid(gm.L, tiles.bwdQ)}} {
				a2 := check(ctx.launches[n+1+i], op.name, op.grid)
				if a2.Delta != a.Delta || a2.DQ != dq.ptr || a2.DK != dk.ptr || a2.DV != dv.ptr || a2.DOut != g.ptr {
					t.Errorf("%+v: %s with %+v", gm, op.name, a2)
				}
			}
		}

		// Empty problems: no forward launch; the backward writes the
		// gradients that exist (dk, dv zero for L = 0; dq zero for S = 0).
		n := len(ctx.launches)
		b.Attention(out, lse, q, k, v, device.AttentionGeom{Batch: 2, L: 0, S: 4, D: 4, DV: 4})
		b.Attention(out, lse, q, k, v, device.AttentionGeom{Batch: 0, L: 3, S: 4, D: 4, DV: 4})
		b.AttentionGrad(dq, dk, dv, g, q, k, v, out, lse, device.AttentionGeom{Batch: 0, L: 3, S: 4, D: 4, DV: 4})
		if len(ctx.launches) != n {
			t.Errorf("empty attention launched %d kernels", len(ctx.launches)-n)
		}
		b.AttentionGrad(dq, dk, dv, g, q, k, v, out, lse, device.AttentionGeom{Batch: 2, L: 0, S: 4, D: 4, DV: 4})
		if len(ctx.launches) != n+1 || ctx.launches[n].name != name("dkdv") {
			t.Errorf("L = 0: launched %v, want dkdv only", ctx.launches[n:])
		}
		n = len(ctx.launches)
		b.Attention(out, lse, q, k, v, device.AttentionGeom{Batch: 2, L: 3, S: 0, D: 4, DV: 4})
		b.AttentionGrad(dq, dk, dv, g, q, k, v, out, lse, device.AttentionGeom{Batch: 2, L: 3, S: 0, D: 4, DV: 4})
		if len(ctx.launches) != n+3 || ctx.launches[n].name != name("fwd") || ctx.launches[n+1].name != name("delta") ||
			ctx.launches[n+2].name != name("dq") {
			t.Errorf("S = 0: launched %v, want fwd, delta, dq", ctx.launches[n:])
		}

		// Too wide: an error at the next synchronisation, no launch.
		n = len(ctx.launches)
		b.Attention(out, lse, q, k, v, device.AttentionGeom{Batch: 1, L: 2, S: 2, D: 129, DV: 4})
		if len(ctx.launches) != n {
			t.Error("D = 129 launched a kernel")
		}
		if err := b.Synchronize(); err == nil {
			t.Error("D = 129 reported no error")
		}
	}
}
