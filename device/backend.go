package device

import "time"

// Buffer is a flat array of elements of one dtype in one device's memory.
// Each backend has its own concrete buffer type; buffers are handed back only
// to the backend that made them.
type Buffer interface {
	// Len returns the number of elements.
	Len() int
	// DType returns the element type.
	DType() DType
}

// HostBuffer is implemented by buffers whose memory the Go program can read
// and write directly (the CPU backend's). Exactly one of the slices is
// non-nil, according to the dtype; Uint16s holds the bits of a BFloat16 or
// Float16 buffer.
type HostBuffer interface {
	Buffer
	Float32s() []float32
	Float64s() []float64
	Int32s() []int32
	Int64s() []int64
	Uint16s() []uint16
}

// HostSlice returns b's memory as a []float32, []float64, []int32,
// []int64 or (for BFloat16 and Float16, as bits) []uint16, according to
// its dtype.
func HostSlice(b HostBuffer) any {
	switch b.DType() {
	case BFloat16, Float16:
		return b.Uint16s()
	case Float64:
		return b.Float64s()
	case Int32:
		return b.Int32s()
	case Int64:
		return b.Int64s()
	}
	return b.Float32s()
}

// Backend executes operations for one device. Methods take buffers and
// layouts that the caller (package tensor) has already checked: shapes
// agree, dtypes agree except where a method says otherwise, and every layout
// stays inside its buffer. Output buffers are written densely in row-major
// order from index 0 unless a method takes a destination layout.
//
// The half dtypes (BFloat16, Float16) are storage types: a backend either
// refuses them in Alloc with an error wrapping [ErrDType], or supports them
// in Alloc, Free, Upload, Download, Copy and Fill, and is used through
// [WithHalf], which runs every other method on float32 copies. The other
// methods of a backend never see a half buffer from WithHalf.
//
// Methods enqueue work on the device's stream and may return before it is
// done; only Alloc, Download and Synchronize report errors. An error of
// enqueued work is reported by the next Download or Synchronize.
type Backend interface {
	// Device returns the device this backend runs on.
	Device() Device

	// Alloc returns a buffer of n elements with unspecified contents.
	Alloc(dt DType, n int) (Buffer, error)
	// Free gives a buffer's memory back (to a cache or to the system). The
	// buffer must not be used afterwards; work already enqueued that uses it
	// still completes correctly.
	Free(b Buffer)
	// Upload copies src (a []float32, []float64, []int32 or []int64 on the
	// host, of dst.Len() elements) into dst, converting to dst's dtype as
	// Copy does; for a BFloat16 or Float16 dst, src may also be a []uint16
	// holding the bits of dst's dtype. It returns once src may be reused.
	Upload(dst Buffer, src any)
	// Download waits for all enqueued work, then copies the elements that l
	// addresses in src, in row-major order, into dst (a []float32,
	// []float64, []int32 or []int64 of l.Size() elements), converting to
	// dst's type as Copy does; from a BFloat16 or Float16 src, dst may also
	// be a []uint16, which receives the bits unconverted.
	Download(dst any, src Buffer, l Layout) error
	// Synchronize waits for all enqueued work and reports its first error.
	Synchronize() error

	// Copy writes the elements of src (layout sl) to the positions of dst
	// given by dl (same shape), converting dtype if they differ: floats to
	// integers as [FloatToInt64] and [FloatToInt32], integers to floats and
	// float64 to float32 rounding to nearest even, int64 to int32 keeping the
	// low 32 bits. Conversions to BFloat16 and Float16 round to nearest
	// even once, as [HalfFromFloat64] (integers as [Int64ToFloat64Odd]
	// first); from them they widen exactly (then convert as float32 does).
	// dl's positions must not overlap each other or the source.
	Copy(dst Buffer, dl Layout, src Buffer, sl Layout)
	// Fill sets the positions of dst given by dl to v, converted to dst's
	// dtype as Copy converts a float64.
	Fill(dst Buffer, dl Layout, v float64)
	// Arange writes start, start+step, ... to dst[0:n]: for float dtypes
	// (T)(start + (float64)i·step); for integer dtypes start and step are
	// integers (the caller checks) and the values are computed in int64,
	// wrapping as Go's integer arithmetic does.
	Arange(dst Buffer, n int, start, step float64)
	// Random writes n random numbers to dst[0:n] from the counter-based
	// generator described in [RandomSpec]: dist Uniform gives values in
	// [a, b), Normal gives mean a and standard deviation b.
	Random(dst Buffer, n int, dist Dist, seed, counter uint64, a, b float64)

	// Unary writes op(src) to dst.
	Unary(op UnaryOp, dst Buffer, src Buffer, sl Layout)
	// Scalar writes op(src, s) to dst.
	Scalar(op ScalarOp, dst Buffer, src Buffer, sl Layout, s float64)
	// Binary writes op(a, b) to dst. al and bl have the output's shape
	// (broadcast axes have stride 0). dst may be the same buffer as a when al
	// is contiguous at offset 0 (in-place accumulation).
	Binary(op BinaryOp, dst Buffer, a Buffer, al Layout, b Buffer, bl Layout)
	// AddScaled writes alpha·a + beta·b to dst; al and bl have the output's
	// shape. dst may be the same buffer as a when al is contiguous at offset
	// 0 (in-place accumulation, as in y += beta·x).
	AddScaled(dst Buffer, a Buffer, al Layout, alpha float64, b Buffer, bl Layout, beta float64)
	// Where writes a where cond != 0 and b elsewhere; all three layouts have
	// the output's shape.
	Where(dst Buffer, cond Buffer, cl Layout, a Buffer, al Layout, b Buffer, bl Layout)
	// Reduce reduces src over the given axes (ascending, unique, at least
	// one) and writes the result densely in the order of the kept axes.
	// Float32 sums accumulate in float64. Max and Min propagate NaN.
	// Results are bitwise reproducible from run to run.
	Reduce(op ReduceOp, dst Buffer, src Buffer, sl Layout, axes []int)
	// CumSum writes the inclusive cumulative sums of src (layout sl, at
	// least one axis) along axis to the dense dst of sl's shape: element j
	// along axis is the sum of elements 0..j, or, with reverse, of
	// elements j..n−1 (the gradient of a cumulative sum). Float32 sums
	// accumulate in float64, and each output is rounded once. Results are
	// bitwise reproducible from run to run; they may differ in the last
	// bits between backends and between layouts (the order of the
	// additions is a backend's own).
	CumSum(dst, src Buffer, sl Layout, axis int, reverse bool)
	// ArgReduce writes to the Int64 dst, for each position of the kept
	// axes, the index along axis of the first maximum (ArgMax) or minimum
	// (ArgMin); a NaN counts as the extreme.
	ArgReduce(op ArgOp, dst Buffer, src Buffer, sl Layout, axis int)
	// Gather writes dst[o, i, k] = src[o, idx(o, i, k), k] for the dense
	// dst [Outer, M, Inner] and the dense src [Outer, N, Inner] (from
	// g.SrcOffset; any dtype, dst's), with idx an Int32 or Int64 buffer
	// addressed as [GatherGeom] says. The caller checked every index is in
	// [0, N).
	Gather(dst, src, idx Buffer, g GatherGeom)
	// ScatterAdd is Gather's adjoint: it writes the dense dst
	// [Outer, N, Inner] with dst[o, j, k] = Σ src[o, i, k] over the i with
	// idx(o, i, k) = j, added in increasing i from zero (so the result is
	// the same bits on every run and device), for the dense src
	// [Outer, M, Inner] (from g.SrcOffset). Float dtypes only.
	ScatterAdd(dst, src, idx Buffer, g GatherGeom)
	// MatMul computes batch matrix products dst[i] = a[i] (m×k) · b[i] (k×n)
	// for i < batch. dl.ColStride is 1 and dl.RowStride >= n; the output
	// matrices do not overlap.
	MatMul(dst Buffer, dl MatLayout, a Buffer, al MatLayout, b Buffer, bl MatLayout, batch, m, n, k int)

	// Im2Col writes the windows of src (shape [N, C, H, W] at layout sl)
	// into the dense dst of shape [C·KH·KW, N·OH·OW]: row (c, ky, kx),
	// column (n, oy, ox) holds src[n, c, oy·SH+ky−PH, ox·SW+kx−PW], or 0
	// where that position is outside the input. With the batch inside the
	// columns, a convolution is one matrix product [O, C·KH·KW]·dst.
	Im2Col(dst, src Buffer, sl Layout, g ConvGeom)
	// Col2Im is the adjoint of Im2Col: each position of the dense dst
	// [N, C, H, W] receives the sum of the entries of the dense src
	// [C·KH·KW, N·OH·OW] that Im2Col reads from it, summed in (ky, kx)
	// order.
	Col2Im(dst, src Buffer, g ConvGeom)
	// MaxPool writes the maximum of each window of src (shape [N, C, H, W]
	// at layout sl) to the dense dst [N, C, OH, OW], and the index y·W+x of
	// the window's first maximum to the dense idx (same dtype). Positions
	// outside the input are ignored; NaN counts as the maximum.
	MaxPool(dst, idx, src Buffer, sl Layout, g ConvGeom)
	// PoolScatter writes to each position of the dense dx [N, C, H, W] the
	// sum, in a fixed order, of the entries of the dense dy [N, C, OH, OW]
	// whose idx points at it (zero elsewhere).
	PoolScatter(dx, dy, idx Buffer, g ConvGeom)
	// PoolGather writes dst[n, c, o] = src[n, c, idx[n, c, o]] for the dense
	// src [N, C, H, W] and dense idx and dst [N, C, OH, OW].
	PoolGather(dst, src, idx Buffer, g ConvGeom)

	// SoftmaxCE computes for each row i of the dense logits [n, c]
	// loss[i] = log Σ_j exp(x_ij) − x_{i,label_i} and the row's softmax
	// into the dense prob [n, c], subtracting the row maximum first.
	// labels holds class indices as floats; a label outside [0, c) gives a
	// NaN loss (and is reported by a backend that is an [IndexChecker]).
	SoftmaxCE(loss, prob, logits, labels Buffer, n, c int)
	// SoftmaxCEGrad writes dlogits[i, j] = g_i·(prob[i, j] − [j = label_i])
	// with g_i the element i of g at layout gl (shape [n]; stride 0 when one
	// value is broadcast). A label outside [0, c) gives a row without the
	// one-hot term, or, on an [IndexChecker], a NaN row and a report.
	SoftmaxCEGrad(dlogits, prob, labels, g Buffer, gl Layout, n, c int)

	// LayerNorm normalises each of the p.Rows dense rows of p.Cols
	// elements of x (see [NormParams]): with μ the row's mean and σ² its
	// biased variance (two passes: the mean, then the squared deviations
	// from it), y = (x − μ)·rstd·w + b, rstd = 1/√(σ² + Eps); with p.RMS,
	// y = x·rstd·w, rstd = 1/√(mean(x²) + Eps). It writes y (dense
	// [Rows, Cols]), and the row statistics that LayerNormGrad needs,
	// unrounded, as Float64 whatever x's dtype: mean ([Rows]; nil with
	// p.RMS) and rstd ([Rows]). w and b (dense [Cols], x's dtype) may be
	// nil, leaving out the factor or the term; b is nil with p.RMS.
	// Float32 rows are summed and normalised in float64, and each output
	// rounded once.
	LayerNorm(y, mean, rstd, x, w, b Buffer, p NormParams)
	// LayerNormGrad writes the gradients of LayerNorm for the dense
	// output gradient dy [Rows, Cols], from x, w and the (Float64)
	// statistics that LayerNorm wrote: dx [Rows, Cols], and, unless nil,
	// dw = Σ_rows
	// dy·x̂ and db = Σ_rows dy ([Cols]; db nil with p.RMS), with
	// x̂ = (x − μ)·rstd (x·rstd with p.RMS). Sums accumulate in float64;
	// dw and db are added in an order fixed by the shape alone (no
	// atomics), so results are bitwise reproducible from run to run.
	LayerNormGrad(dx, dw, db, dy, x, mean, rstd, w Buffer, p NormParams)
	// Attention computes scaled-dot-product attention for Batch independent
	// heads (see [AttentionGeom]): for the dense q [Batch, L, D], k
	// [Batch, S, D] and v [Batch, S, DV] it writes the dense
	// out [Batch, L, DV] = softmax(Scale·q·kᵀ + mask)·v and the dense
	// lse [Batch, L], each row's log Σ_j exp(Scale·q_i·k_j) over its
	// visible keys (the softmax statistics the backward pass reuses).
	// With Causal, query i sees the keys j <= i (the mask is −Inf above
	// the main diagonal, aligned at the top left); every row sees key 0,
	// so only S = 0 leaves a row without keys: its output is 0 (the
	// empty sum) and its lse −Inf. Float32 statistics are kept in float32
	// or better, float64 in float64. No L×S matrix is written to the
	// device's memory.
	Attention(out, lse, q, k, v Buffer, g AttentionGeom)
	// AttentionGrad writes the dense gradients dq [Batch, L, D],
	// dk [Batch, S, D] and dv [Batch, S, DV] of Attention for the dense
	// output gradient dout [Batch, L, DV], given the operands and the
	// out and lse that Attention wrote for them (the probabilities are
	// recomputed from lse). The results do not depend on scheduling (no
	// floating-point atomics).
	AttentionGrad(dq, dk, dv, dout, q, k, v, out, lse Buffer, g AttentionGeom)

	// SGDStep updates the n dense parameters w in place from their
	// gradient g (see [SGDParams]); v is the momentum buffer (unused when
	// Momentum is 0).
	SGDStep(w, v, g Buffer, n int, p SGDParams)
	// AdamStep updates the n dense parameters w in place (see [AdamParams]);
	// m and v are the first- and second-moment buffers.
	AdamStep(w, m, v, g Buffer, n int, p AdamParams)
}

