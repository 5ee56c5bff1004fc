package cuda

import (
	"errors"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// TestArgLayout parses kernels/tg_args.h and checks that every Go argument
// struct has the same fields, in the same order, at the same offsets.
func TestArgLayout(t *testing.T) {
	src, err := os.ReadFile("../../kernels/tg_args.h")
	if err != nil {
		t.Fatal(err)
	}
	// Field sizes in bytes of the C structs, flattened.
	sizes := map[string]int{"TgShape": 80, "TgView": 72, "TgConvGeom": 96}
	structRe := regexp.MustCompile(`(?s)typedef struct \{(.*?)\} (\w+);`)
	fieldRe := regexp.MustCompile(`^\s*(?:const\s+)?([\w]+)\s*(\*?)\s*(.*);`)
	cOffsets := map[string][]int{}
	for _, m := range structRe.FindAllStringSubmatch(string(src), -1) {
		name := m[2]
		off := 0
		var offs []int
		for _, line := range strings.Split(m[1], "\n") {
			line = strings.TrimSpace(strings.SplitN(line, "//", 2)[0])
			if line == "" {
				continue
			}
			f := fieldRe.FindStringSubmatch(line)
			if f == nil {
				t.Fatalf("%s: cannot parse field %q", name, line)
			}
			typ, ptr, names := f[1], f[2], f[3]
			for _, n := range strings.Split(names, ",") {
				n = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(n), "*"))
				width := 8
				if sz, ok := sizes[typ]; ok && ptr == "" {
					width = sz
				}
				count := 1
				if strings.Contains(n, "[TG_MAX_DIMS]") {
					count = maxDims
				}
				offs = append(offs, off)
				off += width * count
			}
		}
		sizes[name] = off
		cOffsets[name] = offs
	}
	goStructs := map[string]any{
		"TgShape": tgShape{}, "TgView": tgView{}, "TgMapArgs": mapArgs{}, "TgMapStridedArgs": mapStridedArgs{},
		"TgZipArgs": zipArgs{}, "TgZipStridedArgs": zipStridedArgs{}, "TgWhereArgs": whereArgs{},
		"TgCopyArgs": copyArgs{}, "TgFillArgs": fillArgs{}, "TgArangeArgs": arangeArgs{},
		"TgRandomArgs": randomArgs{}, "TgReduceInnerArgs": reduceInnerArgs{}, "TgReduceOuterArgs": reduceOuterArgs{},
		"TgReduceFinalArgs": reduceFinalArgs{}, "TgArgReduceArgs": argReduceArgs{}, "TgGemmArgs": gemmArgs{},
		"TgConvGeom": tgConvGeom{}, "TgConvArgs": convArgs{}, "TgPoolArgs": poolArgs{}, "TgSoftmaxArgs": softmaxArgs{},
		"TgSoftmaxGradArgs": softmaxGradArgs{}, "TgSGDArgs": sgdArgs{}, "TgAdamArgs": adamArgs{},
		"TgScanArgs": scanArgs{}, "TgNormArgs": normArgs{}, "TgNormGradArgs": normGradArgs{}, "TgGatherArgs": gatherArgs{},
		"TgAttnArgs": attnArgs{}, "TgErrRecord": errRecord{},
	}
	if len(cOffsets) != len(goStructs) {
		t.Errorf("header has %d structs, Go mirrors %d", len(cOffsets), len(goStructs))
	}
	for name, v := range goStructs {
		offs, ok := cOffsets[name]
		if !ok {
			t.Errorf("%s: not in tg_args.h", name)
			continue
		}
		typ := reflect.TypeOf(v)
		if int(typ.Size()) != sizes[name] {
			t.Errorf("%s: Go size %d, C size %d", name, typ.Size(), sizes[name])
		}
		if typ.NumField() != len(offs) {
			t.Errorf("%s: Go has %d fields, C %d", name, typ.NumField(), len(offs))
			continue
		}
		for i := 0; i < typ.NumField(); i++ {
			if got := int(typ.Field(i).Offset); got != offs[i] {
				t.Errorf("%s.%s: Go offset %d, C offset %d", name, typ.Field(i).Name, got, offs[i])
			}
		}
	}
}

func TestKernelNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	valid := regexp.MustCompile(`^tg_[a-z0-9]+(_[a-z0-9]+)*$`)
	for _, k := range kernelTable {
		if seen[k.name] {
			t.Errorf("kernel %s registered twice", k.name)
		}
		seen[k.name] = true
		if !valid.MatchString(k.name) {
			t.Errorf("kernel name %q", k.name)
		}
	}
	for _, want := range []string{"tg_unary_exp_f32", "tg_unary_relu_f64_s", "tg_scalar_rsubs_f32_s",
		"tg_binary_sigmoidgrad_f64_colr", "tg_axpby_f32", "tg_copy_f32_f64_s", "tg_convert_f64_f32",
		"tg_random_normal_f64", "tg_reduce_norm2_f32_final", "tg_argmin_f64", "tg_gemm_f32"} {
		if !seen[want] {
			t.Errorf("kernel %s missing", want)
		}
	}
}

