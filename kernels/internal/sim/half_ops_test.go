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

// The half modules (half_bf16, half_f16): every kernel against the float32
// (elementwise) or float64 (reductions) kernel of the same family run on
// the operands widened exactly, its result rounded once with
// device/half.go. The simulator runs both with the same host math, so the
// results must be the same bits (any NaN equals any NaN: which operand's
// payload a host operation propagates is the compiler's choice, and the
// GPU's arithmetic makes canonical NaNs anyway).

// halfOf returns vals rounded to dt (bits) and the bits' exact values.
func halfOf(dt device.DType, vals []float64) ([]uint16, []float64) {
	bits := make([]uint16, len(vals))
	wide := make([]float64, len(vals))
	for i, v := range vals {
		bits[i] = device.HalfFromFloat64(dt, v)
		wide[i] = float64(device.HalfToFloat32(dt, bits[i]))
	}
	return bits, wide
}

// hdev is a half operand in simulated memory.
type hdev struct{ *Mem }

func newHalfDev(bits []uint16) hdev {
	m := hdev{Alloc(2 * len(bits))}
	copy(m.halves(), bits)
	return m
}

func (m hdev) halves() []uint16 { return unsafe.Slice((*uint16)(m.p), m.n/2) }
func (m hdev) at(i int) uintptr { return m.Addr(2 * i) }
func (m hdev) get() []uint16    { return append([]uint16(nil), m.halves()...) }
func isHalfNaN(dt device.DType, h uint16) bool {
	v := device.HalfToFloat32(dt, h)
	return v != v
}

// roundF32 rounds the float32 results of a reference kernel to dt.
func roundF32(dt device.DType, vals []float64) []uint16 {
	out := make([]uint16, len(vals))
	for i, v := range vals {
		out[i] = device.HalfFromFloat32(dt, float32(v))
	}
	return out
}

// roundF64 rounds float64 results to dt once.
func roundF64(dt device.DType, vals []float64) []uint16 {
	out := make([]uint16, len(vals))
	for i, v := range vals {
		out[i] = device.HalfFromFloat64(dt, v)
	}
	return out
}

