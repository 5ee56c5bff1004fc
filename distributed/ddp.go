package distributed

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// DefaultBucketBytes is the gradient bucket size of DataParallel unless
// DataParallelOptions say otherwise: 25 MB, PyTorch's DDP default.
const DefaultBucketBytes = 25 << 20

// DataParallelOptions tune a DataParallel.
type DataParallelOptions struct {
	// BucketBytes is the size that a bucket of gradients fills up to
	// before it is all-reduced (a parameter larger than that gets a
	// bucket of its own). 0 means DefaultBucketBytes.
	BucketBytes int
	// LocalBuffers leaves the buffers (BatchNorm's running statistics)
	// to each rank after NewDataParallel has broadcast rank 0's, as
	// PyTorch's broadcast_buffers=False does. By default (false, PyTorch's
	// broadcast_buffers=True) every Sync broadcasts rank 0's buffers.
	LocalBuffers bool
}

// DataParallel wraps a model for data-parallel training (PyTorch's
// DistributedDataParallel): every rank holds a replica, runs forward and
// backward on its own share of the global batch, and the gradients are
// averaged over the ranks, so that an optimiser step makes the same update
// on every rank.
//
// NewDataParallel broadcasts rank 0's parameters and buffers to the other
// ranks, groups the parameters into buckets of about BucketBytes in
// reverse order (the order backward produces gradients in), and registers
// a gradient hook on each parameter. As backward produces a parameter's
// gradient, the hook copies it into its bucket; when a bucket is full its
// all-reduce (Average) is queued at once, on the process group's goroutine,
// so that communication overlaps the rest of backward. Buckets are
// launched strictly in bucket order, the same on every rank whatever order
// the hooks fire in. Sync, called after Backward and before the optimiser
// step, launches what is left (a parameter that this backward did not
// reach contributes zeros), waits, and writes the averaged gradients into
// the parameters' gradient buffers. The average is the engine's sum
// divided by the world size, the same bits on every rank, so every rank
// ends each step with bitwise identical parameters.
//
// A training step:
//
//	var loss *tensor.Tensor
//	autograd.Record(func() { loss = lossFn(dp.Forward(x), y) })
//	loss.Backward()
//	if err := dp.Sync(); err != nil { ... } // a dead peer: *Error, ErrPeer or ErrTimeout
//	opt.Step()
//
// Gradients must be written, not accumulated (GradWrite, the default of
// AttachGrad): one synchronised backward pass per Sync. To accumulate the
// gradients of several micro-batches, run all but the last backward pass
// inside [DataParallel.NoSync] (PyTorch's no_sync):
//
//	pass := func(x, y *tensor.Tensor) error {
//		var loss *tensor.Tensor
//		autograd.Record(func() { loss = lossFn(dp.Forward(x), y).DivScalar(float64(k)) })
//		loss.Backward()
//		return nil
//	}
//	err := dp.NoSync(func() error { // k−1 micro-batches: summed locally, no communication
//		for j := range k - 1 {
//			pass(xs[j], ys[j])
//		}
//		return nil
//	})
//	pass(xs[k-1], ys[k-1]) // adds the last gradients and all-reduces the sums
//	if err := dp.Sync(); err != nil { ... }
//	opt.Step()
//
// Buffers (BatchNorm's running statistics) are broadcast from rank 0 by
// NewDataParallel and, unless DataParallelOptions.LocalBuffers is set, by
// every Sync, one broadcast per device and dtype of a flat copy of them
// all: after each step every rank has rank 0's buffers, bit for bit.
// (PyTorch broadcasts them at the start of each synchronised forward pass
// instead; the values each forward pass sees are the same, rank 0's after
// the previous step, but here the ranks also agree between Sync and the
// next forward pass, when a program evaluates or checkpoints.)
type DataParallel struct {
	g       *ProcessGroup
	model   nn.Layer
	params  []nn.NamedTensor
	buffers []nn.NamedTensor // the float buffers, broadcast from rank 0
	bufFlat []*bufferSet     // the same, flattened per device and dtype
	local   bool             // LocalBuffers
	buckets []*bucket
	slots   []slot // by parameter index
	removes []func()

	mu         sync.Mutex
	next       int   // the next bucket to launch
	err        error // the first misuse seen by a hook
	noSync     bool  // inside NoSync: hooks accumulate and launch nothing
	synced     bool  // a hook has fired outside NoSync since the last Sync
	inBackward int   // buckets launched from hooks, since NewDataParallel
	atSync     int   // buckets launched by Sync
}

