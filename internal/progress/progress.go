// Package progress draws a text progress bar for work of a known size
// (steps, batches, examples) on an io.Writer: the count and total, the rate
// in items per second, the elapsed time and an estimate of the time left,
// and optional fields such as the running loss:
//
//	epoch 1/10 [=========>                    ] 19200/60000    8123 items/s  2.4s<4.9s  loss 0.5123
//
// On a terminal the line is redrawn in place (a carriage return before
// each draw), at most every 100 ms and once more on completion. Elsewhere
// (a log file, a pipe, CI), where carriage returns would pile up, it prints
// a plain line each time another tenth of the work is done. [Options.Mode]
// chooses; the default tells a terminal from its file mode.
//
//	bar := progress.New(os.Stderr, steps, progress.Options{Prefix: "epoch 1/10", Unit: "steps"})
//	for step := range steps {
//		...
//		bar.Update(step+1, progress.F("loss", "%.4f", loss))
//	}
//	bar.Finish()
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Mode says how a [Bar] shows its progress.
type Mode int

const (
	// Auto is Redraw when the writer is a terminal (an *os.File that is a
	// character device, with $TERM not "dumb"), else Lines.
	Auto Mode = iota
	// Redraw keeps the bar on one line, redrawn after a carriage return at
	// most every [Options.Interval] and on completion; [Bar.Finish] ends
	// the line.
	Redraw
	// Lines prints the bar as a new line each time another [Options.Every]
	// percent of the total is done, and on completion.
	Lines
)

// Options configure a [Bar]. The zero value is usable.
type Options struct {
	Prefix   string           // printed first, e.g. "epoch 1/10"; "" for none
	Unit     string           // what is counted, for the rate: "steps" gives "steps/s"; "" means "items"
	Width    int              // of the bar in characters; 0 means 30, negative means no bar
	Mode     Mode             // Auto, Redraw or Lines
	Interval time.Duration    // Redraw: the least time between two draws; 0 means 100 ms
	Every    int              // Lines: a line every Every percent of the total; 0 means 10
	Now      func() time.Time // the clock; nil means time.Now (tests pass a fake one)
}

// Field is an extra value shown after the times, as "Name Value" with the
// value formatted by fmt's Format verb (formatted only when drawn).
type Field struct {
	Name   string
	Format string
	Value  any
}

// F returns the field name with value formatted by format, e.g.
// F("loss", "%.4f", loss).
func F(name, format string, value any) Field { return Field{Name: name, Format: format, Value: value} }

// Bar is a progress bar. Make one with [New] when the work starts, call
// [Bar.Update] as it progresses and [Bar.Finish] when it ends. A Bar is not
// safe for concurrent use.
type Bar struct {
	w        io.Writer
	total    int
	opt      Options
	redraw   bool
	start    time.Time
	n        int
	fields   []Field
	drawn    bool      // anything drawn yet
	drawnN   int       // the count last drawn
	last     time.Time // when last drawn (Redraw)
	bucket   int       // the last Every-percent step printed (Lines)
	lastLen  int       // the length of the last line drawn (Redraw), to blank leftovers
	finished bool
}

