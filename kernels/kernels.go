// Package kernels holds tapegrad's CUDA kernels: CUDA C sources compiled
// to PTX, and the PTX embedded in the Go binary, so that building the CUDA
// backend needs no CUDA compiler. The driver JIT-compiles the PTX for the
// GPU it finds (compute capability 8.0 and newer).
//
// # Modules
//
// Each op family is one CUDA source file and one PTX module:
//
//	elementwise.cu  unary, scalar and binary ops, axpby, where, copy and
//	                convert, fill, arange
//	random.cu       Philox4x32-10 uniform and normal streams (device.RandomSpec)
//	reduce.cu       two-pass reductions (sum mean max min norm2), argmax, argmin
//	gemm.cu         tiled batched GEMM, the fallback when cuBLAS is missing
//	nn.cu           training kernels: im2col/col2im, max pooling, softmax
//	                cross-entropy, SGD and Adam steps
//	scan.cu         cumulative sums along an axis (one block or one thread
//	                per line)
//	index.cu        the integer and half dtypes (copies with conversion,
//	                fills, integer ranges) and the index operations
//	                (gather, scatter-add)
//	layernorm.cu    the fused LayerNorm and RMSNorm, forward and backward
//	attention.cu    fused scaled-dot-product attention (online softmax),
//	                forward and backward
//	half_bf16.cu    the elementwise operations (unary, scalar, binary in
//	half_f16.cu     every variant, axpby) and the reductions on bfloat16
//	                and float16 buffers: float32 arithmetic (double
//	                accumulators), one rounding to the half type; the
//	                body is half.cuh
//
// tg_common.cuh has the helpers they share (strided offsets, vector loads,
// the element math). The launch geometry each kernel expects is documented
// at the top of its .cu file. [PTX] returns a module's text; [Kernels]
// lists the entry points a module contains, with their argument structs.
// The text is not NUL-terminated; cuModuleLoadData needs a copy that is.
//
// # ABI
//
// Every kernel takes exactly one parameter: one of the structs of
// tg_args.h, by value (in PTX, `.param .align 8 .b8 <name>_param_0[size]`).
// The host packs a Go struct of the same layout and passes its bytes with
// CU_LAUNCH_PARAM_BUFFER_POINTER. [Args] lists the structs and their sizes.
//
// Kernel names are tg_<family>_<op>_<dt>[_<variant>], with dt "f32" or
// "f64" (module index also "i32", "i64", "bf16", "f16"; the half modules
// "bf16" or "f16") and the op names of [UnaryOps], [ScalarOps], [BinaryOps],
// [ReduceOps], [ArgOps] and [Dists], which follow the order of the device
// package's enums (so UnaryOps[device.Exp] == "exp"). The *Name functions
// build each name from the device package's types.
//
// # Regenerating
//
// The .ptx files are generated and committed. After changing a .cu or .cuh
// file, run
//
//	go generate ./kernels     # kernels/generate.sh: nvcc 11.8, pinned flags
//	kernels/check.sh          # regenerates into a temporary directory and
//	                          # compares, assembles with ptxas for sm_80 and
//	                          # sm_90, reports registers and spills
//
// The CUDA 11.8 toolchain comes from scripts/cuda-toolchain.sh; no GPU is
// needed. The tests of this package check the embedded PTX against the
// names and sizes here, without nvcc.
package kernels

//go:generate ./generate.sh

import (
	"embed"
	"fmt"
	"strings"

	"github.com/tapegrad/tapegrad/device"
)

//go:embed *.ptx
var ptxFiles embed.FS

// The module names, which are also the base names of the .cu and .ptx files.
const (
	Elementwise = "elementwise"
	Random      = "random"
	Reduce      = "reduce"
	Gemm        = "gemm"
	NN          = "nn"
	Scan        = "scan"
	Index       = "index"
	LayerNorm   = "layernorm"
	Attention   = "attention"
	HalfBF16    = "half_bf16"
	HalfF16     = "half_f16"
)

// ModuleNames lists every module.
var ModuleNames = []string{Elementwise, Random, Reduce, Gemm, NN, Scan, Index, LayerNorm, Attention, HalfBF16, HalfF16}