// bucket is a flat tensor of gradients of one device and dtype.
type bucket struct {
	flat    *tensor.Tensor
	params  []int // parameter indices
	pending int   // gradients still to come this step
	work    *Work
}

// bufferSet is a flat tensor holding the buffers of one device and dtype,
// so that Sync broadcasts them in one collective, as PyTorch coalesces
// them (a ResNet-50 has a hundred BatchNorm buffers).
type bufferSet struct {
	flat  *tensor.Tensor
	bufs  []int            // indices in DataParallel.buffers
	views []*tensor.Tensor // flat's slices, one per buffer
}

// slot is where a parameter's gradient sits in its bucket.
type slot struct {
	bucket int
	view   *tensor.Tensor // flat[off : off+n]
	filled bool           // view holds a gradient (or a sum of them) since the last Sync
	ready  bool           // the synchronised backward pass has added its gradient
}

// NewDataParallel wraps model (its parameters must have gradients
// attached, as nn's layers do) for data-parallel training over g; every
// rank must call it with the same architecture. It broadcasts rank 0's
// parameters and buffers and returns the first collective's error.
func NewDataParallel(g *ProcessGroup, model nn.Layer, o DataParallelOptions) (*DataParallel, error) {
	const op = "NewDataParallel"
	if o.BucketBytes <= 0 {
		o.BucketBytes = DefaultBucketBytes
	}
	dp := &DataParallel{g: g, model: model, params: nn.NamedParameters(model), local: o.LocalBuffers}
	for _, p := range dp.params {
		if p.Tensor.Grad() == nil {
			return nil, g.errorFor(op, p.Tensor, ErrArgument, fmt.Sprintf("parameter %q has no gradient attached", p.Name), nil)
		}
		if err := g.Broadcast(p.Tensor, 0); err != nil {
			return nil, fmt.Errorf("%s: broadcasting parameter %q: %w", op, p.Name, err)
		}
	}
	for _, b := range nn.NamedBuffers(model) {
		if dt := b.Tensor.DType(); dt != tensor.Float32 && dt != tensor.Float64 {
			continue // counters: the same on every rank by construction
		}
		dp.buffers = append(dp.buffers, b)
	}
	dp.flattenBuffers()
	if err := dp.broadcastBuffers(op); err != nil {
		return nil, err
	}
	// Buckets in reverse parameter order, one device and dtype each.
	dp.slots = make([]slot, len(dp.params))
	type key struct {
		dev device.Device
		dt  tensor.DType
	}
	open := map[key]int{} // the bucket being filled per key
	size := map[int]int{} // its size in bytes
	for i := len(dp.params) - 1; i >= 0; i-- {
		p := dp.params[i].Tensor
		k := key{p.Device(), p.DType()}
		bytes := p.Size() * elemSize(p.DType())
		b, ok := open[k]
		if !ok || size[b]+bytes > o.BucketBytes && size[b] > 0 {
			b = len(dp.buckets)
			dp.buckets = append(dp.buckets, &bucket{})
			open[k] = b
		}
		dp.buckets[b].params = append(dp.buckets[b].params, i)
		size[b] += bytes
	}
	for bi, b := range dp.buckets {
		ts := make([]*tensor.Tensor, len(b.params))
		for j, i := range b.params {
			ts[j] = dp.params[i].Tensor
		}
		var views []*tensor.Tensor
		b.flat, views = flatViews(ts)
		for j, i := range b.params {
			dp.slots[i] = slot{bucket: bi, view: views[j]}
		}
		b.pending = len(b.params)
	}
	for i := range dp.params {
		dp.removes = append(dp.removes, dp.params[i].Tensor.RegisterHook(func(gr *tensor.Tensor) *tensor.Tensor {
			dp.produced(i, gr)
			return nil
		}))
	}
	return dp, nil
}

