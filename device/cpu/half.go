package cpu

import (
	"math"
	"sync"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// The half dtypes (bfloat16, float16) on the CPU: their buffers hold the
// bits in a []uint16, and Alloc, Free, Upload, Download, Copy and Fill
// handle them; the elementwise methods and Reduce have half kernels of
// their own (halfkernels.go, device.HalfKernels), and MatMul converts as it
// packs (HalfMatMul in matmul.go); every other method is
// reached through device.WithHalf, which hands it float32 copies.

// copyHalf is Copy when either side is a half buffer.
func copyHalf(d *Buffer, dl device.Layout, s *Buffer, sl device.Layout) {
	if d.dt.IsHalf() {
		switch s.dt {
		case device.Float32:
			walkHalf(dl, sl, func(do, ds, so, ss, m int) { toHalf(d.dt, d.u16, do, ds, s.f32, so, ss, m) })
		case device.Float64:
			walkHalf(dl, sl, func(do, ds, so, ss, m int) { toHalf(d.dt, d.u16, do, ds, s.f64, so, ss, m) })
		case device.Int32:
			walkHalf(dl, sl, func(do, ds, so, ss, m int) { toHalf(d.dt, d.u16, do, ds, s.i32, so, ss, m) })
		case device.Int64:
			walkHalf(dl, sl, func(do, ds, so, ss, m int) { toHalf(d.dt, d.u16, do, ds, s.i64, so, ss, m) })
		default:
			walkHalf(dl, sl, func(do, ds, so, ss, m int) { halfToHalf(d.dt, d.u16, do, ds, s.dt, s.u16, so, ss, m) })
		}
		return
	}
	switch d.dt {
	case device.Float32:
		walkHalf(dl, sl, func(do, ds, so, ss, m int) { fromHalf(d.f32, do, ds, s.dt, s.u16, so, ss, m) })
	case device.Float64:
		walkHalf(dl, sl, func(do, ds, so, ss, m int) { fromHalf(d.f64, do, ds, s.dt, s.u16, so, ss, m) })
	case device.Int32:
		walkHalf(dl, sl, func(do, ds, so, ss, m int) { fromHalf(d.i32, do, ds, s.dt, s.u16, so, ss, m) })
	default:
		walkHalf(dl, sl, func(do, ds, so, ss, m int) { fromHalf(d.i64, do, ds, s.dt, s.u16, so, ss, m) })
	}
}

// walkHalf calls run for segments of the same-shaped layouts dl and sl:
// m elements from offsets do and so with strides ds and ss.
func walkHalf(dl, sl device.Layout, run func(do, ds, so, ss, m int)) {
	n := sl.Size()
	if n == 0 {
		return
	}
	if dl.IsContiguous() && sl.IsContiguous() {
		parallel.For(n, grain, func(lo, hi int) { run(dl.Offset+lo, 1, sl.Offset+lo, 1, hi-lo) })
		return
	}
	w := newWalker(dl, sl)
	parallel.For(n, grain, func(lo, hi int) {
		w.walk(lo, hi, n, func(_ int, offs []int, m int) { run(offs[0], w.inner[0], offs[1], w.inner[1], m) })
	})
}

// toHalf rounds m elements of s to the half dtype dt in d, once, to
// nearest even (integers through device.Int64ToFloat64Odd, exact for
// int32). The dtype and element type are chosen once per run.
func toHalf[S elem](dt device.DType, d []uint16, do, ds int, s []S, so, ss, m int) {
	switch x := any(s).(type) {
	case []float32:
		if ds == 1 && ss == 1 {
			narrowHalf(dt, d[do:do+m], x[so:so+m]) // 8 at a time where the CPU can
			return
		}
		if dt == device.BFloat16 {
			for range m {
				d[do] = device.Float32ToBFloat16(x[so])
				do, so = do+ds, so+ss
			}
			return
		}
		for range m {
			d[do] = device.Float32ToFloat16(x[so])
			do, so = do+ds, so+ss
		}
	case []float64:
		for range m {
			d[do] = device.HalfFromFloat64(dt, x[so])
			do, so = do+ds, so+ss
		}
	case []int32:
		for range m {
			d[do] = device.HalfFromFloat64(dt, float64(x[so]))
			do, so = do+ds, so+ss
		}
	case []int64:
		for range m {
			d[do] = device.HalfFromFloat64(dt, device.Int64ToFloat64Odd(x[so]))
			do, so = do+ds, so+ss
		}
	}
}

// f16Table holds the float32 value of every float16 bit pattern (256 KiB,
// made on first use): widening is one load.
var f16Table = sync.OnceValue(func() []float32 {
	t := make([]float32, 1<<16)
	for h := range t {
		t[h] = device.Float16ToFloat32(uint16(h))
	}
	return t
})

// fromHalf widens m elements of the half dtype dt in s to float32
// (exactly) and converts them to D as Copy converts a float32.
func fromHalf[D elem](d []D, do, ds int, dt device.DType, s []uint16, so, ss, m int) {
	if dd, ok := any(d).([]float32); ok {
		if ds == 1 && ss == 1 {
			widenHalf(dt, dd[do:do+m], s[so:so+m]) // 8 at a time where the CPU can
			return
		}
		if dt == device.BFloat16 {
			for range m {
				dd[do] = math.Float32frombits(uint32(s[so]) << 16)
				do, so = do+ds, so+ss
			}
			return
		}
		tab := f16Table()
		for range m {
			dd[do] = tab[s[so]]
			do, so = do+ds, so+ss
		}
		return
	}
	for range m {
		d[do] = conv[D](device.HalfToFloat32(dt, s[so]))
		do, so = do+ds, so+ss
	}
}

// halfToHalf copies m elements between half buffers, converting (exactly
// widened, then rounded once) when the dtypes differ.
func halfToHalf(ddt device.DType, d []uint16, do, ds int, sdt device.DType, s []uint16, so, ss, m int) {
	if ddt == sdt && ds == 1 && ss == 1 {
		copy(d[do:do+m], s[so:so+m])
		return
	}
	for range m {
		v := s[so]
		if ddt != sdt {
			v = device.HalfFromFloat32(ddt, device.HalfToFloat32(sdt, v))
		}
		d[do] = v
		do, so = do+ds, so+ss
	}
}