// HalfModule returns the module of the half dtype dt's own kernels
// (elementwise operations and reductions computing in float32 and double):
// [HalfBF16] for device.BFloat16, [HalfF16] for device.Float16, "" for
// any other dtype.
func HalfModule(dt device.DType) string {
	switch dt {
	case device.BFloat16:
		return HalfBF16
	case device.Float16:
		return HalfF16
	}
	return ""
}

// NNOps are the training kernels of module nn, each with its argument
// struct: tg_<op>_<dt>.
var NNOps = []struct {
	Name string
	Args ArgStruct
}{
	{"im2col", ConvArgs}, {"col2im", ConvArgs},
	{"maxpool", PoolArgs}, {"poolscatter", PoolArgs}, {"poolgather", PoolArgs},
	{"softmaxce", SoftmaxArgs}, {"softmaxcegrad", SoftmaxGradArgs},
	{"sgd", SGDArgs}, {"adam", AdamArgs},
}

// The op names used in kernel names, in the order of the device package's
// enums: UnaryOps[op] names device.UnaryOp op, and so on. Each is the
// lower-case String of the enum value (the elementwise ones come from the
// op table, internal/optable).
var (
	UnaryOps  = lower(device.NumUnaryOps, func(i int) string { return device.UnaryOp(i).String() })
	ScalarOps = lower(device.NumScalarOps, func(i int) string { return device.ScalarOp(i).String() })
	BinaryOps = lower(device.NumBinaryOps, func(i int) string { return device.BinaryOp(i).String() })
	ReduceOps = []string{"sum", "mean", "max", "min", "norm2"}
	ArgOps    = []string{"argmax", "argmin"}
	Dists     = []string{"uniform", "normal"} // device.Uniform, device.Normal
	// DTypes are the dtypes' short names, indexed by device.DType. The
	// half types (bf16, f16) are storage types: module index copies,
	// converts and fills them, and the half modules (half_bf16, half_f16)
	// have their elementwise operations and reductions, computing in
	// float32 (double for the reductions); every other kernel is f32 or
	// f64 (the CUDA backend runs those on float32 copies of half buffers,
	// through device.WithHalf).
	DTypes = []string{"f32", "f64", "i32", "i64", "bf16", "f16"} // device.Float32, Float64, Int32, Int64, BFloat16, Float16
)

func lower(n int, name func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.ToLower(name(i))
	}
	return out
}

// Variant is an operand pattern of the binary kernels.
type Variant uint8

// The binary kernel variants. All but Strided take TgZipArgs with dense
// operands; Strided takes TgZipStridedArgs.
const (
	VV      Variant = iota // a[i], b[i]
	VS                     // a[i], b[0]
	SV                     // a[0], b[i]
	Row                    // a[i], b[i % cols]
	RowR                   // a[i % cols], b[i]
	Col                    // a[i], b[i / cols]
	ColR                   // a[i / cols], b[i]
	Strided                // a and b at TgViews
	numVariants
)

// Variants are the kernel name suffixes of the binary variants, by Variant.
var Variants = []string{"vv", "vs", "sv", "row", "rowr", "col", "colr", "s"}

// Pass is a pass of the two-pass reductions.
type Pass uint8

// The reduction passes.
const (
	Inner Pass = iota // pass 1, reduced elements contiguous (TgReduceInnerArgs)
	Outer             // pass 1, one thread per output column (TgReduceOuterArgs)
	Final             // pass 2 (TgReduceFinalArgs)
)

// Passes are the kernel name suffixes of the passes, by Pass.
var Passes = []string{"inner", "outer", "final"}

// ScanMode is a launch plan of the cumulative-sum kernels (module scan).
type ScanMode uint8

// The scan plans; both take TgScanArgs.
const (
	ScanLines ScanMode = iota // one thread block per line, a tree scan of tiles
	ScanCols                  // one thread per line, sequential
)

// ScanModes are the kernel name suffixes of the scan plans, by ScanMode.
var ScanModes = []string{"lines", "cols"}

// ArgStruct is one of the argument structs of tg_args.h.
type ArgStruct struct {
	Name string // the C typedef name
	Size int    // bytes
}