func elemSize(dt tensor.DType) int {
	if dt == tensor.Float64 {
		return 8
	}
	return 4
}

// flattenBuffers makes the flat tensors of the buffers, one per device
// and dtype, in the buffers' order.
func (dp *DataParallel) flattenBuffers() {
	type key struct {
		dev device.Device
		dt  tensor.DType
	}
	sets := map[key]*bufferSet{}
	for i, b := range dp.buffers {
		k := key{b.Tensor.Device(), b.Tensor.DType()}
		if sets[k] == nil {
			sets[k] = &bufferSet{}
			dp.bufFlat = append(dp.bufFlat, sets[k])
		}
		sets[k].bufs = append(sets[k].bufs, i)
	}
	for _, set := range dp.bufFlat {
		ts := make([]*tensor.Tensor, len(set.bufs))
		for j, i := range set.bufs {
			ts[j] = dp.buffers[i].Tensor
		}
		set.flat, set.views = flatViews(ts)
	}
}

// flatViews returns a zero flat tensor with room for the elements of ts
// (one device and dtype, ts[0]'s), and its consecutive slices of ts's
// sizes, one per tensor in order.
func flatViews(ts []*tensor.Tensor) (*tensor.Tensor, []*tensor.Tensor) {
	n := 0
	for _, t := range ts {
		n += t.Size()
	}
	flat := tensor.Zeros([]int{n}, tensor.On(ts[0].Device()), tensor.WithDType(ts[0].DType()))
	views := make([]*tensor.Tensor, len(ts))
	off := 0
	for j, t := range ts {
		views[j] = flat.Slice(0, off, off+t.Size())
		off += t.Size()
	}
	return flat, views
}

// launchBuffers copies the buffers into their flat tensors and queues
// their broadcasts from rank 0; the returned function waits for them,
// copies the result back into the buffers (on the ranks other than 0,
// whose buffers are what was sent) and returns the first error, naming
// op.
func (dp *DataParallel) launchBuffers(op string) func() error {
	works := make([]*Work, len(dp.bufFlat))
	for s, set := range dp.bufFlat {
		autograd.Pause(func() {
			for j, i := range set.bufs {
				set.views[j].Assign(dp.buffers[i].Tensor.Reshape(set.views[j].Size()))
			}
		})
		works[s] = dp.g.BroadcastAsync(set.flat, 0)
	}
	return func() error {
		var first error
		for s, set := range dp.bufFlat {
			if err := works[s].Wait(); err != nil {
				if first == nil {
					first = fmt.Errorf("%s: broadcasting %d buffers (%q, ...): %w", op, len(set.bufs), dp.buffers[set.bufs[0]].Name, err)
				}
				continue
			}
			if dp.g.Rank() == 0 {
				continue
			}
			autograd.Pause(func() {
				for j, i := range set.bufs {
					b := dp.buffers[i].Tensor
					b.Assign(set.views[j].Reshape(b.Shape()...))
				}
			})
		}
		return first
	}
}

// broadcastBuffers broadcasts rank 0's float buffers and waits.
func (dp *DataParallel) broadcastBuffers(op string) error { return dp.launchBuffers(op)() }

