package cuda

import (
	"errors"
	"fmt"
	"time"

	"github.com/tapegrad/tapegrad/device"
)

// Timing events: device time between two marks of the stream (device.Timer).

// NewTimer returns a [device.Timer] for the device's stream: two CUDA
// events with timing enabled, recorded on the stream by Start and Stop.
// The events live as long as the backend; make one Timer and reuse it.
func (b *Backend) NewTimer() (device.Timer, error) {
	start, err := b.ctx.NewTimingEvent()
	if err != nil {
		return nil, fmt.Errorf("cuda: creating a timing event on %v: %w", b.dev, err)
	}
	end, err := b.ctx.NewTimingEvent()
	if err != nil {
		return nil, fmt.Errorf("cuda: creating a timing event on %v: %w", b.dev, err)
	}
	return &eventTimer{b: b, start: start, end: end}, nil
}

var _ device.Timed = (*Backend)(nil)

// eventTimer is the CUDA backend's device.Timer.
type eventTimer struct {
	b          *Backend
	start, end Event
	started    bool
}

// ErrTimerState is returned by a Timer's Stop without a Start before it,
// and by Start twice in a row.
var ErrTimerState = errors.New("cuda: Timer Start and Stop must alternate")

func (t *eventTimer) Start() error {
	if t.started {
		return fmt.Errorf("%w (Start called twice on %v)", ErrTimerState, t.b.dev)
	}
	if err := t.b.ctx.RecordEvent(t.start, t.b.stream); err != nil {
		return fmt.Errorf("cuda: recording the start event of a Timer on %v: %w", t.b.dev, err)
	}
	t.started = true
	return nil
}

func (t *eventTimer) Stop() (time.Duration, error) {
	if !t.started {
		return 0, fmt.Errorf("%w (Stop without Start on %v)", ErrTimerState, t.b.dev)
	}
	t.started = false
	if err := t.b.ctx.RecordEvent(t.end, t.b.stream); err != nil {
		return 0, t.b.takeError(fmt.Errorf("recording the end event of a Timer: %w", err))
	}
	d, err := t.b.ctx.EventElapsed(t.start, t.end)
	if err = t.b.takeError(err); err != nil {
		return 0, err
	}
	return d, nil
}
