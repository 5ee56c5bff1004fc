package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
)

// Memory: allocation, uploads, downloads (through page-locked staging) and copies between devices.

// Alloc returns a buffer of n elements from the caching allocator. Every
// dtype is stored, the half dtypes (BFloat16, Float16) as 2-byte elements
// holding their bits; the half dtypes are storage types (module index
// copies, converts and fills them), so a backend that meets them must be
// used through [device.WithHalf] (as package tensor uses every backend).
// An invalid dtype is refused with an error wrapping [device.ErrDType].
func (b *Backend) Alloc(dt device.DType, n int) (device.Buffer, error) {
	if !dt.Valid() {
		return nil, fmt.Errorf("%w: %v: %v buffers are not supported by the CUDA backend", device.ErrDType, b.dev, dt)
	}
	p, c, err := b.alloc.alloc(int64(max(n, 1) * dt.Size()))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", b.dev, err)
	}
	return &Buffer{ptr: p, n: n, dt: dt, class: c}, nil
}

// Free returns a buffer to the cache. Work already enqueued that uses it
// runs first, since the stream is ordered.
func (b *Backend) Free(buf device.Buffer) {
	x := bufOf(buf)
	b.alloc.release(x.ptr, x.class)
}

func (b *Backend) temp(dt device.DType, n int) *Buffer {
	buf, err := b.Alloc(dt, n)
	if err != nil {
		panic(fmt.Errorf("cuda: scratch buffer: %w", err))
	}
	return bufOf(buf)
}

// hostSlice returns the memory, dtype and length of a host slice. A
// []uint16 holds the bits of a half dtype, which the slice does not name:
// its dtype is reported as half, the dtype of the device buffer it goes to
// or comes from (callers check that that buffer is a half one).
func hostSlice(src any, half device.DType) (unsafe.Pointer, device.DType, int) {
	switch s := src.(type) {
	case []float32:
		if len(s) == 0 {
			return nil, device.Float32, 0
		}
		return unsafe.Pointer(&s[0]), device.Float32, len(s)
	case []float64:
		if len(s) == 0 {
			return nil, device.Float64, 0
		}
		return unsafe.Pointer(&s[0]), device.Float64, len(s)
	case []int32:
		if len(s) == 0 {
			return nil, device.Int32, 0
		}
		return unsafe.Pointer(&s[0]), device.Int32, len(s)
	case []int64:
		if len(s) == 0 {
			return nil, device.Int64, 0
		}
		return unsafe.Pointer(&s[0]), device.Int64, len(s)
	case []uint16:
		if len(s) == 0 {
			return nil, half, 0
		}
		return unsafe.Pointer(&s[0]), half, len(s)
	}
	panic(fmt.Sprintf("cuda: host data of type %T", src))
}

// Upload copies host data into dst, converting on the host (by the CPU
// backend's rules) if the dtypes differ. A []uint16 holds the bits of a
// half dst's own dtype and is copied as it is.
func (b *Backend) Upload(dst device.Buffer, src any) {
	d := bufOf(dst)
	if _, ok := src.([]uint16); ok && !d.dt.IsHalf() {
		panic(fmt.Sprintf("cuda: Upload of []uint16 (half bits) into a %v buffer", d.dt))
	}
	if _, dt, _ := hostSlice(src, d.dt); dt != d.dt {
		src = convertHost(src, d.dt)
	}
	p, _, n := hostSlice(src, d.dt)
	n = min(n, d.n)
	if n == 0 {
		return
	}
	if err := b.ctx.CopyHtoD(d.ptr, p, int64(n*d.dt.Size()), b.stream); err != nil {
		b.fail("Upload", err)
	}
	runtime.KeepAlive(src)
}

// convertHost converts host data (not a []uint16) to dtype dt by the rules
// of Copy (the CPU backend's conversions, which the kernels of module
// index follow); a half dt gives a []uint16 of its bits.
func convertHost(src any, dt device.DType) any {
	_, _, n := hostSlice(src, dt)
	var out device.Buffer
	switch dt {
	case device.Float32:
		out = cpu.Wrap(make([]float32, n))
	case device.Float64:
		out = cpu.Wrap(make([]float64, n))
	case device.Int32:
		out = cpu.Wrap(make([]int32, n))
	case device.Int64:
		out = cpu.Wrap(make([]int64, n))
	default:
		out = cpu.WrapHalf(dt, make([]uint16, n))
	}
	l := device.Contiguous([]int{n})
	cpu.Get().Copy(out, l, cpu.Wrap(src), l)
	return device.HostSlice(out.(device.HostBuffer))
}

// Download waits for the stream, then copies the elements of src at l into
// dst (a []float32, []float64, []int32 or []int64, or for a half src a
// []uint16 that receives its bits), converting on the device.
func (b *Backend) Download(dst any, src device.Buffer, l device.Layout) error {
	s := bufOf(src)
	switch dst.(type) {
	case []float32, []float64, []int32, []int64:
	case []uint16:
		if !s.dt.IsHalf() {
			return fmt.Errorf("cuda: Download of a %v buffer into []uint16 (half bits)", s.dt)
		}
	default:
		return fmt.Errorf("cuda: Download into %T", dst)
	}
	p, dt, n := hostSlice(dst, s.dt)
	if n != l.Size() {
		return fmt.Errorf("cuda: Download of %d elements into %d", l.Size(), n)
	}
	if n == 0 {
		return b.Synchronize()
	}
	from := s.at(l.Offset)
	if !l.IsContiguous() || s.dt != dt {
		tmp := b.temp(dt, n)
		defer b.Free(tmp)
		b.Copy(tmp, device.Contiguous(l.Shape), src, l)
		from = tmp.ptr
	}
	bytes := int64(n * dt.Size())
	var err error
	if bytes >= stageMin {
		err = b.downloadStaged(p, from, bytes)
	} else {
		err = b.ctx.CopyDtoH(p, from, bytes, b.stream)
		if err == nil {
			err = b.ctx.Synchronize(b.stream)
		}
	}
	runtime.KeepAlive(dst)
	return b.takeError(err)
}

