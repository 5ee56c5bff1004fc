package cuda

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/kernels"
)

// The device-side error record ("sticky error"): kernels that read labels
// or indices (softmax cross-entropy and its gradient, gather, scatter-add,
// the index check) get its address in their argument struct and record the
// first bad value there (kernels/tg_args.h, TgErrRecord). The backend reads
// it at the synchronisations it already makes (takeError: Synchronize,
// Download, Timer.Stop) and reports it as a *device.IndexError, clearing
// it. See the package doc, "Errors", for why it lives in device memory.

// errRecord mirrors TgErrRecord.
type errRecord struct {
	Code, Op, Pos, Bound, IsInt, IValue int64
	FValue                              float64
	Reserved                            int64
}

// sticky is a backend's error record.
type sticky struct {
	mu    sync.Mutex
	ptr   Ptr         // device address; 0 until first use
	armed atomic.Bool // a kernel that may record was enqueued since the last read
}

var _ [kernels.ErrRecordSize - unsafe.Sizeof(errRecord{})]struct{} // the sizes agree
var _ [unsafe.Sizeof(errRecord{}) - kernels.ErrRecordSize]struct{}

// kCheckIdx is the index check kernel of module index, by dtype (Float32,
// Float64, Int32, Int64).
var kCheckIdx [4]int

func init() {
	for dt := range kCheckIdx {
		kCheckIdx[dt] = reg(modIndex, kernels.CheckIndexName(device.DType(dt)))
	}
}

// errRecordFor returns the address of the error record for a kernel of op
// about to be enqueued (allocating and zeroing the record on first use),
// and marks it to be read at the next synchronisation. It returns 0 (the
// kernels then record nothing) if the record cannot be allocated, having
// kept that error for the next synchronisation.
func (b *Backend) errRecordFor() Ptr {
	s := &b.sticky
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == 0 {
		p, err := b.ctx.MemAlloc(kernels.ErrRecordSize)
		if err != nil {
			b.fail("allocating the error record", err)
			return 0
		}
		var zero errRecord
		if err := b.ctx.CopyHtoD(p, unsafe.Pointer(&zero), kernels.ErrRecordSize, b.stream); err != nil {
			b.ctx.MemFree(p)
			b.fail("clearing the error record", err)
			return 0
		}
		s.ptr = p
	}
	s.armed.Store(true)
	return s.ptr
}

// readErrRecord reads the error record after a synchronisation (the
// stream's work is done) if a kernel that may write it ran since the last
// read; it returns the recorded error, clearing the record, or nil. The
// read and the clear are copies on the stream; a bad value found by a
// kernel that another goroutine enqueues between the two is lost (its
// outputs are NaN all the same).
func (b *Backend) readErrRecord() error {
	s := &b.sticky
	if !s.armed.Swap(false) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var r errRecord
	if err := b.ctx.CopyDtoH(unsafe.Pointer(&r), s.ptr, kernels.ErrRecordSize, b.stream); err != nil {
		return fmt.Errorf("cuda: reading the error record of %v: %w", b.dev, err)
	}
	if r.Code == 0 {
		return nil
	}
	var zero errRecord
	if err := b.ctx.CopyHtoD(s.ptr, unsafe.Pointer(&zero), kernels.ErrRecordSize, b.stream); err != nil {
		b.fail("clearing the error record", err)
	}
	return &device.IndexError{Device: b.dev, Op: device.IndexOp(r.Op), NotInteger: r.Code == kernels.ErrNotInt,
		Pos: r.Pos, Bound: r.Bound, IsInt: r.IsInt != 0, Int: r.IValue, Value: r.FValue}
}

// CheckIndices enqueues a check of the n dense elements from offset of idx
// (Float32, Float64, Int32 or Int64): each must be an integer in [0,
// bound). A bad one is reported as op's by the next synchronisation
// (device.IndexChecker).
func (b *Backend) CheckIndices(op device.IndexOp, idx device.Buffer, offset, n, bound int) {
	if n == 0 {
		return
	}
	x := bufOf(idx)
	if x.dt > device.Int64 {
		b.fail("CheckIndices", fmt.Errorf("indices of dtype %v", x.dt))
		return
	}
	a := gatherArgs{Idx: x.at(offset), M: int64(n), N: int64(bound), Err: b.errRecordFor(), ErrOp: int64(op)}
	p, sz := argBytes(&a)
	b.launch(kCheckIdx[x.dt], grid1D(int64(n), 1), block1D, p, sz)
}

var _ device.IndexChecker = (*Backend)(nil)