func newFake(t *testing.T, devices int) (*fakeDriver, []*Backend) {
	t.Helper()
	drv := newFakeDriver(devices)
	var bs []*Backend
	for i := 0; i < devices; i++ {
		b, err := NewBackend(drv, i, fakePTX)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return drv, bs
}

func alloc(t *testing.T, b *Backend, dt device.DType, n int) *Buffer {
	t.Helper()
	buf, err := b.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	return bufOf(buf)
}

func lastLaunch(t *testing.T, c *fakeContext) launchRecord {
	t.Helper()
	if len(c.launches) == 0 {
		t.Fatal("no launch")
	}
	return c.launches[len(c.launches)-1]
}

func TestUploadDownload(t *testing.T) {
	drv, bs := newFake(t, 1)
	b := bs[0]
	x := alloc(t, b, device.Float32, 5)
	b.Upload(x, []float32{1, 2, 3, 4, 5})
	got := make([]float32, 5)
	if err := b.Download(got, x, device.Contiguous([]int{5})); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []float32{1, 2, 3, 4, 5}) {
		t.Fatalf("round trip: %v", got)
	}
	// Upload with conversion converts on the host.
	y := alloc(t, b, device.Float64, 3)
	b.Upload(y, []float32{1.5, -2, 3})
	g64 := make([]float64, 3)
	if err := b.Download(g64, y, device.Contiguous([]int{3})); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g64, []float64{1.5, -2, 3}) {
		t.Fatalf("converted upload: %v", g64)
	}
	// A strided download gathers on the device first: a copy kernel.
	n := len(drv.ctxs[0].launches)
	l := device.Layout{Shape: []int{2}, Strides: []int{2}, Offset: 1}
	_ = b.Download(make([]float32, 2), x, l)
	if len(drv.ctxs[0].launches) != n+1 || lastLaunch(t, drv.ctxs[0]).name != "tg_copy_f32_f32_s" {
		t.Fatalf("strided download launched %v", drv.ctxs[0].launches[n:])
	}
}

func TestUnaryVariants(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, c := bs[0], drv.ctxs[0]
	x := alloc(t, b, device.Float32, 12)
	d := alloc(t, b, device.Float32, 12)
	b.Unary(device.Exp, d, x, device.Contiguous([]int{3, 4}))
	l := lastLaunch(t, c)
	if l.name != "tg_unary_exp_f32" {
		t.Fatalf("dense unary launched %s", l.name)
	}
	if a := decode[mapArgs](l); a.N != 12 || a.Dst != d.ptr || a.Src != x.ptr {
		t.Fatalf("dense args %+v", a)
	}
	// A transposed view: strided kernel with merged shape and strides.
	tl := device.Layout{Shape: []int{4, 3}, Strides: []int{1, 4}, Offset: 0}
	b.Unary(device.Tanh, d, x, tl)
	l = lastLaunch(t, c)
	if l.name != "tg_unary_tanh_f32_s" {
		t.Fatalf("strided unary launched %s", l.name)
	}
	a := decode[mapStridedArgs](l)
	if a.Shape.N != 12 || a.Shape.NDim != 2 || a.Shape.Shape[0] != 4 || a.Shape.Shape[1] != 3 || a.X.Strides[0] != 1 || a.X.Strides[1] != 4 {
		t.Fatalf("strided args %+v", a)
	}
	// Offsets of dense views are folded into the pointer.
	b.Scalar(device.MulS, d, x, device.Layout{Shape: []int{4}, Strides: []int{1}, Offset: 8}, 2.5)
	l = lastLaunch(t, c)
	if ma := decode[mapArgs](l); l.name != "tg_scalar_muls_f32" || ma.Src != x.ptr+32 || ma.S != 2.5 {
		t.Fatalf("scalar launch %s %+v", l.name, ma)
	}
}

func TestZipVariants(t *testing.T) {
	c := func(shape ...int) device.Layout { return device.Contiguous(shape) }
	bc := func(shape []int, strides ...int) device.Layout {
		return device.Layout{Shape: shape, Strides: strides}
	}
	cases := []struct {
		name   string
		al, bl device.Layout
		want   int
		cols   int64
	}{
		{"dense", c(3, 4), c(3, 4), vVV, 0},
		{"scalar b", c(3, 4), bc([]int{3, 4}, 0, 0), vVS, 0},
		{"scalar a", bc([]int{3, 4}, 0, 0), c(3, 4), vSV, 0},
		{"row", c(3, 4), bc([]int{3, 4}, 0, 1), vRow, 4},
		{"row reversed", bc([]int{3, 4}, 0, 1), c(3, 4), vRowR, 4},
		{"col", c(3, 4), bc([]int{3, 4}, 1, 0), vCol, 4},
		{"col reversed", bc([]int{3, 4}, 1, 0), c(3, 4), vColR, 4},
		{"transposed", bc([]int{4, 3}, 1, 4), c(4, 3), vS, 0},
		{"3-d row", c(2, 3, 4), bc([]int{2, 3, 4}, 0, 0, 1), vRow, 4},
		{"middle broadcast", c(2, 3, 4), bc([]int{2, 3, 4}, 4, 0, 1), vS, 0},
	}
	for _, tc := range cases {
		v, cols := zipVariant(tc.al, tc.bl)
		if v != tc.want || cols != tc.cols {
			t.Errorf("%s: variant %s cols %d, want %s cols %d", tc.name, kernels.Variants[v], cols, kernels.Variants[tc.want], tc.cols)
		}
	}
}

