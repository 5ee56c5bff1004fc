package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clock is a fake clock that the test moves forward.
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestRedraw(t *testing.T) {
	c := newClock()
	var buf bytes.Buffer
	b := New(&buf, 200, Options{Prefix: "epoch 1/3", Width: 10, Mode: Redraw, Now: c.now})
	c.advance(time.Second)
	b.Update(20, F("loss", "%.4f", 2.30258))
	want := "\repoch 1/3 [=>        ]  20/200     20.0 items/s  1.0s<9.0s  loss 2.3026"
	if got := buf.String(); got != want {
		t.Fatalf("first draw:\n%q\nwant\n%q", got, want)
	}
	// Within the interval: nothing drawn, but the state is kept.
	for i := range 9 {
		c.advance(10 * time.Millisecond)
		b.Update(21+i, F("loss", "%.4f", 1.5))
	}
	if buf.Len() != len(want) {
		t.Fatalf("drew within 100 ms: %q", buf.String())
	}
	if s := b.String(); !strings.Contains(s, " 29/200") || !strings.HasSuffix(s, "loss 1.5000") {
		t.Errorf("String() = %q", s)
	}
	buf.Reset()
	c.advance(10 * time.Millisecond) // 100 ms since the last draw
	b.Update(100)                    // fields kept
	prev := "\repoch 1/3 [=====>    ] 100/200     90.9 items/s  1.1s<1.1s  loss 1.5000"
	if got := buf.String(); got != prev {
		t.Fatalf("after 100 ms:\n%q\nwant\n%q", got, prev)
	}
	// Completion is drawn at once; a shorter line blanks what is left.
	buf.Reset()
	c.advance(time.Millisecond)
	b.Update(200, F("acc", "%.2f", 0.5))
	want = "\repoch 1/3 [==========] 200/200      182 items/s  1.1s  acc 0.50"
	want += strings.Repeat(" ", len(prev)-len(want)) // blanks to the previous line's length
	if got := buf.String(); got != want {
		t.Fatalf("completion:\n%q\nwant\n%q", got, want)
	}
	// Finish ends the line without drawing the same state again; only once.
	buf.Reset()
	b.Finish()
	b.Finish()
	if got := buf.String(); got != "\n" {
		t.Errorf("Finish: %q", got)
	}
}

func TestLines(t *testing.T) {
	c := newClock()
	var buf bytes.Buffer
	b := New(&buf, 1000, Options{Unit: "steps", Width: -1, Mode: Lines, Now: c.now})
	for i := 1; i <= 1000; i++ {
		c.advance(10 * time.Millisecond)
		b.Update(i, F("loss", "%.2f", 1/float64(i)))
	}
	b.Finish()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 10 || strings.Contains(buf.String(), "\r") {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, want := range map[int]string{
		0: " 100/1000      100 steps/s  1.0s<9.0s  loss 0.01",
		4: " 500/1000      100 steps/s  5.0s<5.0s  loss 0.00",
		9: "1000/1000      100 steps/s  10.0s  loss 0.00",
	} {
		if lines[i] != want {
			t.Errorf("line %d: %q, want %q", i, lines[i], want)
		}
	}

	// Every 30 percent: 30, 60, 90 and 100; a jump prints one line.
	buf.Reset()
	b = New(&buf, 10, Options{Mode: Lines, Every: 30, Width: 4, Now: c.now})
	for _, n := range []int{1, 2, 3, 4, 9, 10} {
		c.advance(time.Second)
		b.Update(n)
	}
	b.Finish()
	want := "[=>  ]  3/10     1.00 items/s  3.0s<7.0s\n" +
		"[===>]  9/10     1.80 items/s  5.0s<0.6s\n" +
		"[====] 10/10     1.67 items/s  6.0s\n"
	if buf.String() != want {
		t.Errorf("every 30%%:\n%s\nwant\n%s", buf.String(), want)
	}

	// Finish draws a state not drawn yet (the work stopped early), and its
	// fields.
	buf.Reset()
	b = New(&buf, 100, Options{Mode: Lines, Width: -1, Now: c.now})
	b.Add(3)
	b.Add(1)
	c.advance(2 * time.Second)
	b.Finish(F("stopped", "%s", "early"))
	if want := "  4/100     2.00 items/s  2.0s<48.0s  stopped early\n"; buf.String() != want {
		t.Errorf("early finish: %q, want %q", buf.String(), want)
	}
}

func TestEdges(t *testing.T) {
	c := newClock()
	var buf bytes.Buffer
	// Unknown total: count and rate only; Lines mode prints at Finish.
	b := New(&buf, 0, Options{Mode: Lines, Now: c.now})
	b.Update(5)
	if buf.Len() != 0 {
		t.Errorf("unknown total drew %q", buf.String())
	}
	c.advance(time.Second)
	b.Finish()
	if want := "5     5.00 items/s  1.0s\n"; buf.String() != want {
		t.Errorf("unknown total: %q, want %q", buf.String(), want)
	}
	// Nothing done yet, no time passed: no rate, unknown time left.
	b = New(&buf, 10, Options{Width: 2, Now: c.now})
	if s, want := b.String(), "[> ]  0/10        - items/s  0.0s<?"; s != want {
		t.Errorf("%q, want %q", s, want)
	}
	// More than the total: a full bar, no time left.
	b.Update(12)
	if s, want := b.String(), "[==] 12/10        - items/s  0.0s"; s != want {
		t.Errorf("%q, want %q", s, want)
	}
	// Auto: a buffer is no terminal.
	buf.Reset()
	b = New(&buf, 2, Options{Now: c.now})
	b.Update(1)
	b.Update(2)
	b.Finish()
	if strings.Contains(buf.String(), "\r") || strings.Count(buf.String(), "\n") != 2 {
		t.Errorf("Auto on a buffer: %q", buf.String())
	}
	if b.Elapsed() != 0 {
		t.Errorf("Elapsed() = %v", b.Elapsed())
	}
}

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0.0s"}, {0, "0.0s"}, {49 * time.Millisecond, "0.0s"}, {4940 * time.Millisecond, "4.9s"},
		{59940 * time.Millisecond, "59.9s"}, {59950 * time.Millisecond, "1m00s"}, {125 * time.Second, "2m05s"},
		{time.Hour - 501*time.Millisecond, "59m59s"}, {time.Hour - 500*time.Millisecond, "1h00m"},
		{62*time.Minute + 29*time.Second, "1h02m"}, {100 * time.Hour, "100h00m"},
	} {
		if got := FormatDuration(c.d); got != c.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	for _, c := range []struct {
		r    float64
		want string
	}{{8123.4, "8123"}, {99.96, "100.0"}, {45.64, "45.6"}, {1.234, "1.23"}, {0.5123, "0.512"}} {
		if got := formatRate(c.r, true); got != c.want {
			t.Errorf("formatRate(%v) = %q, want %q", c.r, got, c.want)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer null.Close()
	t.Setenv("TERM", "xterm")
	if !IsTerminal(null) {
		t.Errorf("%s (a character device) is not taken for a terminal", os.DevNull)
	}
	t.Setenv("TERM", "dumb")
	if IsTerminal(null) {
		t.Error("TERM=dumb is a terminal")
	}
}
