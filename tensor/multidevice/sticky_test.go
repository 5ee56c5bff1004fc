package multidevice_test

import (
	"math"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// The fake device checks labels and indices as CUDA does
// (device.IndexChecker): in the operations' "kernels", recording the first
// bad value in a record that Download and Synchronize report and clear.
// Package tensor then skips its host checks (no copy, no wait per call)
// and maps the report to its own *Error at the next read.

// errRecord is the fake's device-side error record.
type errRecord struct {
	mu  sync.Mutex
	err *device.IndexError
}

// take returns and clears the recorded error.
func (r *errRecord) take() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.err
	r.err = nil
	if e == nil {
		return nil
	}
	return e
}

// check checks the n elements from off of buf (any dtype but the halves)
// against [0, bound), recording the first bad one unless the record is set
// already; it returns the position of the first bad one, or -1.
func (r *errRecord) check(op device.IndexOp, buf device.Buffer, off, n, bound int) int {
	if n == 0 {
		return -1
	}
	b := un(buf)
	l := device.Layout{Shape: []int{n}, Strides: []int{1}, Offset: off}
	e := device.IndexError{Device: gpu, Op: op, Bound: int64(bound), IsInt: b.DType().IsInt()}
	pos := -1
	if e.IsInt {
		v := make([]int64, n)
		if err := cb.Download(v, b, l); err != nil {
			panic(err)
		}
		for i, x := range v {
			if x < 0 || x >= int64(bound) {
				pos, e.Int, e.Value = i, x, float64(x)
				break
			}
		}
	} else {
		v := make([]float64, n)
		if err := cb.Download(v, b, l); err != nil {
			panic(err)
		}
		for i, x := range v {
			if x != math.Trunc(x) || math.IsInf(x, 0) || x < 0 || x >= float64(bound) {
				pos, e.Value = i, x
				e.NotInteger = x != math.Trunc(x) || math.IsInf(x, 0)
				break
			}
		}
	}
	if pos >= 0 {
		e.Pos = int64(pos)
		r.mu.Lock()
		if r.err == nil {
			r.err = &e
		}
		r.mu.Unlock()
	}
	return pos
}

// checkGeom checks the indices a gather or scatter-add of geometry g reads;
// false if one is bad.
func (r *errRecord) checkGeom(op device.IndexOp, idx device.Buffer, g device.GatherGeom) bool {
	if g.Outer == 0 || g.M == 0 || g.Inner == 0 {
		return true
	}
	n := (g.Outer-1)*g.IdxStrides[0] + (g.M-1)*g.IdxStrides[1] + (g.Inner-1)*g.IdxStrides[2] + 1
	return r.check(op, idx, g.IdxOffset, n, g.N) < 0
}

// CheckIndices is the fake's device.IndexChecker.
func (f *fakeBackend) CheckIndices(op device.IndexOp, idx device.Buffer, offset, n, bound int) {
	f.rec.check(op, idx, offset, n, bound)
}

var _ device.IndexChecker = (*fakeBackend)(nil)