// The argument structs of tg_args.h.
var (
	MapArgs         = ArgStruct{"TgMapArgs", 32}
	MapStridedArgs  = ArgStruct{"TgMapStridedArgs", 176}
	ZipArgs         = ArgStruct{"TgZipArgs", 56}
	ZipStridedArgs  = ArgStruct{"TgZipStridedArgs", 264}
	WhereArgs       = ArgStruct{"TgWhereArgs", 328}
	CopyArgs        = ArgStruct{"TgCopyArgs", 240}
	FillArgs        = ArgStruct{"TgFillArgs", 168}
	ArangeArgs      = ArgStruct{"TgArangeArgs", 32}
	RandomArgs      = ArgStruct{"TgRandomArgs", 48}
	ReduceInnerArgs = ArgStruct{"TgReduceInnerArgs", 200}
	ReduceOuterArgs = ArgStruct{"TgReduceOuterArgs", 208}
	ReduceFinalArgs = ArgStruct{"TgReduceFinalArgs", 48}
	ArgReduceArgs   = ArgStruct{"TgArgReduceArgs", 192}
	GemmArgs        = ArgStruct{"TgGemmArgs", 144}
	ConvArgs        = ArgStruct{"TgConvArgs", 112}
	PoolArgs        = ArgStruct{"TgPoolArgs", 120}
	SoftmaxArgs     = ArgStruct{"TgSoftmaxArgs", 64}
	SoftmaxGradArgs = ArgStruct{"TgSoftmaxGradArgs", 80}
	SGDArgs         = ArgStruct{"TgSGDArgs", 72}
	AdamArgs        = ArgStruct{"TgAdamArgs", 104}
	ScanArgs        = ArgStruct{"TgScanArgs", 280}
	GatherArgs      = ArgStruct{"TgGatherArgs", 96}
	NormArgs        = ArgStruct{"TgNormArgs", 80}
	NormGradArgs    = ArgStruct{"TgNormGradArgs", 112}
	AttnArgs        = ArgStruct{"TgAttnArgs", 136}
)

// Args lists every argument struct.
var Args = []ArgStruct{MapArgs, MapStridedArgs, ZipArgs, ZipStridedArgs, WhereArgs, CopyArgs, FillArgs,
	ArangeArgs, RandomArgs, ReduceInnerArgs, ReduceOuterArgs, ReduceFinalArgs, ArgReduceArgs, GemmArgs,
	ConvArgs, PoolArgs, SoftmaxArgs, SoftmaxGradArgs, SGDArgs, AdamArgs, ScanArgs, GatherArgs,
	NormArgs, NormGradArgs, AttnArgs}

// Kernel is one entry point of a module.
type Kernel struct {
	Name string
	Args ArgStruct
}

// DT returns the kernel name suffix of a dtype, one of [DTypes]: "f32",
// "f64", "i32", "i64", "bf16" or "f16".
func DT(dt device.DType) string { return DTypes[dt] }

func strided(s bool) string {
	if s {
		return "_s"
	}
	return ""
}

// UnaryName returns the name of the kernel for op on dtype dt: dense
// (TgMapArgs) or strided (TgMapStridedArgs).
func UnaryName(op device.UnaryOp, dt device.DType, isStrided bool) string {
	return "tg_unary_" + UnaryOps[op] + "_" + DT(dt) + strided(isStrided)
}

// ScalarName returns the name of the kernel for op on dtype dt: dense
// (TgMapArgs) or strided (TgMapStridedArgs).
func ScalarName(op device.ScalarOp, dt device.DType, isStrided bool) string {
	return "tg_scalar_" + ScalarOps[op] + "_" + DT(dt) + strided(isStrided)
}

// BinaryName returns the name of the kernel for op on dtype dt in variant v.
func BinaryName(op device.BinaryOp, dt device.DType, v Variant) string {
	return "tg_binary_" + BinaryOps[op] + "_" + DT(dt) + "_" + Variants[v]
}

// AxpbyName returns the name of the alpha*a + beta*b kernel: dense
// (TgZipArgs, variant vv only) or strided (TgZipStridedArgs).
func AxpbyName(dt device.DType, isStrided bool) string {
	return "tg_axpby_" + DT(dt) + strided(isStrided)
}

