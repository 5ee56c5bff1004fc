package nn_test

import (
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// refAttention returns softmax(q·kᵀ/√d + mask)·v for one head: q [l][d],
// k [s][d], v [s][dv], written out plainly.
func refAttention(q, k, v [][]float64, causal bool) [][]float64 {
	d := len(q[0])
	out := make([][]float64, len(q))
	for i := range q {
		scores := make([]float64, len(k))
		mx := math.Inf(-1)
		for j := range k {
			scores[j] = math.Inf(-1)
			if causal && j > i {
				continue
			}
			dot := 0.0
			for a := range d {
				dot += q[i][a] * k[j][a]
			}
			scores[j] = dot / math.Sqrt(float64(d))
			mx = math.Max(mx, scores[j])
		}
		sum := 0.0
		for j := range scores {
			scores[j] = math.Exp(scores[j] - mx)
			sum += scores[j]
		}
		out[i] = make([]float64, len(v[0]))
		for j := range k {
			for a := range v[0] {
				out[i][a] += scores[j] / sum * v[j][a]
			}
		}
	}
	return out
}

// matrix returns rows [r][c] of vals starting at off.
func matrix(vals []float64, off, r, c int) [][]float64 {
	m := make([][]float64, r)
	for i := range m {
		m[i] = vals[off+i*c : off+(i+1)*c]
	}
	return m
}

func TestScaledDotProductAttention(t *testing.T) {
	const b, h, l, s, d, dv = 2, 3, 4, 5, 3, 2
	q, k, v := rnd(100, b, h, l, d), rnd(101, b, h, s, d), rnd(102, b, h, s, dv)
	qv, kv, vv := q.Float64s(), k.Float64s(), v.Float64s()
	for _, causal := range []bool{false, true} {
		var want []float64
		for bh := range b * h {
			o := refAttention(matrix(qv, bh*l*d, l, d), matrix(kv, bh*s*d, s, d), matrix(vv, bh*s*dv, s, dv), causal)
			for _, row := range o {
				want = append(want, row...)
			}
		}
		near(t, "ScaledDotProductAttention", nn.ScaledDotProductAttention(q, k, v, causal), []int{b, h, l, dv}, want, 1e-12)
		checkGrad(t, "ScaledDotProductAttention", func(xs []*tensor.Tensor) *tensor.Tensor {
			return nn.ScaledDotProductAttention(xs[0], xs[1], xs[2], causal)
		}, rnd(103, 1, 2, 3, 2), rnd(104, 1, 2, 3, 2), rnd(105, 1, 2, 3, 2))
	}
	// Float32 gives float32, with the cached mask converted.
	if y := nn.ScaledDotProductAttention(q.AsType(tensor.Float32), k.AsType(tensor.Float32), v.AsType(tensor.Float32), true); y.DType() != tensor.Float32 {
		t.Errorf("float32 attention is %v", y.DType())
	}
	const op = "ScaledDotProductAttention"
	wantError(t, "SDPA dtype", tensor.ErrDType, op, func() { nn.ScaledDotProductAttention(q, k.AsType(tensor.Float32), v, false) })
	wantError(t, "SDPA D differs", tensor.ErrShape, op, func() { nn.ScaledDotProductAttention(q, rnd(1, b, h, s, d+1), v, false) })
	wantError(t, "SDPA S differs", tensor.ErrShape, op, func() { nn.ScaledDotProductAttention(q, k, rnd(1, b, h, s+1, dv), false) })
	wantError(t, "SDPA 1-d", tensor.ErrShape, op, func() { nn.ScaledDotProductAttention(rnd(1, 3), k, v, false) })
}

// refMHA computes multi-head self-attention of x [b][t][e] plainly, with
// weights [in, out] as nn.Dense holds them.
func refMHA(x []float64, b, t, e, heads int, wIn, bIn, wOut, bOut []float64, causal bool) []float64 {
	d := e / heads
	lin := func(row []float64, w, bias []float64, out int) []float64 {
		y := make([]float64, out)
		for j := range out {
			for i, v := range row {
				y[j] += v * w[i*out+j]
			}
			if bias != nil {
				y[j] += bias[j]
			}
		}
		return y
	}
	var res []float64
	for bi := range b {
		qkv := make([][]float64, t)
		for ti := range t {
			qkv[ti] = lin(x[(bi*t+ti)*e:(bi*t+ti+1)*e], wIn, bIn, 3*e)
		}
		merged := make([][]float64, t)
		for ti := range merged {
			merged[ti] = make([]float64, e)
		}
		for hi := range heads {
			part := func(which int) [][]float64 {
				m := make([][]float64, t)
				for ti := range t {
					m[ti] = qkv[ti][which*e+hi*d : which*e+(hi+1)*d]
				}
				return m
			}
			o := refAttention(part(0), part(1), part(2), causal)
			for ti := range t {
				copy(merged[ti][hi*d:], o[ti])
			}
		}
		for ti := range t {
			res = append(res, lin(merged[ti], wOut, bOut, e)...)
		}
	}
	return res
}

func TestMultiHeadAttention(t *testing.T) {
	const b, tt, e, heads = 2, 4, 6, 3
	x := rnd(110, b, tt, e)
	for _, causal := range []bool{false, true} {
		m := &nn.MultiHeadAttention{
			InProj:  &nn.Dense{W: rnd(111, e, 3*e), B: rnd(112, 3*e)},
			OutProj: &nn.Dense{W: rnd(113, e, e), B: rnd(114, e)},
			Heads:   heads, Causal: causal,
		}
		want := refMHA(x.Float64s(), b, tt, e, heads, m.InProj.W.Float64s(), m.InProj.B.Float64s(),
			m.OutProj.W.Float64s(), m.OutProj.B.Float64s(), causal)
		near(t, "MultiHeadAttention", m.Forward(x), []int{b, tt, e}, want, 1e-12)

		checkGrad(t, "MultiHeadAttention", func(xs []*tensor.Tensor) *tensor.Tensor {
			m := &nn.MultiHeadAttention{InProj: &nn.Dense{W: xs[1], B: xs[2]}, OutProj: &nn.Dense{W: xs[3], B: xs[4]}, Heads: 2, Causal: causal}
			return m.Forward(xs[0])
		}, rnd(115, 2, 3, 4), rnd(116, 4, 12).MulScalar(0.5), rnd(117, 12), rnd(118, 4, 4), rnd(119, 4))
	}

	// Causal: the output at position p does not depend on inputs after p.
	m := nn.NewMultiHeadAttention(e, heads, true, true, tensor.WithDType(tensor.Float64))
	y := m.Forward(x).Float64s()
	for p := range tt - 1 {
		x2 := tensor.Concat([]*tensor.Tensor{x.Slice(1, 0, p+1), rnd(uint64(120+p), b, tt-p-1, e)}, 1)
		y2 := m.Forward(x2).Float64s()
		for bi := range b {
			for q := range tt {
				for c := range e {
					i := (bi*tt+q)*e + c
					if q <= p && y[i] != y2[i] {
						t.Fatalf("causal: output %d of batch %d changed (%v → %v) when inputs after %d changed", q, bi, y[i], y2[i], p)
					}
				}
			}
		}
		if equalFloats(y, y2) {
			t.Errorf("causal: changing inputs after %d changed nothing", p)
		}
	}
	// Without the causal mask, the first position sees the last.
	m.Causal = false
	y = m.Forward(x).Float64s()
	x2 := tensor.Concat([]*tensor.Tensor{x.Slice(1, 0, tt-1), rnd(130, b, 1, e)}, 1)
	if y2 := m.Forward(x2).Float64s(); y2[0] == y[0] {
		t.Error("non-causal: the first output does not depend on the last input")
	}

	// Constructor: shapes, gradients, no biases without bias.
	nm := nn.NewMultiHeadAttention(8, 2, false, false)
	if len(nm.Params()) != 2 || nm.InProj.W.Shape()[1] != 24 || !nm.InProj.W.RequiresGrad() || nm.OutProj.B != nil {
		t.Errorf("NewMultiHeadAttention(8, 2, bias false): %v", nn.Summary(nm))
	}
	if s := nm.Forward(tensor.Ones([]int{3, 5, 8})).Shape(); len(s) != 3 || s[0] != 3 || s[1] != 5 || s[2] != 8 {
		t.Errorf("NewMultiHeadAttention output shape %v", s)
	}
	wantError(t, "NewMultiHeadAttention heads do not divide", tensor.ErrArgument, "NewMultiHeadAttention", func() { nn.NewMultiHeadAttention(8, 3, false, true) })
	wantError(t, "MultiHeadAttention 2-d input", tensor.ErrShape, "MultiHeadAttention", func() { m.Forward(rnd(1, 4, 6)) })
	m.Heads = 4
	wantError(t, "MultiHeadAttention heads do not divide E", tensor.ErrShape, "MultiHeadAttention", func() { m.Forward(x) })
}
