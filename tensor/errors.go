package tensor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tapegrad/tapegrad/device"
)

// The kinds of error that operations panic with, wrapped in an [*Error].
// Test for them with errors.Is.
var (
	// ErrShape: operand shapes do not fit the operation (broadcasting,
	// reshaping to another size, ragged input, a non-scalar where one element
	// is needed, a head gradient of another shape).
	ErrShape = errors.New("shape mismatch")
	// ErrDType: operand dtypes differ, or a value of an unsupported type.
	ErrDType = errors.New("dtype mismatch")
	// ErrDevice: operands live on different devices, or a device is not
	// available.
	ErrDevice = errors.New("device mismatch")
	// ErrIndex: an index or range is out of bounds.
	ErrIndex = errors.New("index out of range")
	// ErrAxis: an axis is out of range or repeated.
	ErrAxis = errors.New("axis out of range")
	// ErrNotRecorded: Backward or Grad from a tensor that no recorded
	// operation produced and that has no gradient attached, or with respect
	// to a tensor that is not part of the graph.
	ErrNotRecorded = errors.New("not recorded")
	// ErrGraphFreed: a backward pass through a graph that an earlier backward
	// pass freed (pass RetainGraph to keep it).
	ErrGraphFreed = errors.New("graph already freed by a backward pass")
	// ErrModified: an input of a recorded operation was modified in place
	// (by an optimiser step or Assign) before the backward pass reached it.
	ErrModified = errors.New("modified in place after being recorded")
	// ErrAnomaly: anomaly detection found a NaN or an infinity.
	ErrAnomaly = errors.New("non-finite value (anomaly detection)")
	// ErrReleased: use of a tensor after Release.
	ErrReleased = errors.New("tensor released")
	// ErrOutOfMemory: a device could not allocate a buffer.
	ErrOutOfMemory = errors.New("out of memory")
	// ErrBackend: a backend reported a failure (for CUDA, an error of
	// earlier asynchronous work surfacing at a synchronisation).
	ErrBackend = errors.New("backend failure")
	// ErrArgument: any other invalid argument (a negative size, a zero
	// step, a bad option).
	ErrArgument = errors.New("invalid argument")
)

// Error describes caller misuse or a device failure. Operations panic with
// an *Error (the convention of gonum's mat package); [Maybe] turns such
// panics into returned errors. Programming errors inside tapegrad panic with
// other values and are not caught by Maybe.
type Error struct {
	Kind    error           // one of the Err* values above
	Op      string          // the operation, e.g. "Mul" or "Backward"
	Shapes  [][]int         // operand shapes, where relevant
	DTypes  []DType         // operand dtypes, where relevant
	Devices []device.Device // operand devices, where relevant
	Detail  string          // what exactly is wrong
	Err     error           // an underlying cause, if any
}

// Error formats the error as "tensor: Op: kind: detail (shapes ..., ...)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tensor: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	var parts []string
	if len(e.Shapes) > 0 {
		s := make([]string, len(e.Shapes))
		for i, sh := range e.Shapes {
			s[i] = fmt.Sprint(sh)
		}
		parts = append(parts, "shapes "+strings.Join(s, ", "))
	}
	if len(e.DTypes) > 0 {
		s := make([]string, len(e.DTypes))
		for i, d := range e.DTypes {
			s[i] = d.String()
		}
		parts = append(parts, "dtypes "+strings.Join(s, ", "))
	}
	if len(e.Devices) > 0 {
		s := make([]string, len(e.Devices))
		for i, d := range e.Devices {
			s[i] = d.String()
		}
		parts = append(parts, "devices "+strings.Join(s, ", "))
	}
	if len(parts) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(parts, "; "))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the underlying cause, so that errors.Is
// matches both.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Maybe calls fn and returns the *Error it panics with, if any. Panics with
// any other value (bugs) are not recovered.
func Maybe(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(*Error); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

func fail(kind error, op, detail string, ts ...*Tensor) {
	e := &Error{Kind: kind, Op: op, Detail: detail}
	for _, t := range ts {
		if t == nil || t.st == nil {
			continue
		}
		e.Shapes = append(e.Shapes, t.Shape())
		e.DTypes = append(e.DTypes, t.st.dt)
		e.Devices = append(e.Devices, t.st.dev)
	}
	panic(e)
}

func failf(kind error, op string, ts []*Tensor, format string, args ...any) {
	fail(kind, op, fmt.Sprintf(format, args...), ts...)
}

// backendError is the *Error for err, a failure a backend reported to op
// (a host read or a transfer) on devs. A bad index or label that a
// device's kernel found (a *device.IndexError: on CUDA it surfaces at the
// next synchronisation, not at the operation that read it) becomes an
// ErrIndex (out of range) or ErrArgument (not an integer) of the operation
// that read it, as the CPU reports at the operation; anything else is
// ErrBackend.
func backendError(op string, err error, devs ...device.Device) *Error {
	var ie *device.IndexError
	if !errors.As(err, &ie) {
		return &Error{Kind: ErrBackend, Op: op, Devices: devs, Err: err}
	}
	kind, what := ErrIndex, "label"
	var detail string
	switch ie.Op {
	case device.IndexGather, device.IndexScatterAdd:
		what = "index"
	}
	switch {
	case ie.NotInteger:
		kind = ErrArgument
		detail = fmt.Sprintf("%s %d is %s, not a class index", what, ie.Pos, ie.ValueString())
	case what == "index":
		detail = fmt.Sprintf("index %s (at flat position %d) is outside [0, %d)", ie.ValueString(), ie.Pos, ie.Bound)
	default:
		detail = fmt.Sprintf("label %d is %s, outside the %d classes [0, %d)", ie.Pos, ie.ValueString(), ie.Bound, ie.Bound)
	}
	name := indexOpNames[ie.Op]
	if name == "" {
		name = ie.Op.String()
	}
	detail += fmt.Sprintf("; found by the %v kernel on %v, reported at the next synchronisation (%s)", ie.Op, ie.Device, op)
	return &Error{Kind: kind, Op: name, Devices: []device.Device{ie.Device}, Detail: detail, Err: err}
}

// indexOpNames are the operations of package tensor that launch each
// device.IndexOp's kernel.
var indexOpNames = map[device.IndexOp]string{
	device.IndexSoftmaxCE:     "SoftmaxCrossEntropy",
	device.IndexSoftmaxCEGrad: "SoftmaxCrossEntropy (backward)",
	device.IndexGather:        "IndexSelect, Take or Gather",
	device.IndexScatterAdd:    "IndexSelect, Take or Gather (backward)",
	device.IndexOneHot:        "OneHot",
	device.IndexLabels:        "CheckLabels (package nn's NLL and label-smoothed cross-entropy)",
}