// WhereName returns the name of the where kernel (TgWhereArgs).
func WhereName(dt device.DType) string { return "tg_where_" + DT(dt) + "_s" }

// CopyName returns the name of the strided copy from src to dst dtype
// (TgCopyArgs).
func CopyName(src, dst device.DType) string { return "tg_copy_" + DT(src) + "_" + DT(dst) + "_s" }

// ConvertName returns the name of the dense conversion from src to dst
// dtype (TgMapArgs); src and dst differ.
func ConvertName(src, dst device.DType) string { return "tg_convert_" + DT(src) + "_" + DT(dst) }

// FillName returns the name of the fill kernel: dense (TgMapArgs, s is the
// value) or strided (TgFillArgs).
func FillName(dt device.DType, isStrided bool) string {
	return "tg_fill_" + DT(dt) + strided(isStrided)
}

// ArangeName returns the name of the arange kernel (TgArangeArgs).
func ArangeName(dt device.DType) string { return "tg_arange_" + DT(dt) }

// RandomName returns the name of the random kernel for dist (TgRandomArgs).
func RandomName(dist device.Dist, dt device.DType) string {
	return "tg_random_" + Dists[dist] + "_" + DT(dt)
}

// ReduceName returns the name of pass p of reduction op.
func ReduceName(op device.ReduceOp, dt device.DType, p Pass) string {
	return "tg_reduce_" + ReduceOps[op] + "_" + DT(dt) + "_" + Passes[p]
}

// ArgReduceName returns the name of the index reduction op
// (TgArgReduceArgs).
func ArgReduceName(op device.ArgOp, dt device.DType) string { return "tg_" + ArgOps[op] + "_" + DT(dt) }

// GemmName returns the name of the GEMM kernel (TgGemmArgs).
func GemmName(dt device.DType) string { return "tg_gemm_" + DT(dt) }

// NNName returns the name of the training kernel op (one of [NNOps]) on
// dtype dt.
func NNName(op string, dt device.DType) string { return "tg_" + op + "_" + DT(dt) }

// CumSumName returns the name of the cumulative-sum kernel of plan mode
// (TgScanArgs).
func CumSumName(dt device.DType, mode ScanMode) string {
	return "tg_cumsum_" + DT(dt) + "_" + ScanModes[mode]
}

// GatherName returns the name of the gather kernel for a source of dtype dt
// and indices of dtype it (TgGatherArgs).
func GatherName(dt, it device.DType) string { return "tg_gather_" + DT(dt) + "_" + DT(it) }

// CheckIndexName returns the name of the kernel that checks dense indices
// or labels of dtype dt (Float32, Float64, Int32 or Int64) against a bound,
// recording the first bad one in the device-side error record and writing
// nothing (TgGatherArgs: idx, m values, bound n).
func CheckIndexName(dt device.DType) string { return "tg_checkidx_" + DT(dt) }

// ErrRecordSize is the size in bytes of TgErrRecord, the device-side error
// record (tg_args.h), which kernels that read labels or indices write
// through the err field of their argument struct.
const ErrRecordSize = 64

// The codes of TgErrRecord.code.
const (
	ErrRange  = 1 // TG_ERR_RANGE: an integer outside [0, bound)
	ErrNotInt = 2 // TG_ERR_NOTINT: a fractional, NaN or infinite label
)

// CompareOps are the comparisons that integer tensors have kernels for
// (module index), in the order of compare_int's OP.
var CompareOps = []device.BinaryOp{device.Eq, device.Ne, device.Lt, device.Le, device.Gt, device.Ge}

// CompareName returns the name of the comparison kernel op for integer
// dtype dt (TgZipStridedArgs: a and b strided, dst dense).
func CompareName(op device.BinaryOp, dt device.DType) string {
	return "tg_compare_" + strings.ToLower(op.String()) + "_" + DT(dt) + "_s"
}

// ScatterAddName returns the name of the scatter-add kernel for dtype dt
// and indices of dtype it: one thread per line (owner false) or per output
// element (owner true, for indices that depend on the middle axis only).
func ScatterAddName(dt, it device.DType, owner bool) string {
	plan := "_lines"
	if owner {
		plan = "_owner"
	}
	return "tg_scatteradd_" + DT(dt) + "_" + DT(it) + plan
}