func TestBinaryAndAxpbyLaunches(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	x := alloc(t, b, device.Float64, 12)
	y := alloc(t, b, device.Float64, 4)
	d := alloc(t, b, device.Float64, 12)
	b.Binary(device.Add, d, x, device.Contiguous([]int{3, 4}), y, device.Layout{Shape: []int{3, 4}, Strides: []int{0, 1}})
	l := lastLaunch(t, ctx)
	if za := decode[zipArgs](l); l.name != "tg_binary_add_f64_row" || za.Cols != 4 || za.N != 12 {
		t.Fatalf("row broadcast launched %s %+v", l.name, za)
	}
	// AddScaled has only dense and strided kernels.
	b.AddScaled(d, d, device.Contiguous([]int{12}), 1, x, device.Contiguous([]int{12}), -0.5)
	l = lastLaunch(t, ctx)
	if za := decode[zipArgs](l); l.name != "tg_axpby_f64" || za.Beta != -0.5 || za.Alpha != 1 || za.Dst != za.A {
		t.Fatalf("axpby launched %s %+v", l.name, za)
	}
	b.AddScaled(d, d, device.Contiguous([]int{3, 4}), 2, y, device.Layout{Shape: []int{3, 4}, Strides: []int{0, 1}}, 3)
	if l = lastLaunch(t, ctx); l.name != "tg_axpby_f64_s" {
		t.Fatalf("broadcast axpby launched %s", l.name)
	}
}

func TestTooManyDims(t *testing.T) {
	drv, bs := newFake(t, 1)
	b := bs[0]
	x := alloc(t, b, device.Float32, 1<<10)
	shape := []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}
	st := []int{1, 2, 4, 8, 16, 32, 64, 128, 256, 512} // reversed: nothing merges
	b.Unary(device.Neg, x, x, device.Layout{Shape: shape, Strides: st})
	err := b.Synchronize()
	if !errors.Is(err, ErrTooManyDims) || !strings.Contains(err.Error(), "tg_unary_neg_f32_s") {
		t.Fatalf("want ErrTooManyDims naming the kernel, got %v", err)
	}
	if len(drv.ctxs[0].launches) != 0 {
		t.Fatal("launched anyway")
	}
}

func TestReducePlans(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	n := 1 << 20
	x := alloc(t, b, device.Float32, n)
	out := alloc(t, b, device.Float32, 1024)

	// All elements: one run of 1M elements, split into 16 chunks.
	b.Reduce(device.Sum, out, x, device.Contiguous([]int{n}), []int{0})
	k := len(ctx.launches)
	in, fin := ctx.launches[k-2], ctx.launches[k-1]
	ia, fa := decode[reduceInnerArgs](in), decode[reduceFinalArgs](fin)
	if in.name != "tg_reduce_sum_f32_inner" || fin.name != "tg_reduce_sum_f32_final" {
		t.Fatalf("all-reduce launched %s, %s", in.name, fin.name)
	}
	if ia.Rows != 1 || ia.Run != int64(n) || ia.Chunks != 16 || ia.Chunk != reduceChunk || in.grid[0] != 16 {
		t.Fatalf("inner args %+v grid %v", ia, in.grid)
	}
	if fa.Outputs != 1 || fa.Chunks != 16 || fa.Count != int64(n) || fa.Transposed != 0 || fa.Part != ia.Part {
		t.Fatalf("final args %+v", fa)
	}

	// Sum over axis 0 of [1024, 1024]: the outer plan, 64 rows per chunk.
	b.Mean(out, x)
	k = len(ctx.launches)
	oa := decode[reduceOuterArgs](ctx.launches[k-2])
	if ctx.launches[k-2].name != "tg_reduce_mean_f32_outer" || oa.Cols != 1024 || oa.Rows != 1024 || oa.Chunk != 64 || oa.Chunks != 16 {
		t.Fatalf("outer launch %s %+v", ctx.launches[k-2].name, oa)
	}
	if g := ctx.launches[k-2].grid; g[0] != 4 || g[1] != 16 {
		t.Fatalf("outer grid %v", g)
	}
	if fa := decode[reduceFinalArgs](ctx.launches[k-1]); fa.Transposed != 1 || fa.Count != 1024 {
		t.Fatalf("outer final %+v", fa)
	}

	// A middle axis of [4, 256, 1024] cannot be walked as inner or outer: a
	// copy to reorder, then the inner plan.
	k = len(ctx.launches)
	b.Reduce(device.Max, out, x, device.Contiguous([]int{4, 256, 1024}), []int{1})
	names := []string{}
	for _, l := range ctx.launches[k:] {
		names = append(names, l.name)
	}
	if strings.Join(names, ",") != "tg_copy_f32_f32_s,tg_reduce_max_f32_inner,tg_reduce_max_f32_final" {
		t.Fatalf("middle-axis reduce launched %v", names)
	}
}

// Mean is a helper for the outer-plan test: the mean over axis 0.
func (b *Backend) Mean(dst, src *Buffer) {
	b.Reduce(device.Mean, dst, src, device.Contiguous([]int{1024, 1024}), []int{0})
}

