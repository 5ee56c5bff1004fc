package tensor_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/optable"
	"github.com/tapegrad/tapegrad/internal/optest"
	"github.com/tapegrad/tapegrad/tensor"
)

// TestOpTable runs every case of the shared op-test table on the CPU: the
// forward results against the op table's references (elementwise cases,
// special values included) or float64 (the others), the gradients
// against finite differences and float32 gradients against float64 ones,
// and the second derivatives.
func TestOpTable(t *testing.T) {
	for _, c := range optest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			optest.CheckForward(t, c)
			optest.CheckGrad(t, c)
			optest.CheckSecondOrder(t, c)
		})
	}
}

// TestOpTableHalf runs every case of the shared op-test table in bfloat16
// and float16 on the CPU against float32 from the same rounded inputs
// (optest.CheckHalf): elementwise results bit for bit the float32 result
// rounded once, other results and gradients within optest.HalfRTol.
func TestOpTableHalf(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		for _, c := range optest.Cases() {
			t.Run(dt.String()+"/"+c.Name, func(t *testing.T) { optest.CheckHalf(t, c, dt) })
		}
	}
}

// TestOpTableSized runs the cases of the size-dependent table (which the
// GPU tests compare across devices) on the CPU at sizes around the CPU's
// vector width and block sizes: forward results against the references,
// and the device comparison of the CPU with itself (results and gradients
// must be reproducible).
func TestOpTableSized(t *testing.T) {
	for _, n := range []int{1, 33, 1029} {
		for _, c := range optest.Sized(n) {
			t.Run(c.Name, func(t *testing.T) {
				optest.CheckForward(t, c)
				optest.CompareDevices(t, c, device.CPU(), device.CPU())
			})
		}
	}
}

// coverageExclusions are the exported methods of *Tensor and functions of
// package tensor returning tensors that no case of the op-test table
// exercises, each with the reason.
var coverageExclusions = map[string]string{
	// Constructors: no tensor operand, nothing to differentiate.
	"Arange":      "constructor",
	"Array":       "constructor",
	"FromSlice":   "constructor",
	"Full":        "constructor",
	"Ones":        "constructor",
	"Zeros":       "constructor",
	"Scalar":      "constructor",
	"RandNormal":  "random constructor",
	"RandUniform": "random constructor",
	// The autograd machinery: what the table's gradient checks run.
	"RunBackward":  "the backward engine; every gradient check of the table runs it",
	"Backward":     "runs the backward engine (tested in autograd and grad_test.go)",
	"AttachGrad":   "autograd plumbing: marks a leaf",
	"Grad":         "accessor of the attached gradient",
	"ZeroGrad":     "resets the attached gradient in place",
	"RetainGrad":   "autograd plumbing (tested in hooks tests)",
	"RegisterHook": "autograd plumbing (tested in hooks tests)",
	"RequiresGrad": "accessor",
	// In-place and resource management: not recorded operations.
	"Assign":  "in-place copy, refused while recording (tested in update tests)",
	"Release": "frees the buffer",
	// Accessors.
	"DType":    "accessor",
	"Device":   "accessor",
	"Shape":    "accessor",
	"Size":     "accessor",
	"Rank":     "accessor",
	"Item":     "accessor (reads one value back)",
	"Float32s": "accessor (reads values back)",
	"Float64s": "accessor (reads values back)",
	"Int64s":   "accessor (reads values back; ints_test.go)",
	"Ints":     "accessor (reads values back; ints_test.go)",
	"LabelsAs": "label conversion for the losses, not an operation (ints_test.go)",
	"String":   "formatting (tested in format_test.go)",
	"Buffer":   "accessor for extension packages",
	"Backend":  "accessor for extension packages",
	"Layout":   "accessor for extension packages",
}

