package tensor

import (
	"testing"

	"github.com/tapegrad/tapegrad/internal/mode"
)

// Inside one autocast region a parameter is cast to the half type once,
// and cast again when the entry is no longer what a new cast would be:
// after an in-place write, when recording starts or stops, and after a
// backward pass freed the cast's recorded operation.
func TestCastCache(t *testing.T) {
	w := RandNormal(0, 1, []int{4, 4})
	w.AttachGrad()
	x := RandNormal(0, 1, []int{2, 4})
	defer mode.Exit(mode.Enter(mode.RecordBit | mode.AutocastBF16))
	defer mode.SetSlot(mode.SetSlot(nil))

	a, b := castLow(w, BFloat16), castLow(w, BFloat16)
	if a != b {
		t.Fatal("two uses in one region cast the parameter twice")
	}
	if a.node == nil {
		t.Fatal("the cached cast is not recorded")
	}
	if f := castLow(w, Float16); f == a || f.DType() != Float16 {
		t.Errorf("a cast to float16 came from bfloat16's entry")
	}
	if c := castLow(x, BFloat16); c == castLow(x, BFloat16) {
		t.Errorf("a tensor without a gradient attached was cached")
	}

	w.st.version.Add(1) // as an in-place write (an optimiser step) does
	c := castLow(w, BFloat16)
	if c == a {
		t.Errorf("the cast survived a write to the parameter")
	}

	prev := mode.Enter(mode.AutocastBF16) // not recording
	d := castLow(w, BFloat16)
	if d == c || d.node != nil {
		t.Errorf("an unrecorded use got the recorded cast")
	}
	mode.Exit(prev)
	if castLow(w, BFloat16) != c {
		t.Errorf("the recorded entry was not kept for the next recorded use")
	}

	x.MatMul(c).Sum().Backward() // frees c's recorded AsType
	e := castLow(w, BFloat16)
	if e == c || e.node == nil || e.node.freed {
		t.Errorf("after a backward pass the freed cast was reused")
	}
	want := x.Sum(0).Float64s()
	g := w.Grad().Float64s()
	for i := range 4 {
		for j := range 4 {
			if d := g[i*4+j] - want[i]; d > 0.02*(1+abs(want[i])) || d < -0.02*(1+abs(want[i])) {
				t.Fatalf("w.Grad()[%d][%d] = %v, want about %v", i, j, g[i*4+j], want[i])
			}
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