// GatherGeom describes the operands of Gather and ScatterAdd: a source
// viewed as [Outer, N, Inner] and a result as [Outer, M, Inner] (ScatterAdd
// the other way round), both dense; the index of position (o, i, k) is
// idx[IdxOffset + o·IdxStrides[0] + i·IdxStrides[1] + k·IdxStrides[2]].
// IndexSelect has IdxStrides (0, 1, 0): one index per i; Gather along an
// axis (take-along-axis) has the dense strides (M·Inner, Inner, 1).
type GatherGeom struct {
	Outer, N, M, Inner   int
	IdxStrides           [3]int
	SrcOffset, IdxOffset int
}

// AttentionMaxDim is the largest query, key and value width D, DV that
// Attention and AttentionGrad must support; package tensor composes wider
// attention from other operations.
const AttentionMaxDim = 128

// AttentionGeom describes the operands of Attention and AttentionGrad:
// Batch independent (batch, head) pairs of L queries and S keys, query
// and key width D, value width DV, the factor Scale applied to the dot
// products (usually 1/√D) and whether the mask is causal.
type AttentionGeom struct {
	Batch, L, S, D, DV int
	Scale              float64
	Causal             bool
}

// ConvGeom describes the windows of a 2-D convolution or pooling over
// NCHW data.
type ConvGeom struct {
	N, C, H, W int // input batch, channels, height, width
	KH, KW     int // window
	SH, SW     int // stride
	PH, PW     int // padding on each side
	OH, OW     int // output height and width: (H+2·PH−KH)/SH + 1, likewise OW
}

