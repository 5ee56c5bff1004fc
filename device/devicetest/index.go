package devicetest

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// The integer dtypes and the index operations.

// intBuffer allocates a buffer of dtype dt holding vals, freed when the
// subtest ends.
func (c *tc) intBuffer(dt device.DType, vals []int64) device.Buffer {
	c.t.Helper()
	b, err := c.be.Alloc(dt, len(vals))
	if err != nil {
		c.t.Fatalf("Alloc(%v, %d): %v", dt, len(vals), err)
	}
	if b.Len() != len(vals) || b.DType() != dt {
		c.t.Fatalf("Alloc(%v, %d) gave a buffer of %d elements of %v", dt, len(vals), b.Len(), b.DType())
	}
	c.t.Cleanup(func() { c.be.Free(b) })
	c.be.Upload(b, vals)
	return b
}

// ints downloads the elements of b at l as int64.
func (c *tc) ints(b device.Buffer, l device.Layout) []int64 {
	c.t.Helper()
	d := make([]int64, l.Size())
	if err := c.be.Download(d, b, l); err != nil {
		c.t.Fatalf("Download: %v", err)
	}
	return d
}

func (c *tc) sameInts(what string, got, want []int64) {
	c.t.Helper()
	for i := range want {
		if got[i] != want[i] {
			c.t.Errorf("%s: element %d is %d, want %d (all: %v, want %v)", what, i, got[i], want[i], got, want)
			return
		}
	}
}

// convertRef converts v by the rules of Backend.Copy.
func convertRef(v float64, dt device.DType) float64 {
	switch dt {
	case device.Float32:
		return float64(float32(v))
	case device.Int32:
		return float64(device.FloatToInt32(v))
	case device.Int64:
		return float64(device.FloatToInt64(v))
	}
	return v
}

