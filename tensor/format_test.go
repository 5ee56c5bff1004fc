package tensor_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/tensor"
)

func TestString(t *testing.T) {
	f64 := tensor.WithDType(tensor.Float64)
	cases := []struct {
		name string
		x    *T
		want string
	}{
		{"walk-through", tensor.Array([][]float32{{4, 8}, {12, 16}}), "[[ 4  8]\n [12 16]]"},
		{"0-d", tensor.Scalar(3.5), "3.5"},
		{"0-d negative", tensor.Scalar(-2), "-2"},
		{"0-d float32 0.1", tensor.Scalar(0.1), "0.1"},
		{"0-d float64 1/3", tensor.Scalar(1.0/3, f64), "0.333333"},
		{"0-d nan", tensor.Scalar(math.NaN()), "nan"},
		{"1-d", tensor.Array([]float64{1, 2, 3}), "[1 2 3]"},
		{"1-d one element", tensor.Array([]float64{7}), "[7]"},
		{"negative alignment", tensor.Array([][]float64{{-1, 2}, {3, -40}}), "[[ -1   2]\n [  3 -40]]"},
		{"fractions", tensor.Array([]float64{1, -2.5, 3}), "[   1 -2.5    3]"},
		{"nan and inf", tensor.Array([]float64{math.NaN(), math.Inf(1), math.Inf(-1), 1}), "[ nan  inf -inf    1]"},
		{"six digits", tensor.Array([]float64{1895.891234, 1e-5, 123456789}), "[    1895.89       1e-05 1.23457e+08]"},
		{"float32 shortest", tensor.Array([]float32{0.1, 0.2}), "[0.1 0.2]"},
		{"3-d", tensor.Arange(0, 8, 1).Reshape(2, 2, 2), "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]"},
		{"4-d", tensor.Arange(0, 4, 1).Reshape(2, 1, 1, 2), "[[[[0 1]]]\n\n\n [[[2 3]]]]"},
		{"column", tensor.Array([][]float64{{1}, {22}}), "[[ 1]\n [22]]"},
		{"transposed view", tensor.Array([][]float64{{1, 2}, {3, 4}}).T(), "[[1 3]\n [2 4]]"},
		{"broadcast view", tensor.Array([]float64{5, 6}).BroadcastTo(2, 2), "[[5 6]\n [5 6]]"},
		{"empty", tensor.Zeros([]int{0}), "[]"},
		{"negative zero", tensor.Array([]float64{math.Copysign(0, -1), 1}), "[-0  1]"},
	}
	for _, c := range cases {
		if got := c.x.String(); got != c.want {
			t.Errorf("%s: String() =\n%s\nwant\n%s", c.name, got, c.want)
		}
		// fmt uses String.
		if got := fmt.Sprint(c.x); got != c.want {
			t.Errorf("%s: fmt.Sprint = %q", c.name, got)
		}
	}
}

func TestStringSummarised(t *testing.T) {
	// Up to 1000 elements are printed in full...
	full := tensor.Arange(0, 1000, 1).String()
	if strings.Contains(full, "...") || !strings.HasPrefix(full, "[  0   1   2   3") || !strings.HasSuffix(full, "998 999]") || len(full) != 2+1000*4-1 {
		t.Errorf("1000 elements should print in full, got %q...", full[:40])
	}
	// ...more are summarised with the first and last three along each
	// axis, NumPy style.
	if got, want := tensor.Arange(0, 2000, 1).String(), "[   0    1    2 ... 1997 1998 1999]"; got != want {
		t.Errorf("summarised 1-d = %q, want %q", got, want)
	}
	if got := tensor.Arange(0, 1001, 1).String(); got != "[   0    1    2 ...  998  999 1000]" {
		t.Errorf("1001 elements = %q", got)
	}
	got := tensor.Arange(0, 1100, 1).Reshape(100, 11).String()
	want := strings.Join([]string{
		"[[   0    1    2 ...    8    9   10]",
		" [  11   12   13 ...   19   20   21]",
		" [  22   23   24 ...   30   31   32]",
		" ...",
		" [1067 1068 1069 ... 1075 1076 1077]",
		" [1078 1079 1080 ... 1086 1087 1088]",
		" [1089 1090 1091 ... 1097 1098 1099]]",
	}, "\n")
	if got != want {
		t.Errorf("summarised 2-d =\n%s\nwant\n%s", got, want)
	}
	// Short axes of a large tensor are not cut.
	got = tensor.Zeros([]int{2, 600}).String()
	if lines := strings.Split(got, "\n"); len(lines) != 2 || strings.Count(got, "...") != 2 {
		t.Errorf("[2 600] summary = %q", got)
	}
	// A 3-d summary keeps block separators.
	got = tensor.Zeros([]int{10, 10, 11}).String()
	if !strings.HasPrefix(got, "[[[0 0 0 ... 0 0 0]\n  [0 0 0 ... 0 0 0]") || strings.Count(got, "\n\n") != 5 {
		t.Errorf("3-d summary:\n%s", got)
	}
}

func TestStringReleased(t *testing.T) {
	x := tensor.Zeros([]int{2, 3})
	x.Release()
	if got := x.String(); got != `<released tensor "(2, 3)">` {
		t.Errorf("String of a released tensor = %q", got)
	}
}