// NormParams describe the rows of a LayerNorm or RMSNorm: Rows dense
// rows of Cols elements each (the trailing axes that are normalised,
// flattened), the Eps added to the variance (or the mean square), and RMS
// for RMSNorm (no centring, no bias).
type NormParams struct {
	Rows, Cols int
	Eps        float64
	RMS        bool
}

// SGDParams are the hyper-parameters of one SGD step (PyTorch's
// torch.optim.SGD without dampening):
//
//	d = g + WeightDecay·w
//	v = d on the first step (First), else Momentum·v + d   (if Momentum != 0)
//	d = d + Momentum·v if Nesterov, else v                  (if Momentum != 0)
//	w = w − LR·d
//
// Each line is rounded in the parameters' dtype, in this order.
type SGDParams struct {
	LR, Momentum, WeightDecay float64
	Nesterov, First           bool
}

// AdamParams are the hyper-parameters of one Adam step, Step counting
// from 1 (PyTorch's torch.optim.Adam and, with Decoupled, AdamW):
//
//	g = g + WeightDecay·w                  (Adam)
//	w = w − LR·WeightDecay·w               (AdamW: Decoupled)
//	m = Beta1·m + (1−Beta1)·g
//	v = Beta2·v + (1−Beta2)·g²
//	w = w − LR · (m/(1−Beta1^Step)) / (√(v/(1−Beta2^Step)) + Eps)
type AdamParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Step                               int
	Decoupled                          bool
}

