package cuda

import (
	"strings"

	"github.com/tapegrad/tapegrad/device"
)

// The kernel-name table. Kernel names are built the same way here and in
// kernels/*.cu: tg_<family>_<op>_<dtype>[_<variant>], with op the lower-case
// name of the device package's operation. Each kernel gets a small integer
// id at init; the backend caches loaded functions by id, so a launch does
// no string work.

// The PTX modules, one per op family.
const (
	modElementwise = "elementwise"
	modRandom      = "random"
	modReduce      = "reduce"
	modGemm        = "gemm"
	modNN          = "nn"
)

type kernelInfo struct {
	module, name string
}

var kernelTable []kernelInfo

func reg(module, name string) int {
	kernelTable = append(kernelTable, kernelInfo{module, name})
	return len(kernelTable) - 1
}

var dtNames = [2]string{"f32", "f64"}

// Binary-op variants, by operand pattern.
const (
	vVV   = iota // both dense
	vVS          // b one value
	vSV          // a one value
	vRow         // b one row repeated over a's rows
	vRowR        // a one row repeated
	vCol         // b one column repeated over a's columns
	vColR        // a one column repeated
	vS           // general strided
	numVariants
)

var variantNames = [numVariants]string{"vv", "vs", "sv", "row", "rowr", "col", "colr", "s"}

// Reduction passes.
const (
	passInner = iota
	passOuter
	passFinal
)

var (
	kUnary   [device.NumUnaryOps][2][2]int // [op][dtype][strided]
	kScalar  [device.NumScalarOps][2][2]int
	kBinary  [device.NumBinaryOps][2][numVariants]int
	kAxpby   [2][2]int // [dtype][strided]
	kWhere   [2]int
	kCopy    [2][2]int // [src dtype][dst dtype], strided
	kConvert [2][2]int // [src dtype][dst dtype], dense (mixed pairs only)
	kFill    [2][2]int // [dtype][strided]
	kArange  [2]int
	kRandom  [2][2]int // [dist][dtype]
	kReduce  [device.NumReduceOps][2][3]int
	kArg     [2][2]int // [ArgOp][dtype]
	kGemm    [2]int
	// training kernels, by dtype
	kIm2Col, kCol2Im, kMaxPool, kPoolScatter, kPoolGather [2]int
	kSoftmaxCE, kSoftmaxCEGrad, kSGD, kAdam               [2]int
)

func lower(s interface{ String() string }) string { return strings.ToLower(s.String()) }

