package data_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/tensor"
)

// mustPanic checks that f panics with a *tensor.Error of kind ErrArgument
// whose message contains want.
func mustPanic(t *testing.T, name, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		var e *tensor.Error
		if err, ok := r.(error); !ok || !errors.As(err, &e) || e.Kind != tensor.ErrArgument || !strings.Contains(e.Error(), want) {
			t.Errorf("%s: panic %v, want a tensor.ErrArgument error containing %q", name, r, want)
		}
	}()
	f()
}

func TestVocab(t *testing.T) {
	text := []byte("hello, world\n\x00\xff")
	v := data.NewVocab(text)
	if want := []byte("\x00\n ,dehlorw\xff"); !slices.Equal(v.Chars(), want) {
		t.Fatalf("Chars() = %q, want %q", v.Chars(), want)
	}
	if v.Size() != 12 || v.String() != "Vocab(12 characters)" {
		t.Errorf("Size %d, %v", v.Size(), v)
	}
	ids, err := v.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{6, 5, 7, 7, 8, 3, 2, 10, 8, 9, 7, 4, 1, 0, 11}; !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	if s := v.Decode(ids); s != string(text) {
		t.Errorf("Decode(Encode(text)) = %q", s)
	}
	for id := range int32(v.Size()) {
		c := v.Char(id)
		if got, ok := v.ID(c); !ok || got != id {
			t.Errorf("ID(Char(%d) = %q) = %d, %v", id, c, got, ok)
		}
	}
	if id, ok := v.ID('z'); ok || id != -1 {
		t.Errorf("ID('z') = %d, %v", id, ok)
	}
	chars := v.Chars()
	chars[0] = 'X' // a copy
	if v.Char(0) != 0 {
		t.Error("Chars returned the vocabulary's own slice")
	}

	_, err = v.Encode([]byte("hello, World"))
	var e *data.Error
	if !errors.Is(err, data.ErrUnknownChar) || !errors.As(err, &e) ||
		err.Error() != `data: byte "W" (0x57) at offset 7 is not in the vocabulary of 12 characters` {
		t.Errorf("unknown character: %v", err)
	}
	_, err = data.NewVocab([]byte("ab")).Encode([]byte("a\xbc"))
	if !errors.Is(err, data.ErrUnknownChar) || !strings.Contains(err.Error(), `byte "\xbc" (0xbc) at offset 1`) {
		t.Errorf("unknown byte: %v", err)
	}
	mustPanic(t, "Decode", "id 12 at index 1, of a vocabulary of 12", func() { v.Decode([]int32{0, 12}) })
	mustPanic(t, "Decode", "id -1 at index 0", func() { v.Decode([]int32{-1}) })
	mustPanic(t, "Char", "id 12 of a vocabulary of 12", func() { v.Char(12) })

	empty := data.NewVocab(nil)
	if ids, err := empty.Encode(nil); empty.Size() != 0 || err != nil || len(ids) != 0 || empty.Decode(nil) != "" {
		t.Errorf("empty vocabulary: %v %v %v", empty, ids, err)
	}
	// Bytes, not runes: a two-byte character is two tokens.
	u := []byte("½") // 0xc2 0xbd
	if v := data.NewVocab(u); v.Size() != 2 || !slices.Equal(v.Chars(), []byte{0xbd, 0xc2}) {
		t.Errorf("vocabulary of %q: %q", u, v.Chars())
	}
}

func TestSplitTrainVal(t *testing.T) {
	for n := range 45 {
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(i)
		}
		train, val := data.SplitTrainVal(s)
		if len(train) != n*9/10 || len(train)+len(val) != n || !slices.Equal(append(slices.Clone(train), val...), s) {
			t.Errorf("n=%d: %d + %d", n, len(train), len(val))
		}
		if cap(train) != len(train) {
			t.Errorf("n=%d: appending to train would overwrite val (cap %d)", n, cap(train))
		}
	}
	train, val := data.SplitTrainVal([]byte("abcdefghijklmnopqrst"))
	if string(train) != "abcdefghijklmnopqr" || string(val) != "st" {
		t.Errorf("%q %q", train, val)
	}
	// No overflow for lengths near the maximum (the arithmetic only).
	n := math.MaxInt
	hi, lo := bits.Mul64(uint64(n), 9)
	if q, _ := bits.Div64(hi, lo, 10); n/10*9+n%10*9/10 != int(q) {
		t.Errorf("cut of MaxInt: %d, want %d", n/10*9+n%10*9/10, q)
	}
}

