package cuda

import (
	"fmt"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
)

// The Go mirrors of the kernel argument structs in kernels/tg_args.h. Every
// kernel takes one of them by value; the launch passes the struct's bytes
// (CU_LAUNCH_PARAM_BUFFER_POINTER), so shapes and strides travel inside the
// launch. All fields are 8 bytes wide, so Go and C lay them out alike;
// TestArgLayout pins the sizes and offsets.

// maxDims is TG_MAX_DIMS: the most axes a strided kernel walks after
// device.Coalesce has merged what it can.
const maxDims = 8

type tgShape struct {
	N     int64
	NDim  int64
	Shape [maxDims]int64
}

type tgView struct {
	Offset  int64
	Strides [maxDims]int64
}

type mapArgs struct {
	Dst, Src Ptr
	N        int64
	S        float64
}

type mapStridedArgs struct {
	Dst, Src Ptr
	S        float64
	Shape    tgShape
	X        tgView
}

type zipArgs struct {
	Dst, A, B   Ptr
	N, Cols     int64
	Alpha, Beta float64
}

type zipStridedArgs struct {
	Dst, A, B   Ptr
	Alpha, Beta float64
	Shape       tgShape
	VA, VB      tgView
}

type whereArgs struct {
	Dst, C, A, B Ptr
	Shape        tgShape
	VC, VA, VB   tgView
}

type copyArgs struct {
	Dst, Src Ptr
	Shape    tgShape
	VD, VS   tgView
}

type gatherArgs struct {
	Dst, Src, Idx                     Ptr
	Outer, N, M, Inner, IS0, IS1, IS2 int64
	Err                               Ptr // the error record (sticky.go)
	ErrOp                             int64
}

type normArgs struct {
	Y, Mean, Rstd, X, W, B Ptr
	Rows, Cols             int64
	Eps                    float64
	RMS                    int64
}

type normGradArgs struct {
	DX, DW, DB, Part, DY, X, Mean, Rstd, W Ptr
	Rows, Cols, ChunkRows, Chunks, RMS     int64
}

type attnArgs struct {
	Out, LSE, Q, K, V, DOut, Delta, DQ, DK, DV Ptr
	Batch, L, S, D, DVW, Causal                int64
	Scale                                      float64
}

type fillArgs struct {
	Dst   Ptr
	V     float64
	Shape tgShape
	VD    tgView
}

type arangeArgs struct {
	Dst         Ptr
	N           int64
	Start, Step float64
}

type randomArgs struct {
	Dst           Ptr
	N             int64
	Seed, Counter uint64
	A, B          float64
}

type reduceInnerArgs struct {
	Part, Src                Ptr
	Rows, Run, Chunks, Chunk int64
	Keep                     tgShape
	VKeep                    tgView
}

type reduceOuterArgs struct {
	Part, Src                       Ptr
	Cols, Rows, Chunks, Chunk, Base int64
	Red                             tgShape
	VRed                            tgView
}

type reduceFinalArgs struct {
	Dst, Part                          Ptr
	Outputs, Chunks, Count, Transposed int64
}

type argReduceArgs struct {
	Dst, Src             Ptr
	Outputs, Len, Stride int64
	Keep                 tgShape
	VKeep                tgView
}

type gemmArgs struct {
	C, A, B             Ptr
	M, N, K, Batch      int64
	AOff, ABS, ARS, ACS int64
	BOff, BBS, BRS, BCS int64
	COff, CBS, CLd      int64
}

type tgConvGeom struct {
	N, C, H, W                     int64
	KH, KW, SH, SW, PH, PW, OH, OW int64
}

func convGeom(g device.ConvGeom) tgConvGeom {
	return tgConvGeom{int64(g.N), int64(g.C), int64(g.H), int64(g.W), int64(g.KH), int64(g.KW),
		int64(g.SH), int64(g.SW), int64(g.PH), int64(g.PW), int64(g.OH), int64(g.OW)}
}

type convArgs struct {
	Dst, Src Ptr
	G        tgConvGeom
}

type poolArgs struct {
	Dst, Idx, Src Ptr
	G             tgConvGeom
}

type softmaxArgs struct {
	Loss, Prob, Logits, Labels Ptr
	N, C                       int64
	Err                        Ptr // the error record (sticky.go)
	ErrOp                      int64
}

type softmaxGradArgs struct {
	DLogits, Prob, Labels, G Ptr
	N, C, GOff, GStride      int64
	Err                      Ptr
	ErrOp                    int64
}

type sgdArgs struct {
	W, V, G          Ptr
	N                int64
	LR, Momentum, WD float64
	Nesterov, First  int64
}

type adamArgs struct {
	W, M, V, G                        Ptr
	N                                 int64
	LR, Beta1, Beta2, Eps, WD, C1, C2 float64
	Decoupled                         int64
}

type scanArgs struct {
	Dst, Src                              Ptr
	Lines, Len, SStride, DStride, Reverse int64
	Shape                                 tgShape
	VS, VD                                tgView
}

// argBytes returns the bytes of an argument struct.
func argBytes[T any](a *T) (unsafe.Pointer, uintptr) {
	return unsafe.Pointer(a), unsafe.Sizeof(*a)
}

// ErrTooManyDims is returned (wrapped) for layouts that keep more than
// maxDims axes after merging.
var ErrTooManyDims = fmt.Errorf("cuda: more than %d axes after merging", maxDims)

// strided turns same-shaped layouts into the kernel's shape and views,
// merging axes first.
func strided(ls ...device.Layout) (tgShape, []tgView, error) {
	st := make([][]int, len(ls))
	for k, l := range ls {
		st[k] = l.Strides
	}
	shape, strides := device.Coalesce(ls[0].Shape, st...)
	var s tgShape
	if len(shape) > maxDims {
		return s, nil, fmt.Errorf("%w: shape %v", ErrTooManyDims, ls[0].Shape)
	}
	s.N = int64(device.NumElements(shape))
	s.NDim = int64(len(shape))
	for i := range s.Shape {
		s.Shape[i] = 1
	}
	for i, d := range shape {
		s.Shape[i] = int64(d)
	}
	views := make([]tgView, len(ls))
	for k, l := range ls {
		views[k].Offset = int64(l.Offset)
		for i, v := range strides[k] {
			views[k].Strides[i] = int64(v)
		}
	}
	return s, views, nil
}
