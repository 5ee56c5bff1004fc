package cuda

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The device-side error record on the fake driver: allocated once, passed
// to the kernels that read labels or indices, read at synchronisations
// after such kernels (only then), reported as a typed error and cleared.

// writeRecord stands in for a kernel that records a bad value.
func writeRecord(c *fakeContext, p Ptr, r errRecord) {
	copy(c.bytesAt(p, kernels.ErrRecordSize), unsafe.Slice((*byte)(unsafe.Pointer(&r)), kernels.ErrRecordSize))
}

func readRecord(c *fakeContext, p Ptr) errRecord {
	var r errRecord
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&r)), kernels.ErrRecordSize), c.bytesAt(p, kernels.ErrRecordSize))
	return r
}

func TestErrRecordPassedToKernels(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	loss, prob, x, lab := alloc(t, b, device.Float32, 4), alloc(t, b, device.Float32, 12), alloc(t, b, device.Float32, 12), alloc(t, b, device.Float32, 4)
	allocs := ctx.allocs
	b.SoftmaxCE(loss, prob, x, lab, 4, 3)
	if ctx.allocs != allocs+1 {
		t.Errorf("the first SoftmaxCE made %d allocations, want 1 (the record)", ctx.allocs-allocs)
	}
	l := lastLaunch(t, ctx)
	sa := decode[softmaxArgs](l)
	rec := sa.Err
	if rec == 0 || sa.ErrOp != int64(device.IndexSoftmaxCE) {
		t.Fatalf("SoftmaxCE: record %#x, op %d", rec, sa.ErrOp)
	}
	if readRecord(ctx, rec) != (errRecord{}) {
		t.Fatal("the new record is not clear")
	}
	g := alloc(t, b, device.Float32, 1)
	b.SoftmaxCEGrad(prob, prob, lab, g, device.Layout{Shape: []int{4}, Strides: []int{0}}, 4, 3)
	if a := decode[softmaxGradArgs](lastLaunch(t, ctx)); a.Err != rec || a.ErrOp != int64(device.IndexSoftmaxCEGrad) {
		t.Errorf("SoftmaxCEGrad: record %#x, op %d", a.Err, a.ErrOp)
	}
	idx := alloc(t, b, device.Int64, 6)
	gg := device.GatherGeom{Outer: 1, N: 4, M: 6, Inner: 1, IdxStrides: [3]int{0, 1, 0}}
	out := alloc(t, b, device.Float32, 6)
	b.Gather(out, loss, idx, gg)
	if a := decode[gatherArgs](lastLaunch(t, ctx)); a.Err != rec || a.ErrOp != int64(device.IndexGather) {
		t.Errorf("Gather: record %#x, op %d", a.Err, a.ErrOp)
	}
	b.ScatterAdd(loss, out, idx, gg)
	if a := decode[gatherArgs](lastLaunch(t, ctx)); a.Err != rec || a.ErrOp != int64(device.IndexScatterAdd) {
		t.Errorf("ScatterAdd: record %#x, op %d", a.Err, a.ErrOp)
	}
	for _, dt := range []device.DType{device.Float32, device.Float64, device.Int32, device.Int64} {
		lb := alloc(t, b, dt, 10)
		b.CheckIndices(device.IndexOneHot, lb, 2, 7, 5)
		l := lastLaunch(t, ctx)
		a := decode[checkArgs](l)
		if l.name != kernels.CheckIndexName(dt) || a.Idx != lb.at(2) || a.M != 7 || a.N != 5 || a.Err != rec || a.ErrOp != int64(device.IndexOneHot) {
			t.Errorf("CheckIndices %v: %s %+v", dt, l.name, a)
		}
	}
	allocs = ctx.allocs
	b.SoftmaxCE(loss, prob, x, lab, 4, 3)
	if ctx.allocs != allocs || decode[softmaxArgs](lastLaunch(t, ctx)).Err != rec {
		t.Error("the record is allocated again")
	}
	if err := b.Synchronize(); err != nil {
		t.Fatalf("clear record: %v", err)
	}
}

// checkArgs is gatherArgs as the check kernel reads it.
type checkArgs = gatherArgs