func expectHalf(t *testing.T, what string, dt device.DType, got, want []uint16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if got[i] == want[i] || isHalfNaN(dt, got[i]) && isHalfNaN(dt, want[i]) {
			continue
		}
		if bad < 5 {
			t.Errorf("%s: [%d] = %#04x (%v), want %#04x (%v)", what, i, got[i], device.HalfToFloat32(dt, got[i]),
				want[i], device.HalfToFloat32(dt, want[i]))
		}
		bad++
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

func TestHalfUnary(t *testing.T) {
	const n = 1003
	for _, dt := range halfDTs {
		bits, wide := halfOf(dt, data(n+8, 21))
		for op := range device.UnaryOp(len(kernels.UnaryOps)) {
			for _, off := range []int{0, 1, 3} { // vector path (0) and element path
				src, dst := newHalfDev(bits), newHalfDev(make([]uint16, n+off))
				rs, rd := newDev(device.Float32, wide), newDev(device.Float32, make([]float64, n+off))
				launch(t, kernels.UnaryName(op, dt, false), &MapArgs{Dst: dst.at(off), Src: src.at(off), N: n}, ewGrid, ewBlock)
				launch(t, kernels.UnaryName(op, device.Float32, false), &MapArgs{Dst: rd.at(off), Src: rs.at(off), N: n}, ewGrid, ewBlock)
				expectHalf(t, fmt.Sprintf("%s off %d", kernels.UnaryName(op, dt, false), off), dt, dst.get()[off:], roundF32(dt, rd.get()[off:]))
				src.Free()
				dst.Free()
				rs.Free()
				rd.Free()
			}
			src, dst := newHalfDev(bits), newHalfDev(make([]uint16, stridedL.Size()))
			rs, rd := newDev(device.Float32, wide), newDev(device.Float32, make([]float64, stridedL.Size()))
			launch(t, kernels.UnaryName(op, dt, true), &MapStridedArgs{Dst: dst.at(0), Src: src.at(0), Shape: shapeOf(stridedL), X: viewOf(stridedL)}, ewGrid, ewBlock)
			launch(t, kernels.UnaryName(op, device.Float32, true), &MapStridedArgs{Dst: rd.at(0), Src: rs.at(0), Shape: shapeOf(stridedL), X: viewOf(stridedL)}, ewGrid, ewBlock)
			expectHalf(t, kernels.UnaryName(op, dt, true), dt, dst.get(), roundF32(dt, rd.get()))
			src.Free()
			dst.Free()
			rs.Free()
			rd.Free()
		}
	}
}

func TestHalfScalar(t *testing.T) {
	const n = 1001
	// s arrives as a double and is rounded to float32 (not to the half
	// type), as the float32 kernel rounds it: 0.1 and 1e-3 are not halves.
	svals := []float64{2, 0.1, -1.5, math.NaN(), math.Copysign(0, -1), 1e-3}
	for _, dt := range halfDTs {
		bits, wide := halfOf(dt, data(n+8, 22))
		for op := range device.ScalarOp(len(kernels.ScalarOps)) {
			for si, s := range svals {
				off := si % 2
				src, dst := newHalfDev(bits), newHalfDev(make([]uint16, n+off))
				rs, rd := newDev(device.Float32, wide), newDev(device.Float32, make([]float64, n+off))
				launch(t, kernels.ScalarName(op, dt, false), &MapArgs{Dst: dst.at(off), Src: src.at(off), N: n, S: s}, ewGrid, ewBlock)
				launch(t, kernels.ScalarName(op, device.Float32, false), &MapArgs{Dst: rd.at(off), Src: rs.at(off), N: n, S: s}, ewGrid, ewBlock)
				expectHalf(t, fmt.Sprintf("%s s=%v off %d", kernels.ScalarName(op, dt, false), s, off), dt, dst.get()[off:], roundF32(dt, rd.get()[off:]))
				dst.Free()
				rd.Free()
				dst, rd = newHalfDev(make([]uint16, stridedL.Size())), newDev(device.Float32, make([]float64, stridedL.Size()))
				launch(t, kernels.ScalarName(op, dt, true), &MapStridedArgs{Dst: dst.at(0), Src: src.at(0), S: s, Shape: shapeOf(stridedL), X: viewOf(stridedL)}, ewGrid, ewBlock)
				launch(t, kernels.ScalarName(op, device.Float32, true), &MapStridedArgs{Dst: rd.at(0), Src: rs.at(0), S: s, Shape: shapeOf(stridedL), X: viewOf(stridedL)}, ewGrid, ewBlock)
				expectHalf(t, fmt.Sprintf("%s s=%v", kernels.ScalarName(op, dt, true), s), dt, dst.get(), roundF32(dt, rd.get()))
				src.Free()
				dst.Free()
				rs.Free()
				rd.Free()
			}
		}
	}
}

func TestHalfBinary(t *testing.T) {
	// 37×27 = 999 outputs; with cols 27 a vector of 8 crosses rows.
	const rows, cols = 37, 27
	for _, dt := range halfDTs {
		for op := range device.BinaryOp(len(kernels.BinaryOps)) {
			for v := kernels.VV; v < kernels.Strided; v++ {
				for _, off := range []int{0, 1} {
					name := kernels.BinaryName(op, dt, v)
					c := zipOperands(v, rows, cols, off, uint64(10*int(op)+int(v)+500))
					ab, aw := halfOf(dt, c.a)
					bb, bw := halfOf(dt, c.b)
					a, b, dst := newHalfDev(ab), newHalfDev(bb), newHalfDev(make([]uint16, rows*cols+off))
					ra, rb, rd := newDev(device.Float32, aw), newDev(device.Float32, bw), newDev(device.Float32, make([]float64, rows*cols+off))
					launch(t, name, &ZipArgs{Dst: dst.at(off), A: a.at(off), B: b.at(off), N: rows * cols, Cols: cols}, ewGrid, ewBlock)
					launch(t, kernels.BinaryName(op, device.Float32, v), &ZipArgs{Dst: rd.at(off), A: ra.at(off), B: rb.at(off), N: rows * cols, Cols: cols}, ewGrid, ewBlock)
					expectHalf(t, fmt.Sprintf("%s off %d", name, off), dt, dst.get()[off:], roundF32(dt, rd.get()[off:]))
					for _, m := range []interface{ Free() }{a, b, dst, ra, rb, rd} {
						m.Free()
					}
				}
			}
			// Strided: a transposed, b broadcast along axis 0.
			name := kernels.BinaryName(op, dt, kernels.Strided)
			al := device.Layout{Shape: []int{rows, cols}, Strides: []int{1, rows}, Offset: 2}
			bl := device.Layout{Shape: []int{rows, cols}, Strides: []int{0, 1}, Offset: 1}
			ab, aw := halfOf(dt, data(rows*cols+2, 23))
			bb, bw := halfOf(dt, data(cols+1, 24))
			a, b, dst := newHalfDev(ab), newHalfDev(bb), newHalfDev(make([]uint16, rows*cols))
			ra, rb, rd := newDev(device.Float32, aw), newDev(device.Float32, bw), newDev(device.Float32, make([]float64, rows*cols))
			launch(t, name, &ZipStridedArgs{Dst: dst.at(0), A: a.at(0), B: b.at(0), Shape: shapeOf(al), VA: viewOf(al), VB: viewOf(bl)}, ewGrid, ewBlock)
			launch(t, kernels.BinaryName(op, device.Float32, kernels.Strided), &ZipStridedArgs{Dst: rd.at(0), A: ra.at(0), B: rb.at(0), Shape: shapeOf(al), VA: viewOf(al), VB: viewOf(bl)}, ewGrid, ewBlock)
			expectHalf(t, name, dt, dst.get(), roundF32(dt, rd.get()))
			for _, m := range []interface{ Free() }{a, b, dst, ra, rb, rd} {
				m.Free()
			}
		}
	}
}

func TestHalfAxpby(t *testing.T) {
	const n = 999
	for _, dt := range halfDTs {
		ab, aw := halfOf(dt, data(n+1, 25))
		bb, bw := halfOf(dt, data(n+1, 26))
		for _, co := range [][2]float64{{1, 1}, {1, -0.5}, {0.3, 1.7}, {-2, 0}} {
			for _, off := range []int{0, 1} {
				// In place: dst is a.
				a, b := newHalfDev(ab), newHalfDev(bb)
				ra, rb := newDev(device.Float32, aw), newDev(device.Float32, bw)
				launch(t, kernels.AxpbyName(dt, false), &ZipArgs{Dst: a.at(off), A: a.at(off), B: b.at(off), N: n, Alpha: co[0], Beta: co[1]}, ewGrid, ewBlock)
				launch(t, kernels.AxpbyName(device.Float32, false), &ZipArgs{Dst: ra.at(off), A: ra.at(off), B: rb.at(off), N: n, Alpha: co[0], Beta: co[1]}, ewGrid, ewBlock)
				expectHalf(t, fmt.Sprintf("%s %v off %d", kernels.AxpbyName(dt, false), co, off), dt, a.get()[off:off+n], roundF32(dt, ra.get()[off:off+n]))
				for _, m := range []interface{ Free() }{a, b, ra, rb} {
					m.Free()
				}
			}
			al := device.Layout{Shape: []int{27, 37}, Strides: []int{1, 27}, Offset: 0}
			bl := device.Layout{Shape: []int{27, 37}, Strides: []int{1, 0}, Offset: 5}
			a, b, dst := newHalfDev(ab), newHalfDev(bb), newHalfDev(make([]uint16, n))
			ra, rb, rd := newDev(device.Float32, aw), newDev(device.Float32, bw), newDev(device.Float32, make([]float64, n))
			launch(t, kernels.AxpbyName(dt, true), &ZipStridedArgs{Dst: dst.at(0), A: a.at(0), B: b.at(0), Alpha: co[0], Beta: co[1], Shape: shapeOf(al), VA: viewOf(al), VB: viewOf(bl)}, ewGrid, ewBlock)
			launch(t, kernels.AxpbyName(device.Float32, true), &ZipStridedArgs{Dst: rd.at(0), A: ra.at(0), B: rb.at(0), Alpha: co[0], Beta: co[1], Shape: shapeOf(al), VA: viewOf(al), VB: viewOf(bl)}, ewGrid, ewBlock)
			expectHalf(t, fmt.Sprintf("%s %v", kernels.AxpbyName(dt, true), co), dt, dst.get(), roundF32(dt, rd.get()))
			for _, m := range []interface{ Free() }{a, b, dst, ra, rb, rd} {
				m.Free()
			}
		}
	}
}

// The reductions against the float64 kernels on the widened values (the
// same double accumulation in the same trees), rounded once: the same
// bits.
func TestHalfReduceInner(t *testing.T) {
	const run, pad, off = 3000, 5, 4
	keep := device.Layout{Shape: []int{2, 3}, Strides: []int{3 * (run + pad), run + pad}, Offset: off}
	x := redData(off+6*(run+pad), 31)
	x[off+1*(run+pad)+2321] = math.NaN()
	x[off+2*(run+pad)+17] = math.Inf(1)
	x[off+3*(run+pad)+2000] = math.Inf(-1)
	x[off+4*(run+pad)+10] = 1e6 // beyond float16: Inf in f16, a large number in bf16
	const block = 128
	for _, dt := range halfDTs {
		bits, wide := halfOf(dt, x)
		for op := range device.ReduceOp(len(kernels.ReduceOps)) {
			for _, chunk := range []int{run, 1024, 300} {
				chunks := (run + chunk - 1) / chunk
				items := 6 * chunks
				grid := items
				if chunk < 1024 {
					grid = (items + block/32 - 1) / (block / 32)
				}
				ia := ReduceInnerArgs{Rows: 6, Run: run, Chunks: int64(chunks), Chunk: int64(chunk), Keep: shapeOf(keep), VKeep: viewOf(keep)}
				src, part, dst := newHalfDev(bits), Alloc(8*items), newHalfDev(make([]uint16, 6))
				rs, rpart, rd := newDev(device.Float64, wide), Alloc(8*items), newDev(device.Float64, make([]float64, 6))
				a, ra := ia, ia
				a.Part, a.Src, ra.Part, ra.Src = part.Addr(0), src.at(0), rpart.Addr(0), rs.at(0)
				launch(t, kernels.ReduceName(op, dt, kernels.Inner), &a, [3]int{grid, 1, 1}, block)
				launch(t, kernels.ReduceName(op, dt, kernels.Final), &ReduceFinalArgs{Dst: dst.at(0), Part: part.Addr(0), Outputs: 6, Chunks: int64(chunks), Count: run}, [3]int{2, 1, 1}, block)
				launch(t, kernels.ReduceName(op, device.Float64, kernels.Inner), &ra, [3]int{grid, 1, 1}, block)
				launch(t, kernels.ReduceName(op, device.Float64, kernels.Final), &ReduceFinalArgs{Dst: rd.at(0), Part: rpart.Addr(0), Outputs: 6, Chunks: int64(chunks), Count: run}, [3]int{2, 1, 1}, block)
				expectHalf(t, fmt.Sprintf("%s chunk %d", kernels.ReduceName(op, dt, kernels.Inner), chunk), dt, dst.get(), roundF64(dt, rd.get()))
				for _, m := range []interface{ Free() }{src, part, dst, rs, rpart, rd} {
					m.Free()
				}
			}
		}
	}
}

func TestHalfReduceOuter(t *testing.T) {
	const cols, off = 70, 2
	red := device.Layout{Shape: []int{3, 400}, Strides: []int{401 * cols, cols}}
	x := redData(off+3*401*cols, 32)
	x[off+2*401*cols+300*cols+5] = math.NaN()
	x[off+1*401*cols+7*cols+9] = math.Inf(-1)
	const block = 64
	for _, dt := range halfDTs {
		bits, wide := halfOf(dt, x)
		for op := range device.ReduceOp(len(kernels.ReduceOps)) {
			for _, chunk := range []int{1200, 77} {
				chunks := (1200 + chunk - 1) / chunk
				oa := ReduceOuterArgs{Cols: cols, Rows: 1200, Chunks: int64(chunks), Chunk: int64(chunk), Base: off, Red: shapeOf(red), VRed: viewOf(red)}
				grid := [3]int{(cols + block - 1) / block, min(chunks, 5), 1}
				src, part, dst := newHalfDev(bits), Alloc(8*chunks*cols), newHalfDev(make([]uint16, cols))
				rs, rpart, rd := newDev(device.Float64, wide), Alloc(8*chunks*cols), newDev(device.Float64, make([]float64, cols))
				a, ra := oa, oa
				a.Part, a.Src, ra.Part, ra.Src = part.Addr(0), src.at(0), rpart.Addr(0), rs.at(0)
				launch(t, kernels.ReduceName(op, dt, kernels.Outer), &a, grid, block)
				launch(t, kernels.ReduceName(op, dt, kernels.Final), &ReduceFinalArgs{Dst: dst.at(0), Part: part.Addr(0), Outputs: cols, Chunks: int64(chunks), Count: 1200, Transposed: 1}, [3]int{3, 1, 1}, block)
				launch(t, kernels.ReduceName(op, device.Float64, kernels.Outer), &ra, grid, block)
				launch(t, kernels.ReduceName(op, device.Float64, kernels.Final), &ReduceFinalArgs{Dst: rd.at(0), Part: rpart.Addr(0), Outputs: cols, Chunks: int64(chunks), Count: 1200, Transposed: 1}, [3]int{3, 1, 1}, block)
				expectHalf(t, fmt.Sprintf("%s chunk %d", kernels.ReduceName(op, dt, kernels.Outer), chunk), dt, dst.get(), roundF64(dt, rd.get()))
				for _, m := range []interface{ Free() }{src, part, dst, rs, rpart, rd} {
					m.Free()
				}
			}
		}
	}
}

// The final pass rounds its double result once: a mean that lies just
// above a rounding tie of the half type (where rounding to float32 first
// would land on the tie and then round to even) rounds up; and an empty
// reduction gives what the CPU gives (NaN or 0).
func TestHalfReduceFinalRounding(t *testing.T) {
	for _, dt := range halfDTs {
		// 1 + half an ulp of dt + 2^-40: float32 rounds it to the tie.
		ulp := math.Ldexp(1, -7)
		if dt == device.Float16 {
			ulp = math.Ldexp(1, -10)
		}
		v := 1 + ulp/2 + math.Ldexp(1, -40)
		for op := range device.ReduceOp(len(kernels.ReduceOps)) {
			part, dst := newDev(device.Float64, []float64{v}), newHalfDev([]uint16{0x1234, 0x1234})
			launch(t, kernels.ReduceName(op, dt, kernels.Final), &ReduceFinalArgs{Dst: dst.at(0), Part: part.at(0), Outputs: 1, Chunks: 1, Count: 1}, [3]int{1, 1, 1}, 32)
			want := v
			if op == device.Norm2 {
				want = math.Sqrt(v)
			}
			expectHalf(t, kernels.ReduceName(op, dt, kernels.Final)+" one rounding", dt, dst.get(), []uint16{device.HalfFromFloat64(dt, want), 0x1234})
			part.Free()
			dst.Free()
			// Empty: the partial of an empty piece is the op's identity.
			id := map[device.ReduceOp]float64{device.Max: math.Inf(-1), device.Min: math.Inf(1)}[op]
			part, dst = newDev(device.Float64, []float64{id}), newHalfDev([]uint16{0x1234})
			launch(t, kernels.ReduceName(op, dt, kernels.Final), &ReduceFinalArgs{Dst: dst.at(0), Part: part.at(0), Outputs: 1, Chunks: 1}, [3]int{1, 1, 1}, 32)
			want = 0
			if op == device.Mean || op == device.Max || op == device.Min {
				want = math.NaN()
			}
			expectHalf(t, kernels.ReduceName(op, dt, kernels.Final)+" empty", dt, dst.get(), []uint16{device.HalfFromFloat64(dt, want)})
			part.Free()
			dst.Free()
		}
	}
}
