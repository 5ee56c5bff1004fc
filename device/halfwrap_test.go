package device_test

import (
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
)

// halfKernelsProbe is a CPU backend that implements device.HalfKernels
// by declining or accepting every call, counting the offers and the
// scratch allocations WithHalf makes.
type halfKernelsProbe struct {
	*cpu.Backend
	accept bool
	offers map[string]int
	allocs int
}

func (p *halfKernelsProbe) Alloc(dt device.DType, n int) (device.Buffer, error) {
	if dt == device.Float32 {
		p.allocs++
	}
	return p.Backend.Alloc(dt, n)
}

func (p *halfKernelsProbe) offer(m string) bool { p.offers[m]++; return p.accept }

func (p *halfKernelsProbe) HalfUnary(device.UnaryOp, device.Buffer, device.Buffer, device.Layout) bool {
	return p.offer("Unary")
}
func (p *halfKernelsProbe) HalfScalar(device.ScalarOp, device.Buffer, device.Buffer, device.Layout, float64) bool {
	return p.offer("Scalar")
}
func (p *halfKernelsProbe) HalfBinary(device.BinaryOp, device.Buffer, device.Buffer, device.Layout, device.Buffer, device.Layout) bool {
	return p.offer("Binary")
}
func (p *halfKernelsProbe) HalfAddScaled(device.Buffer, device.Buffer, device.Layout, float64, device.Buffer, device.Layout, float64) bool {
	return p.offer("AddScaled")
}
func (p *halfKernelsProbe) HalfReduce(device.ReduceOp, device.Buffer, device.Buffer, device.Layout, []int) bool {
	return p.offer("Reduce")
}

// TestWithHalfOffersHalfKernels checks that WithHalf offers the
// elementwise methods and Reduce of half buffers to a HalfKernels backend
// first, skips its scratch path when the offer is taken, and computes in
// float32 when it is declined; float32 calls are never offered.
func TestWithHalfOffersHalfKernels(t *testing.T) {
	for _, accept := range []bool{false, true} {
		p := &halfKernelsProbe{Backend: cpu.Get(), accept: accept, offers: map[string]int{}}
		h := device.WithHalf(p)
		l := device.Contiguous([]int{4})
		mk := func(dt device.DType, v []float32) device.Buffer {
			b, err := h.Alloc(dt, 4)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := h.Alloc(device.Float32, 4)
			h.Upload(f, v)
			h.Copy(b, l, f, l)
			return b
		}
		x := mk(device.BFloat16, []float32{1, -2, 3, 4})
		y := mk(device.BFloat16, []float32{0.5, 0.5, 0.5, 0.5})
		dst := mk(device.BFloat16, []float32{9, 9, 9, 9})
		sum := mk(device.BFloat16, []float32{9, 9, 9, 9})
		f32 := mk(device.Float32, []float32{1, 2, 3, 4})
		p.allocs = 0

		h.Unary(device.Neg, dst, x, l)
		h.Scalar(device.MulS, dst, dst, l, 2)
		h.Binary(device.Add, dst, dst, l, y, l)
		h.AddScaled(dst, dst, l, 1, y, l, 2)
		h.Reduce(device.Sum, sum, dst, l, []int{0})
		h.Unary(device.Neg, f32, f32, l)

		for _, m := range []string{"Unary", "Scalar", "Binary", "AddScaled", "Reduce"} {
			if p.offers[m] != 1 {
				t.Errorf("accept=%v: %s offered %d times, want 1", accept, m, p.offers[m])
			}
		}
		got := make([]float32, 4)
		if err := h.Download(got, dst, l); err != nil {
			t.Fatal(err)
		}
		if accept {
			if p.allocs != 0 {
				t.Errorf("accepted offers still allocated %d float32 scratch buffers", p.allocs)
			}
			if got[0] != 9 {
				t.Errorf("accepted offers: dst changed to %v by the scratch path", got)
			}
			continue
		}
		// ((-x)·2 + 0.5) + 2·0.5
		want := []float32{-0.5, 5.5, -4.5, -6.5}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("declined offers: dst = %v, want %v", got, want)
			}
		}
		s := make([]float32, 4)
		if err := h.Download(s, sum, device.Contiguous([]int{1})); err != nil {
			t.Fatal(err)
		}
		if s[0] != -6 {
			t.Errorf("declined Reduce: sum = %v, want -6", s[0])
		}
	}
}
