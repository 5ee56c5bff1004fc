// Package peerkit is what tapegrad's benchmark harness (bench) and the Go
// peer programs (bench/peers/gorgonia, bench/peers/gomlx) share: the JSON
// schema of a library's results (Report, Case, ValidateJSON, which
// bench/peers/torch_bench.py writes too), the timing rules (Timing), and
// for the peers their command line, runner and result checks (Main, Runner).
//
// The peers are modules of their own so that tapegrad's module never depends
// on gorgonia or GoMLX; they import this package (and tapegrad's data and nn
// packages, for the Fashion-MNIST case) through a replace directive to the
// repository root. The dependency goes one way only.
package peerkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Report is one library's results on one device: the JSON document every
// peer writes (tapegrad's harness, the Go peers and torch_bench.py).
type Report struct {
	Peer    string `json:"peer"`
	Version string `json:"version"`
	Device  string `json:"device"`
	Machine string `json:"machine"`
	Date    string `json:"date"`
	Go      string `json:"go,omitempty"`
	Mode    string `json:"mode"`
	Cases   []Case `json:"cases"`
}

// Case is one measured (or skipped) workload. Times are per call: a
// repetition is a batch of back-to-back calls lasting at least
// Timing.RepMin, and its time is the batch time over the batch size, so
// sub-microsecond cases are still resolved.
type Case struct {
	Name     string  `json:"name"`
	Mode     string  `json:"mode,omitempty"`
	Size     int64   `json:"size,omitempty"`
	DType    string  `json:"dtype,omitempty"`
	MedianNs int64   `json:"median_ns,omitempty"`
	MinNs    int64   `json:"min_ns,omitempty"`
	MaxNs    int64   `json:"max_ns,omitempty"`
	Reps     int     `json:"reps,omitempty"`
	Bytes    int64   `json:"bytes,omitempty"`
	Flops    int64   `json:"flops,omitempty"`
	Value    float64 `json:"value,omitempty"`
	Unit     string  `json:"unit,omitempty"`
	Note     string  `json:"note,omitempty"`
	Skipped  string  `json:"skipped,omitempty"`
}

// OK reports whether c was measured (not skipped).
func (c *Case) OK() bool { return c != nil && c.Skipped == "" && c.MedianNs > 0 }

// Find returns the case of rep named name in mode (any mode if mode is ""),
// preferring a measured one, or nil.
func (rep *Report) Find(name, mode string) *Case {
	var found *Case
	for i := range rep.Cases {
		c := &rep.Cases[i]
		if c.Name == name && (mode == "" || c.Mode == mode) {
			if c.OK() {
				return c
			}
			found = c
		}
	}
	return found
}

// Fastest returns the fastest measured case of rep named name (over modes),
// or nil.
func (rep *Report) Fastest(name string) *Case {
	var best *Case
	for i := range rep.Cases {
		c := &rep.Cases[i]
		if c.Name == name && c.OK() && (best == nil || c.MedianNs < best.MedianNs) {
			best = c
		}
	}
	return best
}

// ValidateJSON checks one report against the shared schema: the header
// fields are present, and every case has a name, a dtype, a size or a
// value, and either a reason for being skipped or median_ns > 0 with
// min <= median <= max and reps > 0. Unknown fields are rejected.
func ValidateJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		return err
	}
	return ValidateReport(&rep)
}

// ValidateReport is ValidateJSON on a decoded report.
func ValidateReport(rep *Report) error {
	var errs []error
	for _, f := range []struct{ field, v string }{{"peer", rep.Peer}, {"version", rep.Version},
		{"device", rep.Device}, {"machine", rep.Machine}, {"date", rep.Date}, {"mode", rep.Mode}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("missing %q", f.field))
		}
	}
	if _, err := time.Parse(time.RFC3339, rep.Date); rep.Date != "" && err != nil {
		errs = append(errs, fmt.Errorf("date: %v", err))
	}
	if len(rep.Cases) == 0 {
		errs = append(errs, errors.New("no cases"))
	}
	seen := map[string]bool{}
	for i, c := range rep.Cases {
		id := fmt.Sprintf("case %d (%s)", i, c.Name)
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("%s: no name", id))
		}
		key := c.Name + "\x00" + c.Mode
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s: duplicate name+mode", id))
		}
		seen[key] = true
		if c.Size <= 0 && c.Value == 0 {
			errs = append(errs, fmt.Errorf("%s: neither size nor value", id))
		}
		if c.DType == "" {
			errs = append(errs, fmt.Errorf("%s: no dtype", id))
		}
		if c.Skipped != "" {
			continue
		}
		if c.MedianNs <= 0 || c.Reps <= 0 {
			errs = append(errs, fmt.Errorf("%s: median_ns=%d reps=%d, want > 0", id, c.MedianNs, c.Reps))
		}
		if c.MinNs > c.MedianNs || c.MedianNs > c.MaxNs {
			errs = append(errs, fmt.Errorf("%s: want min_ns <= median_ns <= max_ns, got %d, %d, %d", id, c.MinNs, c.MedianNs, c.MaxNs))
		}
		if c.Bytes < 0 || c.Flops < 0 || math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			errs = append(errs, fmt.Errorf("%s: bad bytes/flops/value", id))
		}
		if c.Value != 0 && c.Unit == "" {
			errs = append(errs, fmt.Errorf("%s: value without unit", id))
		}
	}
	return errors.Join(errs...)
}