// tensorAPI parses package tensor's non-test sources (those the current
// build would compile) and returns the exported methods of *Tensor and the
// exported functions whose results include *Tensor or []*Tensor, each with
// its position.
func tensorAPI(t *testing.T) map[string]string {
	t.Helper()
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Name != "tensor" {
		t.Fatalf("the working directory holds package %q, want tensor", pkg.Name)
	}
	isTensor := func(e ast.Expr) bool {
		if s, ok := e.(*ast.StarExpr); ok {
			id, ok := s.X.(*ast.Ident)
			return ok && id.Name == "Tensor"
		}
		return false
	}
	api := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(pkg.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			pos := fset.Position(fd.Pos()).String()
			if fd.Recv != nil {
				if len(fd.Recv.List) == 1 && isTensor(fd.Recv.List[0].Type) {
					api[fd.Name.Name] = pos
				}
				continue
			}
			if fd.Type.Results == nil {
				continue
			}
			for _, r := range fd.Type.Results.List {
				typ := r.Type
				if a, ok := typ.(*ast.ArrayType); ok && a.Len == nil {
					typ = a.Elt
				}
				if isTensor(typ) {
					api[fd.Name.Name] = pos
					break
				}
			}
		}
	}
	if len(api) < 50 {
		t.Fatalf("found only %d exported tensor methods and functions: %v", len(api), api)
	}
	return api
}

// TestOpTableCoverage fails for every exported method of *Tensor or
// function of package tensor returning tensors that no case of the op-test
// table exercises and that coverageExclusions does not exclude, and for
// every device operation (the elementwise enums and the reductions) that
// has no op-table row or whose tensor method is not exercised.
func TestOpTableCoverage(t *testing.T) {
	api := tensorAPI(t)
	covered := map[string]bool{}     // methods some case exercises
	gradChecked := map[string]bool{} // methods some case checks gradients of
	names := map[string]bool{}
	for _, c := range optest.Cases() {
		if names[c.Name] {
			t.Errorf("case %s: name used twice", c.Name)
		}
		names[c.Name] = true
		if _, ok := api[c.Method]; !ok {
			t.Errorf("case %s: Method %q is not an exported method of *Tensor or function of package tensor returning tensors", c.Name, c.Method)
		}
		covered[c.Method] = true
		if c.Differentiable() && !c.NoGrad {
			gradChecked[c.Method] = true
		}
	}

	var missing []string
	for name, pos := range api {
		_, excluded := coverageExclusions[name]
		switch {
		case covered[name] && excluded:
			t.Errorf("%s (%s) is both exercised by the op-test table and excluded from it: drop the exclusion", name, pos)
		case !covered[name] && !excluded:
			missing = append(missing, name+" ("+pos+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("%s: no case of the op-test table (internal/optest) exercises it: add one, or exclude it in coverageExclusions with the reason", m)
	}
	for name := range coverageExclusions {
		if _, ok := api[name]; !ok {
			t.Errorf("coverageExclusions names %s, which is not an exported method of *Tensor or function of package tensor returning tensors", name)
		}
	}

	tensorType := reflect.TypeFor[*T]()
	check := func(kind optable.Kind, enum string) {
		row := optable.Find(kind, enum)
		if row == nil {
			t.Errorf("device op %s has no op-table row", enum)
			return
		}
		if row.Method == "" && row.Via == "" {
			t.Errorf("op-table row %s: neither Method nor Via: no tensor method reaches it", row.Name)
		}
		if row.Method != "" {
			if err := optest.MethodError(row); err != nil {
				t.Errorf("%v: the op-test table cannot test it", err)
			} else if !covered[row.Method] {
				t.Errorf("op-table row %s: no case exercises its method %s", row.Name, row.Method)
			}
		}
		if row.Via != "" {
			if _, ok := tensorType.MethodByName(row.Via); !ok {
				t.Errorf("op-table row %s: Via %q is not a method of *tensor.Tensor", row.Name, row.Via)
			} else if !gradChecked[row.Via] {
				t.Errorf("op-table row %s: no case checks the gradient of %s, whose backward pass launches it", row.Name, row.Via)
			}
		}
	}
	for op := range device.UnaryOp(device.NumUnaryOps) {
		check(optable.Unary, op.String())
	}
	for op := range device.ScalarOp(device.NumScalarOps) {
		check(optable.Scalar, op.String())
	}
	for op := range device.BinaryOp(device.NumBinaryOps) {
		check(optable.Binary, op.String())
	}
	reductions := map[device.ReduceOp]string{
		device.Sum: "Sum", device.Mean: "Mean", device.Max: "Max", device.Min: "Min", device.Norm2: "Norm",
	}
	for op := range device.ReduceOp(device.NumReduceOps) {
		m, ok := reductions[op]
		switch {
		case !ok:
			t.Errorf("reduction %v: no tensor method is known to compute it: add it to the map of TestOpTableCoverage", op)
		case !gradChecked[m]:
			t.Errorf("reduction %v: no case checks its tensor method %s", op, m)
		}
	}
}
