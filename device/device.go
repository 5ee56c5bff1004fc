// Package device names the places where tensors live and defines the
// interface that compute backends implement.
//
// A [Device] is a small comparable value: the CPU, or CUDA GPU number i.
// Every tensor carries one. A [Backend] executes operations for one device; it
// sees only buffers, element layouts and (implicitly) its device's stream,
// never tensors or autograd tapes. All checking of shapes, dtypes and devices
// happens once, above the backend, in package tensor.
//
// Backends register themselves with [Register] from an init function: the CPU
// backend (package device/cpu) is always linked in by package tensor; the
// CUDA backend (package device/cuda) exists only in builds with the "cuda"
// build tag. [Default] picks the device a program uses when it names none:
// the TAPEGRAD_DEVICE environment variable if it is set, else the first CUDA
// device when a CUDA backend is compiled in and a GPU is present, else the CPU.
//
// Execution model: each device has one ordered stream. Backend methods enqueue
// work and may return before it is done (the CPU backend runs synchronously);
// [Backend.Download] and [Backend.Synchronize] wait for all earlier work on
// the device. Errors of asynchronous work surface at those synchronisation
// points.
package device

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Kind is the type of a device.
type Kind uint8

// The device kinds.
const (
	KindCPU Kind = iota
	KindCUDA
)

