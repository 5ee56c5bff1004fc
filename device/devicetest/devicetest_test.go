package devicetest

import (
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
)

// TestPhiloxKnownAnswer checks the suite's own Philox against the
// known-answer vectors of Random123 (kat_vectors, philox4x32_10): key and
// counter zero, and key and counter all ones (counter words 2 and 3 are
// zero in device.RandomSpec, so only the first vector applies as is; the
// others check against device.Philox, written independently).
func TestPhiloxKnownAnswer(t *testing.T) {
	if got, want := philox(0, 0), [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}; got != want {
		t.Errorf("philox(0, 0) = %#x, want %#x", got, want)
	}
	for _, k := range [][2]uint64{{1, 0}, {0xdeadbeefcafef00d, 1 << 40}, {^uint64(0), 1<<32 - 1}, {42, 1 << 32}} {
		if got, want := philox(k[0], k[1]), device.Philox(k[0], k[1]); got != want {
			t.Errorf("philox(%#x, %#x) = %#x, device.Philox gives %#x", k[0], k[1], got, want)
		}
	}
}

// TestRandomRefMatchesDevice compares the suite's reading of RandomSpec
// with the device package's reference functions.
func TestRandomRefMatchesDevice(t *testing.T) {
	for _, dist := range []device.Dist{device.Uniform, device.Normal} {
		f32 := make([]float32, 41)
		device.RandomFloat32(f32, 0, dist, 7, 1<<32-5, -1, 2)
		f64 := make([]float64, 41)
		device.RandomFloat64(f64, 0, dist, 7, 1<<32-5, -1, 2)
		for i := range f32 {
			if got := randomRef(device.Float32, dist, 7, 1<<32-5, i, -1, 2); got != float64(f32[i]) {
				t.Errorf("float32 dist %d element %d: %v, device.RandomFloat32 gives %v", dist, i, got, f32[i])
			}
			if got := randomRef(device.Float64, dist, 7, 1<<32-5, i, -1, 2); got != f64[i] {
				t.Errorf("float64 dist %d element %d: %v, device.RandomFloat64 gives %v", dist, i, got, f64[i])
			}
		}
	}
}

// corrupt wraps a backend and breaks one behaviour, named by kind.
type corrupt struct {
	device.Backend
	kind string
}

func host(b device.Buffer) (f32 []float32, f64 []float64) {
	h := b.(device.HostBuffer)
	return h.Float32s(), h.Float64s()
}

// set changes element i of a host buffer with f.
func set(b device.Buffer, i int, f func(float64) float64) {
	f32, f64 := host(b)
	if f64 != nil {
		f64[i] = f(f64[i])
	} else {
		f32[i] = float32(f(float64(f32[i])))
	}
}

func (w corrupt) Unary(op device.UnaryOp, dst, src device.Buffer, sl device.Layout) {
	w.Backend.Unary(op, dst, src, sl)
	if w.kind == "exp" && op == device.Exp && dst.DType() == device.Float32 {
		for i := range sl.Size() {
			set(dst, i, func(v float64) float64 { return v * (1 + 1e-3) })
		}
	}
}

func (w corrupt) Reduce(op device.ReduceOp, dst, src device.Buffer, sl device.Layout, axes []int) {
	w.Backend.Reduce(op, dst, src, sl, axes)
	if w.kind == "max-nan" && op == device.Max {
		keep, _ := device.SplitAxes(sl, axes)
		for i := range keep.Size() {
			set(dst, i, func(v float64) float64 {
				if math.IsNaN(v) {
					return 0
				}
				return v
			})
		}
	}
}

func (w corrupt) Binary(op device.BinaryOp, dst, a device.Buffer, al device.Layout, b device.Buffer, bl device.Layout) {
	w.Backend.Binary(op, dst, a, al, b, bl)
	if w.kind == "inplace" && dst == a && al.Size() > 0 && op == device.Sub {
		set(dst, 0, func(v float64) float64 { return v + 1 })
	}
}

func (w corrupt) MatMul(dst device.Buffer, dl device.MatLayout, a device.Buffer, al device.MatLayout, b device.Buffer, bl device.MatLayout, batch, m, n, k int) {
	w.Backend.MatMul(dst, dl, a, al, b, bl, batch, m, n, k)
	if w.kind == "padding" && batch > 0 && m > 1 && dl.RowStride > n {
		set(dst, dl.Offset+n, func(float64) float64 { return 0 })
	}
}

func (w corrupt) Random(dst device.Buffer, n int, dist device.Dist, seed, counter uint64, a, b float64) {
	if w.kind == "counter32" {
		counter = uint64(uint32(counter))
	}
	w.Backend.Random(dst, n, dist, seed, counter, a, b)
}

func (w corrupt) SGDStep(wb, v, g device.Buffer, n int, p device.SGDParams) {
	if w.kind == "nesterov" {
		p.Nesterov = false
	}
	w.Backend.SGDStep(wb, v, g, n, p)
}

func (w corrupt) Col2Im(dst, src device.Buffer, g device.ConvGeom) {
	w.Backend.Col2Im(dst, src, g)
	if w.kind == "col2im" && g.H*g.W > 1 {
		set(dst, 1, func(v float64) float64 { return v + 0.5 })
	}
}

