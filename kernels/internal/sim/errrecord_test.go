//go:build kernelsim

package sim

import (
	"fmt"
	"math"
	"testing"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The device-side error record (TgErrRecord): the kernels that read labels
// or indices record the first bad one and write NaN (or skip the term),
// and leave the record clear when every value is good.

// newRecord returns a zeroed record in simulated memory and its fields.
func newRecord() (*Mem, *ErrRecord) {
	m := Alloc(kernels.ErrRecordSize)
	return m, (*ErrRecord)(unsafe.Pointer(&m.Bytes()[0]))
}

func checkClear(t *testing.T, what string, r *ErrRecord) {
	t.Helper()
	if *r != (ErrRecord{}) {
		t.Errorf("%s: the record is %+v with good values, want it clear", what, *r)
	}
}

// checkRecord checks that r holds one of the bad values of vals (at the
// positions bad) with the right code, the operation's code and the bound.
func checkRecord(t *testing.T, what string, r *ErrRecord, op int64, vals []float64, bad []int, bound int64, isInt bool) {
	t.Helper()
	ok := false
	for _, p := range bad {
		ok = ok || r.Pos == int64(p)
	}
	if !ok {
		t.Errorf("%s: recorded position %d, want one of %v (record %+v)", what, r.Pos, bad, *r)
		return
	}
	v := vals[r.Pos]
	code := int64(kernels.ErrRange)
	if v != math.Trunc(v) || math.IsInf(v, 0) {
		code = kernels.ErrNotInt
	}
	sameVal := r.FValue == v || (math.IsNaN(v) && math.IsNaN(r.FValue))
	if r.Code != code || r.Op != op || r.Bound != bound || !sameVal || (r.IsInt == 1) != isInt ||
		(isInt && r.IValue != int64(v)) || (!isInt && r.IValue != 0) {
		t.Errorf("%s: record %+v for value %v at %d, want code %d, op %d, bound %d", what, *r, v, r.Pos, code, op, bound)
	}
}

func TestSoftmaxCEErrRecord(t *testing.T) {
	const n, op = 9, 7
	for _, c := range []int{3, 300} {
		x := redData(n*c, uint64(c)+5)
		for _, bad := range [][]int{nil, {0}, {4}, {n - 1}, {1, 6}} {
			for _, v := range []float64{float64(c), -1, 0.5, math.NaN(), math.Inf(1), 1 << 40} {
				if bad == nil && v != float64(c) {
					continue
				}
				labels := make([]float64, n)
				for i := range labels {
					labels[i] = float64((i * 5) % c)
				}
				for _, p := range bad {
					labels[p] = v
				}
				for _, dt := range dts {
					what := fmt.Sprintf("%v c=%d bad %v = %v", dt, c, bad, v)
					lg, lb := newDev(dt, x), newDev(dt, labels)
					loss, prob := newDev(dt, make([]float64, n)), newDev(dt, make([]float64, n*c))
					rm, rec := newRecord()
					launch(t, "tg_softmaxce_"+dtName(dt), &SoftmaxArgs{Loss: loss.at(0), Prob: prob.at(0), Logits: lg.at(0),
						Labels: lb.at(0), N: n, C: int64(c), Err: rm.Addr(0), ErrOp: op}, [3]int{3, 1, 1}, 256)
					l := loss.get()
					for i := range l {
						isBad := false
						for _, p := range bad {
							isBad = isBad || p == i
						}
						if isBad != math.IsNaN(l[i]) {
							t.Errorf("%s: loss[%d] = %v", what, i, l[i])
						}
					}
					if bad == nil {
						checkClear(t, what+" forward", rec)
					} else {
						checkRecord(t, what+" forward", rec, op, labels, bad, int64(c), false)
					}

					rg, gr := newRecord()
					gg, dl := newDev(dt, []float64{1, 2, 3}), newDev(dt, make([]float64, n*c))
					launch(t, "tg_softmaxcegrad_"+dtName(dt), &SoftmaxGradArgs{DLogits: dl.at(0), Prob: prob.at(0), Labels: lb.at(0),
						G: gg.at(0), N: n, C: int64(c), GStride: 0, Err: rg.Addr(0), ErrOp: op + 1}, ewGrid, ewBlock)
					d := dl.get()
					for e, dv := range d {
						isBad := false
						for _, p := range bad {
							isBad = isBad || p == e/c
						}
						if isBad != math.IsNaN(dv) {
							t.Errorf("%s: dlogits[%d] = %v", what, e, dv)
							break
						}
					}
					if bad == nil {
						checkClear(t, what+" backward", gr)
					} else {
						checkRecord(t, what+" backward", gr, op+1, labels, bad, int64(c), false)
					}
					for _, m := range []dev{lg, lb, loss, prob, gg, dl} {
						m.Free()
					}
					rm.Free()
					rg.Free()
				}
			}
		}
	}
}

func TestGatherScatterErrRecord(t *testing.T) {
	const op = 3
	type geom struct {
		outer, n, m, inner int
		along              bool
	}
	for _, gm := range []geom{{3, 5, 7, 4, false}, {2, 6, 5, 3, true}, {1, 4, 40, 1, false}} {
		g := device.GatherGeom{Outer: gm.outer, N: gm.n, M: gm.m, Inner: gm.inner, IdxStrides: [3]int{0, 1, 0}}
		nidx := gm.m
		if gm.along {
			g.IdxStrides = [3]int{gm.m * gm.inner, gm.inner, 1}
			nidx = gm.outer * gm.m * gm.inner
		}
		for _, bad := range [][]int{nil, {0}, {nidx / 2}, {nidx - 1}, {1, nidx - 2}} {
			for _, v := range []float64{-1, float64(gm.n), 1 << 40} {
				if bad == nil && v != -1 {
					continue
				}
				iv := make([]float64, nidx)
				for i := range iv {
					iv[i] = float64((i * 3) % gm.n)
				}
				good := append([]float64(nil), iv...)
				for _, p := range bad {
					iv[p] = v
				}
				for _, it := range []device.DType{device.Int32, device.Int64} {
					if it == device.Int32 && v > math.MaxInt32 {
						continue
					}
					gi := newAny(hostOf(it, iv))
					ns, nd := gm.outer*gm.n*gm.inner, gm.outer*gm.m*gm.inner
					args := func(dst, src, rec uintptr, o int64) *GatherArgs {
						return &GatherArgs{Dst: dst, Src: src, Idx: gi.at(0), Outer: int64(gm.outer), N: int64(gm.n), M: int64(gm.m),
							Inner: int64(gm.inner), IS0: int64(g.IdxStrides[0]), IS1: int64(g.IdxStrides[1]), IS2: int64(g.IdxStrides[2]),
							Err: rec, ErrOp: o}
					}
					what := fmt.Sprintf("%v %v bad %v = %v", it, gm, bad, v)
					for _, dt := range allDTs {
						src := hostOf(dt, data(ns, uint64(ns)))
						got, gs := newAny(hostOf(dt, make([]float64, nd))), newAny(src)
						rm, rec := newRecord()
						launch(t, kernels.GatherName(dt, it), args(got.at(0), gs.at(0), rm.Addr(0), op), ewGrid, ewBlock)
						if bad == nil {
							checkClear(t, what+" gather", rec)
						} else {
							checkRecord(t, what+" gather "+dt.String(), rec, op, iv, bad, int64(gm.n), true)
						}
						// Elsewhere the gather is that of the good indices.
						want := hostOf(dt, make([]float64, nd))
						be.Gather(want, src, hostOf(it, good), g)
						gotv, wantv := make([]float64, nd), make([]float64, nd)
						gb := hostOf(dt, make([]float64, nd))
						copy(hostBytes(gb), got.Bytes())
						be.Download(gotv, gb, device.Contiguous([]int{nd}))
						be.Download(wantv, want, device.Contiguous([]int{nd}))
						for e := range gotv {
							k, r := e%gm.inner, e/gm.inner
							i, o := r%gm.m, r/gm.m
							at := o*g.IdxStrides[0] + i*g.IdxStrides[1] + k*g.IdxStrides[2]
							isBad := iv[at] != good[at]
							switch {
							case isBad && dt.IsInt() && gotv[e] != 0, isBad && !dt.IsInt() && !math.IsNaN(gotv[e]):
								t.Errorf("%s gather %v: [%d] = %v at a bad index", what, dt, e, gotv[e])
							case !isBad && gotv[e] != wantv[e] && !(math.IsNaN(gotv[e]) && math.IsNaN(wantv[e])):
								t.Errorf("%s gather %v: [%d] = %v, want %v", what, dt, e, gotv[e], wantv[e])
							}
						}
						got.Free()
						gs.Free()
						rm.Free()
					}
					for _, dt := range dts {
						for _, owner := range []bool{false, true} {
							if owner && gm.along {
								continue
							}
							kname := kernels.ScatterAddName(dt, it, owner)
							src := hostOf(dt, data(nd, uint64(nd)+1))
							got, gs := newAny(hostOf(dt, make([]float64, ns))), newAny(src)
							rm, rec := newRecord()
							launch(t, kname, args(got.at(0), gs.at(0), rm.Addr(0), op+1), ewGrid, ewBlock)
							if bad == nil {
								checkClear(t, what+" "+kname, rec)
							} else {
								checkRecord(t, what+" "+kname, rec, op+1, iv, bad, int64(gm.n), true)
							}
							got.Free()
							gs.Free()
							rm.Free()
						}
					}
					gi.Free()
				}
			}
		}
	}
}

func TestCheckIndexKernel(t *testing.T) {
	const n, bound, op = 300, 10, 5
	for _, dt := range allDTs {
		for _, bad := range [][]int{nil, {0}, {150}, {n - 1}, {7, 299}} {
			vals := []float64{-1, bound, 1e6}
			if !dt.IsInt() {
				vals = append(vals, 2.5, math.NaN(), math.Inf(-1))
			}
			for _, v := range vals {
				if bad == nil && v != -1 {
					continue
				}
				lab := make([]float64, n)
				for i := range lab {
					lab[i] = float64(i % bound)
				}
				for _, p := range bad {
					lab[p] = v
				}
				x := newAny(hostOf(dt, lab))
				rm, rec := newRecord()
				launch(t, kernels.CheckIndexName(dt), &GatherArgs{Idx: x.at(0), M: n, N: bound, Err: rm.Addr(0), ErrOp: op}, ewGrid, ewBlock)
				what := fmt.Sprintf("%v bad %v = %v", dt, bad, v)
				if bad == nil {
					checkClear(t, what, rec)
				} else {
					checkRecord(t, what, rec, op, lab, bad, bound, dt.IsInt())
				}
				// A record already set is kept (first error wins).
				if bad != nil {
					before := string(rm.Bytes())
					lab2 := make([]float64, n)
					for i := range lab2 {
						lab2[i] = -3
					}
					y := newAny(hostOf(dt, lab2))
					launch(t, kernels.CheckIndexName(dt), &GatherArgs{Idx: y.at(0), M: n, N: bound, Err: rm.Addr(0), ErrOp: op + 1}, ewGrid, ewBlock)
					if string(rm.Bytes()) != before {
						t.Errorf("%s: a second error overwrote the record: %+v", what, *rec)
					}
					y.Free()
				}
				x.Free()
				rm.Free()
			}
		}
	}
}
