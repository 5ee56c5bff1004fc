package optest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"

	"github.com/tapegrad/tapegrad/internal/optable"
	"github.com/tapegrad/tapegrad/tensor"
)

var tensorType = reflect.TypeFor[*T]()

// method returns the *Tensor method named name if it has type want (the
// receiver first), else an error saying why not.
func method(op *optable.Op, want reflect.Type) (reflect.Value, error) {
	if op.Method == "" {
		return reflect.Value{}, fmt.Errorf("op-table row %s has no Method", op.Name)
	}
	m, ok := tensorType.MethodByName(op.Method)
	if !ok {
		return reflect.Value{}, fmt.Errorf("op-table row %s: Method %q is not a method of *tensor.Tensor", op.Name, op.Method)
	}
	if m.Type != want {
		return reflect.Value{}, fmt.Errorf("op-table row %s: method %s has type %v, want %v", op.Name, op.Method, m.Type, want)
	}
	return m.Func, nil
}

// UnaryMethod returns the tensor method of a Unary row, or an error when
// the row has none (or the method has another signature).
func UnaryMethod(op *optable.Op) (func(x *T) *T, error) {
	m, err := method(op, reflect.TypeFor[func(*T) *T]())
	if err != nil {
		return nil, err
	}
	return m.Interface().(func(*T) *T), nil
}

// ScalarMethod returns the tensor method of a Scalar row, or an error.
func ScalarMethod(op *optable.Op) (func(x *T, s float64) *T, error) {
	m, err := method(op, reflect.TypeFor[func(*T, float64) *T]())
	if err != nil {
		return nil, err
	}
	return m.Interface().(func(*T, float64) *T), nil
}

// BinaryMethod returns the tensor method of a Binary row, or an error.
func BinaryMethod(op *optable.Op) (func(a, b *T) *T, error) {
	m, err := method(op, reflect.TypeFor[func(*T, *T) *T]())
	if err != nil {
		return nil, err
	}
	return m.Interface().(func(*T, *T) *T), nil
}

// MethodError returns nil if the row's Method is a tensor method of the
// signature its kind needs, else the reason it is not.
func MethodError(op *optable.Op) error {
	var err error
	switch op.Kind {
	case optable.Unary:
		_, err = UnaryMethod(op)
	case optable.Scalar:
		_, err = ScalarMethod(op)
	case optable.Binary:
		_, err = BinaryMethod(op)
	default:
		err = fmt.Errorf("op-table row %s: unknown kind %d", op.Name, op.Kind)
	}
	return err
}

// rowFunc returns the row's tensor method as one function of the operands
// and the scalar s (which Unary and Binary rows ignore), or false when the
// row has no method of its kind's signature.
func rowFunc(op *optable.Op) (func(o []*T, s float64) *T, bool) {
	switch op.Kind {
	case optable.Unary:
		if f, err := UnaryMethod(op); err == nil {
			return func(o []*T, _ float64) *T { return f(o[0]) }, true
		}
	case optable.Scalar:
		if f, err := ScalarMethod(op); err == nil {
			return func(o []*T, s float64) *T { return f(o[0], s) }, true
		}
	case optable.Binary:
		if f, err := BinaryMethod(op); err == nil {
			return func(o []*T, _ float64) *T { return f(o[0], o[1]) }, true
		}
	}
	return nil, false
}

// bind fixes the scalar of a rowFunc.
func bind(f func(o []*T, s float64) *T, s float64) func(o []*T) *T {
	return func(o []*T) *T { return f(o, s) }
}

// view is a layout variant of the operands of an elementwise case: the
// shapes drawn, and the views applied to them before the operation.
type view struct {
	name   string
	shapes [][]int
	// apply maps the drawn inputs to the operands (nil: the inputs).
	apply func(xs []*T) []*T
}

var unaryViews = []view{
	{"2d", [][]int{{2, 3}}, nil},
	{"0d", [][]int{{}}, nil},
	{"size1", [][]int{{1, 4, 1}}, nil},
	{"transposed", [][]int{{3, 2}}, func(x []*T) []*T { return []*T{x[0].T()} }},
	{"sliced", [][]int{{4, 2}}, func(x []*T) []*T { return []*T{x[0].Slice(0, 1, -1)} }},
	{"broadcast", [][]int{{3, 1}}, func(x []*T) []*T { return []*T{x[0].BroadcastTo(2, 3, 2)} }},
}

var scalarViews = []view{
	{"2d", [][]int{{2, 3}}, nil},
	{"0d", [][]int{{}}, nil},
	{"transposed", [][]int{{3, 2}}, func(x []*T) []*T { return []*T{x[0].T()} }},
	{"broadcast", [][]int{{3, 1}}, func(x []*T) []*T { return []*T{x[0].BroadcastTo(2, 3, 4)} }},
}