// PeerCopier is implemented by backends that can copy directly from the
// buffers of another backend of their kind (between GPUs, say), ordering
// the copy after earlier work on both devices without blocking the host.
type PeerCopier interface {
	// CopyFrom copies the elements of src (a buffer of from, layout sl) into
	// the dense dst. It reports false if it cannot copy from that backend.
	CopyFrom(dst Buffer, src Buffer, from Backend, sl Layout) bool
}

// HalfMatMuler is implemented by backends that compute matrix products of
// half buffers directly (a GPU's tensor cores, say). [WithHalf] calls
// HalfMatMul for a MatMul whose dst, a and b are all of one half dtype,
// before anything else; if it reports true the product is done (enqueued),
// and if false (having done nothing the caller can observe) WithHalf
// computes it in float32 as for every other method. HalfMatMul takes
// MatMul's arguments and must meet its contract, with the accuracy of a
// float32 product rounded once to the half dtype: products and sums in
// float32 or better, each output element rounded once, to nearest.
type HalfMatMuler interface {
	HalfMatMul(dst Buffer, dl MatLayout, a Buffer, al MatLayout, b Buffer, bl MatLayout, batch, m, n, k int) bool
}

// HalfKernels is implemented by backends with kernels of their own for
// the elementwise methods and the reductions on half buffers: BFloat16 or
// Float16 storage, read and written by the kernel itself, with float32
// (or wider) arithmetic inside. [WithHalf] offers every Unary, Scalar,
// Binary, AddScaled and Reduce call that has a half buffer to the
// matching method here first. A method reports true when it has done
// (enqueued) the work, and false, having done nothing the caller can
// observe, when it has no kernel for that combination of dtypes and
// layouts; WithHalf then computes in float32 scratch buffers as for every
// other method.
//
// The contract is the float32 path's: an elementwise result is the
// float32 method's result for the operands widened exactly, rounded once
// to the destination's dtype, to nearest even (so bit for bit what the
// scratch path gives wherever the backend's float32 method is the same
// arithmetic); a reduction accumulates in float32 or better and rounds
// at the end (through float32 when it accumulated wider, as the scratch
// path does). Operands and destination keep the method's own rules
// on dtypes (all one dtype), layouts and aliasing.
type HalfKernels interface {
	HalfUnary(op UnaryOp, dst Buffer, src Buffer, sl Layout) bool
	HalfScalar(op ScalarOp, dst Buffer, src Buffer, sl Layout, v float64) bool
	HalfBinary(op BinaryOp, dst Buffer, a Buffer, al Layout, b Buffer, bl Layout) bool
	HalfAddScaled(dst Buffer, a Buffer, al Layout, alpha float64, b Buffer, bl Layout, beta float64) bool
	HalfReduce(op ReduceOp, dst Buffer, src Buffer, sl Layout, axes []int) bool
}