func TestErrRecordReported(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	loss, prob, x, lab := alloc(t, b, device.Float32, 4), alloc(t, b, device.Float32, 12), alloc(t, b, device.Float32, 12), alloc(t, b, device.Float32, 4)
	b.SoftmaxCE(loss, prob, x, lab, 4, 3)
	rec := decode[softmaxArgs](lastLaunch(t, ctx)).Err
	writeRecord(ctx, rec, errRecord{Code: kernels.ErrRange, Op: int64(device.IndexSoftmaxCE), Pos: 2, Bound: 3, FValue: 7})

	// Download reports it (Item, Float32s, ...).
	err := b.Download(make([]float32, 4), loss, device.Contiguous([]int{4}))
	var ie *device.IndexError
	if !errors.As(err, &ie) || !errors.Is(err, device.ErrBadIndex) {
		t.Fatalf("Download after a bad label: %v", err)
	}
	want := device.IndexError{Device: device.CUDA(0), Op: device.IndexSoftmaxCE, Pos: 2, Bound: 3, Value: 7}
	if *ie != want {
		t.Errorf("error %+v, want %+v", *ie, want)
	}
	if s := err.Error(); !strings.Contains(s, "SoftmaxCE") || !strings.Contains(s, "position 2 is 7, outside [0, 3)") {
		t.Errorf("message %q", s)
	}
	// Cleared: the next synchronisation is clean, and the backend usable.
	if r := readRecord(ctx, rec); r != (errRecord{}) {
		t.Errorf("record after the report: %+v", r)
	}
	if err := b.Synchronize(); err != nil {
		t.Errorf("Synchronize after the report: %v", err)
	}

	// Not read when no kernel that may write it ran since the last read:
	// a stale value is not reported.
	writeRecord(ctx, rec, errRecord{Code: kernels.ErrRange})
	b.Fill(loss, device.Contiguous([]int{4}), 1)
	if err := b.Synchronize(); err != nil {
		t.Errorf("Synchronize without an index kernel read the record: %v", err)
	}
	writeRecord(ctx, rec, errRecord{})

	// Integer indices, a float label that is not an integer, and Timer.Stop
	// and Synchronize as the synchronisation points.
	idx := alloc(t, b, device.Int32, 6)
	b.Gather(alloc(t, b, device.Float32, 6), loss, idx, device.GatherGeom{Outer: 1, N: 4, M: 6, Inner: 1, IdxStrides: [3]int{0, 1, 0}})
	writeRecord(ctx, rec, errRecord{Code: kernels.ErrRange, Op: int64(device.IndexGather), Pos: 5, Bound: 4, IsInt: 1, IValue: -9, FValue: -9})
	err = b.Synchronize()
	if !errors.As(err, &ie) || ie.Op != device.IndexGather || !ie.IsInt || ie.Int != -9 || ie.Pos != 5 || ie.NotInteger {
		t.Errorf("Synchronize after a bad index: %v", err)
	}
	if s := err.Error(); !strings.Contains(s, "Gather: the value at flat position 5 is -9, outside [0, 4)") {
		t.Errorf("message %q", s)
	}
	tm, err := b.NewTimer()
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Start(); err != nil {
		t.Fatal(err)
	}
	b.CheckIndices(device.IndexOneHot, lab, 0, 4, 3)
	writeRecord(ctx, rec, errRecord{Code: kernels.ErrNotInt, Op: int64(device.IndexOneHot), Pos: 1, Bound: 3, FValue: 0.5})
	if _, err := tm.Stop(); !errors.As(err, &ie) || !ie.NotInteger || ie.Op != device.IndexOneHot || ie.Value != 0.5 {
		t.Errorf("Timer.Stop after a bad label: %v", err)
	} else if s := err.Error(); !strings.Contains(s, "OneHot: the value at flat position 1 is 0.5, not an integer") {
		t.Errorf("message %q", s)
	}
	if err := b.Synchronize(); err != nil {
		t.Errorf("Synchronize after the report: %v", err)
	}
}

// A launch failure is reported first; the record waits for the next
// synchronisation.
func TestErrRecordAfterLaunchError(t *testing.T) {
	drv, bs := newFake(t, 1)
	b, ctx := bs[0], drv.ctxs[0]
	lab := alloc(t, b, device.Int64, 4)
	b.CheckIndices(device.IndexLabels, lab, 0, 4, 3)
	rec := decode[checkArgs](lastLaunch(t, ctx)).Err
	writeRecord(ctx, rec, errRecord{Code: kernels.ErrRange, Op: int64(device.IndexLabels), Bound: 3, IsInt: 1, IValue: 3, FValue: 3})
	ctx.launchErr = errors.New("CUDA_ERROR_LAUNCH_FAILED")
	b.CheckIndices(device.IndexLabels, lab, 0, 4, 3)
	ctx.launchErr = nil
	err := b.Synchronize()
	if err == nil || errors.Is(err, device.ErrBadIndex) {
		t.Fatalf("first report: %v", err)
	}
	var ie *device.IndexError
	if err := b.Synchronize(); !errors.As(err, &ie) || ie.Op != device.IndexLabels {
		t.Fatalf("second report: %v", err)
	}
	if err := b.Synchronize(); err != nil {
		t.Fatalf("third: %v", err)
	}
}
