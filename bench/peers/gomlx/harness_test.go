// Tests shared by the Go peers (the same file is in bench/peers/gorgonia and
// bench/peers/gomlx).

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodReport = `{"peer": "p", "version": "v1", "device": "cpu", "machine": "m", "date": "2026-01-02T03:04:05Z", "mode": "tape",
 "cases": [
  {"name": "unary/exp/1024", "mode": "tape", "size": 1024, "dtype": "float32", "median_ns": 10, "min_ns": 9, "max_ns": 12, "reps": 5, "bytes": 8192, "value": 819.2, "unit": "GB/s"},
  {"name": "overhead/op", "mode": "tape", "size": 16, "dtype": "float32", "median_ns": 1000, "min_ns": 900, "max_ns": 1100, "reps": 5, "value": 10, "unit": "ns/op", "note": "n"},
  {"name": "mlp/step", "mode": "graph", "size": 256, "dtype": "float32", "skipped": "no op"}]}`

func TestValidateJSON(t *testing.T) {
	if err := ValidateJSON([]byte(goodReport)); err != nil {
		t.Fatalf("good report rejected: %v", err)
	}
	bad := map[string][2]string{
		"no name":         {`"name": "overhead/op"`, `"name": ""`},
		"zero median":     {`"median_ns": 1000`, `"median_ns": 0`},
		"min above med":   {`"min_ns": 900`, `"min_ns": 1001`},
		"no reps":         {`"reps": 5, "value": 10`, `"value": 10`},
		"unknown field":   {`"note": "n"`, `"note": "n", "gbps": 1`},
		"no size, value":  {`"size": 1024, "dtype": "float32", "median_ns": 10, "min_ns": 9, "max_ns": 12, "reps": 5, "bytes": 8192, "value": 819.2, "unit": "GB/s"`, `"dtype": "float32", "median_ns": 10, "min_ns": 9, "max_ns": 12, "reps": 5, "bytes": 8192`},
		"bad date":        {`2026-01-02T03:04:05Z`, `yesterday`},
		"missing peer":    {`"peer": "p"`, `"peer": ""`},
		"value, no unit":  {`, "unit": "ns/op"`, ``},
		"duplicate case":  {`"name": "overhead/op"`, `"name": "unary/exp/1024"`},
		"skipped no size": {`"size": 256, "dtype": "float32", "skipped"`, `"dtype": "float32", "skipped"`},
	}
	for name, edit := range bad {
		doc := strings.Replace(goodReport, edit[0], edit[1], 1)
		if doc == goodReport {
			t.Fatalf("%s: edit did not apply", name)
		}
		if err := ValidateJSON([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSelfTest runs what -selftest runs (one small case of each kind, results
// checked against references) and validates the JSON file it writes.
func TestSelfTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the peer")
	}
	o := newOptions(true)
	o.selfTest()
	o.JSONPath = filepath.Join(t.TempDir(), "out.json")
	if code := execute(o); code != 0 {
		t.Fatalf("selftest exit code %d", code)
	}
	data, err := os.ReadFile(o.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(data); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range rep.Cases {
		names[c.Name] = true
	}
	for _, want := range []string{"unary/exp/1024", "seed/1024", "overhead/op", "mlp/step", "matmul/256x512x10"} {
		if !names[want] {
			t.Errorf("case %s missing", want)
		}
	}
}
