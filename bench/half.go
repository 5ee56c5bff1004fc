package main

import (
	"fmt"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// The half-precision cases (mixed precision issue): bandwidth-bound
// elementwise and reduction cases and matrix products at the MLP's and the
// character transformer's shapes, in bfloat16 and float16, named
// half/<dtype>/<kind>/<size> so that each sits beside the torch peer's case
// of the same dtype. On the CPU every operation on a half tensor computes
// in float32 inside: the elementwise operations and sums in the CPU
// backend's half kernels (blocks of 1024 elements widened into float32 in
// the L1 cache, computed, rounded back), the matrix products in its GEMM,
// which widens the operands as it packs them into panels (the float32
// product rounded back). Correct first; their speed is reported, not
// targeted.

// halfDTypes are the half dtypes the cases run in.
var halfDTypes = []tensor.DType{tensor.BFloat16, tensor.Float16}

// halfSizes are the element counts of the half elementwise cases: 16M (and
// 64M on a GPU); -quick keeps 1M.
func halfSizes(d device.Device, quick bool) []int {
	switch {
	case quick:
		return []int{1 << 20}
	case d.IsCUDA():
		return []int{1 << 24, 1 << 26}
	}
	return []int{1 << 24}
}

// halfMatmulShapes are [M,K,N]: the MLP's first layer and the character
// transformer's MLP up-projection over a batch of 32×128 tokens (-quick:
// the MLP's only).
func halfMatmulShapes(quick bool) [][3]int {
	if quick {
		return [][3]int{{256, 784, 512}}
	}
	return [][3]int{{256, 784, 512}, {4096, 128, 512}}
}

// halfKinds are the elementwise kinds of the half cases.
var halfKinds = []string{"binary/add", "reduce/sum/all", "reduce/sum/inner"}

// halfCaseNames lists the half cases in the order halfCases runs them.
func halfCaseNames(d device.Device, quick bool) []string {
	var names []string
	for _, dt := range halfDTypes {
		for _, n := range halfSizes(d, quick) {
			for _, k := range halfKinds {
				names = append(names, fmt.Sprintf("half/%v/%s/%d", dt, k, n))
			}
		}
		for _, s := range halfMatmulShapes(quick) {
			names = append(names, fmt.Sprintf("half/%v/matmul/%dx%dx%d", dt, s[0], s[1], s[2]))
		}
	}
	return names
}

// halfInputs makes k copies of uniform [-1, 1) tensors of dtype dt and the
// given shapes, and their values widened to float32 (exactly the half
// values).
func (s *suite) halfInputs(dt tensor.DType, k int, shapes ...[]int) (ts [][]*T, host [][][]float32) {
	ts, host = make([][]*T, k), make([][][]float32, k)
	for c := range ts {
		for _, sh := range shapes {
			f := tensor.RandUniform(-1, 1, sh, tensor.On(s.dev))
			t := f.AsType(dt)
			f.Release()
			ts[c] = append(ts[c], t)
			host[c] = append(host[c], t.Float32s())
		}
	}
	return ts, host
}

// halfULP is the spacing of dt's values just above 1 (its unit roundoff
// times two).
func halfULP(dt tensor.DType) float64 {
	if dt == tensor.BFloat16 {
		return 1.0 / 128
	}
	return 1.0 / 1024
}

// halfCases runs the half cases.
func (s *suite) halfCases() {
	for _, dt := range halfDTypes {
		for _, n := range halfSizes(s.dev, s.cfg.quick) {
			s.halfElementwise(dt, n)
		}
		for _, sh := range halfMatmulShapes(s.cfg.quick) {
			s.halfMatmul(dt, sh[0], sh[1], sh[2])
		}
	}
}

func (s *suite) halfElementwise(dt tensor.DType, n int) {
	rows, cols := n/1024, 1024
	ulp := halfULP(dt)
	name := fmt.Sprintf("half/%v/binary/add/%d", dt, n)
	if s.want(name) {
		k := peerkit.RotateCopies(int64(4 * n))
		s.run(Case{Name: name, DType: dt.String(), Size: int64(n), Bytes: 6 * int64(n), Note: peerkit.RotNote(k)}, func() prepared {
			in, host := s.halfInputs(dt, k, []int{n}, []int{n})
			return prepared{
				fn:     func(i int) { in[i%k][0].Add(in[i%k][1]).Release() },
				checks: k,
				check: func(i int) (string, error) {
					as, bs := host[i][0], host[i][1]
					// The float32 sum rounded once to dt: within half an ulp.
					return "", sampleCheck(in[i][0].Add(in[i][1]), n, func(j int) float64 { return float64(as[j]) + float64(bs[j]) }, ulp)
				},
				cleanup: releaseAll(in),
			}
		})
	}
	reds := []struct {
		kind  string
		op    func(*T) *T
		nOut  int
		group func(j int) int
	}{
		{"reduce/sum/all", func(x *T) *T { return x.Sum() }, 1, func(int) int { return 0 }},
		{"reduce/sum/inner", func(x *T) *T { return x.Sum(1) }, rows, func(j int) int { return j / cols }},
	}
	for _, r := range reds {
		name := fmt.Sprintf("half/%v/%s/%d", dt, r.kind, n)
		if !s.want(name) {
			continue
		}
		k := peerkit.RotateCopies(int64(2 * n))
		s.run(Case{Name: name, DType: dt.String(), Size: int64(n), Bytes: 2 * int64(n), Note: peerkit.RotNote(k)}, func() prepared {
			in, host := s.halfInputs(dt, k, []int{rows, cols})
			return prepared{
				fn:     func(i int) { r.op(in[i%k][0]).Release() },
				checks: k,
				check: func(i int) (string, error) {
					want, scale := make([]float64, r.nOut), make([]float64, r.nOut)
					for j, v := range host[i][0] {
						g := r.group(j)
						want[g] += float64(v)
						scale[g] += float64(max(v, -v))
					}
					out := r.op(in[i][0])
					got := out.Float32s()
					out.Release()
					if len(got) != r.nOut {
						return "", fmt.Errorf("got %d outputs, want %d", len(got), r.nOut)
					}
					for j := range got {
						// Accumulated in float32 at least, rounded once to dt.
						if d := float64(got[j]) - want[j]; max(d, -d) > ulp*max(want[j], -want[j])+1e-5*scale[j]+1e-6 {
							return "", fmt.Errorf("output %d = %g, want %g", j, got[j], want[j])
						}
					}
					return "", nil
				},
				cleanup: releaseAll(in),
			}
		})
	}
}

func (s *suite) halfMatmul(dt tensor.DType, m, kk, n int) {
	name := fmt.Sprintf("half/%v/matmul/%dx%dx%d", dt, m, kk, n)
	if !s.want(name) {
		return
	}
	copies := min(peerkit.RotateCopies(int64(2*(m*kk+kk*n))), 4)
	c := Case{Name: name, DType: dt.String(), Size: int64(m * n), Flops: 2 * int64(m) * int64(kk) * int64(n), Note: peerkit.RotNote(copies)}
	ulp := halfULP(dt)
	s.run(c, func() prepared {
		in, host := s.halfInputs(dt, copies, []int{m, kk}, []int{kk, n})
		return prepared{
			fn:     func(i int) { in[i%copies][0].MatMul(in[i%copies][1]).Release() },
			checks: copies,
			check: func(i int) (string, error) {
				as, bs := host[i][0], host[i][1]
				out := in[i][0].MatMul(in[i][1])
				got := out.Float32s()
				out.Release()
				step := max(1, m*n/64)
				for idx := 0; idx < m*n; idx += step {
					r, col := idx/n, idx%n
					sum, scale := 0.0, 0.0
					for p := 0; p < kk; p++ {
						t := float64(as[r*kk+p]) * float64(bs[p*n+col])
						sum += t
						scale += max(t, -t)
					}
					// Exact products summed in float32, rounded once to dt.
					if d := float64(got[idx]) - sum; max(d, -d) > ulp*max(sum, -sum)+1e-5*scale+1e-6 {
						return "", fmt.Errorf("element %d = %g, want %g", idx, got[idx], sum)
					}
				}
				return "", nil
			},
			cleanup: releaseAll(in),
		}
	})
}
