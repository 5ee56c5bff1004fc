package tensor_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// checkErr checks that err is an *tensor.Error of the given kind whose
// message contains every part.
func checkErr(t *testing.T, name string, err error, kind error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", name, kind)
		return
	}
	var te *tensor.Error
	if !errors.As(err, &te) {
		t.Errorf("%s: error %T %v is not a *tensor.Error", name, err, err)
		return
	}
	if !errors.Is(err, kind) || te.Kind != kind {
		t.Errorf("%s: error %q is not %v", name, err, kind)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "tensor: ") {
		t.Errorf("%s: message %q does not start with \"tensor: \"", name, msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s: message %q does not contain %q", name, msg, p)
		}
	}
}

// TestBadInput: every misuse panics with an *Error of the right kind that
// names the operation and the shapes; the operands are unchanged and the
// library keeps working afterwards.
func TestBadInput(t *testing.T) {
	a := tensor.Array([][]float32{{1, 2, 3}, {4, 5, 6}}) // [2 3] float32
	b := tensor.Array([]float32{1, 2, 3, 4})             // [4] float32
	d := tensor.Array([][]float64{{1, 2, 3}, {4, 5, 6}}) // [2 3] float64
	s := tensor.Scalar(2)                                // 0-d float32
	m := tensor.Ones([]int{3, 4})
	snapshot := func() []string {
		return []string{a.String(), b.String(), d.String(), s.String(), m.String()}
	}
	before := snapshot()

	cases := []struct {
		name  string
		fn    func()
		kind  error
		parts []string
	}{
		// Shapes.
		{"Add broadcast", func() { a.Add(b) }, tensor.ErrShape, []string{"tensor: Add: shape mismatch", "[2 3]", "[4]", "cannot broadcast"}},
		{"Maximum broadcast", func() { a.Maximum(b) }, tensor.ErrShape, []string{"Maximum", "[2 3]", "[4]"}},
		{"Lt broadcast", func() { b.Lt(a) }, tensor.ErrShape, []string{"Lt", "[4]", "[2 3]"}},
		{"Where broadcast", func() { tensor.Where(a, a, b) }, tensor.ErrShape, []string{"Where", "[4]"}},
		{"Reshape size", func() { a.Reshape(4, 2) }, tensor.ErrShape, []string{"Reshape", "6 elements", "[4 2]", "[2 3]"}},
		{"Reshape infer", func() { a.Reshape(4, -1) }, tensor.ErrShape, []string{"Reshape", "cannot infer", "[2 3]"}},
		{"Reshape two -1", func() { a.Reshape(-1, -1) }, tensor.ErrShape, []string{"Reshape", "[-1 -1]"}},
		{"Reshape negative", func() { a.Reshape(-2, -3) }, tensor.ErrShape, []string{"Reshape"}},
		{"MatMul inner", func() { a.MatMul(a) }, tensor.ErrShape, []string{"MatMul", "inner dimensions differ: 3 and 2", "[2 3], [2 3]"}},
		{"MatMul inner vector", func() { b.MatMul(m) }, tensor.ErrShape, []string{"MatMul", "4 and 3", "shapes [4], [3 4]"}},
		{"MatMul inner vector right", func() { m.MatMul(a.Index(0)) }, tensor.ErrShape, []string{"MatMul", "4 and 3", "shapes [3 4], [3]"}},
		{"MatMul batch", func() { tensor.Zeros([]int{2, 3, 4}).MatMul(tensor.Zeros([]int{3, 4, 5})) }, tensor.ErrShape, []string{"MatMul", "batch", "[2 3 4], [3 4 5]"}},
		{"MatMul 0-d", func() { s.MatMul(a) }, tensor.ErrShape, []string{"MatMul", "0-d", "[], [2 3]"}},
		{"BroadcastTo", func() { a.BroadcastTo(3, 3) }, tensor.ErrShape, []string{"BroadcastTo", "[3 3]", "[2 3]"}},
		{"BroadcastTo fewer axes", func() { a.BroadcastTo(3) }, tensor.ErrShape, []string{"BroadcastTo"}},
		{"BroadcastTo negative", func() { s.BroadcastTo(-1) }, tensor.ErrShape, []string{"BroadcastTo"}},
		{"Squeeze non-1", func() { a.Squeeze(1) }, tensor.ErrShape, []string{"Squeeze", "axis 1 has length 3", "[2 3]"}},
		{"Concat lengths", func() { tensor.Concat([]*T{a, m}, 0) }, tensor.ErrShape, []string{"Concat", "lengths differ on axis 1", "[2 3], [3 4]"}},
		{"Concat ranks", func() { tensor.Concat([]*T{a, b}, 0) }, tensor.ErrShape, []string{"Concat", "ranks differ"}},
		{"Stack shapes", func() { tensor.Stack([]*T{a, m}, 0) }, tensor.ErrShape, []string{"Stack", "shapes differ", "[2 3], [3 4]"}},
		{"Item", func() { a.Item() }, tensor.ErrShape, []string{"Item", "6"}},
		{"Max empty", func() { tensor.Zeros([]int{0, 2}).Max(0) }, tensor.ErrShape, []string{"Max", "zero elements", "[0 2]"}},
		{"ArgMin empty axis", func() { tensor.Zeros([]int{2, 0}).ArgMin(1) }, tensor.ErrShape, []string{"ArgMin", "length 0"}},
		// DTypes.
		{"Add dtypes", func() { a.Add(d) }, tensor.ErrDType, []string{"Add", "float32, float64", "AsType"}},
		{"Mul dtypes 0-d", func() { d.Mul(s) }, tensor.ErrDType, []string{"Mul", "float64, float32"}},
		{"MatMul dtypes", func() { a.T().MatMul(d) }, tensor.ErrDType, []string{"MatMul", "float32, float64"}},
		{"Where cond dtype", func() { tensor.Where(d, a, a) }, tensor.ErrDType, []string{"Where"}},
		{"Where branch dtypes", func() { tensor.Where(a, a, d) }, tensor.ErrDType, []string{"Where"}},
		{"Concat dtypes", func() { tensor.Concat([]*T{a, d}, 0) }, tensor.ErrDType, []string{"Concat", "float32, float64"}},
		{"Stack dtypes", func() { tensor.Stack([]*T{a, d}, 0) }, tensor.ErrDType, []string{"Stack", "float32, float64"}},
		{"AsType bad", func() { a.AsType(tensor.DType(9)) }, tensor.ErrDType, []string{"AsType", "dtype(9)"}},
		{"WithDType bad", func() { tensor.Zeros([]int{1}, tensor.WithDType(tensor.DType(9))) }, tensor.ErrDType, []string{"WithDType"}},
		// Devices.
		{"To cuda", func() { a.To(device.CUDA(0)) }, tensor.ErrDevice, []string{"To", "cuda:0", "not available"}},
		{"On cuda", func() { tensor.Zeros([]int{1}, tensor.On(device.CUDA(1))) }, tensor.ErrDevice, []string{"cuda:1"}},
		{"Array on cuda", func() { tensor.Array([]float64{1}, tensor.On(device.CUDA(0))) }, tensor.ErrDevice, []string{"Array", "cuda:0"}},
		// Indices.
		{"Index high", func() { a.Index(2) }, tensor.ErrIndex, []string{"Index", "index 2", "length 2", "[2 3]"}},
		{"Index low", func() { a.Index(-3) }, tensor.ErrIndex, []string{"Index", "-3"}},
		{"Slice high", func() { a.Slice(1, 0, 4) }, tensor.ErrIndex, []string{"Slice", "[0, 4)", "length 3", "[2 3]"}},
		{"Slice reversed", func() { a.Slice(1, 2, 1) }, tensor.ErrIndex, []string{"Slice"}},
		{"Slice negative", func() { a.Slice(0, -3, 1) }, tensor.ErrIndex, []string{"Slice"}},
		// Axes.
		{"Sum axis", func() { a.Sum(2) }, tensor.ErrAxis, []string{"Sum", "axis 2 out of range for rank 2", "[2 3]"}},
		{"Mean axis negative", func() { a.Mean(-3) }, tensor.ErrAxis, []string{"Mean", "-3"}},
		{"Max repeated", func() { a.Max(0, -2) }, tensor.ErrAxis, []string{"Max", "repeated"}},
		{"Norm axis", func() { s.Norm(0) }, tensor.ErrAxis, []string{"Norm", "rank 0"}},
		{"Transpose count", func() { a.Transpose(0) }, tensor.ErrAxis, []string{"Transpose", "[0]", "rank 2"}},
		{"Transpose repeated", func() { a.Transpose(1, -1) }, tensor.ErrAxis, []string{"Transpose", "permutation"}},
		{"Transpose range", func() { a.Transpose(0, 2) }, tensor.ErrAxis, []string{"Transpose", "axis 2"}},
		{"ExpandDims", func() { a.ExpandDims(3) }, tensor.ErrAxis, []string{"ExpandDims", "axis 3", "rank 3"}},
		{"ExpandDims negative", func() { a.ExpandDims(-4) }, tensor.ErrAxis, []string{"ExpandDims"}},
		{"Squeeze axis", func() { a.Squeeze(5) }, tensor.ErrAxis, []string{"Squeeze"}},
		{"Index 0-d", func() { s.Index(0) }, tensor.ErrAxis, []string{"Index", "0-d"}},
		{"Slice axis", func() { a.Slice(2, 0, 1) }, tensor.ErrAxis, []string{"Slice"}},
		{"Concat axis", func() { tensor.Concat([]*T{a, a}, 2) }, tensor.ErrAxis, []string{"Concat"}},
		{"Concat 0-d", func() { tensor.Concat([]*T{s, s}, 0) }, tensor.ErrAxis, []string{"Concat", "0-d"}},
		{"Stack axis", func() { tensor.Stack([]*T{a, a}, 3) }, tensor.ErrAxis, []string{"Stack", "axis 3"}},
		{"ArgMax 0-d", func() { s.ArgMax(0) }, tensor.ErrAxis, []string{"ArgMax"}},
		{"ArgMax axis", func() { a.ArgMax(2) }, tensor.ErrAxis, []string{"ArgMax"}},
		// Other arguments.
		{"Concat none", func() { tensor.Concat(nil, 0) }, tensor.ErrArgument, []string{"Concat", "no tensors"}},
		{"Stack none", func() { tensor.Stack([]*T{}, 0) }, tensor.ErrArgument, []string{"Stack"}},
		{"Arange step 0", func() { tensor.Arange(0, 1, 0) }, tensor.ErrArgument, []string{"Arange", "step 0"}},
		{"AttachGrad two reqs", func() { tensor.Zeros([]int{1}).AttachGrad(tensor.GradAdd, tensor.GradWrite) }, tensor.ErrArgument, []string{"AttachGrad"}},
		{"AttachGrad bad req", func() { tensor.Zeros([]int{1}).AttachGrad(tensor.GradReq(7)) }, tensor.ErrArgument, []string{"AttachGrad"}},
		{"RunBackward no heads", func() { tensor.RunBackward(nil, nil, nil, tensor.BackwardOptions{}) }, tensor.ErrArgument, []string{"Backward", "no heads"}},
		// Autograd misuse at the tensor level (more in package autograd).
		{"Backward unrecorded", func() { a.Backward() }, tensor.ErrNotRecorded, []string{"Backward", "autograd.Record", "[2 3]"}},
		{"Backward two head grads", func() { a.Backward(a, a) }, tensor.ErrArgument, []string{"Backward", "at most one"}},
	}
	for _, c := range cases {
		err := tensor.Maybe(c.fn)
		checkErr(t, c.name, err, c.kind, c.parts...)
		if after := snapshot(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("%s: the operands changed: %v -> %v", c.name, before, after)
		}
	}
	// The library keeps working.
	expectValues(t, "after the panics", a.Add(a).Sum(0), []float64{10, 14, 18})
}

