package device_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/device"
)

func TestSelect(t *testing.T) {
	t.Setenv(device.EnvVar, "")
	if d, err := device.Select("cpu"); err != nil || d != device.CPU() {
		t.Errorf("Select(cpu) = %v, %v", d, err)
	}
	if d, err := device.Select(""); err != nil || d != device.Default() {
		t.Errorf("Select(\"\") = %v, %v; want Default %v", d, err, device.Default())
	}
	if _, err := device.Select("gpu"); !errors.Is(err, device.ErrParse) || !strings.Contains(err.Error(), `"gpu"`) {
		t.Errorf("Select(gpu): %v, want ErrParse naming the value", err)
	}
	if _, err := device.Select("cuda:4000"); !errors.Is(err, device.ErrUnavailable) {
		t.Errorf("Select(cuda:4000): %v, want ErrUnavailable", err)
	}
	t.Setenv(device.EnvVar, "cpu")
	if d, err := device.Select(""); err != nil || d != device.CPU() {
		t.Errorf("TAPEGRAD_DEVICE=cpu: Select(\"\") = %v, %v", d, err)
	}
	t.Setenv(device.EnvVar, "nonsense")
	if _, err := device.Select("cpu"); !errors.Is(err, device.ErrParse) || !strings.Contains(err.Error(), "TAPEGRAD_DEVICE") {
		t.Errorf("a bad TAPEGRAD_DEVICE with a good name: %v, want ErrParse naming the variable", err)
	}
	func() {
		defer func() {
			r := recover()
			if err, ok := r.(error); !ok || !errors.Is(err, device.ErrParse) {
				t.Errorf("Default with a bad TAPEGRAD_DEVICE panicked with %v, want an error matching ErrParse", r)
			}
		}()
		device.Default()
	}()
	func() {
		defer func() {
			r := recover()
			if err, ok := r.(error); !ok || !errors.Is(err, device.ErrIndex) {
				t.Errorf("CUDA(-1) panicked with %v, want an error matching ErrIndex", r)
			}
		}()
		device.CUDA(-1)
	}()
}
