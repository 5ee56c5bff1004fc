package gemm

// packFunc packs one full micro-panel (see the routines in
// kernel_amd64.s); kc ≥ 1.
type packFunc[T float] func(kc int, src *T, ld int, dst *T)

// packA packs rows [i0, i0+mc) and columns [p0, p0+kc) of op(A) into dst
// as ceil(mc/mr) micro-panels of kc×mr elements, panel r at dst[r*mr*kc:],
// element (i, p) of the panel at p*mr+i; rows past mc are zero. op(A)(i, p)
// is a[i*lda+p], or a[p*lda+i] when trans.
func (g *impl[T]) packA(dst, a []T, lda int, trans bool, i0, mc, p0, kc int) {
	mr := g.mr
	full := g.packAN
	if trans {
		full = g.packAT
	}
	for ir := 0; ir < mc; ir += mr {
		d := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		switch {
		case rows == mr && full != nil && !trans:
			full(kc, &a[(i0+ir)*lda+p0], lda, &d[0])
		case rows == mr && full != nil:
			full(kc, &a[p0*lda+i0+ir], lda, &d[0])
		case !trans:
			for i := 0; i < rows; i++ {
				src := a[(i0+ir+i)*lda+p0:][:kc]
				for p, v := range src {
					d[p*mr+i] = v
				}
			}
			for i := rows; i < mr; i++ {
				for p := 0; p < kc; p++ {
					d[p*mr+i] = 0
				}
			}
		default:
			o := p0*lda + i0 + ir
			for p := 0; p < kc; p++ {
				dd := d[p*mr : p*mr+mr]
				copy(dd, a[o:o+rows])
				clear(dd[rows:])
				o += lda
			}
		}
	}
}

// packB packs rows [p0, p0+kc) and columns [j0, j0+nc) of op(B) into dst
// as ceil(nc/nr) micro-panels of kc×nr elements, panel r at dst[r*nr*kc:],
// element (p, j) of the panel at p*nr+j; columns past nc are zero.
// op(B)(p, j) is b[p*ldb+j], or b[j*ldb+p] when trans.
func (g *impl[T]) packB(dst, b []T, ldb int, trans bool, p0, kc, j0, nc int) {
	nr := g.nr
	full := g.packBN
	if trans {
		full = g.packBT
	}
	for jr := 0; jr < nc; jr += nr {
		d := dst[jr*kc : (jr+nr)*kc]
		cols := min(nr, nc-jr)
		switch {
		case cols == nr && full != nil && !trans:
			full(kc, &b[p0*ldb+j0+jr], ldb, &d[0])
		case cols == nr && full != nil:
			full(kc, &b[(j0+jr)*ldb+p0], ldb, &d[0])
		case !trans:
			o := p0*ldb + j0 + jr
			for p := 0; p < kc; p++ {
				dd := d[p*nr : p*nr+nr]
				copy(dd, b[o:o+cols])
				clear(dd[cols:])
				o += ldb
			}
		default:
			for j := 0; j < cols; j++ {
				src := b[(j0+jr+j)*ldb+p0:][:kc]
				for p, v := range src {
					d[p*nr+j] = v
				}
			}
			for j := cols; j < nr; j++ {
				for p := 0; p < kc; p++ {
					d[p*nr+j] = 0
				}
			}
		}
	}
}
