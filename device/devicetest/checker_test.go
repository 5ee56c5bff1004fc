package devicetest

import (
	"math"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/device/cpu"
)

// checkingBackend is the CPU backend made to check labels as a GPU backend
// does (device.IndexChecker): in SoftmaxCE and SoftmaxCEGrad, reporting the
// first bad label at the next Synchronize or Download, the gradient's row
// NaN. It exercises the suite's expectations of such backends on the CPU.
type checkingBackend struct {
	device.Backend
	mu  sync.Mutex
	err *device.IndexError
}

func (b *checkingBackend) check(op device.IndexOp, labels device.Buffer, n, c int) []int {
	v := make([]float64, n)
	if err := b.Backend.Download(v, labels, device.Contiguous([]int{n})); err != nil {
		panic(err)
	}
	var bad []int
	for i, l := range v {
		if l < 0 || l >= float64(c) || l != math.Trunc(l) {
			bad = append(bad, i)
			b.mu.Lock()
			if b.err == nil {
				b.err = &device.IndexError{Device: b.Device(), Op: op, Pos: int64(i), Bound: int64(c), Value: l,
					NotInteger: l != math.Trunc(l)}
			}
			b.mu.Unlock()
		}
	}
	return bad
}

func (b *checkingBackend) take() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.err
	b.err = nil
	if e == nil {
		return nil
	}
	return e
}

func (b *checkingBackend) SoftmaxCE(loss, prob, logits, labels device.Buffer, n, c int) {
	b.check(device.IndexSoftmaxCE, labels, n, c)
	b.Backend.SoftmaxCE(loss, prob, logits, labels, n, c)
}

func (b *checkingBackend) SoftmaxCEGrad(d, prob, labels, g device.Buffer, gl device.Layout, n, c int) {
	b.Backend.SoftmaxCEGrad(d, prob, labels, g, gl, n, c)
	for _, i := range b.check(device.IndexSoftmaxCEGrad, labels, n, c) {
		b.Backend.Fill(d, device.Layout{Shape: []int{c}, Strides: []int{1}, Offset: i * c}, math.NaN())
	}
}

func (b *checkingBackend) Synchronize() error {
	if err := b.Backend.Synchronize(); err != nil {
		return err
	}
	return b.take()
}

func (b *checkingBackend) Download(dst any, src device.Buffer, l device.Layout) error {
	if err := b.Backend.Download(dst, src, l); err != nil {
		return err
	}
	return b.take()
}

func (b *checkingBackend) CheckIndices(op device.IndexOp, idx device.Buffer, offset, n, bound int) {}

// TestLabelCheckingBackend runs the training tests against a backend that
// reports bad labels at its next synchronisation.
func TestLabelCheckingBackend(t *testing.T) {
	RunWith(t, &checkingBackend{Backend: cpu.Get()}, Options{Skip: map[string]string{}})
}