func TestMatMulPlans(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	a := alloc(t, b, device.Float32, 6*4)
	w := alloc(t, b, device.Float32, 4*5)
	c := alloc(t, b, device.Float32, 6*5)

	// Without cuBLAS: the fallback kernel with the layouts as given.
	b.MatMul(c, device.MatLayout{RowStride: 5, ColStride: 1}, a, device.MatLayout{RowStride: 4, ColStride: 1}, w, device.MatLayout{RowStride: 1, ColStride: 4}, 1, 6, 5, 4)
	l := lastLaunch(t, ctx)
	g := decode[gemmArgs](l)
	if l.name != "tg_gemm_f32" || g.M != 6 || g.N != 5 || g.K != 4 || g.BRS != 1 || g.BCS != 4 || g.CLd != 5 {
		t.Fatalf("gemm launch %s %+v", l.name, g)
	}

	// With cuBLAS: row-major C = A·B as column-major Cᵀ = Bᵀ·Aᵀ; a
	// transposed B (row stride 1) becomes a cuBLAS transpose.
	fb := &fakeBLAS{}
	ctx.blas = fb
	b.MatMul(c, device.MatLayout{RowStride: 5, ColStride: 1}, a, device.MatLayout{RowStride: 4, ColStride: 1}, w, device.MatLayout{RowStride: 1, ColStride: 4}, 1, 6, 5, 4)
	if len(fb.calls) != 1 {
		t.Fatalf("%d cuBLAS calls", len(fb.calls))
	}
	call := fb.calls[0]
	want := gemmCall{transA: true, transB: false, m: 5, n: 6, k: 4, lda: 4, ldb: 4, ldc: 5, a: w.ptr, b: a.ptr, c: c.ptr, batch: 1}
	if call != want {
		t.Fatalf("cuBLAS call %+v, want %+v", call, want)
	}
	// A layout cuBLAS cannot take (both strides > 1) is copied first.
	n := len(ctx.launches)
	b.MatMul(c, device.MatLayout{RowStride: 5, ColStride: 1}, a, device.MatLayout{RowStride: 8, ColStride: 2}, w, device.MatLayout{RowStride: 5, ColStride: 1}, 1, 3, 5, 4)
	if len(ctx.launches) != n+1 || ctx.launches[n].name != "tg_copy_f32_f32_s" || fb.calls[1].ldb != 4 || fb.calls[1].transB || fb.calls[1].lda != 5 {
		t.Fatalf("non-dense operand: launches %v, call %+v", ctx.launches[n:], fb.calls[1])
	}
}