func init() {
	for dt, d := range dtNames {
		for op := 0; op < device.NumUnaryOps; op++ {
			base := "tg_unary_" + lower(device.UnaryOp(op)) + "_" + d
			kUnary[op][dt][0] = reg(modElementwise, base)
			kUnary[op][dt][1] = reg(modElementwise, base+"_s")
		}
		for op := 0; op < device.NumScalarOps; op++ {
			base := "tg_scalar_" + lower(device.ScalarOp(op)) + "_" + d
			kScalar[op][dt][0] = reg(modElementwise, base)
			kScalar[op][dt][1] = reg(modElementwise, base+"_s")
		}
		for op := 0; op < device.NumBinaryOps; op++ {
			for v := 0; v < numVariants; v++ {
				kBinary[op][dt][v] = reg(modElementwise, "tg_binary_"+lower(device.BinaryOp(op))+"_"+d+"_"+variantNames[v])
			}
		}
		kAxpby[dt][0] = reg(modElementwise, "tg_axpby_"+d)
		kAxpby[dt][1] = reg(modElementwise, "tg_axpby_"+d+"_s")
		kWhere[dt] = reg(modElementwise, "tg_where_"+d+"_s")
		for dd, d2 := range dtNames {
			kCopy[dt][dd] = reg(modElementwise, "tg_copy_"+d+"_"+d2+"_s")
			if dt != dd {
				kConvert[dt][dd] = reg(modElementwise, "tg_convert_"+d+"_"+d2)
			}
		}
		kFill[dt][0] = reg(modElementwise, "tg_fill_"+d)
		kFill[dt][1] = reg(modElementwise, "tg_fill_"+d+"_s")
		kArange[dt] = reg(modElementwise, "tg_arange_"+d)
		kRandom[device.Uniform][dt] = reg(modRandom, "tg_random_uniform_"+d)
		kRandom[device.Normal][dt] = reg(modRandom, "tg_random_normal_"+d)
		for op := 0; op < device.NumReduceOps; op++ {
			base := "tg_reduce_" + lower(device.ReduceOp(op)) + "_" + d
			kReduce[op][dt][passInner] = reg(modReduce, base+"_inner")
			kReduce[op][dt][passOuter] = reg(modReduce, base+"_outer")
			kReduce[op][dt][passFinal] = reg(modReduce, base+"_final")
		}
		kArg[device.ArgMax][dt] = reg(modReduce, "tg_argmax_"+d)
		kArg[device.ArgMin][dt] = reg(modReduce, "tg_argmin_"+d)
		kGemm[dt] = reg(modGemm, "tg_gemm_"+d)
		kIm2Col[dt] = reg(modNN, "tg_im2col_"+d)
		kCol2Im[dt] = reg(modNN, "tg_col2im_"+d)
		kMaxPool[dt] = reg(modNN, "tg_maxpool_"+d)
		kPoolScatter[dt] = reg(modNN, "tg_poolscatter_"+d)
		kPoolGather[dt] = reg(modNN, "tg_poolgather_"+d)
		kSoftmaxCE[dt] = reg(modNN, "tg_softmaxce_"+d)
		kSoftmaxCEGrad[dt] = reg(modNN, "tg_softmaxcegrad_"+d)
		kSGD[dt] = reg(modNN, "tg_sgd_"+d)
		kAdam[dt] = reg(modNN, "tg_adam_"+d)
	}
}

// KernelNames returns the names of the kernels the backend launches from
// module, in registration order (for tests that check the PTX).
func KernelNames(module string) []string {
	var out []string
	for _, k := range kernelTable {
		if k.module == module {
			out = append(out, k.name)
		}
	}
	return out
}

// Launch geometry. Elementwise kernels use grid-stride loops, so any grid
// covers any size; the grid is capped so that huge tensors reuse blocks.
const (
	threads   = 256
	maxBlocks = 1 << 16
	// reduceChunk is the number of elements one block of a reduction's
	// first pass covers when a run is split; it is fixed (not derived from
	// the device), so results are the same bits on every GPU.
	reduceChunk = 1 << 16
)

var block1D = [3]uint32{threads, 1, 1}

// grid1D returns a 1-D grid for n elements, each thread taking perThread of
// them per loop iteration.
func grid1D(n int64, perThread int64) [3]uint32 {
	b := (n + threads*perThread - 1) / (threads * perThread)
	b = min(max(b, 1), maxBlocks)
	return [3]uint32{uint32(b), 1, 1}
}

// groupGrid returns the grid of a reduction kernel that gives each of
// items work items a whole block of 256 threads (block mode) or a warp
// (eight per block); the kernels loop, so a capped grid is still correct.
func groupGrid(items int64, block bool) [3]uint32 {
	b := items
	if !block {
		b = (items + threads/32 - 1) / (threads / 32)
	}
	return [3]uint32{uint32(min(max(b, 1), 1<<30)), 1, 1}
}

// reduceSplit returns how many chunks of how many elements a run of n
// elements is split into for the first reduction pass.
func reduceSplit(n int64) (chunks, chunk int64) {
	if n < 2*reduceChunk {
		return 1, max(n, 1)
	}
	return (n + reduceChunk - 1) / reduceChunk, reduceChunk
}

// outerSplit returns the row chunking of an outer reduction of rows×cols:
// about reduceChunk elements per chunk.
func outerSplit(rows, cols int64) (chunks, chunkRows int64) {
	chunkRows = max(1, reduceChunk/cols, (rows+65534)/65535) // gridDim.y <= 65535
	if chunkRows >= rows {
		return 1, max(rows, 1)
	}
	return (rows + chunkRows - 1) / chunkRows, chunkRows
}
