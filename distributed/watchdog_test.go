package distributed

import (
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// stuckEngine is an engine whose collectives never return (until
// released), as a Gloo all-reduce was seen to stay in the engine long
// after its peer died on a loaded machine.
type stuckEngine struct{ release chan struct{} }

func (e stuckEngine) allReduce(unsafe.Pointer, int, device.DType) error { <-e.release; return nil }
func (e stuckEngine) broadcast(unsafe.Pointer, int, device.DType, int) error {
	<-e.release
	return nil
}
func (e stuckEngine) allGather(unsafe.Pointer, unsafe.Pointer, int, device.DType) error {
	<-e.release
	return nil
}
func (e stuckEngine) reduceScatter(unsafe.Pointer, unsafe.Pointer, []int, device.DType) error {
	<-e.release
	return nil
}
func (e stuckEngine) barrier() error { <-e.release; return nil }
func (e stuckEngine) close()         {}

// A collective stuck in the engine fails with ErrTimeout within the
// group's timeout plus watchdogGrace of when it started, the collectives
// queued behind it with ErrAborted wrapping that failure, and Close
// returns instead of waiting for the engine.
func TestWatchdog(t *testing.T) {
	const timeout = 300 * time.Millisecond
	eng := stuckEngine{release: make(chan struct{})}
	defer close(eng.release)
	g := &ProcessGroup{rank: 1, world: 2, timeout: timeout, cpu: eng, gpu: map[int]engine{},
		queue: make(chan *Work, 16), done: make(chan struct{})}
	go g.worker()
	x := tensor.Ones([]int{8})
	start := time.Now()
	first := g.AllReduceAsync(x, Sum)
	second := g.AllReduceAsync(x, Sum)
	err := first.Wait()
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("the stuck collective: %v, want ErrTimeout", err)
	}
	if took < timeout || took > timeout+watchdogGrace+time.Second {
		t.Errorf("the stuck collective failed after %v; timeout %v, grace %v", took, timeout, watchdogGrace)
	}
	var e *Error
	if !errors.As(err, &e) || e.Op != "AllReduce" || e.Rank != 1 || e.World != 2 {
		t.Errorf("error %#v, want an *Error of AllReduce on rank 1 of 2", err)
	}
	if err := second.Wait(); !errors.Is(err, ErrAborted) || !errors.Is(err, ErrTimeout) {
		t.Errorf("the collective queued behind it: %v, want ErrAborted wrapping ErrTimeout", err)
	}
	if err := g.AllReduce(x, Sum); !errors.Is(err, ErrAborted) {
		t.Errorf("a later collective: %v, want ErrAborted", err)
	}
	done := make(chan error)
	go func() { done <- g.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrAborted) {
			t.Errorf("Close: %v, want ErrAborted", err)
		}
	case <-time.After(timeout + watchdogGrace + 2*time.Second):
		t.Fatal("Close waited for the stuck engine")
	}
}
