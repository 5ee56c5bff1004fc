package device

import (
	"fmt"
	"strconv"
)

// DType is an element type.
type DType uint8

// The element types. The integer types hold indices, labels and counts:
// backends store, copy, convert, fill and range them, and take them as
// indices; arithmetic is defined on the floating-point types only.
//
// BFloat16 and Float16 are the 16-bit storage types of mixed precision
// (see half.go for their formats and conversions). They are floating-point
// types: every operation accepts them, but backends need only store, copy,
// convert and fill them; [WithHalf] runs every other method of a backend
// on float32 copies of the half buffers and rounds the results back. The
// values of the constants are stable (they may be serialized): new types
// are appended.
const (
	Float32 DType = iota
	Float64
	Int32
	Int64
	BFloat16
	Float16
	numDTypes
)

// NumDTypes is the number of element types.
const NumDTypes = int(numDTypes)

// Size returns the size of one element in bytes.
func (t DType) Size() int {
	switch t {
	case Float64, Int64:
		return 8
	case BFloat16, Float16:
		return 2
	}
	return 4
}

// IsFloat reports whether t is a floating-point type: Float32, Float64,
// BFloat16 or Float16.
func (t DType) IsFloat() bool { return t == Float32 || t == Float64 || t.IsHalf() }

// IsHalf reports whether t is one of the 16-bit floating-point types,
// BFloat16 and Float16, whose arithmetic runs in float32.
func (t DType) IsHalf() bool { return t == BFloat16 || t == Float16 }

// Compute returns the dtype that arithmetic on t runs in: Float32 for the
// half types, t itself otherwise.
func (t DType) Compute() DType {
	if t.IsHalf() {
		return Float32
	}
	return t
}

// IsInt reports whether t is an integer type.
func (t DType) IsInt() bool { return t == Int32 || t == Int64 }

// Valid reports whether t is one of the element types.
func (t DType) Valid() bool { return t < numDTypes }

// String returns "float32", "float64", "int32", "int64", "bfloat16" or
// "float16".
func (t DType) String() string {
	switch t {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case BFloat16:
		return "bfloat16"
	case Float16:
		return "float16"
	}
	return "dtype(" + strconv.Itoa(int(t)) + ")"
}

// Layout says where the elements of an n-dimensional view sit in a flat
// buffer: element (i0, i1, ...) is at Offset + i0*Strides[0] + i1*Strides[1] + ...
// Strides and Offset count elements, not bytes. A stride of 0 repeats an
// element along that axis (broadcasting). Layouts never alias the Shape and
// Strides slices they are given to a backend that keeps them.
type Layout struct {
	Shape   []int
	Strides []int
	Offset  int
}

// Contiguous returns the row-major (C order) layout of shape at offset 0.
func Contiguous(shape []int) Layout {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return Layout{Shape: shape, Strides: st}
}

// NumElements returns the product of the shape (1 for a 0-d shape).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Size returns the number of elements the layout addresses.
func (l Layout) Size() int { return NumElements(l.Shape) }

// IsContiguous reports whether the layout is row-major contiguous (its
// elements are Offset, Offset+1, ... in order). Axes of length 1 may have any
// stride.
func (l Layout) IsContiguous() bool {
	s := 1
	for i := len(l.Shape) - 1; i >= 0; i-- {
		if l.Shape[i] == 1 {
			continue
		}
		if l.Strides[i] != s {
			return false
		}
		s *= l.Shape[i]
	}
	return true
}

// IsScalarBroadcast reports whether every element of the layout is the same
// buffer element (all strides of non-unit axes are zero).
func (l Layout) IsScalarBroadcast() bool {
	for i, d := range l.Shape {
		if d != 1 && l.Strides[i] != 0 {
			return false
		}
	}
	return true
}

// Span returns the smallest and largest buffer index the layout touches
// (for a non-empty layout); it is used to check that views stay inside their
// buffers.
func (l Layout) Span() (lo, hi int) {
	lo, hi = l.Offset, l.Offset
	for i, d := range l.Shape {
		if d == 0 {
			return l.Offset, l.Offset - 1
		}
		ext := (d - 1) * l.Strides[i]
		if ext < 0 {
			lo += ext
		} else {
			hi += ext
		}
	}
	return lo, hi
}

// String formats the layout for error messages.
func (l Layout) String() string {
	return fmt.Sprintf("shape %v strides %v offset %d", l.Shape, l.Strides, l.Offset)
}

// Coalesce merges adjacent axes that can be walked as one in every layout
// (the stride of the outer axis equals the inner stride times the inner
// length, in all layouts at once) and drops axes of length 1. All layouts
// must have the same shape. It returns the merged shape and one stride list
// per layout; offsets are unchanged. A 0-d or all-ones shape coalesces to
// shape [1]. Coalescing keeps the row-major visiting order.
func Coalesce(shape []int, strides ...[]int) ([]int, [][]int) {
	outShape := make([]int, 0, len(shape)+1)
	outStrides := make([][]int, len(strides))
	for k := range strides {
		outStrides[k] = make([]int, 0, len(shape)+1)
	}
	for i := 0; i < len(shape); i++ {
		d := shape[i]
		if d == 1 {
			continue
		}
		n := len(outShape)
		if n > 0 {
			merge := true
			for k := range strides {
				if outStrides[k][n-1] != strides[k][i]*d {
					merge = false
					break
				}
			}
			if merge {
				outShape[n-1] *= d
				for k := range strides {
					outStrides[k][n-1] = strides[k][i]
				}
				continue
			}
		}
		outShape = append(outShape, d)
		for k := range strides {
			outStrides[k] = append(outStrides[k], strides[k][i])
		}
	}
	if len(outShape) == 0 {
		outShape = append(outShape, 1)
		for k := range strides {
			outStrides[k] = append(outStrides[k], 0)
		}
	}
	return outShape, outStrides
}

// MatLayout describes a batch of matrices inside a buffer: matrix b, row r,
// column c is at Offset + b*BatchStride + r*RowStride + c*ColStride.
// BatchStride 0 repeats one matrix for every batch entry.
type MatLayout struct {
	Offset      int
	BatchStride int
	RowStride   int
	ColStride   int
}

// SplitAxes separates a layout into the part that a reduction over axes
// keeps and the part it reduces, each with its axes merged by [Coalesce].
// The kept part carries l's offset; the reduced part has offset 0.
func SplitAxes(l Layout, axes []int) (keep, red Layout) {
	isRed := make([]bool, len(l.Shape))
	for _, a := range axes {
		isRed[a] = true
	}
	var ks, kst, rs, rst []int
	for i, d := range l.Shape {
		if isRed[i] {
			rs, rst = append(rs, d), append(rst, l.Strides[i])
		} else {
			ks, kst = append(ks, d), append(kst, l.Strides[i])
		}
	}
	kshape, kstr := Coalesce(ks, kst)
	rshape, rstr := Coalesce(rs, rst)
	return Layout{Shape: kshape, Strides: kstr[0], Offset: l.Offset},
		Layout{Shape: rshape, Strides: rstr[0]}
}
