//go:build cuda

package cuda_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/optest"
)

var halfDTypes = []device.DType{device.BFloat16, device.Float16}

// TestHalfOpsOnGPU runs every case of the shared op-test table
// (internal/optest) in bfloat16 and float16 on cuda:0 (optest.CheckHalf):
// the elementwise operations, through the backend's own half kernels
// (modules half_bf16 and half_f16, device.HalfKernels), must give bit for
// bit the GPU's float32 result on the same inputs rounded to the half
// type; everything else, and every gradient, within optest.HalfRTol of
// float32. Then (not with -short) the size-dependent cases at sizes that
// take the half kernels' vector and element paths and the reductions'
// plans.
func TestHalfOpsOnGPU(t *testing.T) {
	needGPU(t)
	for _, dt := range halfDTypes {
		for _, c := range optest.Cases() {
			t.Run(dt.String()+"/"+c.Name, func(t *testing.T) { optest.CheckHalf(t, c, dt, gpu) })
		}
		if testing.Short() {
			continue // the sized cases: not under -short (the sanitizer stage)
		}
		for _, n := range []int{31, 1029, 65537} {
			for _, c := range optest.Sized(n) {
				t.Run(fmt.Sprintf("%v/%s/%d", dt, c.Name, n), func(t *testing.T) { optest.CheckHalf(t, c, dt, gpu) })
			}
		}
	}
}

// TestHalfConversionsOnGPU checks the half kernels' conversions on the
// device (float16 uses the hardware's cvt instructions for everything but
// NaN) against device/half.go on every bit pattern: x + s for each of the
// 65536 halves x and scalars s whose sums fall between halves (rounding
// ties, float16 subnormals, overflow), dense (vector path) and at an odd
// offset (element path). A NaN result must be a NaN (the GPU's float32
// arithmetic makes canonical NaNs; their rounding keeps the quiet bit).
func TestHalfConversionsOnGPU(t *testing.T) {
	be := needGPU(t)
	const n = 1 << 16
	bits := make([]uint16, n+1)
	for i := range n {
		bits[i+1] = uint16(i)
	}
	for _, dt := range halfDTypes {
		x, err := be.Alloc(dt, n+1)
		if err != nil {
			t.Fatal(err)
		}
		y, err := be.Alloc(dt, n+1)
		if err != nil {
			t.Fatal(err)
		}
		be.Upload(x, bits)
		for _, s := range []float64{0, 1e-3, -3e-5, 7e-8, 0.3, 65504, -1e-40} {
			for _, off := range []int{0, 1} {
				l := device.Layout{Shape: []int{n}, Strides: []int{1}, Offset: off}
				if !be.HalfScalar(device.AddS, y, x, l, s) {
					t.Fatalf("%v: HalfScalar declined", dt)
				}
				got := make([]uint16, n)
				if err := be.Download(got, y, device.Contiguous([]int{n})); err != nil {
					t.Fatal(err)
				}
				bad := 0
				for i, g := range got {
					xv := device.HalfToFloat32(dt, bits[i+off])
					want := device.HalfFromFloat32(dt, xv+float32(s))
					gv := device.HalfToFloat32(dt, g)
					if g == want || (gv != gv && math.IsNaN(float64(xv+float32(s)))) {
						continue
					}
					if bad < 5 {
						t.Errorf("%v: %#04x + %v at offset %d = %#04x, want %#04x", dt, bits[i+off], s, off, g, want)
					}
					bad++
				}
				if bad > 5 {
					t.Errorf("%v: s %v offset %d: %d of %d wrong", dt, s, off, bad, n)
				}
			}
		}
		be.Free(x)
		be.Free(y)
	}
}
