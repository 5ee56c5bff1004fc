package device

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadIndex is wrapped by the errors of backends that found, on the
// device, an index or a label that is out of range or not an integer:
// [*IndexError] unwraps to it. (Not [ErrIndex], which is about device
// numbers.)
var ErrBadIndex = errors.New("device: bad index or label")

// IndexOp says which backend operation found a bad index or label.
type IndexOp uint8

// The operations that check indices or labels on the device.
const (
	IndexSoftmaxCE     IndexOp = iota + 1 // Backend.SoftmaxCE's labels
	IndexSoftmaxCEGrad                    // Backend.SoftmaxCEGrad's labels
	IndexGather                           // Backend.Gather's indices
	IndexScatterAdd                       // Backend.ScatterAdd's indices
	IndexOneHot                           // labels of a one-hot encoding, by IndexChecker.CheckIndices
	IndexLabels                           // other labels or indices, by IndexChecker.CheckIndices
)

var indexOpNames = [...]string{"", "SoftmaxCE", "SoftmaxCEGrad", "Gather", "ScatterAdd", "OneHot", "CheckIndices"}

// String returns the operation's name, e.g. "SoftmaxCE".
func (op IndexOp) String() string {
	if int(op) < len(indexOpNames) && op != 0 {
		return indexOpNames[op]
	}
	return "IndexOp(" + strconv.Itoa(int(op)) + ")"
}

// IndexError describes a bad index or label that a kernel found. A
// backend reports it, from a record the kernel wrote, at its next
// synchronisation (Download, Synchronize), not at the operation: the
// operation's outputs are NaN where they depend on the bad value.
type IndexError struct {
	Device     Device
	Op         IndexOp
	NotInteger bool    // a float label that is fractional, NaN or infinite (else: outside [0, Bound))
	Pos        int64   // flat position of the value in its (dense) operand
	Bound      int64   // valid values are the integers in [0, Bound)
	IsInt      bool    // the operand is of an integer dtype: Int holds the value exactly
	Int        int64   // the value, if IsInt
	Value      float64 // the value (as float64)
}

// ValueString formats the offending value: the integer, or the float.
func (e *IndexError) ValueString() string {
	if e.IsInt {
		return strconv.FormatInt(e.Int, 10)
	}
	return strconv.FormatFloat(e.Value, 'g', -1, 64)
}

// Error formats e, e.g. "device: bad index or label: cuda:0: Gather: the
// value at flat position 3 is 7, outside [0, 5)".
func (e *IndexError) Error() string {
	what := fmt.Sprintf("outside [0, %d)", e.Bound)
	if e.NotInteger {
		what = "not an integer"
	}
	return fmt.Sprintf("%v: %v: %v: the value at flat position %d is %s, %s", ErrBadIndex, e.Device, e.Op, e.Pos, e.ValueString(), what)
}

// Unwrap returns [ErrBadIndex].
func (e *IndexError) Unwrap() error { return ErrBadIndex }

// IndexChecker is implemented by backends that check indices and labels
// on the device instead of having the caller copy them to the host first
// (package tensor asks [Unwrap] of its backend). Such a backend checks, in
// SoftmaxCE, SoftmaxCEGrad, Gather and ScatterAdd, every label and index
// those read: a label must be an integer in [0, c), an index in [0, n) of
// its axis. A bad one gives NaN outputs where it is used (a Gather of an
// integer dtype writes 0; ScatterAdd leaves its term out) and an
// [*IndexError] from the backend's next Download or Synchronize, which
// also clears it; when several are bad, which one is reported is
// unspecified.
type IndexChecker interface {
	// CheckIndices checks the n elements from offset of the dense buffer
	// idx (Float32, Float64, Int32 or Int64): each must be an integer in
	// [0, bound). It enqueues the check and returns; a bad value is
	// reported, as op's, as above.
	CheckIndices(op IndexOp, idx Buffer, offset, n, bound int)
}