func TestCorpus(t *testing.T) {
	c := data.NewCorpus([]byte("abcabcabcd"))
	if c.Vocab.Size() != 4 || !slices.Equal(c.Tokens, []int32{0, 1, 2, 0, 1, 2, 0, 1, 2, 3}) ||
		!slices.Equal(c.Train, c.Tokens[:9]) || !slices.Equal(c.Val, []int32{3}) {
		t.Errorf("%v: %v %v %v", c, c.Tokens, c.Train, c.Val)
	}
	if s := c.String(); s != "Corpus(10 characters, vocabulary of 4, 9 train, 1 validation)" {
		t.Errorf("String() = %q", s)
	}
}

// ramp returns the tokens 0, 1, ..., n-1, so that a window's first token is
// its position.
func ramp(n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(i)
	}
	return s
}

func TestCharBatches(t *testing.T) {
	const n, B, T = 50, 7, 5
	tokens := ramp(n)
	s := data.CharBatches(tokens, B, T, 42)
	if s.BatchSize() != B || s.SeqLen() != T {
		t.Fatalf("sizes %d, %d", s.BatchSize(), s.SeqLen())
	}
	// Pinned: the same positions on every machine (see ExampleCharBatches
	// for another seed).
	if got, want := s.Starts(0), []int{33, 7, 12, 15, 1, 39, 9}; !slices.Equal(got, want) {
		t.Errorf("Starts(0) = %v, want %v", got, want)
	}
	if got, want := s.Starts(1000), []int{42, 9, 18, 32, 4, 27, 17}; !slices.Equal(got, want) {
		t.Errorf("Starts(1000) = %v, want %v", got, want)
	}
	seen := make([]int, n-T)
	for step := range 400 {
		starts := s.Starts(step)
		x, y := s.Batch(step)
		if len(x) != B*T || len(y) != B*T {
			t.Fatalf("step %d: %d and %d ids", step, len(x), len(y))
		}
		for i, p := range starts {
			if p < 0 || p > n-T-1 {
				t.Fatalf("step %d: start %d outside [0, %d]", step, p, n-T-1)
			}
			seen[p]++
			for j := range T {
				if x[i*T+j] != int32(p+j) || y[i*T+j] != int32(p+j+1) {
					t.Fatalf("step %d, window %d at %d: x %v, y %v", step, i, p, x[i*T:(i+1)*T], y[i*T:(i+1)*T])
				}
			}
		}
		// Fill gives the same, and so does a sampler made again.
		fx, fy := make([]int32, B*T), make([]int32, B*T)
		s.Fill(step, fx, fy)
		x2, y2 := data.CharBatches(tokens, B, T, 42).Batch(step)
		if !slices.Equal(fx, x) || !slices.Equal(fy, y) || !slices.Equal(x2, x) || !slices.Equal(y2, y) {
			t.Fatalf("step %d: Fill or a new sampler differ", step)
		}
	}
	// Every start is drawn, about equally often (2800 draws over 45
	// positions: 62 expected; a chi-square with 44 degrees of freedom is
	// below 80 with probability 0.999).
	chi2 := 0.0
	e := float64(400*B) / float64(n-T)
	for p, c := range seen {
		if c == 0 {
			t.Errorf("start %d never drawn", p)
		}
		chi2 += (float64(c) - e) * (float64(c) - e) / e
	}
	if chi2 > 80 {
		t.Errorf("starts not uniform: chi-square %.1f over %v", chi2, seen)
	}
	// Another seed, another order; the steps differ from each other.
	if slices.Equal(data.CharBatches(tokens, B, T, 43).Starts(0), s.Starts(0)) || slices.Equal(s.Starts(1), s.Starts(0)) {
		t.Error("seed or step does not change the windows")
	}
	// The only window there is.
	one := data.CharBatches(ramp(T+1), 3, T, 1)
	if x, y := one.Batch(9); !slices.Equal(x, slices.Concat(ramp(T), ramp(T), ramp(T))) || y[T-1] != T {
		t.Errorf("a stream of T+1 tokens: %v %v", x, y)
	}

	mustPanic(t, "batch 0", "batches of 0 windows of 5+1 tokens from 50 tokens", func() { data.CharBatches(tokens, 0, T, 1) })
	mustPanic(t, "seqLen 0", "batches of 7 windows of 0+1 tokens", func() { data.CharBatches(tokens, B, 0, 1) })
	mustPanic(t, "short stream", "from 5 tokens", func() { data.CharBatches(ramp(5), B, 5, 1) })
	mustPanic(t, "negative step", "step -1", func() { s.Starts(-1) })
	mustPanic(t, "Fill", "slices of 34 and 35 ids for a batch of 7×5", func() { s.Fill(0, make([]int32, 34), make([]int32, 35)) })
}

