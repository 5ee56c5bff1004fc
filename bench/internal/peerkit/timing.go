package peerkit

import (
	"fmt"
	"sort"
	"time"
)

// Timing holds the repetition rules every Go library in a run is measured
// with (bench/peers/README.md, "Timing"): a warm-up of at least WarmupRuns
// calls and WarmupMin, then repetitions until Target is covered (at least
// MinReps, at most MaxReps, at most CaseBudget of measured time per case,
// then at least 3). A repetition is a batch of back-to-back calls lasting at
// least RepMin.
type Timing struct {
	WarmupMin  time.Duration
	WarmupRuns int
	Target     time.Duration
	RepMin     time.Duration
	MinReps    int
	MaxReps    int
	CaseBudget time.Duration
}

// NewTiming returns the timing of a full run, or of a -quick one.
func NewTiming(quick bool) Timing {
	t := Timing{WarmupRuns: 3, RepMin: time.Millisecond, MinReps: 5, MaxReps: 2000}
	if quick {
		t.WarmupMin, t.Target, t.CaseBudget = 20*time.Millisecond, 50*time.Millisecond, time.Second
	} else {
		t.WarmupMin, t.Target, t.CaseBudget = 100*time.Millisecond, 200*time.Millisecond, 10*time.Second
	}
	return t
}

// selfTest returns minimal timing, enough to check that every case runs.
func selfTest() Timing {
	t := NewTiming(true)
	t.WarmupMin, t.WarmupRuns, t.Target, t.CaseBudget, t.MinReps = time.Millisecond, 1, 5*time.Millisecond, 300*time.Millisecond, 2
	return t
}

// Measure runs fn as the rules say and returns the median, minimum and
// maximum time per call and the number of repetitions. fn gets a running
// call index (used to rotate inputs); its first error ends the measurement.
// sync, if not nil, is called at the end of every batch and of the warm-up,
// inside the timed region: on an asynchronous device (CUDA) it waits for the
// enqueued work, so a batch's time covers its execution and not only its
// launches.
func (t Timing) Measure(fn func(i int) error, sync func() error) (med, lo, hi time.Duration, reps int, err error) {
	return t.MeasureTimed(fn, sync, nil)
}

// BatchTimer times a batch on the device (device.Timer satisfies it): Start
// before the batch's calls, Stop after them, returning the device time
// between the two and waiting for the batch to finish.
type BatchTimer interface {
	Start() error
	Stop() (time.Duration, error)
}

// MeasureTimed is Measure with each repetition timed by timer when it is
// not nil (on CUDA: events recorded on the stream before and after the
// batch, as torch_bench.py times with torch.cuda.Event pairs) instead of by
// the host's clock around the batch and sync. The warm-up, which sizes the
// batches, still runs on the host's clock.
func (t Timing) MeasureTimed(fn func(i int) error, sync func() error, timer BatchTimer) (med, lo, hi time.Duration, reps int, err error) {
	i := 0
	call := func() error { e := fn(i); i++; return e }
	if sync == nil {
		sync = func() error { return nil }
	}
	// Warm-up, also estimating the cost of one call.
	start := time.Now()
	n := 0
	for n < t.WarmupRuns || time.Since(start) < t.WarmupMin {
		if err = call(); err != nil {
			return
		}
		n++
		if n == 1 || n%16 == 0 {
			if err = sync(); err != nil {
				return
			}
		}
		if time.Since(start) > t.CaseBudget {
			break
		}
	}
	if err = sync(); err != nil {
		return
	}
	per := time.Since(start) / time.Duration(n)
	batch := 1
	if per > 0 && per < t.RepMin {
		batch = int(t.RepMin/per) + 1
	} else if per == 0 {
		batch = 1000
	}
	var samples []time.Duration
	total := time.Duration(0)
	for len(samples) < t.MinReps || (total < t.Target && len(samples) < t.MaxReps) {
		t0 := time.Now()
		if timer != nil {
			if err = timer.Start(); err != nil {
				return
			}
		}
		for b := 0; b < batch; b++ {
			if err = call(); err != nil {
				return
			}
		}
		var d time.Duration
		if timer != nil {
			if d, err = timer.Stop(); err != nil {
				return
			}
		} else {
			if err = sync(); err != nil {
				return
			}
			d = time.Since(t0)
		}
		total += d
		samples = append(samples, d/time.Duration(batch))
		if total > t.CaseBudget && len(samples) >= min(3, t.MinReps) {
			break
		}
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	m := len(samples)
	med = samples[m/2]
	if m%2 == 0 {
		med = (samples[m/2-1] + samples[m/2]) / 2
	}
	return med, samples[0], samples[m-1], m, nil
}

// RotateCopies is how many input copies a case rotates through so that an
// input that fits in a cache is not always read hot: inputs of at most 50 MB
// (an H100's L2; the threshold every peer uses) get enough copies to exceed
// 100 MB, at most 16.
func RotateCopies(inputBytes int64) int {
	const threshold = 50 << 20
	if inputBytes <= 0 || inputBytes > threshold {
		return 1
	}
	k := int((2*threshold + inputBytes - 1) / inputBytes)
	return max(1, min(k, 16))
}

// RotNote is the note of a case whose inputs rotate among k copies ("" for
// one copy).
func RotNote(k int) string {
	if k <= 1 {
		return ""
	}
	return fmt.Sprintf("inputs rotate among %d copies", k)
}