func TestAllocatorCaching(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	for _, tc := range []struct{ in, want int64 }{{1, 512}, {512, 512}, {513, 1024}, {1000, 1024}, {1025, 1536}, {5000, 5120}, {3 << 20, 3 << 20}, {(3 << 20) + 1, 7 << 19}} {
		if got := classSize(tc.in); got != tc.want {
			t.Errorf("classSize(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
	x := alloc(t, b, device.Float32, 1000)
	b.Free(x)
	y := alloc(t, b, device.Float32, 900) // same class: reused
	if y.ptr != x.ptr || ctx.allocs != 1 {
		t.Fatalf("no reuse: %#x vs %#x, %d driver allocations", y.ptr, x.ptr, ctx.allocs)
	}
	s := b.MemStats()
	if s.Allocated != 4096 || s.Reserved != 4096 || s.CacheHits != 1 || s.DriverAllocs != 1 || s.PeakAllocated != 4096 {
		t.Fatalf("stats %+v", s)
	}
	b.Free(y)
	syncs := ctx.syncs
	b.EmptyCache()
	if s := b.MemStats(); s.Reserved != 0 || s.Allocated != 0 || ctx.frees != 1 || ctx.syncs != syncs+1 {
		t.Fatalf("after EmptyCache: %+v, %d frees, %d syncs", s, ctx.frees, ctx.syncs-syncs)
	}
}

func TestAllocatorOutOfMemory(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	// A failing allocation first gives the cache back, then retries.
	x := alloc(t, b, device.Float32, 1<<10)
	b.Free(x)
	ctx.failAlloc = 1
	if _, err := b.Alloc(device.Float32, 1<<20); err != nil {
		t.Fatalf("retry after emptying the cache failed: %v", err)
	}
	if ctx.frees != 1 {
		t.Fatalf("cache not emptied before retrying: %d frees", ctx.frees)
	}
	// A request beyond the device fails with ErrOutOfMemory and the sizes.
	_, err := b.Alloc(device.Float64, 1<<28)
	if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "2147483648 bytes") || !strings.Contains(err.Error(), "of 1073741824 bytes free") {
		t.Fatalf("want ErrOutOfMemory with sizes, got %v", err)
	}
}

func TestAsyncErrorSurfacesAtSync(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	x := alloc(t, b, device.Float32, 8)
	ctx.launchErr = errors.New("CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES")
	b.Unary(device.Sqrt, x, x, device.Contiguous([]int{8}))
	ctx.launchErr = nil
	b.Unary(device.Exp, x, x, device.Contiguous([]int{8}))
	err := b.Synchronize()
	if err == nil || !strings.Contains(err.Error(), "tg_unary_sqrt_f32") || !strings.Contains(err.Error(), "OUT_OF_RESOURCES") {
		t.Fatalf("want the first failed kernel named, got %v", err)
	}
	if err := b.Synchronize(); err != nil {
		t.Fatalf("error not cleared: %v", err)
	}
}

func TestModuleLoadError(t *testing.T) {
	drv := newFakeDriver(1)
	b, err := NewBackend(drv, 0, func(string) (string, error) { return "bad", nil })
	if err != nil {
		t.Fatal(err)
	}
	x := alloc(t, b, device.Float32, 4)
	b.Fill(x, device.Contiguous([]int{4}), 1)
	if err := b.Synchronize(); err == nil || !strings.Contains(err.Error(), "syntax error") || !strings.Contains(err.Error(), "elementwise") {
		t.Fatalf("want the JIT log in the error, got %v", err)
	}
}

func TestPeerCopyOrdersWithEvents(t *testing.T) {
	drv, bs := newFake(t, 2)
	b0, b1 := bs[0], bs[1]
	src := alloc(t, b0, device.Float32, 4)
	b0.Upload(src, []float32{1, 2, 3, 4})
	dst := alloc(t, b1, device.Float32, 4)
	if !b1.CopyFrom(dst, src, b0, device.Contiguous([]int{4})) {
		t.Fatal("CopyFrom refused")
	}
	got := make([]float32, 4)
	if err := b1.Download(got, dst, device.Contiguous([]int{4})); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []float32{1, 2, 3, 4}) {
		t.Fatalf("peer copy gave %v", got)
	}
	// dst's stream records an event that src's stream waits for; the copy
	// runs on src's stream; dst's stream waits for the copy.
	c0, c1 := drv.ctxs[0], drv.ctxs[1]
	s0, s1 := b0.stream, b1.stream
	done := b1.peerDone[b0]
	want1 := []string{"record e" + itoa(int(b1.peerA)) + " s" + itoa(int(s1)), "wait s" + itoa(int(s1)) + " e" + itoa(int(done))}
	want0 := []string{"wait s" + itoa(int(s0)) + " e" + itoa(int(b1.peerA)), "peer s" + itoa(int(s0)) + " 16", "record e" + itoa(int(done)) + " s" + itoa(int(s0))}
	if !reflect.DeepEqual(c1.calls, want1) || !reflect.DeepEqual(c0.calls, want0) {
		t.Fatalf("calls on dst %v (want %v), on src %v (want %v)", c1.calls, want1, c0.calls, want0)
	}
}

// A device that receives from two others records each copy's end on the
// source's own context (regression: the end event was made once, on the
// first source's context, and recorded on the second source's stream, which
// the driver refuses with CUDA_ERROR_INVALID_HANDLE).
func TestPeerCopyFromTwoSources(t *testing.T) {
	_, bs := newFake(t, 3)
	dst := bs[0]
	for i, src := range bs[1:] {
		x := alloc(t, src, device.Float32, 4)
		v := float32(10 * (i + 1))
		src.Upload(x, []float32{v, v + 1, v + 2, v + 3})
		d := alloc(t, dst, device.Float32, 4)
		if !dst.CopyFrom(d, x, src, device.Contiguous([]int{4})) {
			t.Fatal("CopyFrom refused")
		}
		got := make([]float32, 4)
		if err := dst.Download(got, d, device.Contiguous([]int{4})); err != nil {
			t.Fatalf("copy from %v: %v", src.Device(), err)
		}
		if want := []float32{v, v + 1, v + 2, v + 3}; !reflect.DeepEqual(got, want) {
			t.Fatalf("copy from %v gave %v, want %v", src.Device(), got, want)
		}
	}
	if len(dst.peerDone) != 2 {
		t.Fatalf("%d end events, want one per source", len(dst.peerDone))
	}
}

// GEMM names the path matrix products take; sizes or strides beyond
// cuBLAS's 32-bit ints take the tiled kernel.
func TestGEMMPath(t *testing.T) {
	drv, bs := newFake(t, 1)
	b := bs[0]
	if got := b.GEMM(); !strings.Contains(got, "tiled kernel") || !strings.Contains(got, "no cuBLAS") {
		t.Fatalf("without cuBLAS: %q", got)
	}
	drv.ctxs[0].blas = &fakeBLAS{}
	if got := b.GEMM(); got != "cuBLAS (libfakeblas.so)" {
		t.Fatalf("with cuBLAS: %q", got)
	}
	dense := device.MatLayout{RowStride: 8, ColStride: 1}
	if !blasFits(4, 8, 8, 8, dense, dense, dense) {
		t.Fatal("a small product does not fit cuBLAS")
	}
	wide := device.MatLayout{RowStride: 1 << 31, ColStride: 1}
	if blasFits(1, 8, 8, 8, dense, wide, dense) || blasFits(1<<31, 8, 8, 8, dense, dense, dense) || blasFits(1, 8, 8, 1<<31, dense, dense, dense) {
		t.Fatal("a stride or size of 2^31 fits cuBLAS's int")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestGeometry(t *testing.T) {
	if g := grid1D(1, 4); g != [3]uint32{1, 1, 1} {
		t.Errorf("grid1D(1) = %v", g)
	}
	if g := grid1D(1<<30, 4); g[0] != maxBlocks {
		t.Errorf("grid1D(1<<30) = %v", g)
	}
	if g := grid1D(256*4*10+1, 4); g[0] != 11 {
		t.Errorf("grid1D = %v", g)
	}
	if c, k := reduceSplit(100); c != 1 || k != 100 {
		t.Errorf("reduceSplit(100) = %d, %d", c, k)
	}
	if c, _ := outerSplit(math.MaxInt32, 1<<17); c > 65535 {
		t.Errorf("outerSplit gives %d chunks, beyond gridDim.y", c)
	}
}

// The backend implements the whole device.Backend interface.
var _ device.Backend = (*Backend)(nil)
var _ device.PeerCopier = (*Backend)(nil)

// Large downloads go through page-locked staging memory, reused.
// Downloads of 1 MiB and more go through two page-locked chunks of
// stageChunk bytes: every piece arrives, in order, whatever the size, and
// each chunk's buffer is refilled only after the wait for its previous piece.
func TestStagedDownload(t *testing.T) {
	_, bs := newFake(t, 1)
	b := bs[0]
	ctx := b.ctx.(*fakeContext)
	for _, n := range []int{1 << 19, stageChunk/4 + 3, 5*stageChunk/8 + 1} { // 1, 2 and 3 pieces
		x := alloc(t, b, device.Float32, n)
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i % 1000003)
		}
		b.Upload(x, src)
		ctx.calls = nil
		got := make([]float32, n)
		if err := b.Download(got, x, device.Contiguous([]int{n})); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, src) {
			t.Fatalf("staged download of %d floats differs", n)
		}
		s := " s" + itoa(int(b.stream))
		ea, eb := "e"+itoa(int(b.stageEv[0])), "e"+itoa(int(b.stageEv[1]))
		want := map[int][]string{
			1 << 19:            {"record " + ea + s, "syncevent " + ea},
			stageChunk/4 + 3:   {"record " + ea + s, "record " + eb + s, "syncevent " + ea, "syncevent " + eb},
			5*stageChunk/8 + 1: {"record " + ea + s, "record " + eb + s, "syncevent " + ea, "record " + ea + s, "syncevent " + eb, "syncevent " + ea},
		}[n]
		if !reflect.DeepEqual(ctx.calls, want) {
			t.Fatalf("%d floats: calls %v, want %v", n, ctx.calls, want)
		}
		b.Free(x)
	}
}

