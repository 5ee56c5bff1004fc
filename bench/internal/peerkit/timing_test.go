package peerkit

import (
	"errors"
	"testing"
	"time"
)

// fakeTimer returns a fixed device time per batch and counts its calls.
type fakeTimer struct {
	d             time.Duration
	starts, stops int
	running       bool
	err           error
}

func (f *fakeTimer) Start() error {
	if f.running {
		return errors.New("Start twice")
	}
	f.running = true
	f.starts++
	return nil
}

func (f *fakeTimer) Stop() (time.Duration, error) {
	if !f.running {
		return 0, errors.New("Stop without Start")
	}
	f.running = false
	f.stops++
	return f.d, f.err
}

// With a timer, each repetition's time is the timer's, not the host's: the
// calls take about 1.2 ms of host time (so one call per batch), the timer
// says 7 ms.
func TestMeasureTimed(t *testing.T) {
	tm := NewTiming(true)
	tm.WarmupMin, tm.Target, tm.CaseBudget, tm.MinReps = time.Millisecond, 10*time.Millisecond, time.Second, 4
	ft := &fakeTimer{d: 7 * time.Millisecond}
	syncs := 0
	med, lo, hi, reps, err := tm.MeasureTimed(func(int) error { time.Sleep(1200 * time.Microsecond); return nil },
		func() error { syncs++; return nil }, ft)
	if err != nil {
		t.Fatal(err)
	}
	if med != 7*time.Millisecond || lo != med || hi != med {
		t.Fatalf("median %v (min %v, max %v), want the timer's 7ms", med, lo, hi)
	}
	if ft.starts != reps || ft.stops != reps || ft.running {
		t.Fatalf("%d reps, timer started %d and stopped %d times (running %v)", reps, ft.starts, ft.stops, ft.running)
	}
	if syncs == 0 {
		t.Fatal("the warm-up did not sync")
	}
	// The timer's error ends the measurement.
	ft.err = errors.New("device fault")
	if _, _, _, _, err := tm.MeasureTimed(func(int) error { return nil }, nil, ft); err == nil || err.Error() != "device fault" {
		t.Fatalf("got %v, want the timer's error", err)
	}
}