// testInts checks the integer dtypes: uploads and downloads of every host
// type, conversions in Copy between every pair of dtypes (dense and
// strided), Fill, Arange and the comparisons (Binary).
func testInts(c *tc) {
	dts := []device.DType{device.Float32, device.Float64, device.Int32, device.Int64}
	big := []int64{0, 1, -1, 1<<31 - 1, -1 << 31, 1<<53 + 1, math.MaxInt64, math.MinInt64, 1<<24 + 1, 12345}
	// Comparisons: every pair of values (a column against a row, both
	// broadcast, a read transposed), exact where float64 is not (2⁵³+1).
	for _, it := range []device.DType{device.Int32, device.Int64} {
		vals := append([]int64{1 << 53, 1<<53 + 2, math.MaxInt64 - 1}, big...)
		if it == device.Int32 {
			vals = []int64{0, 1, -1, 1<<31 - 1, -1 << 31, 1<<31 - 2, 7, 7}
		}
		n := len(vals)
		for _, op := range []device.BinaryOp{device.Eq, device.Ne, device.Lt, device.Le, device.Gt, device.Ge} {
			c.run(fmtf("Binary %v %v", op, it), func(c *tc) {
				a, b := c.intBuffer(it, vals), c.intBuffer(it, vals)
				dst := c.intBuffer(it, make([]int64, n*n))
				col := device.Layout{Shape: []int{n, n}, Strides: []int{1, 0}}
				row := device.Layout{Shape: []int{n, n}, Strides: []int{0, 1}}
				c.be.Binary(op, dst, a, col, b, row)
				want := make([]int64, n*n)
				for i, x := range vals {
					for j, y := range vals {
						var r bool
						switch op {
						case device.Eq:
							r = x == y
						case device.Ne:
							r = x != y
						case device.Lt:
							r = x < y
						case device.Le:
							r = x <= y
						case device.Gt:
							r = x > y
						default:
							r = x >= y
						}
						if r {
							want[i*n+j] = 1
						}
					}
				}
				c.sameInts(fmtf("%v of a column and a row", op), c.ints(dst, device.Contiguous([]int{n, n})), want)
			})
		}
	}
	c.run("Int64 round trip", func(c *tc) {
		b := c.intBuffer(device.Int64, big)
		c.sameInts("int64", c.ints(b, device.Contiguous([]int{len(big)})), big)
	})
	c.run("Int32 round trip", func(c *tc) {
		v := []int64{0, 1, -1, 1<<31 - 1, -1 << 31, 7}
		b := c.intBuffer(device.Int32, v)
		c.sameInts("int32", c.ints(b, device.Contiguous([]int{len(v)})), v)
		got := c.ints(c.intBuffer(device.Int32, []int64{1<<32 + 5, -1<<32 - 1}), device.Contiguous([]int{2}))
		c.sameInts("int64 into int32 (low 32 bits)", got, []int64{5, -1})
	})
	// Floats to integers: toward zero, NaN to 0, saturating; integers to
	// integers wrapping; to floats rounding to nearest even.
	specials := []float64{2.9, -2.9, math.NaN(), math.Inf(1), math.Inf(-1), 3e9, -3e9, 1e19, -1e19, -0.5, 0, 16777217, 4.5}
	for _, from := range dts {
		for _, to := range dts {
			c.run(fmtf("Copy %v to %v", from, to), func(c *tc) {
				// The source values, exactly: ints for integer sources.
				var fv []float64
				var iv []int64
				if from.IsInt() {
					iv = append(iv, big...)
					for _, v := range specials {
						iv = append(iv, device.FloatToInt64(v))
					}
					if from == device.Int32 {
						for i, v := range iv {
							iv[i] = int64(int32(v))
						}
					}
				} else {
					for _, v := range specials {
						fv = append(fv, convertRef(v, from))
					}
				}
				n := len(fv) + len(iv)
				src, err := c.be.Alloc(from, n)
				if err != nil {
					c.t.Fatal(err)
				}
				defer c.be.Free(src)
				if iv != nil {
					c.be.Upload(src, iv)
				} else {
					c.be.Upload(src, fv)
				}
				// The expected values: as int64 for integer destinations,
				// as float64 for float ones.
				wantI := make([]int64, n)
				wantF := make([]float64, n)
				for i := 0; i < n; i++ {
					switch {
					case iv != nil && to == device.Int32:
						wantI[i] = int64(int32(iv[i]))
					case iv != nil && to == device.Int64:
						wantI[i] = iv[i]
					case iv != nil && to == device.Float32:
						wantF[i] = float64(float32(iv[i]))
					case iv != nil:
						wantF[i] = float64(iv[i])
					case to == device.Int32:
						wantI[i] = int64(device.FloatToInt32(fv[i]))
					case to == device.Int64:
						wantI[i] = device.FloatToInt64(fv[i])
					default:
						wantF[i] = convertRef(fv[i], to)
					}
				}
				check := func(what string, b device.Buffer, l device.Layout, want func(i int) (int64, float64), skip func(i int) bool) {
					c.t.Helper()
					if to.IsInt() {
						got := c.ints(b, l)
						for i := range got {
							if w, _ := want(i); !skip(i) && got[i] != w {
								c.t.Errorf("%s: element %d is %d, want %d", what, i, got[i], w)
								return
							}
						}
						return
					}
					got := c.download(b, l)
					for i := range got {
						if _, w := want(i); !skip(i) && !sameFloat(got[i], w) {
							c.t.Errorf("%s: element %d is %v, want %v", what, i, got[i], w)
							return
						}
					}
				}
				dst, err := c.be.Alloc(to, n)
				if err != nil {
					c.t.Fatal(err)
				}
				defer c.be.Free(dst)
				l := device.Contiguous([]int{n})
				c.be.Copy(dst, l, src, l)
				check("dense", dst, l, func(i int) (int64, float64) { return wantI[i], wantF[i] }, func(int) bool { return false })
				// Strided: the reversed source into every other position
				// of a destination twice as long, the rest left at 3.
				dst2, err := c.be.Alloc(to, 2*n)
				if err != nil {
					c.t.Fatal(err)
				}
				defer c.be.Free(dst2)
				l2 := device.Contiguous([]int{2 * n})
				c.be.Fill(dst2, l2, 3)
				c.be.Copy(dst2, device.Layout{Shape: []int{n}, Strides: []int{2}, Offset: 1}, src, device.Layout{Shape: []int{n}, Strides: []int{-1}, Offset: n - 1})
				check("strided", dst2, l2, func(i int) (int64, float64) {
					if i%2 == 0 {
						return 3, 3
					}
					j := n - 1 - i/2
					return wantI[j], wantF[j]
				}, func(int) bool { return false })
			})
		}
	}
	for _, dt := range []device.DType{device.Int32, device.Int64} {
		c.run(fmtf("Fill %v", dt), func(c *tc) {
			for _, v := range []float64{-3.7, 5, 1e30, math.NaN()} {
				b := c.intBuffer(dt, make([]int64, 7))
				c.be.Fill(b, device.Layout{Shape: []int{3}, Strides: []int{2}, Offset: 1}, v)
				w := device.FloatToInt64(v)
				if dt == device.Int32 {
					w = int64(device.FloatToInt32(v))
				}
				c.sameInts(fmtf("Fill(%v)", v), c.ints(b, device.Contiguous([]int{7})), []int64{0, w, 0, w, 0, w, 0})
				c.be.Fill(b, device.Contiguous([]int{7}), v)
				c.sameInts(fmtf("dense Fill(%v)", v), c.ints(b, device.Contiguous([]int{7})), []int64{w, w, w, w, w, w, w})
			}
		})
		c.run(fmtf("Arange %v", dt), func(c *tc) {
			for _, r := range [][2]float64{{5, -3}, {-1000, 7}, {0, 1}} {
				n := 1000
				b := c.intBuffer(dt, make([]int64, n))
				c.be.Arange(b, n, r[0], r[1])
				want := make([]int64, n)
				for i := range want {
					want[i] = int64(r[0]) + int64(i)*int64(r[1])
				}
				c.sameInts(fmtf("Arange(%v, %v)", r[0], r[1]), c.ints(b, device.Contiguous([]int{n})), want)
			}
			if dt == device.Int64 {
				b := c.intBuffer(dt, make([]int64, 3))
				c.be.Arange(b, 3, 1<<53, 1)
				c.sameInts("Arange above 2^53", c.ints(b, device.Contiguous([]int{3})), []int64{1 << 53, 1<<53 + 1, 1<<53 + 2})
			}
		})
	}
}