// SyncBuffers broadcasts rank 0's buffers (BatchNorm's running
// statistics) to every rank now. Sync does it at every step unless
// DataParallelOptions.LocalBuffers is set; with it set, call SyncBuffers
// where the ranks must agree (before evaluating or checkpointing). Every
// rank must call it. Buffers of integer dtypes are left alone.
func (dp *DataParallel) SyncBuffers() error { return dp.broadcastBuffers("SyncBuffers") }

// NamedBuffers returns the wrapped model's buffers under their names.
func (dp *DataParallel) NamedBuffers() []nn.NamedTensor { return nn.NamedBuffers(dp.model) }

// NoSync runs f, typically one or more forward and backward passes of
// micro-batches, with gradient synchronisation off: the gradient hooks add
// each backward pass's gradients to the sum that DataParallel keeps for
// this rank and launch no collective. The next backward pass outside
// NoSync adds its gradients to that sum and all-reduces it as usual, and
// Sync writes the average over the ranks of the accumulated sums into the
// gradient buffers. (Sync after NoSync without a backward pass outside it
// reduces the sums too, all at Sync, with no overlap.) This is PyTorch's
// "with ddp.no_sync():". Scale each micro-batch's loss by one over their
// number for the mean over the global batch.
//
// When NoSync returns, each parameter's gradient buffer holds its sum so
// far on this rank, as PyTorch's p.grad does after backward under
// no_sync (inside f, a buffer holds the last backward pass's gradient:
// GradWrite). Nothing crosses between ranks, so the ranks may run
// different numbers of NoSync passes. NoSync returns f's error, or an
// *Error of kind ErrArgument when a backward pass inside it followed a
// synchronised one before Sync (whose all-reduces may be in flight: that
// step's gradients are then reported by Sync as well). NoSync calls may
// nest; f must not call Sync.
func (dp *DataParallel) NoSync(f func() error) error {
	dp.mu.Lock()
	was := dp.noSync
	dp.noSync = true
	dp.mu.Unlock()
	defer func() {
		dp.mu.Lock()
		dp.noSync = was
		dp.mu.Unlock()
	}()
	ferr := f()
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.err != nil {
		if ferr == nil {
			return dp.err
		}
		return errors.Join(ferr, dp.err)
	}
	if !dp.synced {
		autograd.Pause(func() {
			for i, p := range dp.params {
				if s := &dp.slots[i]; s.filled {
					p.Tensor.Grad().Assign(s.view.Reshape(p.Tensor.Shape()...))
				}
			}
		})
	}
	return ferr
}

// produced is the hook of parameter i: copy its gradient into the bucket
// (add it, after NoSync passes) and launch the buckets that are full, in
// order; inside NoSync only add it.
func (dp *DataParallel) produced(i int, gr *tensor.Tensor) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := &dp.slots[i]
	misuse := func(detail string) {
		if dp.err == nil {
			dp.err = dp.g.errorFor("DataParallel", gr, ErrArgument, fmt.Sprintf(detail, dp.params[i].Name), nil)
		}
	}
	if dp.noSync {
		if dp.synced {
			misuse("a gradient of parameter %q inside NoSync after a synchronised backward pass, before Sync")
			return
		}
		dp.accumulate(s, gr)
		return
	}
	if s.ready {
		misuse("a second gradient of parameter %q before Sync (one synchronised backward pass per Sync; accumulate inside NoSync)")
		return
	}
	dp.accumulate(s, gr)
	dp.synced = true
	s.ready = true
	dp.buckets[s.bucket].pending--
	for dp.next < len(dp.buckets) && dp.buckets[dp.next].pending == 0 {
		dp.launch(dp.next)
		dp.inBackward++
	}
}

// accumulate writes gr into s's view, or adds it to the gradients there.
func (dp *DataParallel) accumulate(s *slot, gr *tensor.Tensor) {
	autograd.Pause(func() {
		g := gr.Reshape(s.view.Size())
		if s.filled {
			s.view.Assign(s.view.Add(g))
		} else {
			s.view.Assign(g)
		}
	})
	s.filled = true
}

