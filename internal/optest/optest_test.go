package optest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/optable"
	"github.com/tapegrad/tapegrad/tensor"
)

// recorder is a testing.TB that records the errors a runner reports
// instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// expectFailure runs check on a recorder and fails unless it reported an
// error containing want.
func expectFailure(t *testing.T, name, want string, check func(tb testing.TB)) {
	t.Helper()
	r := &recorder{TB: t}
	check(r)
	for _, e := range r.errs {
		if strings.Contains(e, want) {
			return
		}
	}
	t.Errorf("%s: want an error containing %q, got %q", name, want, r.errs)
}

// expectSuccess runs check on a recorder and fails if it reported errors.
func expectSuccess(t *testing.T, name string, check func(tb testing.TB)) {
	t.Helper()
	r := &recorder{TB: t}
	check(r)
	if len(r.errs) > 0 {
		t.Errorf("%s: unexpected errors %q", name, r.errs)
	}
}

// square is x² with a backward rule that may be wrong.
func square(backward func(ctx *tensor.FunctionContext, g *T) []*T) func(xs []*T) *T {
	f := &tensor.Function{
		Name:     "square",
		Forward:  func(ctx *tensor.FunctionContext, in []*T) *T { ctx.Save(in[0]); return in[0].Square() },
		Backward: backward,
	}
	return func(xs []*T) *T { return f.Apply(xs[0]) }
}

// The runners report wrong forward results, wrong gradients, wrong
// second derivatives, gradients where none should be, and devices that
// disagree; and pass the right ones.
func TestRunnersCanFail(t *testing.T) {
	exp := optable.Find(optable.Unary, "Exp")
	good := Case{Name: "Exp", Method: "Exp", Op: exp, Operands: identity, F: one((*T).Exp), Inputs: Inputs(U(2, 3))}
	expectSuccess(t, "right elementwise forward", func(tb testing.TB) { CheckForward(tb, good) })

	wrong := good
	wrong.F = one(func(a *T) *T { return a.Exp().MulScalar(1 + 1e-15) })
	expectFailure(t, "elementwise forward off by an ulp", "the op table's reference", func(tb testing.TB) { CheckForward(tb, wrong) })

	// A float32 path that differs from the float64 one.
	odd := Case{Name: "odd", Method: "Exp", Inputs: Inputs(U(4)), F: one(func(a *T) *T {
		if a.DType() == tensor.Float32 {
			return a.Exp().MulScalar(1.001)
		}
		return a.Exp()
	})}
	expectFailure(t, "float32 against float64", "float32 against float64", func(tb testing.TB) { CheckForward(tb, odd) })

	right := Case{Name: "square", Method: "Square", Inputs: Inputs(U(3)),
		F: square(func(ctx *tensor.FunctionContext, g *T) []*T {
			return []*T{g.Mul(ctx.Inputs()[0]).MulScalar(2)}
		})}
	expectSuccess(t, "right gradient", func(tb testing.TB) { CheckGrad(tb, right); CheckSecondOrder(tb, right) })

	bad := right
	bad.F = square(func(ctx *tensor.FunctionContext, g *T) []*T { return []*T{g.Mul(ctx.Inputs()[0]).MulScalar(2.01)} })
	expectFailure(t, "wrong gradient", "gradient check failed", func(tb testing.TB) { CheckGrad(tb, bad) })

	// A backward rule from saved constants: right first derivative, zero
	// second derivative.
	flat := right
	flat.F = square(func(ctx *tensor.FunctionContext, g *T) []*T { return []*T{g.Mul(ctx.Saved()[0]).MulScalar(2)} })
	expectSuccess(t, "first order of a flat rule", func(tb testing.TB) { CheckGrad(tb, flat) })
	expectFailure(t, "second order of a flat rule", "second order", func(tb testing.TB) { CheckSecondOrder(tb, flat) })

	nd := good
	nd.NotDifferentiable = true
	expectFailure(t, "non-differentiable case with a gradient", "requires a gradient", func(tb testing.TB) { CheckGrad(tb, nd) })

	expectSuccess(t, "CPU against itself", func(tb testing.TB) { CompareDevices(tb, good, device.CPU(), device.CPU()) })
	var mu sync.Mutex
	calls := 0
	drift := Case{Name: "drift", Method: "Exp", Inputs: Inputs(U(3)), F: one(func(a *T) *T {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return a.MulScalar(float64(calls))
	})}
	expectFailure(t, "devices that disagree", "forward", func(tb testing.TB) { CompareDevices(tb, drift, device.CPU(), device.CPU()) })
}

