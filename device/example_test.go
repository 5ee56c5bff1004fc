package device_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/tapegrad/tapegrad/device"
)

// Parse reads the names that -device flags and TAPEGRAD_DEVICE use.
func ExampleParse() {
	for _, s := range []string{"cpu", "CUDA", "cuda:1", "gpu", "cuda:-1"} {
		d, err := device.Parse(s)
		if err != nil {
			fmt.Printf("%q: error (ErrParse: %v)\n", s, errors.Is(err, device.ErrParse))
			continue
		}
		fmt.Printf("%q: %v, kind %v, index %d\n", s, d, d.Kind(), d.Index())
	}
	// Output:
	// "cpu": cpu, kind cpu, index 0
	// "CUDA": cuda:0, kind cuda, index 0
	// "cuda:1": cuda:1, kind cuda, index 1
	// "gpu": error (ErrParse: true)
	// "cuda:-1": error (ErrParse: true)
}

// CPU is the zero Device; devices compare with ==.
func ExampleCPU() {
	d := device.CPU()
	fmt.Println(d, d.IsCUDA(), d == device.Device{})
	fmt.Println(device.CUDA(0), device.CUDA(0).IsCUDA())
	fmt.Println(device.Available()[0])
	// Output:
	// cpu false true
	// cuda:0 true
	// cpu
}

// Default follows TAPEGRAD_DEVICE when it is set (a bad value panics, so
// programs check it first: see examples/autograd); unset, it is the first
// GPU of a cuda-tagged build, else the CPU.
func ExampleDefault() {
	old, had := os.LookupEnv(device.EnvVar)
	defer func() {
		if had {
			os.Setenv(device.EnvVar, old)
		} else {
			os.Unsetenv(device.EnvVar)
		}
	}()

	os.Setenv(device.EnvVar, "cpu")
	fmt.Println(device.Default())

	os.Setenv(device.EnvVar, "gpu")
	func() {
		defer func() { fmt.Println("bad TAPEGRAD_DEVICE panics:", recover() != nil) }()
		device.Default()
	}()
	// Output:
	// cpu
	// bad TAPEGRAD_DEVICE panics: true
}
