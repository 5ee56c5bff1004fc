package device_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	_ "github.com/tapegrad/tapegrad/device/cpu" // registers the CPU backend
)

func TestParse(t *testing.T) {
	good := []struct {
		in   string
		want device.Device
	}{
		{"cpu", device.CPU()},
		{"CPU", device.CPU()},
		{"  cpu\t", device.CPU()},
		{"cuda", device.CUDA(0)},
		{"cuda:0", device.CUDA(0)},
		{"cuda:3", device.CUDA(3)},
		{" CUDA:0 ", device.CUDA(0)},
		{"Cuda:12", device.CUDA(12)},
	}
	for _, c := range good {
		got, err := device.Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, nil", c.in, got, err, c.want)
		}
	}
	bad := []string{"", "  ", "gpu:1", "cuda:-1", "cuda:x", "cuda:", "cuda:+1", "cuda:1.5", "cuda:0:1", "tpu", "cpu:0", "cuda 0", "cuda:99999999999999999999"}
	for _, in := range bad {
		got, err := device.Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, nil; want an error", in, got)
			continue
		}
		if !errors.Is(err, device.ErrParse) {
			t.Errorf("Parse(%q) error %v does not wrap ErrParse", in, err)
		}
		if !strings.Contains(err.Error(), "cuda:N") {
			t.Errorf("Parse(%q) error %q does not say what is accepted", in, err)
		}
		if got != (device.Device{}) {
			t.Errorf("Parse(%q) returned %v with its error, want the zero Device", in, got)
		}
	}
}

func TestDeviceString(t *testing.T) {
	cases := []struct {
		d    device.Device
		want string
	}{
		{device.CPU(), "cpu"},
		{device.Device{}, "cpu"},
		{device.CUDA(0), "cuda:0"},
		{device.CUDA(7), "cuda:7"},
	}
	for _, c := range cases {
		if got := c.d.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.d, got, c.want)
		}
		// String and Parse round-trip.
		if back, err := device.Parse(c.want); err != nil || back != c.d {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.want, back, err, c.d)
		}
	}
	if device.CPU().IsCUDA() || !device.CUDA(1).IsCUDA() {
		t.Error("IsCUDA is wrong")
	}
	if device.CUDA(5).Index() != 5 || device.CPU().Index() != 0 {
		t.Error("Index is wrong")
	}
	if device.CUDA(2).Kind() != device.KindCUDA || device.CPU().Kind() != device.KindCPU {
		t.Error("Kind is wrong")
	}
	if device.KindCPU.String() != "cpu" || device.KindCUDA.String() != "cuda" || device.Kind(9).String() != "kind(9)" {
		t.Error("Kind.String is wrong")
	}
	if device.CUDA(1) == device.CUDA(2) || device.CUDA(0) == device.CPU() || device.CUDA(3) != device.CUDA(3) {
		t.Error("devices do not compare as values")
	}
}

func TestCUDANegativePanics(t *testing.T) {
	for _, i := range []int{-1, -100, 1<<20 + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("CUDA(%d) did not panic", i)
				}
			}()
			device.CUDA(i)
		}()
	}
}