func TestErrorFormat(t *testing.T) {
	a := tensor.Zeros([]int{2, 3})
	b := tensor.Zeros([]int{4})
	err := tensor.Maybe(func() { a.Add(b) })
	want := "tensor: Add: shape mismatch: cannot broadcast: axis -1 has lengths 3 and 4 (shapes [2 3], [4]; dtypes float32, float32; devices cpu, cpu)"
	if err == nil || err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	var te *tensor.Error
	if !errors.As(err, &te) || te.Op != "Add" || len(te.Shapes) != 2 || len(te.DTypes) != 2 || len(te.Devices) != 2 || te.Err != nil {
		t.Errorf("error fields: %+v", te)
	}
	// An underlying cause is matched by errors.Is and appended to the
	// message.
	err = tensor.Maybe(func() { a.To(device.CUDA(0)) })
	if !errors.Is(err, tensor.ErrDevice) || !errors.Is(err, device.ErrUnavailable) || errors.Is(err, tensor.ErrShape) {
		t.Errorf("To(cuda:0) error %v: want ErrDevice wrapping device.ErrUnavailable", err)
	}
	if !strings.HasPrefix(err.Error(), "tensor: To: device mismatch (devices cuda:0): device: not available: cuda:0") {
		t.Errorf("To(cuda:0) message %q", err)
	}
	// Without an Op or details.
	if got := (&tensor.Error{Kind: tensor.ErrIndex}).Error(); got != "tensor: index out of range" {
		t.Errorf("bare Error() = %q", got)
	}
}

