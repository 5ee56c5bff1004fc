package cpu

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// elem is any element type of a buffer.
type elem interface {
	float32 | float64 | int32 | int64
}

// copyInts is Copy when either side is an integer buffer.
func copyInts(d *Buffer, dl device.Layout, s *Buffer, sl device.Layout) {
	switch d.dt {
	case device.Float32:
		copyFrom(d.f32, dl, s, sl)
	case device.Float64:
		copyFrom(d.f64, dl, s, sl)
	case device.Int32:
		copyFrom(d.i32, dl, s, sl)
	default:
		copyFrom(d.i64, dl, s, sl)
	}
}

func copyFrom[D elem](d []D, dl device.Layout, s *Buffer, sl device.Layout) {
	switch s.dt {
	case device.Float32:
		copyConv(d, dl, s.f32, sl)
	case device.Float64:
		copyConv(d, dl, s.f64, sl)
	case device.Int32:
		copyConv(d, dl, s.i32, sl)
	default:
		copyConv(d, dl, s.i64, sl)
	}
}

// conv converts one element by the rules of Backend.Copy.
func conv[D, S elem](v S) D {
	var z D
	switch any(z).(type) {
	case int32:
		switch x := any(v).(type) {
		case float32:
			return D(device.FloatToInt32(float64(x)))
		case float64:
			return D(device.FloatToInt32(x))
		}
	case int64:
		switch x := any(v).(type) {
		case float32:
			return D(device.FloatToInt64(float64(x)))
		case float64:
			return D(device.FloatToInt64(x))
		}
	}
	// Integer to float rounds to nearest even, integer to integer wraps,
	// float to float rounds: Go's conversions.
	return D(v)
}

// convRun converts a run of elements, choosing the loop once per run (conv
// decides per element).
func convRun[D, S elem](d []D, s []S) {
	if dd, ok := any(d).([]S); ok {
		copy(dd, s)
		return
	}
	s = s[:len(d)]
	switch dd := any(d).(type) {
	case []int32:
		switch ss := any(s).(type) {
		case []float32:
			for i, v := range ss {
				dd[i] = device.FloatToInt32(float64(v))
			}
			return
		case []float64:
			for i, v := range ss {
				dd[i] = device.FloatToInt32(v)
			}
			return
		}
	case []int64:
		switch ss := any(s).(type) {
		case []float32:
			for i, v := range ss {
				dd[i] = device.FloatToInt64(float64(v))
			}
			return
		case []float64:
			for i, v := range ss {
				dd[i] = device.FloatToInt64(v)
			}
			return
		}
	}
	// Go's conversions: integers to floats round to nearest even, integers
	// to integers wrap.
	for i, v := range s {
		d[i] = D(v)
	}
}

func copyConv[D, S elem](d []D, dl device.Layout, s []S, sl device.Layout) {
	n := sl.Size()
	if n == 0 {
		return
	}
	if dl.IsContiguous() && sl.IsContiguous() {
		dd, ss := d[dl.Offset:dl.Offset+n], s[sl.Offset:sl.Offset+n]
		parallel.For(n, grain, func(lo, hi int) { convRun(dd[lo:hi], ss[lo:hi]) })
		return
	}
	w := newWalker(dl, sl)
	parallel.For(n, grain, func(lo, hi int) {
		w.walk(lo, hi, n, func(_ int, offs []int, m int) {
			do, so, ds, ss := offs[0], offs[1], w.inner[0], w.inner[1]
			if ds == 1 && ss == 1 {
				convRun(d[do:do+m], s[so:so+m])
				return
			}
			for i := 0; i < m; i++ {
				d[do] = conv[D](s[so])
				do += ds
				so += ss
			}
		})
	})
}

// arangeInt writes start + i·step computed in int64 (wrapping) to d.
func arangeInt[T int32 | int64](d []T, start, step float64) {
	s0, st := int64(start), int64(step)
	for i := range d {
		d[i] = T(s0 + int64(i)*st)
	}
}