// A Timer records its two timing events on the device's stream around the
// timed work and returns the time between them; Start and Stop must
// alternate; an error of the timed work is reported by Stop, as by
// Synchronize.
func TestTimer(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	tm, err := b.NewTimer()
	if err != nil {
		t.Fatal(err)
	}
	et := tm.(*eventTimer)
	x := alloc(t, b, device.Float32, 8)
	if err := tm.Start(); err != nil {
		t.Fatal(err)
	}
	if err := tm.Start(); !errors.Is(err, ErrTimerState) {
		t.Fatalf("second Start: got %v, want ErrTimerState", err)
	}
	b.Unary(device.Exp, x, x, device.Contiguous([]int{8}))
	time.Sleep(2 * time.Millisecond) // the fake's device time is the host's
	d, err := tm.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if d < 2*time.Millisecond || d > time.Minute {
		t.Fatalf("Stop returned %v, want the 2 ms or more between the records", d)
	}
	s := itoa(int(b.stream))
	want := []string{"record e" + itoa(int(et.start)) + " s" + s, "record e" + itoa(int(et.end)) + " s" + s}
	if !reflect.DeepEqual(ctx.calls, want) {
		t.Fatalf("calls %v, want %v", ctx.calls, want)
	}
	if _, err := tm.Stop(); !errors.Is(err, ErrTimerState) {
		t.Fatalf("Stop without Start: got %v, want ErrTimerState", err)
	}
	// An asynchronous error of the timed work surfaces at Stop, once.
	if err := tm.Start(); err != nil {
		t.Fatal(err)
	}
	ctx.launchErr = errors.New("CUDA_ERROR_ILLEGAL_ADDRESS")
	b.Unary(device.Sqrt, x, x, device.Contiguous([]int{8}))
	ctx.launchErr = nil
	if _, err := tm.Stop(); err == nil || !strings.Contains(err.Error(), "ILLEGAL_ADDRESS") {
		t.Fatalf("Stop after a failed launch: got %v", err)
	}
	if err := b.Synchronize(); err != nil {
		t.Fatalf("error not cleared by Stop: %v", err)
	}
}

// The half dtypes are stored (2-byte elements) and converted by module
// index; an invalid dtype is refused in Alloc with an error wrapping
// device.ErrDType (package tensor reports it as its ErrDType), allocating
// nothing.
func TestHalfAlloc(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		n := ctx.used
		x := alloc(t, b, dt, 1000)
		if x.DType() != dt || x.Len() != 1000 || ctx.used-n < 2000 || ctx.used-n >= 4000 {
			t.Errorf("Alloc(%v, 1000): dtype %v, %d elements, %d bytes of device memory", dt, x.DType(), x.Len(), ctx.used-n)
		}
	}
	n := ctx.allocs
	buf, err := b.Alloc(device.DType(device.NumDTypes), 4)
	if buf != nil || !errors.Is(err, device.ErrDType) || !strings.Contains(err.Error(), "cuda:0") {
		t.Errorf("Alloc(invalid) = %v, %v; want an error wrapping device.ErrDType naming the device", buf, err)
	}
	if ctx.allocs != n {
		t.Errorf("Alloc(invalid) allocated device memory")
	}
}

