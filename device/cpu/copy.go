package cpu

import (
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/parallel"
)

// Copy writes src (layout sl) to the positions dl of dst, converting dtype.
func (be *Backend) Copy(dst device.Buffer, dl device.Layout, src device.Buffer, sl device.Layout) {
	d, s := buf(dst), buf(src)
	if d.dt.IsHalf() || s.dt.IsHalf() {
		copyHalf(d, dl, s, sl)
		return
	}
	if d.dt.IsInt() || s.dt.IsInt() {
		copyInts(d, dl, s, sl)
		return
	}
	switch {
	case d.dt == device.Float32 && s.dt == device.Float32:
		copyStrided(d.f32, dl, s.f32, sl)
	case d.dt == device.Float64 && s.dt == device.Float64:
		copyStrided(d.f64, dl, s.f64, sl)
	case d.dt == device.Float32:
		copyStrided(d.f32, dl, s.f64, sl)
	default:
		copyStrided(d.f64, dl, s.f32, sl)
	}
}

func copyStrided[D, S float](d []D, dl device.Layout, s []S, sl device.Layout) {
	n := sl.Size()
	if n == 0 {
		return
	}
	if dl.IsContiguous() && sl.IsContiguous() {
		dd, ss := d[dl.Offset:dl.Offset+n], s[sl.Offset:sl.Offset+n]
		st := storesFor[D](n)
		parallel.For(n, grain, func(lo, hi int) { convertCopy(dd[lo:hi], ss[lo:hi], st) })
		return
	}
	w := newWalker(dl, sl)
	st, fence := deferFence(storesFor[D](n))
	parallel.For(n, grain, func(lo, hi int) {
		defer fence()
		w.walk(lo, hi, n, func(_ int, offs []int, m int) {
			do, so, ds, ss := offs[0], offs[1], w.inner[0], w.inner[1]
			if ds == 1 && ss == 1 {
				convertCopy(d[do:do+m], s[so:so+m], st)
				return
			}
			for i := 0; i < m; i++ {
				d[do] = D(s[so])
				do += ds
				so += ss
			}
		})
	})
}

// convertCopy copies s to d, using the built-in copy when the types agree
// and the assembly kernels where there are (writing d as st says).
func convertCopy[D, S float](d []D, s []S, st stores) {
	switch dd := any(d).(type) {
	case []float32:
		if ss, ok := any(s).([]float32); ok {
			copy(dd, ss)
			return
		}
	case []float64:
		if ss, ok := any(s).([]float64); ok {
			copy(dd, ss)
			return
		}
	}
	s = s[:len(d)]
	if useSIMD && simdConvert(d, s, st) {
		return
	}
	for i, v := range s {
		d[i] = D(v)
	}
}

// Fill sets the positions dl of dst to v.
func (be *Backend) Fill(dst device.Buffer, dl device.Layout, v float64) {
	switch b := buf(dst); b.dt {
	case device.Float64:
		fill(b.f64, dl, v)
	case device.Int32:
		fill(b.i32, dl, device.FloatToInt32(v))
	case device.Int64:
		fill(b.i64, dl, device.FloatToInt64(v))
	case device.BFloat16, device.Float16:
		fill(b.u16, dl, device.HalfFromFloat64(b.dt, v))
	default:
		fill(b.f32, dl, float32(v))
	}
}

func fill[T elem | uint16](d []T, dl device.Layout, v T) {
	n := dl.Size()
	if n == 0 {
		return
	}
	if dl.IsContiguous() {
		dd := d[dl.Offset : dl.Offset+n]
		parallel.For(n, grain, func(lo, hi int) {
			x := dd[lo:hi]
			for i := range x {
				x[i] = v
			}
		})
		return
	}
	w := newWalker(dl)
	parallel.For(n, grain, func(lo, hi int) {
		w.walk(lo, hi, n, func(_ int, offs []int, m int) {
			o, st := offs[0], w.inner[0]
			for i := 0; i < m; i++ {
				d[o] = v
				o += st
			}
		})
	})
}

// Arange writes start + i*step to dst[i] for i < n.
func (be *Backend) Arange(dst device.Buffer, n int, start, step float64) {
	switch b := buf(dst); b.dt {
	case device.Int32:
		arangeInt(b.i32[:n], start, step)
		return
	case device.Int64:
		arangeInt(b.i64[:n], start, step)
		return
	}
	if buf(dst).dt == device.Float64 {
		d := buf(dst).f64[:n]
		for i := range d {
			d[i] = start + float64(i)*step
		}
		return
	}
	d := buf(dst).f32[:n]
	for i := range d {
		d[i] = float32(start + float64(i)*step)
	}
}

// Random fills dst[0:n] from the Philox stream of device.RandomSpec.
func (be *Backend) Random(dst device.Buffer, n int, dist device.Dist, seed, counter uint64, a, b float64) {
	// Chunks start at multiples of 4 elements so each block is computed once.
	const chunk = 1 << 14
	if buf(dst).dt == device.Float64 {
		d := buf(dst).f64[:n]
		parallel.Chunks((n+chunk-1)/chunk, func(c int) {
			lo, hi := c*chunk, min((c+1)*chunk, n)
			device.RandomFloat64(d[lo:hi], lo, dist, seed, counter, a, b)
		})
		return
	}
	d := buf(dst).f32[:n]
	parallel.Chunks((n+chunk-1)/chunk, func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, n)
		device.RandomFloat32(d[lo:hi], lo, dist, seed, counter, a, b)
	})
}