// stageMin is the size from which downloads go through page-locked
// staging memory: the DMA engine writes page-locked memory at full speed,
// while a copy into pageable (Go) memory is split into chunks by the
// driver. The download runs in stageChunk pieces through two staging
// buffers, so that the copy of one piece into Go memory overlaps the DMA of
// the next, and the page-locked memory stays at 2·stageChunk whatever the
// size (page-locking hundreds of MB would cost more than it saves).
const (
	stageMin   = 1 << 20
	stageChunk = 8 << 20
)

func (b *Backend) downloadStaged(dst unsafe.Pointer, src Ptr, bytes int64) error {
	b.stageMu.Lock()
	defer b.stageMu.Unlock()
	if b.stage[0] == nil && !b.openStaging() {
		// Without page-locked memory, copy directly.
		if err := b.ctx.CopyDtoH(dst, src, bytes, b.stream); err != nil {
			return err
		}
		return b.ctx.Synchronize(b.stream)
	}
	chunks := (bytes + stageChunk - 1) / stageChunk
	piece := func(i int64) (off, n int64) {
		off = i * stageChunk
		return off, min(stageChunk, bytes-off)
	}
	enqueue := func(i int64) error {
		off, n := piece(i)
		if err := b.ctx.CopyDtoH(b.stage[i%2], src+Ptr(off), n, b.stream); err != nil {
			return err
		}
		return b.ctx.RecordEvent(b.stageEv[i%2], b.stream)
	}
	for i := range min(chunks, 2) {
		if err := enqueue(i); err != nil {
			return err
		}
	}
	out := unsafe.Slice((*byte)(dst), bytes)
	for i := range chunks {
		if err := b.ctx.SynchronizeEvent(b.stageEv[i%2]); err != nil {
			return err
		}
		off, n := piece(i)
		copy(out[off:off+n], unsafe.Slice((*byte)(b.stage[i%2]), n))
		if i+2 < chunks {
			if err := enqueue(i + 2); err != nil {
				return err
			}
		}
	}
	return nil
}

// openStaging allocates the two staging chunks and their events; false
// (nothing kept) if the driver refuses any of them.
func (b *Backend) openStaging() bool {
	var stage [2]unsafe.Pointer
	var ev [2]Event
	for i := range 2 {
		p, err := b.ctx.HostAlloc(stageChunk)
		if err != nil {
			break
		}
		stage[i] = p
		if ev[i], err = b.ctx.NewEvent(); err != nil {
			break
		}
	}
	if stage[1] == nil || ev[1] == 0 {
		for _, p := range stage {
			if p != nil {
				_ = b.ctx.HostFree(p)
			}
		}
		return false
	}
	b.stage, b.stageEv = stage, ev
	return true
}

// CopyFrom copies src, a buffer of another CUDA device, into the dense dst.
// The copy runs on the source device's stream after the destination's
// earlier work (so dst is free) and the destination's later work waits for
// it, through events: the host never blocks.
func (b *Backend) CopyFrom(dst device.Buffer, src device.Buffer, from device.Backend, sl device.Layout) bool {
	f, ok := from.(*Backend)
	if !ok || f == b {
		return false
	}
	d, s := bufOf(dst), bufOf(src)
	n := sl.Size()
	if n == 0 {
		return true
	}
	ptr := s.at(sl.Offset)
	if !sl.IsContiguous() || s.dt != d.dt {
		tmp := f.temp(d.dt, n)
		defer f.Free(tmp)
		f.Copy(tmp, device.Contiguous(sl.Shape), src, sl)
		ptr = tmp.ptr
	}
	b.peerMu.Lock()
	defer b.peerMu.Unlock()
	if b.peerA == 0 {
		e, err := b.ctx.NewEvent()
		if err != nil {
			b.fail("CopyFrom", err)
			return true
		}
		b.peerA = e
	}
	done, ok := b.peerDone[f]
	if !ok {
		e, err := f.ctx.NewEvent()
		if err != nil {
			b.fail("CopyFrom", err)
			return true
		}
		if b.peerDone == nil {
			b.peerDone = map[*Backend]Event{}
		}
		b.peerDone[f], done = e, e
	}
	err := errors.Join(
		b.ctx.RecordEvent(b.peerA, b.stream),
		f.ctx.WaitEvent(f.stream, b.peerA),
		f.ctx.CopyPeer(d.ptr, b.ctx, ptr, int64(n*d.dt.Size()), f.stream),
		f.ctx.RecordEvent(done, f.stream),
		b.ctx.WaitEvent(b.stream, done),
	)
	if err != nil {
		b.fail("CopyFrom", err)
	}
	return true
}