func TestMaybe(t *testing.T) {
	if err := tensor.Maybe(func() {}); err != nil {
		t.Errorf("Maybe of a fine function = %v", err)
	}
	// Anything but an *Error is re-panicked unchanged.
	for _, v := range []any{"a string", errors.New("plain error"), 42} {
		func() {
			defer func() {
				if r := recover(); r != v {
					t.Errorf("Maybe re-panicked %v, want %v", r, v)
				}
			}()
			tensor.Maybe(func() { panic(v) })
			t.Errorf("Maybe swallowed panic(%v)", v)
		}()
	}
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Error("Maybe swallowed a runtime error")
			}
		}()
		var p *T
		tensor.Maybe(func() { p.Shape() })
	}()
	// Nested: the inner Maybe catches its own error only.
	err := tensor.Maybe(func() {
		if inner := tensor.Maybe(func() { tensor.Zeros([]int{2}).Item() }); !errors.Is(inner, tensor.ErrShape) {
			t.Errorf("inner Maybe = %v", inner)
		}
		tensor.Zeros([]int{1}).Index(3)
	})
	if !errors.Is(err, tensor.ErrIndex) {
		t.Errorf("outer Maybe = %v", err)
	}
}

func TestReleased(t *testing.T) {
	x := tensor.Array([]float64{1, 2, 3})
	y := tensor.Array([]float64{4, 5, 6})
	x.Release()
	x.Release() // twice is fine
	for name, fn := range map[string]func(){
		"Exp":         func() { x.Exp() },
		"Add":         func() { y.Add(x) },
		"AddScalar":   func() { x.AddScalar(1) },
		"Item":        func() { x.Sum() },
		"Float64s":    func() { x.Float64s() },
		"Float32s":    func() { x.Float32s() },
		"Reshape":     func() { x.Reshape(3, 1) },
		"Transpose":   func() { x.Transpose() },
		"Index":       func() { x.Index(0) },
		"Slice":       func() { x.Slice(0, 0, 1) },
		"Clone":       func() { x.Clone() },
		"Detach":      func() { x.Detach() },
		"AsType":      func() { x.AsType(tensor.Float32) },
		"MatMul":      func() { x.MatMul(y) },
		"AttachGrad":  func() { x.AttachGrad() },
		"BroadcastTo": func() { x.BroadcastTo(2, 3) },
		"Concat":      func() { tensor.Concat([]*T{y, x}, 0) },
	} {
		checkErr(t, "released "+name, tensor.Maybe(fn), tensor.ErrReleased, "released")
	}
	expectValues(t, "other tensors keep working", y.MulScalar(2), []float64{8, 10, 12})
	// A tensor whose buffer is shared with a view is not released.
	z := tensor.Array([]float64{1, 2})
	v := z.Reshape(2, 1)
	z.Release()
	expectValues(t, "Release of a shared buffer is a no-op (tensor)", z, []float64{1, 2})
	expectValues(t, "Release of a shared buffer is a no-op (view)", v, []float64{1, 2})
	w := tensor.Array([]float64{1, 2})
	dw := w.Detach()
	dw.Release()
	expectValues(t, "Release of a detached view", w, []float64{1, 2})
	// Large buffers (which go back to the backend's cache) too.
	big := tensor.Ones([]int{1 << 15})
	big.Release()
	checkErr(t, "released big", tensor.Maybe(func() { big.Sum() }), tensor.ErrReleased, "Sum")
	again := tensor.Full(2, []int{1 << 15})
	if got := again.Sum().Item(); got != 2<<15 {
		t.Errorf("a buffer reused after Release sums to %v", got)
	}
}