// Uploads and downloads of the half dtypes: []uint16 bits as they are,
// other host types converted on the host by the CPU backend's rules, and
// downloads into other types converted on the device.
func TestHalfUploadDownload(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	vals := []float32{1, -2.5, 1e-8, 70000, float32(math.Inf(-1)), 1.00390625, float32(math.NaN())}
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		x := alloc(t, b, dt, len(vals))
		l := device.Contiguous([]int{len(vals)})
		bits := []uint16{0x3c00, 0x8001, 0x7c00, 0xffff, 0, 0x8000, 0x1234}
		k := len(ctx.launches)
		b.Upload(x, bits)
		got := make([]uint16, len(vals))
		if err := b.Download(got, x, l); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, bits) || len(ctx.launches) != k {
			t.Errorf("%v: bits round trip %x (launches %v)", dt, got, ctx.launches[k:])
		}
		b.Upload(x, vals)
		if err := b.Download(got, x, l); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if want := device.HalfFromFloat32(dt, v); got[i] != want {
				t.Errorf("%v: Upload of %v stored %#04x, want %#04x", dt, v, got[i], want)
			}
		}
		// float64 rounds once (via round-to-odd): 1 + 2⁻⁸ + 2⁻³⁰ is above
		// the tie of bfloat16, so it rounds up, not to even.
		b.Upload(x, []float64{1 + 0x1p-8 + 0x1p-30, 1 + 0x1p-11 + 0x1p-40, 0, 0, 0, 0, 0})
		if err := b.Download(got, x, l); err != nil {
			t.Fatal(err)
		}
		if want := device.HalfFromFloat64(dt, 1+0x1p-8+0x1p-30); got[0] != want || (dt == device.BFloat16 && want != 0x3f81) {
			t.Errorf("%v: Upload of float64 stored %#04x, want %#04x", dt, got[0], want)
		}
		if want := device.HalfFromFloat64(dt, 1+0x1p-11+0x1p-40); got[1] != want || (dt == device.Float16 && want != 0x3c01) {
			t.Errorf("%v: Upload of float64 stored %#04x, want %#04x", dt, got[1], want)
		}
		// A strided bits download gathers with the same-type copy; a
		// download into float32 converts with the half-to-f32 kernel.
		_ = b.Download(make([]uint16, 3), x, device.Layout{Shape: []int{3}, Strides: []int{2}})
		if l := lastLaunch(t, ctx); l.name != kernels.CopyName(dt, dt) {
			t.Errorf("%v: strided bits download launched %s", dt, l.name)
		}
		_ = b.Download(make([]float32, len(vals)), x, l)
		if l := lastLaunch(t, ctx); l.name != kernels.CopyName(dt, device.Float32) {
			t.Errorf("%v: download into []float32 launched %s", dt, l.name)
		}
		if err := b.Download(make([]float32, 3), x, device.Contiguous([]int{3})); err != nil {
			t.Fatal(err)
		}
	}
	f := alloc(t, b, device.Float32, 3)
	if err := b.Download(make([]uint16, 3), f, device.Contiguous([]int{3})); err == nil {
		t.Error("Download of a float32 buffer into []uint16: no error")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Upload of []uint16 into a float32 buffer did not panic")
			}
		}()
		b.Upload(f, []uint16{1, 2, 3})
	}()
}

