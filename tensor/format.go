package tensor

import (
	"math"
	"strconv"
	"strings"
)

// Printing follows NumPy: nested brackets, one column width for the whole
// tensor, numbers in the shortest form with up to six significant digits
// (4, 1895.89, 1e-05), and long axes summarised with "..." showing their
// first and last three entries.

const (
	summariseAbove = 1000 // print tensors of more elements in summary
	edgeItems      = 3
)

// String formats the tensor's values like NumPy; a 0-d tensor prints as its
// number. It synchronises with the device.
func (t *Tensor) String() string {
	if t.st.buf == nil {
		return "<released tensor " + strconv.Quote(shapeString(t.shape)) + ">"
	}
	var vals []float64
	var ints []int64
	if t.st.dt.IsInt() {
		ints = t.Int64s()
		vals = make([]float64, len(ints)) // for the indexing below only
	} else {
		vals = t.Float64s()
	}
	bits := 32
	if t.st.dt == Float64 {
		bits = 64
	}
	format := func(i int) string {
		if ints != nil {
			return strconv.FormatInt(ints[i], 10)
		}
		return formatNumber(vals[i], bits)
	}
	if len(t.shape) == 0 {
		return format(0)
	}
	summary := len(vals) > summariseAbove
	// Format the shown elements first to find the column width.
	strs := make([]string, len(vals))
	width := 0
	forShown(t.shape, summary, func(i int) {
		strs[i] = format(i)
		width = max(width, len(strs[i]))
	})
	var b strings.Builder
	var rec func(dim, off, stride int, indent string)
	rec = func(dim, off, stride int, indent string) {
		n := t.shape[dim]
		inner := stride / max(n, 1)
		if n == 0 {
			inner = 0
		}
		b.WriteByte('[')
		for j := 0; j < n; j++ {
			if summary && n > 2*edgeItems && j == edgeItems {
				if dim == len(t.shape)-1 {
					b.WriteString("...")
					b.WriteByte(' ')
				} else {
					b.WriteString("...\n" + indent + " ")
				}
				j = n - edgeItems
			}
			if dim == len(t.shape)-1 {
				s := strs[off+j]
				b.WriteString(strings.Repeat(" ", width-len(s)))
				b.WriteString(s)
				if j < n-1 {
					b.WriteByte(' ')
				}
				continue
			}
			rec(dim+1, off+j*inner, inner, indent+" ")
			if j < n-1 {
				b.WriteString(strings.Repeat("\n", len(t.shape)-dim-1))
				b.WriteString(indent + " ")
			}
		}
		b.WriteByte(']')
	}
	rec(0, 0, len(vals), "")
	return b.String()
}

// forShown calls fn with the flat index of every element that printing
// shows.
func forShown(shape []int, summary bool, fn func(i int)) {
	var rec func(dim, off int)
	rec = func(dim, off int) {
		if dim == len(shape) {
			fn(off)
			return
		}
		inner := 1
		for _, d := range shape[dim+1:] {
			inner *= d
		}
		n := shape[dim]
		for j := 0; j < n; j++ {
			if summary && n > 2*edgeItems && j == edgeItems {
				j = n - edgeItems
			}
			rec(dim+1, off+j*inner)
		}
	}
	rec(0, 0)
}

// formatNumber writes v with up to six significant digits in the shortest
// form, NumPy's nan and inf for the special values.
func formatNumber(v float64, bits int) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(v, 'g', 6, bits)
	if strings.Contains(s, "e") {
		// 1e-05 as NumPy writes it; strconv already gives two exponent digits.
		return s
	}
	return s
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