func sameFloat(a, b float64) bool { return a == b || (a != a && b != b) }

// testGather checks Gather (float and integer sources) and ScatterAdd
// against plain loops, for index-select and take-along geometries, int32
// and int64 indices, with offsets, repeated indices and sizes that split
// across threads.
func testGather(c *tc) {
	type geom struct {
		name                 string
		outer, n, m, inner   int
		along                bool
		srcOff, idxOff, seed int
	}
	geoms := []geom{
		{name: "select", outer: 3, n: 5, m: 7, inner: 4},
		{name: "select-rows", outer: 1, n: 50, m: 300, inner: 33},
		{name: "select-inner1", outer: 40, n: 9, m: 11, inner: 1},
		{name: "select-offsets", outer: 2, n: 4, m: 3, inner: 5, srcOff: 3, idxOff: 2},
		{name: "along", outer: 3, n: 5, m: 4, inner: 6, along: true},
		{name: "along-large", outer: 64, n: 40, m: 40, inner: 17, along: true},
		{name: "along-offsets", outer: 2, n: 3, m: 2, inner: 2, along: true, srcOff: 1, idxOff: 5},
		{name: "empty", outer: 2, n: 3, m: 0, inner: 4},
		{name: "many-repeats", outer: 1, n: 3, m: 5000, inner: 2},
	}
	for _, idt := range []device.DType{device.Int32, device.Int64} {
		for _, gm := range geoms {
			c.run(fmtf("%s/%v", gm.name, idt), func(c *tc) {
				g := device.GatherGeom{Outer: gm.outer, N: gm.n, M: gm.m, Inner: gm.inner, SrcOffset: gm.srcOff, IdxOffset: gm.idxOff}
				nidx := gm.m
				if gm.along {
					g.IdxStrides = [3]int{gm.m * gm.inner, gm.inner, 1}
					nidx = gm.outer * gm.m * gm.inner
				} else {
					g.IdxStrides = [3]int{0, 1, 0}
				}
				iv := make([]int64, gm.idxOff+nidx)
				for i := range iv {
					iv[i] = int64(c.rng.IntN(gm.n))
				}
				idx := c.intBuffer(idt, iv)
				at := func(o, i, k int) int {
					return int(iv[gm.idxOff+o*g.IdxStrides[0]+i*g.IdxStrides[1]+k*g.IdxStrides[2]])
				}
				// Gather.
				ns := gm.outer * gm.n * gm.inner
				sv := c.uniform(gm.srcOff+ns, -2, 2)
				src := c.buffer(sv)
				nd := gm.outer * gm.m * gm.inner
				dst := c.output(nd)
				c.be.Gather(dst, src, idx, g)
				want := make([]float64, 0, nd)
				for o := 0; o < gm.outer; o++ {
					for i := 0; i < gm.m; i++ {
						for k := 0; k < gm.inner; k++ {
							want = append(want, sv[gm.srcOff+(o*gm.n+at(o, i, k))*gm.inner+k])
						}
					}
				}
				c.exact("Gather", c.result("Gather", dst, nd), want)
				// Gather of an integer source.
				isv := make([]int64, gm.srcOff+ns)
				for i := range isv {
					isv[i] = int64(i)*1000003 + 1<<40
				}
				isrc := c.intBuffer(device.Int64, isv)
				idst := c.intBuffer(device.Int64, make([]int64, nd))
				c.be.Gather(idst, isrc, idx, g)
				iw := make([]int64, 0, nd)
				for o := 0; o < gm.outer; o++ {
					for i := 0; i < gm.m; i++ {
						for k := 0; k < gm.inner; k++ {
							iw = append(iw, isv[gm.srcOff+(o*gm.n+at(o, i, k))*gm.inner+k])
						}
					}
				}
				c.sameInts("Gather int64", c.ints(idst, device.Contiguous([]int{nd})), iw)
				// ScatterAdd: src [outer, m, inner] into [outer, n, inner],
				// added in increasing i in the dtype (in float32 for
				// the half types, rounded once).
				gv := c.uniform(gm.srcOff+nd, -2, 2)
				gsrc := c.buffer(gv)
				sdst := c.output(ns)
				c.be.ScatterAdd(sdst, gsrc, idx, g)
				sw := make([]float64, ns)
				for o := 0; o < gm.outer; o++ {
					for i := 0; i < gm.m; i++ {
						for k := 0; k < gm.inner; k++ {
							p := (o*gm.n+at(o, i, k))*gm.inner + k
							sw[p] = c.computeRound(sw[p] + gv[gm.srcOff+(o*gm.m+i)*gm.inner+k])
						}
					}
				}
				c.exact("ScatterAdd", c.result("ScatterAdd", sdst, ns), sw)
			})
		}
	}
}
