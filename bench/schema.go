package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Report is one library's results on one device, in the schema the peer
// programs write (bench/peers/gorgonia/harness.go, bench/peers/gomlx,
// bench/peers/torch_bench.py): the types and the validator are copies of the
// peers' Report, Case and ValidateJSON, so every Report this harness writes,
// its own and the peers' it embeds, validates with the peers' -validate.
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
// repetition is a batch of back-to-back calls lasting at least a millisecond,
// and its time is the batch time over the batch size.
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

// ok reports whether c was measured (not skipped).
func (c *Case) ok() bool { return c != nil && c.Skipped == "" && c.MedianNs > 0 }

// ValidateJSON checks one report against the shared schema (the same checks
// as the peers' ValidateJSON): the header fields are present, and every case
// has a name, a dtype, a size or a value, and either a reason for being
// skipped or median_ns > 0 with min <= median <= max and reps > 0. Unknown
// fields are rejected.
func ValidateJSON(data []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		return err
	}
	return validateReport(&rep)
}

func validateReport(rep *Report) error {
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

// Document is what -json writes: one run of the harness, with a Run per
// device. Each Run holds the Reports of tapegrad and of every peer that ran
// on that device, unchanged in the peers' schema, and the targets evaluated
// on them.
type Document struct {
	Harness string `json:"harness"` // "tapegrad bench"
	Date    string `json:"date"`    // RFC 3339, start of the run
	Command string `json:"command"` // the command line
	Commit  string `json:"commit"`  // git rev-parse --short HEAD (+"-dirty"), or "unknown"
	Quick   bool   `json:"quick"`
	Runs    []Run  `json:"runs"`
}

// Run is the part of a Document for one device.
type Run struct {
	Device  string `json:"device"`  // "cpu", "cuda:0"
	Machine string `json:"machine"` // CPU model or GPU name
	Load    string `json:"load,omitempty"`
	// Roofline is the copy bandwidth the fractions are taken of, in GB/s,
	// and RooflineCase names the case (name and mode) it comes from.
	Roofline     float64  `json:"roofline_gbps,omitempty"`
	RooflineCase string   `json:"roofline_case,omitempty"`
	PeakGFLOPS   float64  `json:"peak_gflops,omitempty"`
	PeakSource   string   `json:"peak_source,omitempty"`
	Reports      []Report `json:"reports"`
	Targets      []Target `json:"targets,omitempty"`
	Notes        []string `json:"notes,omitempty"`
}

// Target is one performance target evaluated on one case.
type Target struct {
	Case   string `json:"case"`
	Goal   string `json:"goal"`   // e.g. ">= 75% of copy bandwidth"
	Status string `json:"status"` // "met", "missed" or "n/a"
	Detail string `json:"detail"` // the measured figure
}

// validateDocument checks every report of d against the schema.
func validateDocument(d *Document) error {
	var errs []error
	for _, r := range d.Runs {
		for i := range r.Reports {
			if err := validateReport(&r.Reports[i]); err != nil {
				errs = append(errs, fmt.Errorf("%s on %s: %w", r.Reports[i].Peer, r.Device, err))
			}
		}
	}
	return errors.Join(errs...)
}