var binaryViews = []view{
	{"same", [][]int{{2, 3}, {2, 3}}, nil},
	{"bcast-row", [][]int{{3, 4}, {4}}, nil},
	{"bcast-col", [][]int{{3, 4}, {3, 1}}, nil},
	{"bcast-both", [][]int{{3, 1}, {1, 4}}, nil},
	{"bcast-rank", [][]int{{2, 3, 4}, {4}}, nil},
	{"bcast-rank-left", [][]int{{3, 1}, {2, 1, 4}}, nil},
	{"0d-right", [][]int{{3}, {}}, nil},
	{"0d-left", [][]int{{}, {2, 2}}, nil},
	{"0d-both", [][]int{{}, {}}, nil},
	{"size1", [][]int{{1, 3, 1}, {1, 3, 1}}, nil},
	{"transposed", [][]int{{4, 3}, {3, 4}}, func(x []*T) []*T { return []*T{x[0].T(), x[1]} }},
	{"transposed-both", [][]int{{4, 3}, {4, 3}}, func(x []*T) []*T { return []*T{x[0].T(), x[1].Transpose(1, 0)} }},
	{"sliced", [][]int{{3, 5}, {4, 3}}, func(x []*T) []*T { return []*T{x[0].Slice(1, 1, 4), x[1].Slice(0, -2, 3)} }},
	{"broadcastTo", [][]int{{3}, {2, 3}}, func(x []*T) []*T { return []*T{x[0].BroadcastTo(2, 3), x[1]} }},
	// One input used as both operands.
	{"same-tensor", [][]int{{2, 3}}, func(x []*T) []*T { return []*T{x[0], x[0]} }},
}

// gens returns one Gen per shape, the first drawing from a, the others
// from b.
func gens(shapes [][]int, a, b func(*rand.Rand) float64) []Gen {
	out := make([]Gen, len(shapes))
	for i, s := range shapes {
		f := a
		if i > 0 {
			f = b
		}
		out[i] = Rand(f, s...)
	}
	return out
}

func identity(xs []*T) []*T { return xs }

// elementwise returns the case applying row op (through its bound method
// m) to the operands of view v, drawn from a and b.
func elementwise(name string, op *optable.Op, s float64, v view, a, b func(*rand.Rand) float64, m func(ops []*T) *T) Case {
	apply := v.apply
	if apply == nil {
		apply = identity
	}
	return Case{
		Name:              name,
		Method:            op.Method,
		Op:                op,
		S:                 s,
		Operands:          apply,
		F:                 func(xs []*T) *T { return m(apply(xs)) },
		Inputs:            Inputs(gens(v.shapes, a, b)...),
		NotDifferentiable: !op.Smooth,
		// The gradient of a 0-d operand of a binary operation sums
		// every rounded term onto one element.
		HalfFactor: map[bool]float64{true: 4}[v.name == "0d-left" || v.name == "0d-right"],
	}
}

// specials returns the case of op over the special values: x over
// optable.Specials, or the grid of every pair (a column against a row).
func specials(name string, op *optable.Op, s float64, m func(ops []*T) *T) Case {
	sp := optable.Specials
	k := len(sp)
	c := Case{
		Name: name, Method: op.Method, Op: op, S: s, Operands: identity,
		F:        m,
		Inputs:   Inputs(Values(sp, k)),
		Specials: true,
	}
	if op.Kind == optable.Binary {
		c.Inputs = Inputs(Values(sp, k, 1), Values(sp, k))
	}
	return c
}

func sname(method string, s float64) string {
	return method + "(" + strconv.FormatFloat(s, 'g', -1, 64) + ")"
}

// ElementwiseCases returns the cases derived from the op table: for every
// row whose Method is a tensor method of the right signature, the row on
// each view of its kind (each gradient scalar for Scalar rows) with
// inputs from the row's gradient domains, and over the special values
// unless the row's Test.NoSpecials says they are outside its domain (each
// of Test.Scalars for Scalar rows). Rows without such a method give no
// case: the coverage test of package tensor reports them.
func ElementwiseCases() []Case {
	var cs []Case
	for i := range optable.Ops {
		op := &optable.Ops[i]
		f, ok := rowFunc(op)
		if !ok {
			continue
		}
		te := &op.Test
		switch op.Kind {
		case optable.Unary:
			m := bind(f, 0)
			for _, v := range unaryViews {
				cs = append(cs, elementwise(op.Method+"/"+v.name, op, 0, v, te.GradIn(), nil, m))
			}
			if !te.NoSpecials {
				cs = append(cs, specials(op.Method+"/specials", op, 0, m))
			}
		case optable.Scalar:
			for _, s := range te.GradS() {
				m := bind(f, s)
				for _, v := range scalarViews {
					cs = append(cs, elementwise(sname(op.Method, s)+"/"+v.name, op, s, v, te.GradIn(), nil, m))
				}
			}
			if !te.NoSpecials {
				for _, s := range te.Scalars {
					cs = append(cs, specials(sname(op.Method, s)+"/specials", op, s, bind(f, s)))
				}
			}
		case optable.Binary:
			m := bind(f, 0)
			for _, v := range binaryViews {
				cs = append(cs, elementwise(op.Method+"/"+v.name, op, 0, v, te.GradIn(), te.GradInB(), m))
			}
			if !te.NoSpecials {
				cs = append(cs, specials(op.Method+"/specials", op, 0, m))
			}
		}
	}
	return cs
}

