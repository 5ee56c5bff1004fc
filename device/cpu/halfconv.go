package cpu

import (
	"math"

	"github.com/tapegrad/tapegrad/device"
)

// The conversions of the half kernels (halfkernels.go) between a block of
// half elements and a block of float32: bfloat16 to float32 is a 16-bit
// shift, float32 to bfloat16 an integer rounding to nearest even (NaN kept,
// quiet); float16 goes through the F16C instructions (VCVTPH2PS,
// VCVTPS2PH with immediate 0: to nearest even) on amd64 CPUs that have
// them. Eight elements at a time in assembly (halfconv_amd64.s), the rest
// in Go, which follows device/half.go (the reference; the float16
// widening is a table of its results). Both give the bits of device/half.go.

// halfAsm reports whether the assembly conversions of dt run: AVX2 for
// bfloat16, F16C as well for float16, and the assembly kernels on
// (useSIMD).
func halfAsm(dt device.DType) bool {
	if dt == device.BFloat16 {
		return useSIMD
	}
	return useSIMD && haveF16C
}

// widenHalf writes the float32 values of the len(d) elements of s, of the
// half dtype dt, to d (exact).
func widenHalf(dt device.DType, d []float32, s []uint16) {
	n := len(d)
	s = s[:n]
	m := 0
	if halfAsm(dt) {
		m = n &^ 7
		if m > 0 {
			if dt == device.BFloat16 {
				widenBF16x8(&d[0], &s[0], m)
			} else {
				widenF16x8(&d[0], &s[0], m)
			}
		}
	}
	if dt == device.BFloat16 {
		for i := m; i < n; i++ {
			d[i] = math.Float32frombits(uint32(s[i]) << 16)
		}
		return
	}
	if m < n {
		tab := f16Table()
		for i := m; i < n; i++ {
			d[i] = tab[s[i]]
		}
	}
}

// narrowHalf rounds the len(d) float32s of s to the half dtype dt into d,
// to nearest even (device.HalfFromFloat32).
func narrowHalf(dt device.DType, d []uint16, s []float32) {
	n := len(d)
	s = s[:n]
	m := 0
	if halfAsm(dt) {
		m = n &^ 7
		if m > 0 {
			if dt == device.BFloat16 {
				narrowBF16x8(&d[0], &s[0], m)
			} else {
				narrowF16x8(&d[0], &s[0], m)
			}
		}
	}
	if dt == device.BFloat16 {
		for i := m; i < n; i++ {
			d[i] = device.Float32ToBFloat16(s[i])
		}
		return
	}
	for i := m; i < n; i++ {
		d[i] = device.Float32ToFloat16(s[i])
	}
}

// widenStrided writes the float32 values of the len(d) elements of s that
// start at off with stride st (0: one element repeated) to d.
func widenStrided(dt device.DType, d []float32, s []uint16, off, st int) {
	switch st {
	case 1:
		widenHalf(dt, d, s[off:off+len(d)])
		return
	case 0:
		v := device.HalfToFloat32(dt, s[off])
		for i := range d {
			d[i] = v
		}
		return
	}
	if dt == device.BFloat16 {
		for i := range d {
			d[i] = math.Float32frombits(uint32(s[off]) << 16)
			off += st
		}
		return
	}
	tab := f16Table()
	for i := range d {
		d[i] = tab[s[off]]
		off += st
	}
}