func TestEvalBatches(t *testing.T) {
	for _, c := range []struct{ n, batch, seqLen, windows int }{
		{0, 4, 3, 0}, {1, 4, 3, 0}, {3, 4, 3, 0}, {4, 4, 3, 1}, {25, 4, 3, 8}, {26, 4, 3, 8}, {29, 4, 3, 9}, {100, 1, 1, 99},
	} {
		tokens := ramp(c.n)
		if w := data.NumEvalWindows(c.n, c.seqLen); w != c.windows {
			t.Errorf("NumEvalWindows(%d, %d) = %d, want %d", c.n, c.seqLen, w, c.windows)
		}
		var xs, ys []int32
		var sizes []int
		for x, y := range data.EvalBatches(tokens, c.batch, c.seqLen) {
			if len(x) != len(y) || len(x)%c.seqLen != 0 {
				t.Fatalf("%+v: %d and %d ids", c, len(x), len(y))
			}
			sizes = append(sizes, len(x)/c.seqLen)
			xs, ys = append(xs, x...), append(ys, y...)
			x[0] = -1 // the batches are copies
		}
		m := c.windows * c.seqLen
		if !slices.Equal(xs, ramp(c.n)[:m]) || (m > 0 && !slices.Equal(ys, ramp(c.n)[1:m+1])) || c.n > 0 && tokens[0] != 0 {
			t.Errorf("%+v: x %v, y %v", c, xs, ys)
		}
		for i, b := range sizes {
			if want := min(c.batch, c.windows-i*c.batch); b != want {
				t.Errorf("%+v: batch %d of %d windows, want %d", c, i, b, want)
			}
		}
		if len(sizes) != (c.windows+c.batch-1)/c.batch {
			t.Errorf("%+v: %d batches", c, len(sizes))
		}
	}
	k := 0
	for range data.EvalBatches(ramp(100), 2, 3) {
		if k++; k == 2 {
			break
		}
	}
	mustPanic(t, "batch 0", "batches of 0 windows of 3 tokens", func() { data.EvalBatches(ramp(10), 0, 3) })
	mustPanic(t, "seqLen 0", "batches of 1 windows of 0 tokens", func() { data.EvalBatches(ramp(10), 1, 0) })
	mustPanic(t, "NumEvalWindows", "sequence length 0", func() { data.NumEvalWindows(10, 0) })
}

// refCrossEntropy is the n-gram cross-entropy computed the obvious way:
// counts in maps keyed by the n-gram's text.
func refCrossEntropy(train, val []int32, v, n int, alpha float64) float64 {
	key := func(s []int32) string { return fmt.Sprint(s) }
	joint, ctx := map[string]int{}, map[string]int{}
	for i := n - 1; i < len(train); i++ {
		joint[key(train[i-n+1:i+1])]++
		ctx[key(train[i-n+1:i])]++
	}
	sum := 0.0
	for i := n - 1; i < len(val); i++ {
		p := (float64(joint[key(val[i-n+1:i+1])]) + alpha) / (float64(ctx[key(val[i-n+1:i])]) + alpha*float64(v))
		sum -= math.Log(p)
	}
	return sum / float64(len(val)-n+1)
}