// launch queues bucket b's all-reduce; dp.mu is held.
func (dp *DataParallel) launch(b int) {
	dp.buckets[b].work = dp.g.AllReduceAsync(dp.buckets[b].flat, Average)
	dp.next = b + 1
}

// Sync launches the buckets that backward did not fill (the gradients of
// parameters it did not reach are zeros, or their sums from NoSync
// passes), waits for every bucket's all-reduce and writes the averaged
// gradients into the parameters' gradient buffers; then, unless
// LocalBuffers is set, it broadcasts rank 0's buffers. It returns the
// first error: an *Error of the process group (ErrPeer, ErrTimeout,
// ErrAborted), or ErrArgument for a second synchronised backward pass
// before Sync, for a backward pass inside NoSync after a synchronised one,
// or for a call inside NoSync (which changes nothing).
func (dp *DataParallel) Sync() error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.noSync {
		return dp.g.errorFor("Sync", nil, ErrArgument, "Sync inside NoSync", nil)
	}
	for dp.next < len(dp.buckets) {
		b := dp.buckets[dp.next]
		for _, i := range b.params {
			if s := &dp.slots[i]; !s.filled {
				autograd.Pause(func() {
					s.view.Assign(tensor.Zeros(s.view.Shape(), tensor.On(s.view.Device()), tensor.WithDType(s.view.DType())))
				})
			}
		}
		dp.launch(dp.next)
		dp.atSync++
	}
	// The buffers' broadcasts queue behind the buckets, on every rank
	// whatever happened here (the ranks must run the same collectives).
	waitBuffers := func() error { return nil }
	if !dp.local {
		waitBuffers = dp.launchBuffers("Sync")
	}
	var errs []error
	if dp.err != nil {
		errs = append(errs, dp.err)
	}
	for _, b := range dp.buckets {
		if err := b.work.Wait(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		autograd.Pause(func() {
			for i, p := range dp.params {
				p.Tensor.Grad().Assign(dp.slots[i].view.Reshape(p.Tensor.Shape()...))
			}
		})
	}
	if err := waitBuffers(); err != nil {
		errs = append(errs, err)
	}
	// Ready for the next step.
	for _, b := range dp.buckets {
		b.pending, b.work = len(b.params), nil
	}
	for i := range dp.slots {
		dp.slots[i].ready, dp.slots[i].filled = false, false
	}
	dp.next, dp.err, dp.synced = 0, nil, false
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// Forward runs the wrapped model.
func (dp *DataParallel) Forward(x *tensor.Tensor) *tensor.Tensor { return dp.model.Forward(x) }

// Params returns the wrapped model's parameters.
func (dp *DataParallel) Params() []*tensor.Tensor { return dp.model.Params() }

// NamedParameters returns the wrapped model's parameters under their
// names (so that state dicts do not depend on the wrapping).
func (dp *DataParallel) NamedParameters() []nn.NamedTensor { return nn.NamedParameters(dp.model) }

// Model returns the wrapped model.
func (dp *DataParallel) Model() nn.Layer { return dp.model }

// Buckets returns the names of the parameters of each bucket, in launch
// order.
func (dp *DataParallel) Buckets() [][]string {
	out := make([][]string, len(dp.buckets))
	for b, bk := range dp.buckets {
		for _, i := range bk.params {
			out[b] = append(out[b], dp.params[i].Name)
		}
	}
	return out
}

// Launches returns how many bucket all-reduces were launched from gradient
// hooks while backward ran, and how many by Sync, since NewDataParallel.
func (dp *DataParallel) Launches() (inBackward, atSync int) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.inBackward, dp.atSync
}

// Close removes the gradient hooks; the model trains alone again.
func (dp *DataParallel) Close() {
	for _, r := range dp.removes {
		r()
	}
	dp.removes = nil
}

var _ nn.Module = (*DataParallel)(nil)