// NormPlan is a launch plan of the LayerNorm kernels (module layernorm).
type NormPlan uint8

// The LayerNorm plans. NormWarp and NormBlock are the forward
// (TgNormArgs) and dx (TgNormGradArgs) kernels; NormPart and NormFinal,
// the two passes of dw and db (TgNormGradArgs), exist for the backward
// only.
const (
	NormWarp  NormPlan = iota // one warp per row
	NormBlock                 // one thread block per row
	NormPart                  // partial sums of dw and db over chunks of rows
	NormFinal                 // the chunks' partial sums added in order
)

// NormPlans are the kernel name suffixes of the LayerNorm plans, by
// NormPlan.
var NormPlans = []string{"warp", "block", "part", "final"}

// LayerNormName returns the name of the LayerNorm forward kernel
// (TgNormArgs) of plan NormWarp or NormBlock.
func LayerNormName(dt device.DType, plan NormPlan) string {
	return "tg_layernorm_" + DT(dt) + "_" + NormPlans[plan]
}

// LayerNormGradName returns the name of a LayerNorm backward kernel
// (TgNormGradArgs) of any plan.
func LayerNormGradName(dt device.DType, plan NormPlan) string {
	return "tg_layernormgrad_" + DT(dt) + "_" + NormPlans[plan]
}

// AttentionOps are the kernels of module attention, in launch order: the
// forward pass, then the three of the backward pass (TgAttnArgs).
var AttentionOps = []string{"fwd", "delta", "dkdv", "dq"}

// AttentionName returns the name of the attention kernel op (one of
// [AttentionOps]) on dtype dt: tg_attn_<op>_<dt>.
func AttentionName(op string, dt device.DType) string { return "tg_attn_" + op + "_" + DT(dt) }

var (
	dtypes    = []device.DType{device.Float32, device.Float64}
	intTypes  = []device.DType{device.Int32, device.Int64}
	allDTypes = []device.DType{device.Float32, device.Float64, device.Int32, device.Int64}
	halfTypes = []device.DType{device.BFloat16, device.Float16}
	// every dtype, halves included: the copies of module index
	everyDType = append(append([]device.DType(nil), allDTypes...), halfTypes...)
)

