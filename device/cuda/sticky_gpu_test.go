//go:build cuda

package cuda_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// The device-side error record on a real GPU: bad labels and indices found
// by the kernels surface, typed, at the next synchronisation, and the
// context stays usable.

func wantTensorErr(t *testing.T, what string, fn func(), kind error, parts ...string) {
	t.Helper()
	err := tensor.Maybe(fn)
	var te *tensor.Error
	if !errors.Is(err, kind) || !errors.As(err, &te) || !errors.Is(err, device.ErrBadIndex) {
		t.Fatalf("%s: error %v, want %v wrapping device.ErrBadIndex", what, err, kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: message %q does not contain %q", what, err, p)
		}
	}
}

func TestStickyErrorOnGPU(t *testing.T) {
	be := needGPU(t)
	if err := be.Synchronize(); err != nil {
		t.Fatal(err)
	}
	logits := tensor.Array([][]float32{{1, 2, 3}, {0, 0, 0}, {3, 2, 1}, {1, 1, 2}}, tensor.On(gpu))
	good := tensor.Array([]float32{0, 2, 1, 2}, tensor.On(gpu))
	want := nn.CrossEntropy(logits.To(device.CPU()), good.To(device.CPU())).Item()

	for _, c := range []struct {
		labels []float32
		kind   error
		detail string
	}{
		{[]float32{0, 2, 3, 1}, tensor.ErrIndex, "label 2 is 3, outside the 3 classes [0, 3)"},
		{[]float32{0.5, 2, 1, 1}, tensor.ErrArgument, "label 0 is 0.5, not a class index"},
		{[]float32{0, 1, 1, float32(math.NaN())}, tensor.ErrArgument, "label 3 is NaN, not a class index"},
	} {
		labels := tensor.Array(c.labels, tensor.On(gpu))
		x := logits.Clone()
		x.AttachGrad()
		var loss *T
		autograd.Record(func() { loss = nn.CrossEntropy(x, labels) }) // no panic, no wait
		wantTensorErr(t, "Item after a bad label", func() { loss.Item() }, c.kind, "SoftmaxCrossEntropy", c.detail, "cuda:0")
		if v := loss.Item(); !math.IsNaN(v) {
			t.Errorf("%v: loss %v, want NaN", c.labels, v)
		}
		loss.Backward()
		wantTensorErr(t, "gradient after a bad label", func() { x.Grad().Float32s() }, c.kind, "SoftmaxCrossEntropy (backward)")
		// The context is usable: the same loss with good labels.
		if got := nn.CrossEntropy(logits, good).Item(); math.Abs(got-want) > 1e-5 {
			t.Errorf("loss after the error %v, want %v", got, want)
		}
	}

	// Integer labels through OneHot, indices through IndexSelect and its
	// gradient, and Synchronize as the synchronisation point.
	oh := tensor.OneHot(tensor.FromSlice([]int64{1, 0, 4, 2}, []int{4}, tensor.On(gpu)), 3)
	wantTensorErr(t, "OneHot", func() { oh.Float32s() }, tensor.ErrIndex, "OneHot", "label 2 is 4, outside the 3 classes [0, 3)")
	table := tensor.Array([][]float32{{1, 2}, {3, 4}, {5, 6}}, tensor.On(gpu))
	table.AttachGrad()
	var emb, sum *T
	autograd.Record(func() {
		emb = table.IndexSelect(0, tensor.FromSlice([]int32{0, 7, 2}, []int{3}, tensor.On(gpu)))
		sum = emb.Sum()
	})
	err := be.Synchronize()
	var ie *device.IndexError
	if !errors.As(err, &ie) || ie.Op != device.IndexGather || ie.Pos != 1 || ie.Int != 7 || ie.Bound != 3 {
		t.Fatalf("Synchronize after a bad index: %v", err)
	}
	v := emb.Float32s()
	if v[0] != 1 || v[1] != 2 || !math.IsNaN(float64(v[2])) || !math.IsNaN(float64(v[3])) || v[4] != 5 {
		t.Errorf("gather with a bad index: %v", v)
	}
	sum.Backward()
	wantTensorErr(t, "scatter-add", func() { table.Grad().Float32s() }, tensor.ErrIndex, "(backward)", "index 7 (at flat position 1) is outside [0, 3)")
	if g := table.Grad().Float32s(); g[0] != 1 || g[2] != 0 || g[4] != 1 {
		t.Errorf("scatter-add with a bad index: %v", g)
	}
	if err := be.Synchronize(); err != nil {
		t.Fatalf("Synchronize after the reports: %v", err)
	}
}