// UnaryOp, ScalarOp and BinaryOp, the elementwise operations, are
// generated from the op table (internal/optable) into ops_gen.go.

// ReduceOp is a reduction.
type ReduceOp uint8

// The reductions.
const (
	Sum   ReduceOp = iota // sum
	Mean                  // arithmetic mean
	Max                   // maximum; NaN propagates
	Min                   // minimum; NaN propagates
	Norm2                 // square root of the sum of squares
	numReduce
)

// NumReduceOps is the number of reductions.
const NumReduceOps = int(numReduce)

var reduceNames = [...]string{"Sum", "Mean", "Max", "Min", "Norm2"}

// String returns the reduction's name.
func (op ReduceOp) String() string {
	if op < numReduce {
		return reduceNames[op]
	}
	return "ReduceOp(?)"
}

// ArgOp is an index-of-extreme reduction.
type ArgOp uint8

// The index reductions.
const (
	ArgMax ArgOp = iota
	ArgMin
)

// String returns the reduction's name.
func (op ArgOp) String() string {
	if op == ArgMax {
		return "ArgMax"
	}
	return "ArgMin"
}

// Dist is a random distribution.
type Dist uint8

// The distributions.
const (
	Uniform Dist = iota
	Normal
)

// Timer times, on the device, the work a backend enqueues between Start
// and Stop. On CUDA it is a pair of events recorded on the device's stream,
// so that the time is the GPU's between the two marks, not the host's: the
// way PyTorch's torch.cuda.Event pairs time work. A Timer is used by one
// goroutine at a time; Start and Stop alternate.
type Timer interface {
	// Start marks the beginning of the timed work.
	Start() error
	// Stop marks its end, waits until the device has done the work before
	// the mark and returns the device time between the marks. It reports
	// errors of that work as Synchronize does.
	Stop() (time.Duration, error)
}

// Timed is implemented by backends whose work runs asynchronously and that
// can time it on the device (the CUDA backend). The benchmark harness times
// such a device's repetitions with it.
type Timed interface {
	NewTimer() (Timer, error)
}
