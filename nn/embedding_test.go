package nn_test

import (
	"errors"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

func TestEmbedding(t *testing.T) {
	e := nn.NewEmbedding(5, 3, tensor.WithDType(tensor.Float64))
	ids := tensor.Array([][]int{{4, 1, 1}, {0, 4, 2}}, tensor.WithDType(tensor.Int64))
	var y *tensor.Tensor
	autograd.Record(func() { y = e.Forward(ids).Square().Sum() })
	y.Backward()
	w := e.W.Float64s()
	// Value: Σ over the looked-up rows of their squares; gradient: 2·w
	// times the number of lookups of each row.
	count := []float64{1, 2, 1, 0, 2}
	want := 0.0
	for r, n := range count {
		for k := 0; k < 3; k++ {
			want += n * w[r*3+k] * w[r*3+k]
		}
	}
	if got := y.Item(); !close12(got, want) {
		t.Errorf("value %v, want %v", got, want)
	}
	g := e.W.Grad().Float64s()
	for r, n := range count {
		for k := 0; k < 3; k++ {
			if !close12(g[r*3+k], 2*n*w[r*3+k]) {
				t.Fatalf("grad[%d,%d] = %v, want %v", r, k, g[r*3+k], 2*n*w[r*3+k])
			}
		}
	}
	if s := e.Forward(ids).Shape(); len(s) != 3 || s[0] != 2 || s[1] != 3 || s[2] != 3 {
		t.Errorf("shape %v", s)
	}
	if ps := nn.NamedParameters(e); len(ps) != 1 || ps[0].Name != "weight" {
		t.Errorf("named parameters %v", ps)
	}
	for _, bad := range []*tensor.Tensor{
		tensor.Array([]int{5}, tensor.WithDType(tensor.Int64)),
		tensor.Array([]int{-1}, tensor.WithDType(tensor.Int32)),
	} {
		func() {
			defer func() {
				if err, _ := recover().(error); !errors.Is(err, tensor.ErrIndex) {
					t.Errorf("bad id: %v, want ErrIndex", err)
				}
			}()
			e.Forward(bad)
		}()
	}
	func() {
		defer func() {
			if err, _ := recover().(error); !errors.Is(err, tensor.ErrDType) {
				t.Errorf("float ids: %v, want ErrDType", err)
			}
		}()
		e.Forward(tensor.Array([]float64{1}))
	}()
}

func TestLossesIntLabels(t *testing.T) {
	logits := tensor.RandNormal(0, 1, []int{4, 3}, tensor.WithDType(tensor.Float64))
	li := tensor.Array([]int{2, 0, 1, 2}, tensor.WithDType(tensor.Int64))
	lf := li.AsType(tensor.Float64)
	pairs := map[string]func(l *tensor.Tensor) *tensor.Tensor{
		"NLL":                  func(l *tensor.Tensor) *tensor.Tensor { return nn.NLL(logits.LogSoftmax(1), l) },
		"CrossEntropySmoothed": func(l *tensor.Tensor) *tensor.Tensor { return nn.CrossEntropySmoothed(logits, l, 0.1) },
		"CrossEntropy":         func(l *tensor.Tensor) *tensor.Tensor { return nn.CrossEntropy(logits, l) },
	}
	for name, f := range pairs {
		if a, b := f(li).Item(), f(lf).Item(); a != b {
			t.Errorf("%s: int64 labels %v, float labels %v", name, a, b)
		}
	}
	if a, b := nn.Accuracy(logits, li), nn.Accuracy(logits, lf); a != b {
		t.Errorf("Accuracy: %v and %v", a, b)
	}
	func() {
		defer func() {
			if err, _ := recover().(error); !errors.Is(err, tensor.ErrIndex) {
				t.Errorf("NLL label 3: %v, want ErrIndex", err)
			}
		}()
		nn.NLL(logits, tensor.Array([]int{0, 3, 0, 0}, tensor.WithDType(tensor.Int32)))
	}()
}

func close12(a, b float64) bool { return math.Abs(a-b) <= 1e-12*max(1, math.Abs(b)) }