func (w corrupt) ArgReduce(op device.ArgOp, dst, src device.Buffer, sl device.Layout, axis int) {
	if w.kind == "argmax-nan" && op == device.ArgMax {
		// NaN counted as the smallest value: ArgMax of a copy whose NaNs
		// became -Inf.
		n := src.Len()
		tmp, _ := w.Backend.Alloc(src.DType(), n)
		w.Backend.Copy(tmp, device.Contiguous([]int{n}), src, device.Contiguous([]int{n}))
		for i := range n {
			set(tmp, i, func(v float64) float64 {
				if math.IsNaN(v) {
					return math.Inf(-1)
				}
				return v
			})
		}
		w.Backend.ArgReduce(op, dst, tmp, sl, axis)
		return
	}
	w.Backend.ArgReduce(op, dst, src, sl, axis)
}

func (w corrupt) CumSum(dst, src device.Buffer, sl device.Layout, axis int, reverse bool) {
	if w.kind == "cumsum-reverse" {
		reverse = false
	}
	w.Backend.CumSum(dst, src, sl, axis, reverse)
}

func (w corrupt) LayerNormGrad(dx, dw, db, dy, x, mean, rstd, wb device.Buffer, p device.NormParams) {
	w.Backend.LayerNormGrad(dx, dw, db, dy, x, mean, rstd, wb, p)
	if w.kind == "layernorm-dw-row" && dw != nil && p.Rows > 16 && p.Cols > 0 {
		// The last row's dw terms left out (a lost partial sum).
		tmp := make([]float64, dw.Len())
		_ = w.Backend.Download(tmp, dw, device.Contiguous([]int{dw.Len()}))
		last := make([]float64, 2*p.Cols+1)
		_ = w.Backend.Download(last[:p.Cols], x, device.Layout{Shape: []int{p.Cols}, Strides: []int{1}, Offset: (p.Rows - 1) * p.Cols})
		_ = w.Backend.Download(last[p.Cols:2*p.Cols], dy, device.Layout{Shape: []int{p.Cols}, Strides: []int{1}, Offset: (p.Rows - 1) * p.Cols})
		_ = w.Backend.Download(last[2*p.Cols:], rstd, device.Layout{Shape: []int{1}, Strides: []int{1}, Offset: p.Rows - 1})
		mu := make([]float64, 1)
		if mean != nil {
			_ = w.Backend.Download(mu, mean, device.Layout{Shape: []int{1}, Strides: []int{1}, Offset: p.Rows - 1})
		}
		for j := range p.Cols {
			tmp[j] -= last[p.Cols+j] * (last[j] - mu[0]) * last[2*p.Cols]
		}
		w.Backend.Upload(dw, castLike(dw, tmp))
	}
}

// castLike converts vals to the host slice type of b's dtype.
func castLike(b device.Buffer, vals []float64) any {
	if b.DType() == device.Float32 {
		s := make([]float32, len(vals))
		for i, v := range vals {
			s[i] = float32(v)
		}
		return s
	}
	return vals
}

func (w corrupt) Attention(out, lse, q, k, v device.Buffer, g device.AttentionGeom) {
	if w.kind == "attention-causal" {
		g.Causal = false
	}
	w.Backend.Attention(out, lse, q, k, v, g)
}

// The corruptions, the group each is run on and the subtest that must
// fail ("" for the control run, which must pass).
var corruptions = []struct{ kind, group, fails string }{
	{"none", "Unary", ""},
	{"none", "Reduce", ""},
	{"exp", "Unary", "Unary/float32/Exp"},
	{"max-nan", "Reduce", "Reduce/float32/Max"},
	{"inplace", "Binary", "Binary/float64/Sub"},
	{"padding", "MatMul", "MatMul/float32"},
	{"counter32", "Random", "Random/float64/Uniform"},
	{"nesterov", "SGDStep", "SGDStep/float32"},
	{"col2im", "Col2Im", "Col2Im/float64"},
	{"argmax-nan", "ArgReduce", "ArgReduce/float32/ArgMax"},
	{"cumsum-reverse", "CumSum", "CumSum/float64/reverse"},
	{"layernorm-dw-row", "LayerNorm", "LayerNorm/float64/LayerNorm/affine"},
	{"attention-causal", "Attention", "Attention/float32"},
	{"no-cos", "Coverage", "Coverage"},
}

// TestCorruptChild runs the suite on a corrupted CPU backend when started
// by TestCatchesCorruption; otherwise it does nothing.
func TestCorruptChild(t *testing.T) {
	kind := os.Getenv("DEVICETEST_CORRUPT")
	if kind == "" {
		t.Skip("run by TestCatchesCorruption")
	}
	if kind == "no-cos" {
		delete(unaryRefs, device.Cos)
	}
	Run(t, corrupt{Backend: cpu.Get(), kind: kind})
}

// TestCatchesCorruption shows that the suite fails, in the expected
// subtest, for a backend that gets one thing wrong, and passes the same
// wrapper without a corruption.
func TestCatchesCorruption(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	for _, k := range corruptions {
		t.Run(k.kind+"/"+k.group, func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run=^TestCorruptChild$/^"+k.group+"$", "-test.v")
			cmd.Env = append(os.Environ(), "DEVICETEST_CORRUPT="+k.kind)
			out, err := cmd.CombinedOutput()
			if strings.Contains(string(out), "panic:") {
				t.Fatalf("corruption %q: the child panicked:\n%s", k.kind, out)
			}
			if k.fails == "" {
				if err != nil {
					t.Fatalf("uncorrupted wrapper failed: %v\n%s", err, out)
				}
				if !strings.Contains(string(out), "--- PASS: TestCorruptChild/"+k.group) {
					t.Fatalf("group %s did not run:\n%s", k.group, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("suite passed a backend with corruption %q:\n%s", k.kind, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestCorruptChild/"+k.fails) {
				t.Fatalf("corruption %q: no failure of %s:\n%s", k.kind, k.fails, out)
			}
		})
	}
}
