package cuda

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The kernel-name table. Kernel names come from package kernels (its *Name
// functions, the one place that builds them, as kernels/*.cu instantiate
// them). Each kernel gets a small integer id at init; the backend caches
// loaded functions by id, so a launch does no string work.

// The PTX modules, one per op family (package kernels' module names).
const (
	modElementwise = kernels.Elementwise
	modRandom      = kernels.Random
	modReduce      = kernels.Reduce
	modGemm        = kernels.Gemm
	modNN          = kernels.NN
	modScan        = kernels.Scan
	modIndex       = kernels.Index
	modLayerNorm   = kernels.LayerNorm
	modAttention   = kernels.Attention
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

// Binary-op variants, by operand pattern (package kernels' Variant).
const (
	vVV         = int(kernels.VV)      // both dense
	vVS         = int(kernels.VS)      // b one value
	vSV         = int(kernels.SV)      // a one value
	vRow        = int(kernels.Row)     // b one row repeated over a's rows
	vRowR       = int(kernels.RowR)    // a one row repeated
	vCol        = int(kernels.Col)     // b one column repeated over a's columns
	vColR       = int(kernels.ColR)    // a one column repeated
	vS          = int(kernels.Strided) // general strided
	numVariants = vS + 1
)

// Reduction passes (package kernels' Pass).
const (
	passInner = int(kernels.Inner)
	passOuter = int(kernels.Outer)
	passFinal = int(kernels.Final)
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
	kCumSum  [2][2]int // [dtype][kernels.ScanMode]
	// module layernorm: the forward by [dtype][NormWarp/NormBlock], the
	// backward by [dtype][kernels.NormPlan]
	kLayerNorm     [2][2]int
	kLayerNormGrad [2][4]int
	kAttn          [2][4]int // [dtype][kernels.AttentionOps index]
	// module index: the copies with an integer or a half side
	// (kCopyInt[src][dst]), the integer and half fills ([dtype-Int32]:
	// Int32, Int64, BFloat16, Float16), the integer ranges ([dtype-Int32]),
	// gathers ([dtype][index dtype-Int32]) and scatter-adds ([dtype][index
	// dtype-Int32][owner]).
	kCopyInt   [device.NumDTypes][device.NumDTypes]int
	kFillInt   [device.NumDTypes - int(device.Int32)]int
	kArangeInt [2]int
	kCompare   [device.NumBinaryOps][2]int // [op][dtype-Int32], kernels.CompareOps only
	kGather    [device.NumDTypes][2]int
	kScatter   [2][2][2]int
	// training kernels, by dtype
	kIm2Col, kCol2Im, kMaxPool, kPoolScatter, kPoolGather [2]int
	kSoftmaxCE, kSoftmaxCEGrad, kSGD, kAdam               [2]int
)

func init() {
	for s := range device.NumDTypes {
		for d := range device.NumDTypes {
			sd, dd := device.DType(s), device.DType(d)
			if sd.IsInt() || dd.IsInt() || sd.IsHalf() || dd.IsHalf() {
				kCopyInt[s][d] = reg(modIndex, kernels.CopyName(sd, dd))
			}
		}
		if device.DType(s).IsHalf() {
			kFillInt[s-int(device.Int32)] = reg(modIndex, kernels.FillName(device.DType(s), true))
			continue // stored and converted only (device.WithHalf runs the rest in float32)
		}
		for i, it := range []device.DType{device.Int32, device.Int64} {
			kGather[s][i] = reg(modIndex, kernels.GatherName(device.DType(s), it))
			if s < 2 {
				kScatter[s][i][0] = reg(modIndex, kernels.ScatterAddName(device.DType(s), it, false))
				kScatter[s][i][1] = reg(modIndex, kernels.ScatterAddName(device.DType(s), it, true))
			}
		}
	}
	for i, it := range []device.DType{device.Int32, device.Int64} {
		kFillInt[i] = reg(modIndex, kernels.FillName(it, true))
		kArangeInt[i] = reg(modIndex, kernels.ArangeName(it))
		for _, op := range kernels.CompareOps {
			kCompare[op][i] = reg(modIndex, kernels.CompareName(op, it))
		}
	}
	for dt := range dtNames {
		d := device.DType(dt)
		for op := 0; op < device.NumUnaryOps; op++ {
			kUnary[op][dt][0] = reg(modElementwise, kernels.UnaryName(device.UnaryOp(op), d, false))
			kUnary[op][dt][1] = reg(modElementwise, kernels.UnaryName(device.UnaryOp(op), d, true))
		}
		for op := 0; op < device.NumScalarOps; op++ {
			kScalar[op][dt][0] = reg(modElementwise, kernels.ScalarName(device.ScalarOp(op), d, false))
			kScalar[op][dt][1] = reg(modElementwise, kernels.ScalarName(device.ScalarOp(op), d, true))
		}
		for op := 0; op < device.NumBinaryOps; op++ {
			for v := 0; v < numVariants; v++ {
				kBinary[op][dt][v] = reg(modElementwise, kernels.BinaryName(device.BinaryOp(op), d, kernels.Variant(v)))
			}
		}
		kAxpby[dt][0] = reg(modElementwise, kernels.AxpbyName(d, false))
		kAxpby[dt][1] = reg(modElementwise, kernels.AxpbyName(d, true))
		kWhere[dt] = reg(modElementwise, kernels.WhereName(d))
		for dd := range dtNames {
			kCopy[dt][dd] = reg(modElementwise, kernels.CopyName(d, device.DType(dd)))
			if dt != dd {
				kConvert[dt][dd] = reg(modElementwise, kernels.ConvertName(d, device.DType(dd)))
			}
		}
		kFill[dt][0] = reg(modElementwise, kernels.FillName(d, false))
		kFill[dt][1] = reg(modElementwise, kernels.FillName(d, true))
		kArange[dt] = reg(modElementwise, kernels.ArangeName(d))
		for _, dist := range []device.Dist{device.Uniform, device.Normal} {
			kRandom[dist][dt] = reg(modRandom, kernels.RandomName(dist, d))
		}
		for op := 0; op < device.NumReduceOps; op++ {
			for p := range kReduce[op][dt] {
				kReduce[op][dt][p] = reg(modReduce, kernels.ReduceName(device.ReduceOp(op), d, kernels.Pass(p)))
			}
		}
		for _, op := range []device.ArgOp{device.ArgMax, device.ArgMin} {
			kArg[op][dt] = reg(modReduce, kernels.ArgReduceName(op, d))
		}
		kGemm[dt] = reg(modGemm, kernels.GemmName(d))
		for m := range kernels.ScanModes {
			kCumSum[dt][m] = reg(modScan, kernels.CumSumName(d, kernels.ScanMode(m)))
		}
		for p := range kLayerNorm[dt] {
			kLayerNorm[dt][p] = reg(modLayerNorm, kernels.LayerNormName(d, kernels.NormPlan(p)))
		}
		for p := range kLayerNormGrad[dt] {
			kLayerNormGrad[dt][p] = reg(modLayerNorm, kernels.LayerNormGradName(d, kernels.NormPlan(p)))
		}
		for i, op := range kernels.AttentionOps {
			kAttn[dt][i] = reg(modAttention, kernels.AttentionName(op, d))
		}
		for _, k := range []struct {
			ids  *[2]int
			name string
		}{
			{&kIm2Col, "im2col"}, {&kCol2Im, "col2im"}, {&kMaxPool, "maxpool"}, {&kPoolScatter, "poolscatter"},
			{&kPoolGather, "poolgather"}, {&kSoftmaxCE, "softmaxce"}, {&kSoftmaxCEGrad, "softmaxcegrad"},
			{&kSGD, "sgd"}, {&kAdam, "adam"},
		} {
			k.ids[dt] = reg(modNN, kernels.NNName(k.name, d))
		}
	}
	registerHalf()
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