func TestDTypeAndOpNames(t *testing.T) {
	if device.Float32.Size() != 4 || device.Float64.Size() != 8 || device.BFloat16.Size() != 2 || device.Float16.Size() != 2 {
		t.Error("DType.Size is wrong")
	}
	if device.Float32.String() != "float32" || device.Float64.String() != "float64" || device.DType(7).String() != "dtype(7)" ||
		device.BFloat16.String() != "bfloat16" || device.Float16.String() != "float16" {
		t.Error("DType.String is wrong")
	}
	// The values are serialized: the half types were appended.
	if device.Int64 != 3 || device.BFloat16 != 4 || device.Float16 != 5 || device.NumDTypes != 6 {
		t.Error("the dtypes' values changed")
	}
	for dt := range device.DType(device.NumDTypes) {
		half := dt == device.BFloat16 || dt == device.Float16
		if dt.IsHalf() != half || dt.IsFloat() != (half || dt == device.Float32 || dt == device.Float64) || dt.IsInt() == dt.IsFloat() {
			t.Errorf("%v: IsHalf %v, IsFloat %v, IsInt %v", dt, dt.IsHalf(), dt.IsFloat(), dt.IsInt())
		}
		if want := map[bool]device.DType{true: device.Float32, false: dt}[half]; dt.Compute() != want {
			t.Errorf("%v.Compute() = %v", dt, dt.Compute())
		}
	}
	names := map[string]string{
		device.Neg.String():           "Neg",
		device.Cos.String():           "Cos",
		device.UnaryOp(200).String():  "UnaryOp(?)",
		device.AddS.String():          "AddS",
		device.GeS.String():           "GeS",
		device.ScalarOp(200).String(): "ScalarOp(?)",
		device.Add.String():           "Add",
		device.SigmoidGrad.String():   "SigmoidGrad",
		device.BinaryOp(200).String(): "BinaryOp(?)",
		device.Sum.String():           "Sum",
		device.Norm2.String():         "Norm2",
		device.ReduceOp(200).String(): "ReduceOp(?)",
		device.ArgMax.String():        "ArgMax",
		device.ArgMin.String():        "ArgMin",
	}
	for got, want := range names {
		if got != want {
			t.Errorf("op name %q, want %q", got, want)
		}
	}
}

func TestDefault(t *testing.T) {
	// t.Setenv restores the original value when the test ends.
	t.Setenv(device.EnvVar, "")
	if d := device.Default(); d != device.CPU() {
		t.Errorf("Default() with %s empty = %v, want cpu", device.EnvVar, d)
	}
	os.Unsetenv(device.EnvVar)
	if d := device.Default(); d != device.CPU() {
		t.Errorf("Default() with %s unset = %v, want cpu", device.EnvVar, d)
	}
	t.Setenv(device.EnvVar, "cpu")
	if d := device.Default(); d != device.CPU() {
		t.Errorf("Default() with %s=cpu = %v, want cpu", device.EnvVar, d)
	}
	t.Setenv(device.EnvVar, " CPU ")
	if d := device.Default(); d != device.CPU() {
		t.Errorf("Default() with %s=' CPU ' = %v, want cpu", device.EnvVar, d)
	}
	for _, v := range []string{"cuda", "cuda:1", "tpu"} {
		t.Setenv(device.EnvVar, v)
		msg := panicString(func() { device.Default() })
		if msg == "" {
			t.Errorf("Default() with %s=%q did not panic", device.EnvVar, v)
			continue
		}
		if !strings.Contains(msg, device.EnvVar) || !strings.Contains(msg, v) {
			t.Errorf("Default() panic %q does not name the variable and its value", msg)
		}
	}
}

func panicString(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = "panic"
			if s, ok := r.(string); ok {
				msg = s
			} else if e, ok := r.(error); ok {
				msg = e.Error()
			}
		}
	}()
	f()
	return ""
}

func TestAvailableAndLookup(t *testing.T) {
	av := device.Available()
	if len(av) != 1 || av[0] != device.CPU() {
		t.Fatalf("Available() = %v, want [cpu] (no CUDA backend in this build)", av)
	}
	be, err := device.Lookup(device.CPU())
	if err != nil || be == nil || be.Device() != device.CPU() {
		t.Fatalf("Lookup(cpu) = %v, %v", be, err)
	}
	be2, _ := device.Lookup(device.CPU())
	if be2 != be {
		t.Error("Lookup(cpu) does not return the cached backend")
	}
	for _, d := range []device.Device{device.CUDA(0), device.CUDA(3)} {
		be, err := device.Lookup(d)
		if err == nil || be != nil {
			t.Fatalf("Lookup(%v) = %v, %v; want an error", d, be, err)
		}
		if !errors.Is(err, device.ErrUnavailable) {
			t.Errorf("Lookup(%v) error %v does not wrap ErrUnavailable", d, err)
		}
		if !strings.Contains(err.Error(), d.String()) || !strings.Contains(err.Error(), "cuda build tag") {
			t.Errorf("Lookup(%v) error %q does not name the device and the build tag", d, err)
		}
	}
}

// The contract accepts exactly "cpu", "cuda" and "cuda:N".
func TestParseRejectsAliases(t *testing.T) {
	for _, s := range []string{"gpu", "GPU", "cuda0", "cuda:", "cpu:0"} {
		if _, err := device.Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}