// Kernels returns the entry points module must contain, in a fixed order;
// nil for an unknown module.
func Kernels(module string) []Kernel {
	var ks []Kernel
	add := func(name string, a ArgStruct) { ks = append(ks, Kernel{name, a}) }
	switch module {
	case Elementwise:
		for op := range UnaryOps {
			for _, dt := range dtypes {
				add(UnaryName(device.UnaryOp(op), dt, false), MapArgs)
				add(UnaryName(device.UnaryOp(op), dt, true), MapStridedArgs)
			}
		}
		for op := range ScalarOps {
			for _, dt := range dtypes {
				add(ScalarName(device.ScalarOp(op), dt, false), MapArgs)
				add(ScalarName(device.ScalarOp(op), dt, true), MapStridedArgs)
			}
		}
		for op := range BinaryOps {
			for _, dt := range dtypes {
				for v := range numVariants {
					a := ZipArgs
					if v == Strided {
						a = ZipStridedArgs
					}
					add(BinaryName(device.BinaryOp(op), dt, v), a)
				}
			}
		}
		for _, dt := range dtypes {
			add(AxpbyName(dt, false), ZipArgs)
			add(AxpbyName(dt, true), ZipStridedArgs)
			add(WhereName(dt), WhereArgs)
			add(FillName(dt, false), MapArgs)
			add(FillName(dt, true), FillArgs)
			add(ArangeName(dt), ArangeArgs)
			for _, dst := range dtypes {
				add(CopyName(dt, dst), CopyArgs)
				if dst != dt {
					add(ConvertName(dt, dst), MapArgs)
				}
			}
		}
	case Random:
		for d := range Dists {
			for _, dt := range dtypes {
				add(RandomName(device.Dist(d), dt), RandomArgs)
			}
		}
	case Reduce:
		passArgs := []ArgStruct{ReduceInnerArgs, ReduceOuterArgs, ReduceFinalArgs}
		for op := range ReduceOps {
			for _, dt := range dtypes {
				for p := range Passes {
					add(ReduceName(device.ReduceOp(op), dt, Pass(p)), passArgs[p])
				}
			}
		}
		for op := range ArgOps {
			for _, dt := range dtypes {
				add(ArgReduceName(device.ArgOp(op), dt), ArgReduceArgs)
			}
		}
	case Gemm:
		for _, dt := range dtypes {
			add(GemmName(dt), GemmArgs)
		}
	case NN:
		for _, op := range NNOps {
			for _, dt := range dtypes {
				add(NNName(op.Name, dt), op.Args)
			}
		}
	case Scan:
		for _, dt := range dtypes {
			for m := range ScanModes {
				add(CumSumName(dt, ScanMode(m)), ScanArgs)
			}
		}
	case Index:
		for _, s := range everyDType {
			for _, d := range everyDType {
				if s.IsInt() || d.IsInt() || s.IsHalf() || d.IsHalf() {
					add(CopyName(s, d), CopyArgs)
				}
			}
		}
		for _, it := range intTypes {
			add(FillName(it, true), FillArgs)
			add(ArangeName(it), ArangeArgs)
		}
		for _, ht := range halfTypes {
			add(FillName(ht, true), FillArgs)
		}
		for _, dt := range allDTypes {
			for _, it := range intTypes {
				add(GatherName(dt, it), GatherArgs)
			}
		}
		for _, dt := range dtypes {
			for _, it := range intTypes {
				add(ScatterAddName(dt, it, false), GatherArgs)
				add(ScatterAddName(dt, it, true), GatherArgs)
			}
		}
		for _, it := range intTypes {
			for _, op := range CompareOps {
				add(CompareName(op, it), ZipStridedArgs)
			}
		}
		for _, dt := range allDTypes {
			add(CheckIndexName(dt), GatherArgs)
		}
	case LayerNorm:
		for _, dt := range dtypes {
			add(LayerNormName(dt, NormWarp), NormArgs)
			add(LayerNormName(dt, NormBlock), NormArgs)
			for p := range NormPlans {
				add(LayerNormGradName(dt, NormPlan(p)), NormGradArgs)
			}
		}
	case Attention:
		for _, dt := range dtypes {
			for _, op := range AttentionOps {
				add(AttentionName(op, dt), AttnArgs)
			}
		}
	case HalfBF16, HalfF16:
		dt := device.BFloat16
		if module == HalfF16 {
			dt = device.Float16
		}
		for op := range UnaryOps {
			add(UnaryName(device.UnaryOp(op), dt, false), MapArgs)
			add(UnaryName(device.UnaryOp(op), dt, true), MapStridedArgs)
		}
		for op := range ScalarOps {
			add(ScalarName(device.ScalarOp(op), dt, false), MapArgs)
			add(ScalarName(device.ScalarOp(op), dt, true), MapStridedArgs)
		}
		for op := range BinaryOps {
			for v := range numVariants {
				a := ZipArgs
				if v == Strided {
					a = ZipStridedArgs
				}
				add(BinaryName(device.BinaryOp(op), dt, v), a)
			}
		}
		add(AxpbyName(dt, false), ZipArgs)
		add(AxpbyName(dt, true), ZipStridedArgs)
		passArgs := []ArgStruct{ReduceInnerArgs, ReduceOuterArgs, ReduceFinalArgs}
		for op := range ReduceOps {
			for p := range Passes {
				add(ReduceName(device.ReduceOp(op), dt, Pass(p)), passArgs[p])
			}
		}
	default:
		return nil
	}
	return ks
}

// KernelNames returns the names of the entry points module must contain.
func KernelNames(module string) []string {
	ks := Kernels(module)
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.Name
	}
	return names
}

// PTX returns the PTX text of module.
func PTX(module string) (string, error) {
	if Kernels(module) == nil {
		return "", fmt.Errorf("kernels: no module %q", module)
	}
	b, err := ptxFiles.ReadFile(module + ".ptx")
	if err != nil {
		return "", fmt.Errorf("kernels: module %q: %v", module, err)
	}
	return string(b), nil
}
