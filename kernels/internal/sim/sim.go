//go:build kernelsim

package sim

/*
#cgo CXXFLAGS: -std=c++20 -O1 -fno-strict-aliasing -pthread -w -I${SRCDIR}/include
#cgo LDFLAGS: -rdynamic -ldl -pthread
#include <stdlib.h>
int sim_launch(const char *name, const char *args_type, const void *args, int gx, int gy, int gz, int bx);
const char *sim_sources_id(void);
*/
import "C"

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"unsafe"
)

// SourcesID returns the hash of the kernel sources this build compiled
// (the -DTG_SIM_SOURCES of CGO_CXXFLAGS), or "none".
func SourcesID() string { return C.GoString(C.sim_sources_id()) }

// WantSourcesID returns the hash of the kernel sources in dir (the kernels
// directory): the first 16 hex digits of the SHA-256 of *.cu, *.cuh and
// *.h concatenated in that order, each group sorted by name, as
//
//	cd kernels && cat *.cu *.cuh *.h | sha256sum | cut -c1-16
//
// computes it with LC_ALL=C.
func WantSourcesID(dir string) (string, error) {
	h := sha256.New()
	for _, pat := range []string{"*.cu", "*.cuh", "*.h"} {
		files, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return "", err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// The argument structs of tg_args.h, field for field. Pointers are host
// addresses of memory from Alloc.
type (
	Shape struct {
		N, NDim int64
		Shape   [8]int64
	}
	View struct {
		Offset  int64
		Strides [8]int64
	}
	MapArgs struct {
		Dst, Src uintptr
		N        int64
		S        float64
	}
	MapStridedArgs struct {
		Dst, Src uintptr
		S        float64
		Shape    Shape
		X        View
	}
	ZipArgs struct {
		Dst, A, B   uintptr
		N, Cols     int64
		Alpha, Beta float64
	}
	ZipStridedArgs struct {
		Dst, A, B   uintptr
		Alpha, Beta float64
		Shape       Shape
		VA, VB      View
	}
	WhereArgs struct {
		Dst, C, A, B uintptr
		Shape        Shape
		VC, VA, VB   View
	}
	CopyArgs struct {
		Dst, Src uintptr
		Shape    Shape
		VD, VS   View
	}
	FillArgs struct {
		Dst   uintptr
		V     float64
		Shape Shape
		VD    View
	}
	ArangeArgs struct {
		Dst         uintptr
		N           int64
		Start, Step float64
	}
	RandomArgs struct {
		Dst           uintptr
		N             int64
		Seed, Counter uint64
		A, B          float64
	}
	ReduceInnerArgs struct {
		Part, Src                uintptr
		Rows, Run, Chunks, Chunk int64
		Keep                     Shape
		VKeep                    View
	}
	ReduceOuterArgs struct {
		Part, Src                       uintptr
		Cols, Rows, Chunks, Chunk, Base int64
		Red                             Shape
		VRed                            View
	}
	ReduceFinalArgs struct {
		Dst, Part                          uintptr
		Outputs, Chunks, Count, Transposed int64
	}
	ArgReduceArgs struct {
		Dst, Src             uintptr
		Outputs, Len, Stride int64
		Keep                 Shape
		VKeep                View
	}
	GemmArgs struct {
		C, A, B             uintptr
		M, N, K, Batch      int64
		AOff, ABs, ARs, ACs int64
		BOff, BBs, BRs, BCs int64
		COff, CBs, CLd      int64
	}
)

// The argument structs of module nn.
type (
	ConvGeom struct {
		N, C, H, W                     int64
		KH, KW, SH, SW, PH, PW, OH, OW int64
	}
	ConvArgs struct {
		Dst, Src uintptr
		G        ConvGeom
	}
	PoolArgs struct {
		Dst, Idx, Src uintptr
		G             ConvGeom
	}
	SoftmaxArgs struct {
		Loss, Prob, Logits, Labels uintptr
		N, C                       int64
		Err                        uintptr // *ErrRecord, may be 0
		ErrOp                      int64
	}
	SoftmaxGradArgs struct {
		DLogits, Prob, Labels, G uintptr
		N, C, GOff, GStride      int64
		Err                      uintptr
		ErrOp                    int64
	}
	SGDArgs struct {
		W, V, G          uintptr
		N                int64
		LR, Momentum, WD float64
		Nesterov, First  int64
	}
	AdamArgs struct {
		W, M, V, G                        uintptr
		N                                 int64
		LR, Beta1, Beta2, Eps, WD, C1, C2 float64
		Decoupled                         int64
	}
)

// The argument struct of module scan.
type ScanArgs struct {
	Dst, Src                              uintptr
	Lines, Len, SStride, DStride, Reverse int64
	Shape                                 Shape
	VS, VD                                View
}

// The argument struct of module index.
type GatherArgs struct {
	Dst, Src, Idx                     uintptr
	Outer, N, M, Inner, IS0, IS1, IS2 int64
	Err                               uintptr // *ErrRecord, may be 0
	ErrOp                             int64
}

// ErrRecord is tg_args.h's TgErrRecord, the device-side error record.
type ErrRecord struct {
	Code, Op, Pos, Bound, IsInt, IValue int64
	FValue                              float64
	Reserved                            int64
}

// The argument structs of module layernorm.
type (
	NormArgs struct {
		Y, Mean, Rstd, X, W, B uintptr
		Rows, Cols             int64
		Eps                    float64
		RMS                    int64
	}
	NormGradArgs struct {
		DX, DW, DB, Part, DY, X, Mean, Rstd, W uintptr
		Rows, Cols, ChunkRows, Chunks, RMS     int64
	}
)

// The argument struct of module attention.
type AttnArgs struct {
	Out, LSE, Q, K, V, DOut, Delta, DQ, DK, DV uintptr
	Batch, L, S, D, DVW, Causal                int64
	Scale                                      float64
}

// Launch runs kernel with args (a pointer to one of the structs above) on
// a grid of grid[0]×grid[1]×grid[2] blocks of block threads (a multiple of
// 32).
func Launch[T any](kernel string, args *T, grid [3]int, block int) error {
	typ := "Tg" + reflect.TypeOf(args).Elem().Name()
	cname, ctyp := C.CString(kernel), C.CString(typ)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(ctyp))
	switch rc := C.sim_launch(cname, ctyp, unsafe.Pointer(args), C.int(grid[0]), C.int(grid[1]), C.int(grid[2]), C.int(block)); rc {
	case 0:
		return nil
	case -1:
		return fmt.Errorf("sim: no kernel %s", kernel)
	case -2:
		return fmt.Errorf("sim: unknown argument struct %s", typ)
	default:
		return fmt.Errorf("sim: %s: bad geometry %v × %d", kernel, grid, block)
	}
}

// Mem is host memory outside the Go heap, for kernel operands.
type Mem struct {
	p unsafe.Pointer
	n int
}

// Alloc returns n zeroed bytes, 16-byte aligned.
func Alloc(n int) *Mem {
	m := &Mem{C.aligned_alloc(16, C.size_t((n+15)&^15)), n}
	clear(m.Bytes())
	return m
}

// Free releases the memory.
func (m *Mem) Free() { C.free(m.p) }

// Addr returns the address of byte off.
func (m *Mem) Addr(off int) uintptr { return uintptr(m.p) + uintptr(off) }

// Bytes returns the memory as a slice.
func (m *Mem) Bytes() []byte { return unsafe.Slice((*byte)(m.p), m.n) }

// Float32s and Float64s return the memory as a slice of n elements.
func (m *Mem) Float32s() []float32 { return unsafe.Slice((*float32)(m.p), m.n/4) }
func (m *Mem) Float64s() []float64 { return unsafe.Slice((*float64)(m.p), m.n/8) }