// String returns "cpu" or "cuda".
func (k Kind) String() string {
	switch k {
	case KindCPU:
		return "cpu"
	case KindCUDA:
		return "cuda"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Device identifies where a tensor's memory lives. The zero value is the CPU.
// Devices are comparable with ==.
type Device struct {
	kind  Kind
	index int32
}

// CPU returns the host CPU device.
func CPU() Device { return Device{} }

// CUDA returns CUDA device number i (0-based). It panics if i is negative.
func CUDA(i int) Device {
	if i < 0 || i > 1<<20 {
		panic(fmt.Errorf("%w: CUDA index %d out of range [0, %d]", ErrIndex, i, 1<<20))
	}
	return Device{kind: KindCUDA, index: int32(i)}
}

// Kind returns the device's kind.
func (d Device) Kind() Kind { return d.kind }

// Index returns the device number within its kind (always 0 for the CPU).
func (d Device) Index() int { return int(d.index) }

// IsCUDA reports whether d is a CUDA device.
func (d Device) IsCUDA() bool { return d.kind == KindCUDA }

// String returns "cpu" or "cuda:N".
func (d Device) String() string {
	if d.kind == KindCPU {
		return "cpu"
	}
	return d.kind.String() + ":" + strconv.Itoa(int(d.index))
}

// ErrParse is wrapped by the errors that [Parse] returns.
var ErrParse = errors.New("device: cannot parse device name")

// ErrIndex is what CUDA panics with (wrapped) for a negative or absurd
// device number.
var ErrIndex = errors.New("device: device number out of range")

// Parse reads a device name: "cpu", "cuda" (meaning cuda:0) or "cuda:N".
// Letter case and surrounding space are ignored; anything else is an error
// wrapping [ErrParse].
func Parse(s string) (Device, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch {
	case t == "cpu":
		return CPU(), nil
	case t == "cuda":
		return CUDA(0), nil
	case strings.HasPrefix(t, "cuda:"):
		n, err := strconv.Atoi(t[len("cuda:"):])
		if err != nil || n < 0 || n > 1<<20 || strings.HasPrefix(t[len("cuda:"):], "+") {
			return Device{}, fmt.Errorf("%w %q: want cpu, cuda or cuda:N with N >= 0", ErrParse, s)
		}
		return CUDA(n), nil
	}
	return Device{}, fmt.Errorf("%w %q: want cpu, cuda or cuda:N", ErrParse, s)
}

// Provider is how a backend implementation makes its devices available.
type Provider interface {
	// Count returns how many devices of this kind are usable now (0 when the
	// driver or the hardware is absent).
	Count() int
	// Open returns the backend for device number index. It is called at most
	// once per device; the registry caches the result.
	Open(index int) (Backend, error)
}

var registry struct {
	sync.Mutex
	providers map[Kind]Provider
	open      map[Device]Backend
}

// Register makes a backend implementation available for devices of kind k.
// It is meant to be called from the implementing package's init function; a
// second registration for the same kind replaces the first.
func Register(k Kind, p Provider) {
	registry.Lock()
	defer registry.Unlock()
	if registry.providers == nil {
		registry.providers = map[Kind]Provider{}
		registry.open = map[Device]Backend{}
	}
	registry.providers[k] = p
}

// ErrDType is wrapped by the errors of backends that do not support a
// dtype (Alloc of an invalid dtype, or of a half dtype on a backend that
// cannot store it).
var ErrDType = errors.New("device: unsupported dtype")

// ErrUnavailable is wrapped by errors for devices that no compiled-in backend
// provides or that do not exist on this machine.
var ErrUnavailable = errors.New("device: not available")

// Lookup returns the backend of d, opening it on first use.
func Lookup(d Device) (Backend, error) {
	registry.Lock()
	defer registry.Unlock()
	if b, ok := registry.open[d]; ok {
		return b, nil
	}
	p, ok := registry.providers[d.kind]
	if !ok {
		hint := ""
		if d.kind == KindCUDA {
			hint = " (this binary was built without the cuda build tag)"
		}
		return nil, fmt.Errorf("%w: %s: no %s backend is compiled in%s", ErrUnavailable, d, d.kind, hint)
	}
	if n := p.Count(); d.Index() >= n {
		return nil, fmt.Errorf("%w: %s: this machine has %d %s device(s)", ErrUnavailable, d, n, d.kind)
	}
	b, err := p.Open(d.Index())
	if err != nil {
		return nil, fmt.Errorf("device: opening %s: %w", d, err)
	}
	registry.open[d] = b
	return b, nil
}

// Available lists the devices usable in this process: the CPU first, then
// every CUDA device a compiled-in CUDA backend can see.
func Available() []Device {
	registry.Lock()
	var kinds []Kind
	provs := map[Kind]Provider{}
	for k, p := range registry.providers {
		kinds = append(kinds, k)
		provs[k] = p
	}
	registry.Unlock()
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	out := []Device{CPU()}
	for _, k := range kinds {
		if k == KindCPU {
			continue
		}
		for i := 0; i < provs[k].Count(); i++ {
			out = append(out, Device{kind: k, index: int32(i)})
		}
	}
	return out
}

// EnvVar is the environment variable that [Default] reads.
const EnvVar = "TAPEGRAD_DEVICE"

// Default returns the device programs use when they name none: the device
// named by the TAPEGRAD_DEVICE environment variable if it is set (a name
// [Parse] accepts; an unparsable or unavailable name panics, since running a
// whole program on another device than asked would mislead), else the first
// CUDA device if one is available, else the CPU. [Select] is the form that
// returns an error instead, for programs that report it.
func Default() Device {
	d, err := Select("")
	if err != nil {
		panic(err)
	}
	return d
}

// Select returns the device named name (cpu, cuda, cuda:N), or with an
// empty name the default device (see [Default]). The device must be
// available (see [Lookup]). TAPEGRAD_DEVICE is checked even when name is
// given, since tensors made without a device use Default. Errors are one
// line naming the bad value and the accepted forms, and match [ErrParse] or
// [ErrUnavailable].
func Select(name string) (Device, error) {
	check := func(what, v string) (Device, error) {
		d, err := Parse(v)
		if err != nil {
			return Device{}, fmt.Errorf("bad %s %q: %w: the accepted forms are cpu, cuda, cuda:N", what, v, ErrParse)
		}
		if _, err := Lookup(d); err != nil {
			return Device{}, fmt.Errorf("%s %q: %w", what, v, err)
		}
		return d, nil
	}
	if s, ok := os.LookupEnv(EnvVar); ok && strings.TrimSpace(s) != "" {
		d, err := check(EnvVar, s)
		if err != nil || name == "" {
			return d, err
		}
	}
	if name != "" {
		return check("device name", name)
	}
	for _, d := range Available() {
		if d.kind == KindCUDA {
			return d, nil
		}
	}
	return CPU(), nil
}
