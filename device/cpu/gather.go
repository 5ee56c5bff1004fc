package cpu

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// Gather writes dst[o, i, k] = src[o, idx(o, i, k), k].
func (be *Backend) Gather(dst, src, idx device.Buffer, g device.GatherGeom) {
	d, s, x := buf(dst), buf(src), buf(idx)
	switch d.dt {
	case device.Float32:
		gatherIdx(d.f32, s.f32, x, g)
	case device.Float64:
		gatherIdx(d.f64, s.f64, x, g)
	case device.Int32:
		gatherIdx(d.i32, s.i32, x, g)
	default:
		gatherIdx(d.i64, s.i64, x, g)
	}
}

func gatherIdx[T elem](d, s []T, x *Buffer, g device.GatherGeom) {
	if x.dt == device.Int32 {
		gather(d, s, x.i32, g)
	} else {
		gather(d, s, x.i64, g)
	}
}

func gather[T elem, I int32 | int64](d, s []T, idx []I, g device.GatherGeom) {
	rows, in := g.Outer*g.M, g.Inner
	if rows == 0 || in == 0 {
		return
	}
	s = s[g.SrcOffset:]
	idx = idx[g.IdxOffset:]
	so, si, sk := g.IdxStrides[0], g.IdxStrides[1], g.IdxStrides[2]
	parallel.For(rows*in, grain, func(lo, hi int) {
		for r := lo / in; r*in < hi; r++ {
			o, i := r/g.M, r%g.M
			k0, k1 := max(lo-r*in, 0), min(hi-r*in, in)
			dr := d[r*in : (r+1)*in]
			base := o * g.N * in
			ib := o*so + i*si
			if sk == 0 {
				// One index for the row: copy a run of the source row.
				j := int(idx[ib])
				copy(dr[k0:k1], s[base+j*in+k0:base+j*in+k1])
				continue
			}
			for k := k0; k < k1; k++ {
				dr[k] = s[base+int(idx[ib+k*sk])*in+k]
			}
		}
	})
}

// ScatterAdd writes dst[o, j, k] = Σ src[o, i, k] over the i with
// idx(o, i, k) = j, in increasing i.
func (be *Backend) ScatterAdd(dst, src, idx device.Buffer, g device.GatherGeom) {
	d, s, x := buf(dst), buf(src), buf(idx)
	if d.dt == device.Float64 {
		scatterIdx(d.f64, s.f64, x, g)
	} else {
		scatterIdx(d.f32, s.f32, x, g)
	}
}

func scatterIdx[T float](d, s []T, x *Buffer, g device.GatherGeom) {
	if x.dt == device.Int32 {
		scatterAdd(d, s, x.i32, g)
	} else {
		scatterAdd(d, s, x.i64, g)
	}
}

// scatterAdd splits the work over (o, run of k): each destination element
// belongs to one piece, which adds its terms in increasing i.
func scatterAdd[T float, I int32 | int64](d, s []T, idx []I, g device.GatherGeom) {
	in := g.Inner
	d = d[:g.Outer*g.N*in]
	clear(d)
	if g.Outer == 0 || in == 0 || g.M == 0 {
		return
	}
	s = s[g.SrcOffset:]
	idx = idx[g.IdxOffset:]
	so, si, sk := g.IdxStrides[0], g.IdxStrides[1], g.IdxStrides[2]
	// Pieces of at least grain terms, split along k.
	kc := in
	if per := g.M * in; per > grain {
		kc = max(grain/g.M, 64)
	}
	nk := (in + kc - 1) / kc
	parallel.For(g.Outer*nk, max(1, grain/(g.M*kc)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			o, c := p/nk, p%nk
			k0, k1 := c*kc, min((c+1)*kc, in)
			db := o * g.N * in
			for i := 0; i < g.M; i++ {
				sr := s[(o*g.M+i)*in : (o*g.M+i+1)*in]
				ib := o*so + i*si
				if sk == 0 {
					dr := d[db+int(idx[ib])*in:]
					addInto(dr[k0:k1], sr[k0:k1])
					continue
				}
				for k := k0; k < k1; k++ {
					d[db+int(idx[ib+k*sk])*in+k] += sr[k]
				}
			}
		}
	})
}

// addInto adds s to d elementwise (the AVX2 kernel where there is one).
func addInto[T float](d, s []T) {
	s = s[:len(d)]
	if useSIMD && simdBinaryVV(device.Add, d, d, s, cached) {
		return
	}
	for k := range d {
		d[k] += s[k]
	}
}