// New returns a bar for total items (total <= 0: unknown, shown without bar
// or time left, and in Lines mode only by Finish), started now.
func New(w io.Writer, total int, opt Options) *Bar {
	if opt.Unit == "" {
		opt.Unit = "items"
	}
	if opt.Width == 0 {
		opt.Width = 30
	}
	if opt.Interval <= 0 {
		opt.Interval = 100 * time.Millisecond
	}
	if opt.Every <= 0 || opt.Every > 100 {
		opt.Every = 10
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	redraw := opt.Mode == Redraw || opt.Mode == Auto && IsTerminal(w)
	return &Bar{w: w, total: total, opt: opt, redraw: redraw, start: opt.Now()}
}

// IsTerminal reports whether w is a terminal as far as [Auto] is concerned:
// an *os.File that is a character device, with $TERM not "dumb". (/dev/null
// is a character device too; what is drawn there is lost either way.)
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update sets the number of items done to n and, if fields are given, the
// extra fields (replacing the previous ones), and draws the bar if it is
// due: in Redraw mode the first time, when n reaches the total, or when
// the interval has passed since the last draw; in Lines mode when n passes
// another Every percent of the total.
func (b *Bar) Update(n int, fields ...Field) {
	b.n = n
	if len(fields) > 0 {
		b.fields = append(b.fields[:0], fields...)
	}
	now := b.opt.Now()
	if b.redraw {
		if !b.drawn || b.total > 0 && n >= b.total && b.drawnN != n || now.Sub(b.last) >= b.opt.Interval {
			b.draw(now)
		}
		return
	}
	if b.total <= 0 {
		return
	}
	if k := b.percentStep(n); k > b.bucket {
		b.bucket = k
		b.draw(now)
	}
}

// Add adds k to the number of items done, as Update(n+k, fields...).
func (b *Bar) Add(k int, fields ...Field) { b.Update(b.n+k, fields...) }

// percentStep returns how many Every-percent steps n is past: 100/Every
// (rounded up) at the total.
func (b *Bar) percentStep(n int) int {
	if n >= b.total {
		return (100 + b.opt.Every - 1) / b.opt.Every
	}
	return int(int64(n) * 100 / int64(b.total) / int64(b.opt.Every))
}

// Finish draws the final state, with fields if given, unless it is drawn
// already, and in Redraw mode ends the line. Calls after the first do
// nothing.
func (b *Bar) Finish(fields ...Field) {
	if b.finished {
		return
	}
	b.finished = true
	changed := len(fields) > 0
	if changed {
		b.fields = append(b.fields[:0], fields...)
	}
	if !b.drawn || b.drawnN != b.n || changed {
		b.draw(b.opt.Now())
	}
	if b.redraw {
		io.WriteString(b.w, "\n")
	}
}

// Elapsed returns the time since the bar was made.
func (b *Bar) Elapsed() time.Duration { return b.opt.Now().Sub(b.start) }

// String returns the bar's line as it would be drawn now.
func (b *Bar) String() string { return b.line(b.opt.Now()) }

func (b *Bar) draw(now time.Time) {
	s := b.line(now)
	b.drawn, b.drawnN, b.last = true, b.n, now
	if !b.redraw {
		io.WriteString(b.w, s+"\n")
		return
	}
	pad := ""
	if k := b.lastLen - len(s); k > 0 {
		pad = strings.Repeat(" ", k) // blank what a longer line left
	}
	b.lastLen = len(s)
	io.WriteString(b.w, "\r"+s+pad)
}

// line formats the bar: prefix, bar, count/total, rate, elapsed<left,
// fields.
func (b *Bar) line(now time.Time) string {
	var sb strings.Builder
	if b.opt.Prefix != "" {
		sb.WriteString(b.opt.Prefix)
		sb.WriteByte(' ')
	}
	n := b.n
	if b.total > 0 && b.opt.Width > 0 {
		width := b.opt.Width
		done := width
		if n < b.total {
			done = int(int64(width) * int64(max(n, 0)) / int64(b.total))
		}
		sb.WriteByte('[')
		sb.WriteString(strings.Repeat("=", done))
		if done < width {
			sb.WriteByte('>')
			sb.WriteString(strings.Repeat(" ", width-done-1))
		}
		sb.WriteString("] ")
	}
	if b.total > 0 {
		digits := len(fmt.Sprint(b.total))
		fmt.Fprintf(&sb, "%*d/%d", digits, n, b.total)
	} else {
		fmt.Fprintf(&sb, "%d", n)
	}
	elapsed := now.Sub(b.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(n) / elapsed.Seconds()
	}
	fmt.Fprintf(&sb, "  %7s %s/s  %s", formatRate(rate, elapsed > 0), b.opt.Unit, FormatDuration(elapsed))
	if b.total > 0 && n < b.total {
		if rate > 0 {
			sb.WriteString("<" + FormatDuration(time.Duration(float64(b.total-n)/rate*float64(time.Second))))
		} else {
			sb.WriteString("<?")
		}
	}
	for _, f := range b.fields {
		sb.WriteString("  " + f.Name + " " + fmt.Sprintf(f.Format, f.Value))
	}
	return sb.String()
}

// formatRate shows three significant digits or more: 8123, 45.6, 0.512.
func formatRate(r float64, ok bool) string {
	switch {
	case !ok:
		return "-"
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	case r >= 1:
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.3f", r)
}

// FormatDuration formats d for a progress line: tenths of a second below a
// minute ("4.9s"), then minutes and seconds ("2m05s"), then hours and
// minutes ("1h02m").
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute-50*time.Millisecond:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour-500*time.Millisecond:
		s := int(d.Round(time.Second) / time.Second)
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	m := int(d.Round(time.Minute) / time.Minute)
	return fmt.Sprintf("%dh%02dm", m/60, m%60)
}
