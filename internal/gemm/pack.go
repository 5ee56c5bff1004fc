package gemm

// packFunc packs one full micro-panel (see the routines in
// kernel_amd64.s); kc ≥ 1.
type packFunc[T float] func(kc int, src *T, ld int, dst *T)

// packA packs rows [i0, i0+mc) and columns [p0, p0+kc) of op(A) into dst
// as ceil(mc/mr) micro-panels of kc×mr elements, panel r at dst[r*mr*kc:],
// element (i, p) of the panel at p*mr+i; rows past mc are zero. op(A)(i, p)
// is a[i*lda+p], or a[p*lda+i] when trans.
func (g *impl[T]) packA(dst, a []T, lda int, trans bool, i0, mc, p0, kc int) {
	full := g.packAN
	if trans {
		full = g.packAT
	}
	pack(dst, a, lda, !trans, i0, mc, p0, kc, g.mr, full)
}

// packB packs rows [p0, p0+kc) and columns [j0, j0+nc) of op(B) into dst
// as ceil(nc/nr) micro-panels of kc×nr elements, panel r at dst[r*nr*kc:],
// element (p, j) of the panel at p*nr+j; columns past nc are zero.
// op(B)(p, j) is b[p*ldb+j], or b[j*ldb+p] when trans.
func (g *impl[T]) packB(dst, b []T, ldb int, trans bool, p0, kc, j0, nc int) {
	full := g.packBN
	if trans {
		full = g.packBT
	}
	pack(dst, b, ldb, trans, j0, nc, p0, kc, g.nr, full)
}

// pack is packA and packB: lanes [l0, l0+n) (A's rows, B's columns) and
// depths [k0, k0+kc) of src into ceil(n/w) micro-panels of kc×w elements,
// panel r at dst[r*w*kc:], element (l, p) of the panel at p*w+l, lanes
// past n zero. Element (l, p) is src[l*ld+p] when rowLanes (each lane a
// row of src), else src[p*ld+l]. full, if not nil, packs a whole panel.
func pack[T float](dst, src []T, ld int, rowLanes bool, l0, n, k0, kc, w int, full packFunc[T]) {
	for lr := 0; lr < n; lr += w {
		d := dst[lr*kc : (lr+w)*kc]
		lanes := min(w, n-lr)
		switch {
		case lanes == w && full != nil && rowLanes:
			full(kc, &src[(l0+lr)*ld+k0], ld, &d[0])
		case lanes == w && full != nil:
			full(kc, &src[k0*ld+l0+lr], ld, &d[0])
		case rowLanes:
			for l := 0; l < lanes; l++ {
				for p, v := range src[(l0+lr+l)*ld+k0:][:kc] {
					d[p*w+l] = v
				}
			}
			for l := lanes; l < w; l++ {
				for p := 0; p < kc; p++ {
					d[p*w+l] = 0
				}
			}
		default:
			o := k0*ld + l0 + lr
			for p := 0; p < kc; p++ {
				dd := d[p*w : p*w+w]
				copy(dd, src[o:o+lanes])
				clear(dd[lanes:])
				o += ld
			}
		}
	}
}

// packA is g.packA of the job's A, widened from 16 bits if it has them.
func (j *job[T]) packA(s *scratch[T], dst []T, i0, mc, p0, kc int) {
	if j.ha == nil {
		j.g.packA(dst, j.a, j.lda, j.tA, i0, mc, p0, kc)
		return
	}
	packHalf(dst, j.ha, j.lda, !j.tA, i0, mc, p0, kc, j.g.mr, j.g.packAN, j.widen, s)
}

// packB is g.packB of the job's B, widened from 16 bits if it has them.
func (j *job[T]) packB(s *scratch[T], dst []T, p0, kc, j0, nc int) {
	if j.hb == nil {
		j.g.packB(dst, j.b, j.ldb, j.tB, p0, kc, j0, nc)
		return
	}
	packHalf(dst, j.hb, j.ldb, j.tB, j0, nc, p0, kc, j.g.nr, j.g.packBT, j.widen, s)
}

// packHalf is pack for a 16-bit src, each element widened to T, through
// s.row. Lanes that are rows of src: a panel's rows are widened into
// s.row, which pack (with rowFull, the full-panel routine for row lanes)
// then packs. Lanes that are columns: each depth's row of all n lanes is
// widened at once and copied into the panels. The panels hold what pack
// would put there from the widened src.
func packHalf[T float](dst []T, src []uint16, ld int, rowLanes bool, l0, n, k0, kc, w int, rowFull packFunc[T], widen func([]T, []uint16), s *scratch[T]) {
	if rowLanes {
		s.row = grow(s.row, w*kc)
		for lr := 0; lr < n; lr += w {
			lanes := min(w, n-lr)
			for l := 0; l < lanes; l++ {
				widen(s.row[l*kc:(l+1)*kc], src[(l0+lr+l)*ld+k0:][:kc])
			}
			pack(dst[lr*kc:(lr+w)*kc], s.row, kc, true, 0, lanes, 0, kc, w, rowFull)
		}
		return
	}
	s.row = grow(s.row, n)
	for p := 0; p < kc; p++ {
		widen(s.row, src[(k0+p)*ld+l0:][:n])
		for lr := 0; lr < n; lr += w {
			lanes := min(w, n-lr)
			dd := dst[lr*kc+p*w : lr*kc+p*w+w]
			copy(dd, s.row[lr:lr+lanes])
			clear(dd[lanes:])
		}
	}
}
