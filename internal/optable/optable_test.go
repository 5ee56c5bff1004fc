package optable

import (
	"math"
	"testing"
	"unicode"
)

// Every row is complete: a unique exported name per kind, both
// expressions, the reference of its arity, a method or a Via, and the
// scalars a scalar op is tested with.
func TestRows(t *testing.T) {
	seen := map[Kind]map[string]bool{}
	for i, o := range Ops {
		if seen[o.Kind] == nil {
			seen[o.Kind] = map[string]bool{}
		}
		if o.Name == "" || !unicode.IsUpper(rune(o.Name[0])) {
			t.Errorf("row %d: name %q is not an exported identifier", i, o.Name)
		}
		if seen[o.Kind][o.Name] {
			t.Errorf("row %d: %s listed twice", i, o.Name)
		}
		seen[o.Kind][o.Name] = true
		if o.Doc == "" || o.CPU == "" || o.CUDA == "" {
			t.Errorf("%s: Doc, CPU and CUDA are required", o.Name)
		}
		if (o.Kind == Unary) != (o.Ref1 != nil) || (o.Kind != Unary) != (o.Ref2 != nil) {
			t.Errorf("%s: Ref1 is for unary ops, Ref2 for the others", o.Name)
		}
		if (o.Method == "") == (o.Via == "") {
			t.Errorf("%s: exactly one of Method and Via is required", o.Name)
		}
		if o.Kind == Scalar && len(o.Test.Scalars) == 0 {
			t.Errorf("%s: a scalar op needs Test.Scalars", o.Name)
		}
		if o.Kind == Scalar && o.Smooth && len(o.Test.GradS()) == 0 {
			t.Errorf("%s: a differentiable scalar op needs gradient scalars", o.Name)
		}
	}
	if Find(Unary, "Exp") == nil || Find(Binary, "Exp") != nil {
		t.Error("Find does not look rows up by kind and name")
	}
	if got := Find(Unary, "Exp").Ref1(1); got != math.E {
		t.Errorf("Exp row reference: %v", got)
	}
}