// Copies with a half side run module index's strided kernels, dense or
// not (same-dtype dense copies are memcpys); Fill of a half buffer runs
// its strided fill with the float64 value (rounded once on the device).
func TestHalfCopyFillPlans(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	for s := range device.DType(device.NumDTypes) {
		for d := range device.DType(device.NumDTypes) {
			if !s.IsHalf() && !d.IsHalf() {
				continue
			}
			src, dst := alloc(t, b, s, 64), alloc(t, b, d, 70)
			dl, sl := device.Layout{Shape: []int{8, 8}, Strides: []int{1, 8}, Offset: 3}, device.Contiguous([]int{8, 8})
			b.Copy(dst, dl, src, sl)
			l := lastLaunch(t, ctx)
			a := decode[copyArgs](l)
			if l.name != kernels.CopyName(s, d) || a.Dst != dst.ptr || a.Src != src.ptr || a.Shape.N != 64 || a.VD.Offset != 3 {
				t.Errorf("strided copy %v to %v: %s %+v", s, d, l.name, a)
			}
			k := len(ctx.launches)
			b.Copy(dst, device.Contiguous([]int{64}), src, device.Contiguous([]int{64}))
			switch {
			case s == d && len(ctx.launches) != k:
				t.Errorf("dense %v copy launched a kernel", s)
			case s != d && lastLaunch(t, ctx).name != kernels.CopyName(s, d):
				t.Errorf("dense copy %v to %v launched %s", s, d, lastLaunch(t, ctx).name)
			}
		}
	}
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		x := alloc(t, b, dt, 100)
		for _, l := range []device.Layout{device.Contiguous([]int{100}), {Shape: []int{10, 5}, Strides: []int{10, 2}, Offset: 1}} {
			b.Fill(x, l, 1.5+0x1p-30)
			ll := lastLaunch(t, ctx)
			if a := decode[fillArgs](ll); ll.name != kernels.FillName(dt, true) || a.V != 1.5+0x1p-30 ||
				a.Shape.N != int64(l.Size()) || a.VD.Offset != int64(l.Offset) || a.Dst != x.ptr {
				t.Errorf("Fill %v %v: %s %+v", dt, l, ll.name, a)
			}
		}
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// Through device.WithHalf (as package tensor uses the backend), an
// elementwise op on half buffers runs the half module's own kernel (the
// backend is a device.HalfKernels); a method without half kernels (Where)
// converts the buffers into float32 scratch buffers with module index's
// copies, runs the float32 kernel, and rounds the result back.
func TestHalfThroughWithHalf(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	h := device.WithHalf(b)
	names := func(k int) []string {
		var out []string
		for _, l := range ctx.launches[k:] {
			out = append(out, l.name)
		}
		return out
	}
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		x, y, c := alloc(t, b, dt, 12), alloc(t, b, dt, 12), alloc(t, b, dt, 12)
		k := len(ctx.launches)
		h.Unary(device.Exp, y, x, device.Contiguous([]int{3, 4}))
		if got, want := names(k), []string{kernels.UnaryName(device.Exp, dt, false)}; !reflect.DeepEqual(got, want) {
			t.Errorf("WithHalf Exp on %v launched %v, want %v", dt, got, want)
		}
		k = len(ctx.launches)
		l := device.Contiguous([]int{12})
		h.Where(y, c, l, x, l, y, l)
		to32, from32 := kernels.CopyName(dt, device.Float32), kernels.CopyName(device.Float32, dt)
		if got, want := names(k), []string{to32, to32, to32, kernels.WhereName(device.Float32), from32}; !reflect.DeepEqual(got, want) {
			t.Errorf("WithHalf Where on %v launched %v, want %v", dt, got, want)
		}
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// A MatMul of half matrices through device.WithHalf: with cuBLAS, one
// cublasGemmStridedBatchedEx on the half buffers themselves (no
// conversions); without cuBLAS, or with one that lacks the entry point, or
// for mixed dtypes, the float32 path (conversions and the float32 product).
func TestHalfMatMul(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	h := device.WithHalf(b)
	var _ device.HalfMatMuler = b
	cl, al, wl := device.MatLayout{RowStride: 5, ColStride: 1, BatchStride: 30}, device.MatLayout{RowStride: 4, ColStride: 1, BatchStride: 24},
		device.MatLayout{RowStride: 1, ColStride: 4, BatchStride: 0}
	names := func(k int) []string {
		var out []string
		for _, l := range ctx.launches[k:] {
			out = append(out, l.name)
		}
		return out
	}
	for _, dt := range []device.DType{device.BFloat16, device.Float16} {
		a, w, c := alloc(t, b, dt, 2*6*4), alloc(t, b, dt, 4*5), alloc(t, b, dt, 2*6*5)
		ctx.blas = nil
		k := len(ctx.launches)
		h.MatMul(c, cl, a, al, w, wl, 2, 6, 5, 4)
		want := []string{kernels.CopyName(dt, device.Float32), kernels.CopyName(dt, device.Float32), kernels.CopyName(dt, device.Float32),
			kernels.GemmName(device.Float32), kernels.CopyName(device.Float32, dt)}
		if got := names(k); !reflect.DeepEqual(got, want) {
			t.Errorf("%v without cuBLAS: launched %v, want %v", dt, got, want)
		}
		fb := &fakeBLAS{}
		ctx.blas = fb
		k = len(ctx.launches)
		h.MatMul(c, cl, a, al, w, wl, 2, 6, 5, 4)
		if len(ctx.launches) != k || len(fb.calls) != 1 {
			t.Fatalf("%v with cuBLAS: launches %v, cuBLAS calls %+v", dt, names(k), fb.calls)
		}
		wantCall := gemmCall{transA: true, m: 5, n: 6, k: 4, lda: 4, ldb: 4, ldc: 5, a: w.ptr, b: a.ptr, c: c.ptr,
			strideA: 0, strideB: 24, strdC: 30, batch: 2, half: dt}
		if fb.calls[0] != wantCall {
			t.Errorf("%v: cuBLAS call %+v, want %+v", dt, fb.calls[0], wantCall)
		}
		// Mixed dtypes take the float32 path.
		f := alloc(t, b, device.Float32, 4*5)
		k = len(ctx.launches)
		h.MatMul(c, cl, a, al, f, wl, 2, 6, 5, 4)
		if len(fb.calls) != 2 || fb.calls[1].half != 0 || len(ctx.launches) == k {
			t.Errorf("%v with a float32 operand: cuBLAS calls %+v, launches %v", dt, fb.calls, names(k))
		}
		// k = 0 fills the outputs with zeros, in the half dtype.
		k = len(ctx.launches)
		h.MatMul(c, cl, a, al, w, wl, 2, 6, 5, 0)
		if got := names(k); len(got) != 2 || got[0] != kernels.FillName(dt, true) {
			t.Errorf("%v with k = 0: launched %v", dt, got)
		}
	}
	// A cuBLAS without cublasGemmStridedBatchedEx: the float32 path, and
	// the backend stops asking.
	fb := &fakeBLAS{noEx: true}
	ctx.blas = fb
	a, w, c := alloc(t, b, device.BFloat16, 24), alloc(t, b, device.BFloat16, 20), alloc(t, b, device.BFloat16, 30)
	for range 2 {
		k := len(ctx.launches)
		h.MatMul(c, cl, a, al, w, wl, 1, 6, 5, 4)
		if len(fb.calls) == 0 || fb.calls[len(fb.calls)-1].half != 0 || names(k)[0] != kernels.CopyName(device.BFloat16, device.Float32) {
			t.Errorf("without GemmEx: cuBLAS calls %+v, launches %v", fb.calls, names(k))
		}
	}
	if !b.noHalfGemm.Load() {
		t.Error("the backend did not remember that cuBLAS lacks GemmEx")
	}
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
}

// A peer copy of half buffers moves 2-byte elements; one into another
// dtype converts on the source device first (module index).
func TestHalfPeerCopy(t *testing.T) {
	drv, bs := newFake(t, 2)
	b0, b1 := bs[0], bs[1]
	bits := []uint16{0x3f80, 0xc000, 0x7fc0, 0x0001, 0x8000}
	src := alloc(t, b0, device.BFloat16, 5)
	b0.Upload(src, bits)
	dst := alloc(t, b1, device.BFloat16, 5)
	if !b1.CopyFrom(dst, src, b0, device.Contiguous([]int{5})) {
		t.Fatal("CopyFrom refused")
	}
	got := make([]uint16, 5)
	if err := b1.Download(got, dst, device.Contiguous([]int{5})); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, bits) {
		t.Fatalf("peer copy gave %#04x, want %#04x", got, bits)
	}
	if c := drv.ctxs[0].calls; !slices.Contains(c, "peer s"+itoa(int(b0.stream))+" 10") {
		t.Errorf("source calls %v: no 10-byte peer copy", c)
	}
	f := alloc(t, b1, device.Float16, 5)
	n := len(drv.ctxs[0].launches)
	b1.CopyFrom(f, src, b0, device.Contiguous([]int{5}))
	if l := drv.ctxs[0].launches[n:]; len(l) != 1 || l[0].name != kernels.CopyName(device.BFloat16, device.Float16) {
		t.Errorf("bf16 to f16 peer copy launched %v on the source", l)
	}
}
