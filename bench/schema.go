package main

import (
	"errors"
	"fmt"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
)

// Report and Case are one library's results on one device in the schema
// the peer programs write (bench/peers/gorgonia, bench/peers/gomlx,
// bench/peers/torch_bench.py); peerkit holds the types and the validator
// for all of them, so every Report this harness writes, its own and the
// peers' it embeds, validates with the peers' -validate.
type (
	Report = peerkit.Report
	Case   = peerkit.Case
)

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
			if err := peerkit.ValidateReport(&r.Reports[i]); err != nil {
				errs = append(errs, fmt.Errorf("%s on %s: %w", r.Reports[i].Peer, r.Device, err))
			}
		}
	}
	return errors.Join(errs...)
}