// Every row of the op table with a method has cases, of every view and
// over the special values; the table's names are unique and its inputs
// float64 tensors on the CPU, the same on every draw.
func TestTableWellFormed(t *testing.T) {
	cases := Cases()
	names := map[string]bool{}
	perMethod := map[string]int{}
	for _, c := range cases {
		if names[c.Name] {
			t.Errorf("%s: name used twice", c.Name)
		}
		names[c.Name] = true
		if c.Method == "" || c.F == nil || c.Inputs == nil {
			t.Errorf("%s: Method, F or Inputs missing", c.Name)
		}
		if c.Op != nil && c.Operands == nil {
			t.Errorf("%s: elementwise case without Operands", c.Name)
		}
		a, b := c.Draw(), c.Draw()
		if len(a) == 0 {
			t.Errorf("%s: no inputs", c.Name)
		}
		for i := range a {
			if a[i].DType() != tensor.Float64 || a[i].Device() != device.CPU() {
				t.Errorf("%s: input %d is %v on %v", c.Name, i, a[i].DType(), a[i].Device())
			}
			if fmt.Sprint(a[i].Float64s()) != fmt.Sprint(b[i].Float64s()) {
				t.Errorf("%s: input %d differs between draws", c.Name, i)
			}
		}
		perMethod[c.Method]++
	}
	for i := range optable.Ops {
		op := &optable.Ops[i]
		if op.Method == "" || MethodError(op) != nil {
			continue
		}
		want := map[optable.Kind]int{optable.Unary: len(unaryViews), optable.Scalar: len(scalarViews) * len(op.Test.GradS()), optable.Binary: len(binaryViews)}[op.Kind]
		if !op.Test.NoSpecials {
			want++
			if op.Kind == optable.Scalar {
				want += len(op.Test.Scalars) - 1
			}
		}
		if perMethod[op.Method] < want {
			t.Errorf("row %s: %d cases of %s, want at least %d", op.Name, perMethod[op.Method], op.Method, want)
		}
	}
}

// A row whose Method is not a tensor method gives no case and an error
// naming it.
func TestMethodError(t *testing.T) {
	op := &optable.Op{Kind: optable.Unary, Name: "Nope", Method: "NoSuchMethod"}
	if err := MethodError(op); err == nil || !strings.Contains(err.Error(), "NoSuchMethod") {
		t.Errorf("MethodError of a missing method: %v", err)
	}
	op = &optable.Op{Kind: optable.Scalar, Name: "Exp", Method: "Exp"}
	if err := MethodError(op); err == nil || !strings.Contains(err.Error(), "has type") {
		t.Errorf("MethodError of a method of the wrong signature: %v", err)
	}
	if err := MethodError(optable.Find(optable.Binary, "Add")); err != nil {
		t.Errorf("MethodError(Add): %v", err)
	}
}

// A row appended to the op table whose method does not exist (yet) gives
// no case, and no panic; one whose method exists is picked up with no
// edit here.
func TestAppendedRows(t *testing.T) {
	saved := optable.Ops
	defer func() { optable.Ops = saved }()
	optable.Ops = append(append([]optable.Op(nil), saved...),
		optable.Op{Kind: optable.Unary, Name: "Missing", Method: "NoSuchMethod", Smooth: true, Ref1: func(x float64) float64 { return x }},
		optable.Op{Kind: optable.Unary, Name: "Again", Method: "Neg", Smooth: true, Ref1: func(x float64) float64 { return -x }})
	n := 0
	for _, c := range append(Cases(), Sized(3)...) {
		if c.Method == "NoSuchMethod" {
			t.Errorf("case %s for a row without a tensor method", c.Name)
		}
		if c.Op != nil && c.Op.Name == "Again" {
			n++
		}
	}
	if n == 0 {
		t.Error("no case for an appended row")
	}
}
