package peerkit

import (
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

func TestRotateCopies(t *testing.T) {
	for _, c := range []struct {
		bytes int64
		want  int
	}{{0, 1}, {4 << 10, 16}, {10 << 20, 10}, {9 << 20, 12}, {50 << 20, 2}, {50<<20 + 1, 1}} {
		if got := RotateCopies(c.bytes); got != c.want {
			t.Errorf("RotateCopies(%d) = %d, want %d", c.bytes, got, c.want)
		}
	}
}

// TestRunReport runs a peer of two cases, one measured and one skipped,
// and reads its report back.
func TestRunReport(t *testing.T) {
	calls := 0
	p := Peer{Name: "fake", Version: "v0", Mode: "m",
		CaseNames: func(*Options) []string { return []string{"a", "b"} },
		RunAll: func(r *Runner) {
			r.Measure(Case{Name: "a", Size: 4, Bytes: 16}, func(int) error { calls++; return nil }, nil)
			r.Add(Case{Name: "b", Size: 4, Skipped: "not here"})
		}}
	o := NewOptions(true)
	o.Timing = selfTest()
	rep, err := RunReport(p, o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cases) != 2 || !rep.Cases[0].OK() || rep.Cases[0].Unit != "GB/s" || rep.Cases[1].OK() || calls == 0 {
		t.Errorf("report cases %+v after %d calls", rep.Cases, calls)
	}
}