// TestMixedDTypeConvention: mixed float32/float64 operands are an error,
// not a promotion; AsType converts explicitly.
func TestMixedDTypeConvention(t *testing.T) {
	a := tensor.Ones([]int{2})
	b := tensor.Ones([]int{2}, tensor.WithDType(tensor.Float64))
	for name, fn := range map[string]func(){
		"Add": func() { a.Add(b) }, "Sub": func() { b.Sub(a) }, "Div": func() { a.Div(b) }, "Pow": func() { a.Pow(b) },
		"Eq": func() { a.Eq(b) }, "Minimum": func() { b.Minimum(a) }, "MatMul": func() { a.MatMul(b) },
	} {
		checkErr(t, name, tensor.Maybe(fn), tensor.ErrDType, name)
	}
	if got := a.AsType(tensor.Float64).Add(b); got.DType() != tensor.Float64 || got.Sum().Item() != 4 {
		t.Errorf("AsType then Add: %v %v", got.DType(), got)
	}
	// Backward rejects a head gradient of another dtype.
	x := tensor.Ones([]int{2})
	x.AttachGrad()
	var y *T
	autograd.Record(func() { y = x.MulScalar(2) })
	checkErr(t, "head grad dtype", tensor.Maybe(func() { y.Backward(b) }), tensor.ErrDType, "Backward", "head gradient dtype")
	y.Backward(tensor.Ones([]int{2}))
	expectValues(t, "gradient after the rejected pass", x.Grad(), []float64{2, 2})
}