func TestDeviceIndexErrors(t *testing.T) {
	logits := tensor.Array([][]float32{{1, 2, 3}, {0, 0, 0}, {3, 2, 1}, {1, 1, 2}}, tensor.On(gpu))
	good := tensor.Array([]float32{0, 2, 1, 2}, tensor.On(gpu))

	// A label out of range: the operation returns (no host copy of the
	// labels, no wait), the loss is NaN there, and the next read panics
	// with the same *Error kind as the CPU's, naming the operation.
	for _, c := range []struct {
		labels []float32
		kind   error
		detail string
	}{
		{[]float32{0, 2, 3, 1}, tensor.ErrIndex, "label 2 is 3, outside the 3 classes [0, 3)"},
		{[]float32{0, -1, 1, 1}, tensor.ErrIndex, "label 1 is -1, outside the 3 classes [0, 3)"},
		{[]float32{0.5, 2, 1, 1}, tensor.ErrArgument, "label 0 is 0.5, not a class index"},
		{[]float32{0, 1, 1, float32(math.NaN())}, tensor.ErrArgument, "label 3 is NaN, not a class index"},
	} {
		labels := tensor.Array(c.labels, tensor.On(gpu))
		n := fake.downloads.Load()
		x := logits.Clone()
		x.AttachGrad()
		var loss *T
		autograd.Record(func() { loss = tensor.SoftmaxCrossEntropy(x, labels) })
		if d := fake.downloads.Load() - n; d != 0 {
			t.Errorf("%v: SoftmaxCrossEntropy made %d downloads", c.labels, d)
		}
		var lv []float64
		wantErr(t, "loss read after a bad label", func() { lv = loss.Float64s() }, c.kind, "SoftmaxCrossEntropy", c.detail, "cuda:0")
		// Cleared: the device is usable, and the read now gives the
		// values, NaN at the bad label.
		lv = loss.Float64s()
		bad := 0
		for _, v := range lv {
			if math.IsNaN(v) {
				bad++
			}
		}
		if bad != 1 {
			t.Errorf("%v: losses %v, want one NaN", c.labels, lv)
		}
		// The backward pass checks again (the labels may have changed).
		var sum *T
		autograd.Record(func() { sum = loss.Sum() })
		sum.Backward()
		wantErr(t, "gradient read after a bad label", func() { x.Grad().Float64s() }, c.kind, "SoftmaxCrossEntropy (backward)", c.detail)
		values(t, "after the errors", tensor.SoftmaxCrossEntropy(logits, good).Sub(tensor.SoftmaxCrossEntropy(logits, good)), 0, 0, 0, 0)
	}

	// Integer labels, OneHot, and the index operations.
	ib := tensor.FromSlice([]int64{1, 0, 4, 2}, []int{4}, tensor.On(gpu))
	oh := tensor.OneHot(ib, 3)
	wantErr(t, "OneHot", func() { oh.Float64s() }, tensor.ErrIndex, "OneHot", "label 2 is 4, outside the 3 classes [0, 3)")
	sce := tensor.SoftmaxCrossEntropy(logits, ib)
	wantErr(t, "SoftmaxCrossEntropy of int64 labels", func() { sce.Float64s() }, tensor.ErrIndex, "SoftmaxCrossEntropy", "label 2 is 4")
	table := tensor.Array([][]float64{{1, 2}, {3, 4}, {5, 6}}, tensor.On(gpu))
	ids := tensor.FromSlice([]int32{0, 7, 2}, []int{3}, tensor.On(gpu))
	n := fake.downloads.Load()
	emb := table.IndexSelect(0, ids)
	if d := fake.downloads.Load() - n; d != 0 {
		t.Errorf("IndexSelect made %d downloads", d)
	}
	wantErr(t, "IndexSelect", func() { emb.Float64s() }, tensor.ErrIndex, "IndexSelect, Take or Gather", "index 7 (at flat position 1) is outside [0, 3)")
	// Reported through To (a download) too.
	tk := table.Take(tensor.FromSlice([]int64{6, -2}, []int{2}, tensor.On(gpu)))
	wantErr(t, "Take, then To", func() { tk.To(device.CPU()) }, tensor.ErrIndex, "index 6 (at flat position 0) is outside [0, 6)")
	values(t, "good gather after the errors", table.IndexSelect(0, tensor.FromSlice([]int32{2, 0}, []int{2}, tensor.On(gpu))), 5, 6, 1, 2)
}

// nn's NLL and label-smoothed cross-entropy check their labels on a
// checking device too (tensor.CheckLabels enqueues the check): a bad label
// used to give a silent zero row on CUDA.
func TestDeviceIndexErrorsNN(t *testing.T) {
	logits := tensor.Array([][]float32{{1, 2, 3}, {0, 0, 0}, {3, 2, 1}}, tensor.On(gpu))
	for _, c := range []struct {
		labels []int64
		fn     func(x, l *T) *T
		name   string
	}{
		{[]int64{0, 3, 1}, func(x, l *T) *T { return nn.NLL(x.LogSoftmax(1), l) }, "NLL"},
		{[]int64{-1, 2, 1}, func(x, l *T) *T { return nn.CrossEntropySmoothed(x, l, 0.1) }, "CrossEntropySmoothed"},
	} {
		labels := tensor.FromSlice(c.labels, []int{3}, tensor.On(gpu))
		n := fake.downloads.Load()
		loss := c.fn(logits, labels)
		if d := fake.downloads.Load() - n; d != 0 {
			t.Errorf("%s made %d downloads", c.name, d)
		}
		wantErr(t, c.name, func() { loss.Item() }, tensor.ErrIndex, "CheckLabels", "outside the 3 classes [0, 3)")
		good := c.fn(logits, tensor.FromSlice([]int64{0, 2, 1}, []int{3}, tensor.On(gpu))).Item()
		if math.IsNaN(good) {
			t.Errorf("%s with good labels after the error: %v", c.name, good)
		}
	}
}
