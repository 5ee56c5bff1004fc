package peerkit

import (
	"fmt"
	"math"
)

// Fill returns n pseudo-random float32 in [-1, 1) from a fixed seed
// (xorshift), the peers' inputs.
func Fill(n int, seed uint64) []float32 {
	out := make([]float32, n)
	s := seed*0x9E3779B97F4A7C15 + 1
	for i := range out {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		out[i] = float32(int64(s>>40)-(1<<23)) / (1 << 23)
	}
	return out
}

// CheckSample compares 64 spread-out elements of got with want(i): each
// must be within tol·(1+|want|) and not NaN.
func CheckSample(got []float32, n int, want func(i int) float64, tol float64) error {
	if len(got) != n {
		return fmt.Errorf("got %d elements, want %d", len(got), n)
	}
	step := max(1, n/64)
	for i := 0; i < n; i += step {
		w := want(i)
		if d := math.Abs(float64(got[i]) - w); d > tol*(1+math.Abs(w)) || math.IsNaN(float64(got[i])) {
			return fmt.Errorf("element %d = %g, want %g", i, got[i], w)
		}
	}
	return nil
}

// CheckReduce compares the outputs of a reduction with a float64 reference.
// scale[i] is the size of the terms reduced into output i (sum of |x| for a
// sum, the norm itself for a norm). A result off by more than 5% of its scale
// fails; a result that differs from the reference by more than 1e-4
// (relative) passes with a note, because naive float32 accumulation over
// millions of terms is the peer's own accuracy, not a benchmark error.
func CheckReduce(got []float32, want, scale []float64) (note string, err error) {
	if len(got) != len(want) {
		return "", fmt.Errorf("got %d elements, want %d", len(got), len(want))
	}
	worst, wi := 0.0, -1
	for i, w := range want {
		d := math.Abs(float64(got[i]) - w)
		if d > 0.05*scale[i]+1e-6 {
			return "", fmt.Errorf("element %d = %g, want %g", i, got[i], w)
		}
		if rel := d / math.Max(math.Abs(w), 1); rel > worst {
			worst, wi = rel, i
		}
	}
	if worst > 1e-4 {
		note = fmt.Sprintf("float32 accuracy: element %d = %.7g, float64 reference %.7g (relative error %.2g)", wi, got[wi], want[wi], worst)
	}
	return note, nil
}

// SumRef returns the float64 sums of xs over groups (output i sums the
// elements j with group(j) == i) and the matching sums of |x|.
func SumRef(xs []float32, nOut int, group func(j int) int) (want, scale []float64) {
	want, scale = make([]float64, nOut), make([]float64, nOut)
	for j, v := range xs {
		g := group(j)
		want[g] += float64(v)
		scale[g] += math.Abs(float64(v))
	}
	return want, scale
}

// NormRef is the float64 L2 norm of xs (as want and scale).
func NormRef(xs []float32) (want, scale []float64) {
	s := 0.0
	for _, v := range xs {
		s += float64(v) * float64(v)
	}
	return []float64{math.Sqrt(s)}, []float64{math.Sqrt(s)}
}