func TestNGram(t *testing.T) {
	// By hand: "abab" then "b" after "a" has probability (2+α)/(2+2α).
	tokens := []int32{0, 1, 0, 1, 0}
	m := data.NewNGram(tokens, 2, 2, 0.5)
	if p := m.Prob([]int32{0}, 1); math.Abs(p-2.5/3) > 1e-15 || m.N() != 2 {
		t.Errorf("P(b|a) = %v, want %v", p, 2.5/3)
	}
	if p := data.NewNGram(tokens, 2, 1, 0).Prob(nil, 0); p != 0.6 {
		t.Errorf("unsmoothed unigram P(a) = %v", p)
	}
	if ce := data.NewNGram(tokens, 2, 2, 0).CrossEntropy([]int32{0, 1, 0}); ce != 0 {
		t.Errorf("a certain continuation: cross-entropy %v", ce)
	}
	if ce := data.NewNGram(tokens, 2, 2, 0).CrossEntropy([]int32{0, 0}); !math.IsInf(ce, 1) {
		t.Errorf("an impossible continuation without smoothing: cross-entropy %v", ce)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(n, v int) []int32 {
		s := make([]int32, n)
		for i := range s {
			// Skewed and with some structure: often the previous token + 1.
			if i > 0 && rng.IntN(2) == 0 {
				s[i] = (s[i-1] + 1) % int32(v)
			} else {
				s[i] = int32(rng.IntN(v) * rng.IntN(v) / v)
			}
		}
		return s
	}
	for _, c := range []struct{ v, n int }{{5, 1}, {5, 2}, {5, 3}, {5, 4}, {3000, 2}, {3000, 3}, {70, 4}, {1, 3}} {
		// {3000, 2}: 9e6 bigrams, counted in a map; {70, 4} too.
		train, val := gen(3000, c.v), gen(400, c.v)
		for _, alpha := range []float64{0.1, 1} {
			m := data.NewNGram(train, c.v, c.n, alpha)
			got, want := m.CrossEntropy(val), refCrossEntropy(train, val, c.v, c.n, alpha)
			if math.Abs(got-want) > 1e-12*want || (got != data.NGramCrossEntropy(train, val, c.v, c.n, alpha)) {
				t.Errorf("V=%d n=%d α=%v: cross-entropy %v, want %v", c.v, c.n, alpha, got, want)
			}
			// The probabilities of a context sum to 1.
			ctx := val[:c.n-1]
			sum := 0.0
			for next := range int32(c.v) {
				sum += m.Prob(ctx, next)
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("V=%d n=%d α=%v: probabilities after %v sum to %v", c.v, c.n, alpha, ctx, sum)
			}
		}
	}

	mustPanic(t, "n 0", "n = 0", func() { data.NewNGram(tokens, 2, 0, 0.1) })
	mustPanic(t, "alpha", "alpha = -1", func() { data.NewNGram(tokens, 2, 1, -1) })
	mustPanic(t, "alpha NaN", "alpha = NaN", func() { data.NewNGram(tokens, 2, 1, math.NaN()) })
	mustPanic(t, "vocab", "vocabulary of 0", func() { data.NewNGram(tokens, 0, 1, 0.1) })
	mustPanic(t, "too many", "6-grams of a vocabulary of 10000: too many", func() { data.NewNGram(tokens, 10000, 6, 0.1) })
	mustPanic(t, "token", "token 2 at index 1, of a vocabulary of 2", func() { data.NewNGram([]int32{0, 2}, 2, 1, 0.1) })
	mustPanic(t, "context", "a context of 0 tokens for a 2-gram model", func() { m.Prob(nil, 0) })
	mustPanic(t, "Prob token", "token 2, of a vocabulary of 2", func() { m.Prob([]int32{0}, 2) })
	mustPanic(t, "short", "1 tokens for a 2-gram model", func() { m.CrossEntropy([]int32{0}) })
	mustPanic(t, "CrossEntropy token", "token -1 at index 1", func() { m.CrossEntropy([]int32{0, -1}) })
}

func TestFortunesNotFound(t *testing.T) {
	if _, err := os.Stat(filepath.Join(data.FortunesSystemDir, data.FortunesFiles[0])); err == nil {
		t.Skip("the fortunes package is installed in", data.FortunesSystemDir)
	}
	t.Setenv(data.FortunesEnv, "")
	t.Chdir(t.TempDir())
	_, err := data.Fortunes("")
	if !errors.Is(err, data.ErrNotFound) || !errors.Is(err, os.ErrNotExist) ||
		!strings.Contains(err.Error(), "bash scripts/fortunes.sh") || !strings.Contains(err.Error(), data.FortunesEnv) {
		t.Errorf("Fortunes(\"\") without the corpus: %v", err)
	}
	t.Log(err)

	// A synthetic corpus in .cache/fortunes of a parent directory is found,
	// and loaded in the order of FortunesFiles; other files are ignored.
	root := t.TempDir()
	cache := filepath.Join(root, ".cache", "fortunes")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i, f := range data.FortunesFiles {
		b := fmt.Appendf(nil, "%s %d\n%%\n", f, i)
		want = append(want, b...)
		if err := os.WriteFile(filepath.Join(cache, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"art.dat", "VERSION", "copyright", "fortunes"} {
		if err := os.WriteFile(filepath.Join(cache, f), []byte("not part of the corpus"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	if dir, err := data.FortunesDir(); err != nil || dir != cache {
		t.Errorf("FortunesDir() from %s = %q, %v; want %s", sub, dir, err, cache)
	}
	c, err := data.Fortunes("")
	if err != nil || string(c.Text) != string(want) {
		t.Fatalf("Fortunes: %v\n%q", err, c.Text[:min(len(c.Text), 100)])
	}
	if !slices.IsSorted(data.FortunesFiles[:]) {
		t.Error("FortunesFiles is not sorted")
	}

	// $TAPEGRAD_FORTUNES wins, even without the files (then LoadFortunes
	// says which are missing).
	other := t.TempDir()
	t.Setenv(data.FortunesEnv, other)
	if dir, err := data.FortunesDir(); err != nil || dir != other {
		t.Errorf("FortunesDir() with $%s = %q, %v", data.FortunesEnv, dir, err)
	}
	if err := os.WriteFile(filepath.Join(other, "zippy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = data.LoadFortunes("")
	if !errors.Is(err, data.ErrNotFound) || !strings.Contains(err.Error(), "fortune file(s) missing: art, ascii-art, ") ||
		!strings.Contains(err.Error(), ", work;") || !strings.Contains(err.Error(), "scripts/fortunes.sh") {
		t.Errorf("LoadFortunes without 39 files: %v", err)
	}
	if err := os.Remove(filepath.Join(other, "zippy")); err != nil {
		t.Fatal(err)
	}
	if _, err = data.LoadFortunes(""); !errors.Is(err, data.ErrNotFound) || !strings.Contains(err.Error(), "fortune file(s) missing: all 40;") {
		t.Errorf("LoadFortunes without the files: %v", err)
	}
	// A directory in place of a file.
	if err := os.Mkdir(filepath.Join(cache, "zippy2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := data.ConcatFiles(filepath.Join(cache, "art"), filepath.Join(cache, "zippy2")); err == nil || !strings.HasSuffix(err.Error(), "zippy2: not a regular file") {
		t.Errorf("ConcatFiles of a directory: %v", err)
	}
}

// loadFortunes loads the real fortunes corpus, or skips the test when it is
// not there (but fails when $TAPEGRAD_FORTUNES names a directory without
// it).
func loadFortunes(tb testing.TB) *data.Corpus {
	tb.Helper()
	c, err := data.Fortunes("")
	if errors.Is(err, data.ErrNotFound) && os.Getenv(data.FortunesEnv) == "" {
		tb.Skipf("the fortunes corpus is not there: run `bash scripts/fortunes.sh` (no root, 0.8 MB) to test with it\n(%v)", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// The real corpus: its size, checksum and vocabulary, and the count-model
// baselines the issue gives for it (unigram 3.37, bigram 2.61, three
// characters of context 1.90 nats/char with add-0.1 smoothing).
func TestFortunes(t *testing.T) {
	c := loadFortunes(t)
	const size = 2478275
	if len(c.Text) != size {
		t.Fatalf("%d bytes, want %d", len(c.Text), size)
	}
	if h, want := fmt.Sprintf("%x", sha256.Sum256(c.Text)), "2fc106f17c1d1059a2883c69171a75c17df0d426ae6c3de824cca88b787dcc8b"; h != want {
		t.Errorf("SHA-256 %s, want %s", h, want)
	}
	if c.Vocab.Size() != 114 || !utf8.Valid(c.Text) || utf8.RuneCount(c.Text) != size-47 {
		t.Errorf("%v, %d runes, valid UTF-8: %v", c.Vocab, utf8.RuneCount(c.Text), utf8.Valid(c.Text))
	}
	runes := map[rune]bool{}
	for _, r := range string(c.Text) {
		runes[r] = true
	}
	if len(runes) != 113 {
		t.Errorf("%d distinct runes, want 113", len(runes))
	}
	if len(c.Train) != 2230447 || len(c.Val) != 247828 {
		t.Errorf("%v", c)
	}
	if c.Vocab.Decode(c.Tokens) != string(c.Text) {
		t.Error("Decode(Tokens) is not the text")
	}
	for n, want := range []float64{3.3728, 2.6125, 2.1455, 1.9038} {
		got := data.NGramCrossEntropy(c.Train, c.Val, c.Vocab.Size(), n+1, 0.1)
		t.Logf("%d-gram model, add-0.1: %.6f nats/char on validation", n+1, got)
		if math.Abs(got-want) > 5e-5 {
			t.Errorf("%d-gram: %.6f nats/char, want %.4f", n+1, got, want)
		}
	}
	x, y := data.CharBatches(c.Train, 4, 64, 1).Batch(0)
	t.Logf("a training window: %q -> %q", c.Vocab.Decode(x[:64]), c.Vocab.Decode(y[:64]))
}

func BenchmarkNGram4(b *testing.B) {
	c := loadFortunes(b)
	for b.Loop() {
		data.NGramCrossEntropy(c.Train, c.Val, c.Vocab.Size(), 4, 0.1)
	}
}
