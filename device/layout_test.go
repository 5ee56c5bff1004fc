package device_test

import (
	"reflect"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

func TestContiguousAndNumElements(t *testing.T) {
	cases := []struct {
		shape, strides []int
		n              int
	}{
		{nil, []int{}, 1},
		{[]int{5}, []int{1}, 5},
		{[]int{2, 3, 4}, []int{12, 4, 1}, 24},
		{[]int{2, 0, 3}, []int{0, 3, 1}, 0},
		{[]int{1, 1}, []int{1, 1}, 1},
	}
	for _, c := range cases {
		l := device.Contiguous(c.shape)
		if !reflect.DeepEqual(l.Strides, c.strides) || l.Offset != 0 {
			t.Errorf("Contiguous(%v) = %v, want strides %v", c.shape, l, c.strides)
		}
		if n := device.NumElements(c.shape); n != c.n || l.Size() != c.n {
			t.Errorf("NumElements(%v) = %d, Size %d, want %d", c.shape, n, l.Size(), c.n)
		}
		if !l.IsContiguous() {
			t.Errorf("Contiguous(%v) is not IsContiguous", c.shape)
		}
	}
}

func TestLayoutPredicates(t *testing.T) {
	cases := []struct {
		name       string
		l          device.Layout
		contiguous bool
		scalar     bool
		lo, hi     int
	}{
		{"0-d", device.Layout{Offset: 3}, true, true, 3, 3},
		{"dense", device.Layout{Shape: []int{2, 3}, Strides: []int{3, 1}, Offset: 2}, true, false, 2, 7},
		{"transposed", device.Layout{Shape: []int{3, 2}, Strides: []int{1, 3}}, false, false, 0, 5},
		{"unit axis any stride", device.Layout{Shape: []int{2, 1, 3}, Strides: []int{3, 99, 1}}, true, false, 0, 5},
		{"broadcast row", device.Layout{Shape: []int{4, 3}, Strides: []int{0, 1}, Offset: 1}, false, false, 1, 3},
		{"broadcast all", device.Layout{Shape: []int{4, 3}, Strides: []int{0, 0}, Offset: 5}, false, true, 5, 5},
		{"all ones", device.Layout{Shape: []int{1, 1}, Strides: []int{7, 9}}, true, true, 0, 0},
		{"sliced rows", device.Layout{Shape: []int{2, 2}, Strides: []int{4, 1}, Offset: 1}, false, false, 1, 6},
		{"strided", device.Layout{Shape: []int{3}, Strides: []int{2}}, false, false, 0, 4},
		{"negative stride", device.Layout{Shape: []int{3}, Strides: []int{-1}, Offset: 2}, false, false, 0, 2},
	}
	for _, c := range cases {
		if got := c.l.IsContiguous(); got != c.contiguous {
			t.Errorf("%s: IsContiguous = %v, want %v", c.name, got, c.contiguous)
		}
		if got := c.l.IsScalarBroadcast(); got != c.scalar {
			t.Errorf("%s: IsScalarBroadcast = %v, want %v", c.name, got, c.scalar)
		}
		if lo, hi := c.l.Span(); lo != c.lo || hi != c.hi {
			t.Errorf("%s: Span = %d, %d, want %d, %d", c.name, lo, hi, c.lo, c.hi)
		}
	}
	// An empty layout spans nothing: hi < lo.
	for _, l := range []device.Layout{
		{Shape: []int{0}, Strides: []int{1}, Offset: 4},
		{Shape: []int{3, 0}, Strides: []int{5, 1}, Offset: 4},
	} {
		if lo, hi := l.Span(); hi >= lo {
			t.Errorf("Span of empty %v = %d, %d; want hi < lo", l, lo, hi)
		}
	}
	if s := (device.Layout{Shape: []int{2}, Strides: []int{1}, Offset: 3}).String(); s != "shape [2] strides [1] offset 3" {
		t.Errorf("Layout.String = %q", s)
	}
}

func TestCoalesce(t *testing.T) {
	cases := []struct {
		name    string
		shape   []int
		strides [][]int
		want    []int
		wantSt  [][]int
	}{
		{"dense merges", []int{2, 3, 4}, [][]int{{12, 4, 1}}, []int{24}, [][]int{{1}}},
		{"0-d", nil, [][]int{{}}, []int{1}, [][]int{{0}}},
		{"all ones", []int{1, 1}, [][]int{{5, 6}, {0, 0}}, []int{1}, [][]int{{0}, {0}}},
		{"transposed stays", []int{3, 2}, [][]int{{1, 3}}, []int{3, 2}, [][]int{{1, 3}}},
		{"unit axes dropped", []int{2, 1, 3}, [][]int{{3, 100, 1}}, []int{6}, [][]int{{1}}},
		{"broadcast merges with broadcast", []int{2, 3}, [][]int{{3, 1}, {0, 0}}, []int{6}, [][]int{{1}, {0}}},
		{"row broadcast does not merge", []int{2, 3}, [][]int{{3, 1}, {0, 1}}, []int{2, 3}, [][]int{{3, 1}, {0, 1}}},
		{"partial merge", []int{2, 3, 4}, [][]int{{24, 4, 1}, {12, 4, 1}}, []int{2, 12}, [][]int{{24, 1}, {12, 1}}},
		{"sliced inner", []int{4, 2}, [][]int{{5, 1}}, []int{4, 2}, [][]int{{5, 1}}},
		{"zero-length axis kept", []int{2, 0}, [][]int{{0, 1}}, []int{0}, [][]int{{1}}},
	}
	for _, c := range cases {
		got, st := device.Coalesce(c.shape, c.strides...)
		if !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(st, c.wantSt) {
			t.Errorf("%s: Coalesce(%v, %v) = %v, %v; want %v, %v", c.name, c.shape, c.strides, got, st, c.want, c.wantSt)
		}
	}
	// Coalescing keeps the row-major visiting order: the visited offsets
	// are the same before and after, for random layouts.
	shapes := [][]int{{2, 3, 4}, {1, 5, 1, 2}, {3, 1, 3}, {2, 2, 2, 2}}
	for _, shape := range shapes {
		for variant := 0; variant < 4; variant++ {
			st := device.Contiguous(shape).Strides
			st2 := append([]int(nil), st...)
			switch variant {
			case 1: // transpose the first two axes' strides
				st2[0], st2[1] = st2[1], st2[0]
			case 2: // broadcast axis 0
				st2[0] = 0
			case 3: // every stride doubled (a strided view)
				for i := range st2 {
					st2[i] *= 2
				}
			}
			ns, nst := device.Coalesce(shape, st, st2)
			for k, strides := range [][]int{st, st2} {
				want := offsets(shape, strides)
				got := offsets(ns, nst[k])
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Coalesce(%v, %v) -> %v %v changes the order: %v vs %v", shape, strides, ns, nst[k], got, want)
				}
			}
		}
	}
}

// offsets lists the buffer offsets a layout visits in row-major order.
func offsets(shape, strides []int) []int {
	var out []int
	var rec func(d, off int)
	rec = func(d, off int) {
		if d == len(shape) {
			out = append(out, off)
			return
		}
		for i := 0; i < shape[d]; i++ {
			rec(d+1, off+i*strides[d])
		}
	}
	rec(0, 0)
	return out
}