// Sized returns cases whose operands have about n elements, for backends
// whose kernels take size-dependent paths (grid-stride loops, vectorised
// bodies and tails, block reductions): every elementwise row with a method
// on dense operands of n elements and on strided or broadcast views of
// about n elements (each gradient scalar of Scalar rows), the reductions
// over all, inner, outer, middle and transposed axes, and Concat, Index
// and Where. Names are "Method/layout" ("Add/dense", "Sum/inner").
func Sized(n int) []Case {
	r := max(n/31, 1)
	var cs []Case
	for i := range optable.Ops {
		op := &optable.Ops[i]
		f, ok := rowFunc(op)
		if !ok {
			continue
		}
		te := &op.Test
		switch op.Kind {
		case optable.Unary:
			m := bind(f, 0)
			for _, v := range []view{
				{"dense", [][]int{{n}}, nil},
				{"sliced", [][]int{{r, 31}}, func(x []*T) []*T { return []*T{x[0].Slice(1, 3, 20)} }},
			} {
				cs = append(cs, elementwise(op.Method+"/"+v.name, op, 0, v, te.GradIn(), nil, m))
			}
		case optable.Scalar:
			for j, s := range te.GradS() {
				m := bind(f, s)
				cs = append(cs, elementwise(sname(op.Method, s)+"/dense", op, s, view{"dense", [][]int{{n}}, nil}, te.GradIn(), nil, m))
				if j == 0 {
					v := view{"broadcast", [][]int{{n}}, func(x []*T) []*T { return []*T{x[0].BroadcastTo(3, n)} }}
					cs = append(cs, elementwise(sname(op.Method, s)+"/broadcast", op, s, v, te.GradIn(), nil, m))
				}
			}
		case optable.Binary:
			m := bind(f, 0)
			for _, v := range []view{
				{"dense", [][]int{{n}, {n}}, nil},
				{"row", [][]int{{r, 31}, {31}}, nil},
				{"col", [][]int{{r, 31}, {r, 1}}, nil},
				{"transposed", [][]int{{31, r}, {r, 31}}, func(x []*T) []*T { return []*T{x[0].T(), x[1]} }},
			} {
				cs = append(cs, elementwise(op.Method+"/"+v.name, op, 0, v, te.GradIn(), te.GradInB(), m))
			}
		}
	}
	red := func(name, method string, f func(a *T) *T, shape ...int) Case {
		return Case{Name: name, Method: method, F: one(f), Inputs: Inputs(U(shape...)), RTol32: ReductionRTol32}
	}
	cs = append(cs,
		red("Sum/all", "Sum", func(a *T) *T { return a.Sum() }, n),
		red("Sum/inner", "Sum", func(a *T) *T { return a.Sum(1) }, r, 31),
		red("Mean/outer", "Mean", func(a *T) *T { return a.Mean(0) }, r, 31),
		red("Mean/all", "Mean", func(a *T) *T { return a.Mean() }, n),
		red("Max/middle", "Max", func(a *T) *T { return a.Max(1) }, 1, r, 31),
		red("Max/all", "Max", func(a *T) *T { return a.Max() }, n),
		red("Min/transposed", "Min", func(a *T) *T { return a.T().Min(1) }, r, 31),
		red("Min/all", "Min", func(a *T) *T { return a.Min() }, n),
		red("Norm/all", "Norm", func(a *T) *T { return a.Norm() }, n),
		red("Norm/inner", "Norm", func(a *T) *T { return a.Norm(-1) }, r, 31),
		// The scans: lines along the inner axis (a block per line on the
		// GPU), few lines along the outer axis, and many lines adjacent in
		// memory (a thread per line from 1024 lines).
		red("CumSum/inner", "CumSum", func(a *T) *T { return a.CumSum(1) }, r, 31),
		red("CumSum/all", "CumSum", func(a *T) *T { return a.CumSum(0) }, n),
		red("CumSum/outer", "CumSum", func(a *T) *T { return a.CumSum(0) }, r, 31),
		red("CumSum/outer-wide", "CumSum", func(a *T) *T { return a.CumSum(0) }, 3, n),
		Case{Name: "Concat", Method: "Concat", F: two(func(a, b *T) *T { return tensor.Concat([]*T{a, b}, 0).Exp() }), Inputs: Inputs(U(n), U(n))},
		Case{Name: "Index", Method: "Index", F: one(func(a *T) *T { return a.Index(-1).Square() }), Inputs: Inputs(U(r, 31))},
		Case{Name: "Where", Method: "Where", F: two(func(a, b *T) *T { return tensor.Where(a.GtScalar(0), a, b) }), Inputs: Inputs(U(n), U(n))},
	)
	return cs
}
