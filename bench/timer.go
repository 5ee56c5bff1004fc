package main

import (
	"sort"
	"time"
)

// timing holds the repetition rules, the same as the peers' (see
// bench/peers/README.md, "Timing"): a warm-up of at least warmupRuns calls and
// warmupMin, then repetitions until target is covered (at least minReps, at
// most maxReps, at most caseBudget of measured time per case, then at least
// 3). A repetition is a batch of back-to-back calls lasting at least repMin.
type timing struct {
	warmupMin  time.Duration
	warmupRuns int
	target     time.Duration
	repMin     time.Duration
	minReps    int
	maxReps    int
	caseBudget time.Duration
}

// newTiming returns the timing of a full run, or of a -quick one.
func newTiming(quick bool) timing {
	t := timing{warmupRuns: 3, repMin: time.Millisecond, minReps: 5, maxReps: 2000}
	if quick {
		t.warmupMin, t.target, t.caseBudget = 20*time.Millisecond, 50*time.Millisecond, time.Second
	} else {
		t.warmupMin, t.target, t.caseBudget = 100*time.Millisecond, 200*time.Millisecond, 10*time.Second
	}
	return t
}

// measure runs fn as the timing rules say and returns the median, minimum
// and maximum time per call and the number of repetitions. fn gets a running
// call index (used to rotate inputs). sync, if not nil, is called at the end
// of every batch and of the warm-up, inside the timed region: on an
// asynchronous device (CUDA) it waits for the enqueued work, so a batch's
// time covers its execution and not only its launches.
func (t timing) measure(fn func(i int), sync func() error) (med, lo, hi time.Duration, reps int, err error) {
	i := 0
	call := func() { fn(i); i++ }
	if sync == nil {
		sync = func() error { return nil }
	}
	start := time.Now()
	n := 0
	for n < t.warmupRuns || time.Since(start) < t.warmupMin {
		call()
		n++
		if n == 1 || n%16 == 0 {
			if err = sync(); err != nil {
				return
			}
		}
		if time.Since(start) > t.caseBudget {
			break
		}
	}
	if err = sync(); err != nil {
		return
	}
	per := time.Since(start) / time.Duration(n)
	batch := 1
	if per > 0 && per < t.repMin {
		batch = int(t.repMin/per) + 1
	} else if per == 0 {
		batch = 1000
	}
	var samples []time.Duration
	total := time.Duration(0)
	for len(samples) < t.minReps || (total < t.target && len(samples) < t.maxReps) {
		t0 := time.Now()
		for b := 0; b < batch; b++ {
			call()
		}
		if err = sync(); err != nil {
			return
		}
		d := time.Since(t0)
		total += d
		samples = append(samples, d/time.Duration(batch))
		if total > t.caseBudget && len(samples) >= min(3, t.minReps) {
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

// rotateCopies is how many input copies a case rotates through so that an
// input that fits in a cache is not always read hot: inputs of at most 50 MB
// (an H100's L2; the threshold every peer uses) get enough copies to exceed
// 100 MB, at most 16.
func rotateCopies(inputBytes int64) int {
	const threshold = 50 << 20
	if inputBytes <= 0 || inputBytes > threshold {
		return 1
	}
	k := int((2*threshold + inputBytes - 1) / inputBytes)
	return max(1, min(k, 16))
}
