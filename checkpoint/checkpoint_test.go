package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

func sample() *Checkpoint {
	x := tensor.Arange(0, 12, 1).Reshape(3, 4)
	return &Checkpoint{
		Tensors: map[string]*tensor.Tensor{
			"fc.w":        x.T(), // non-contiguous
			"fc.b":        tensor.Array([]float64{math.NaN(), math.Inf(-1), math.Copysign(0, -1)}),
			"scalar":      tensor.Scalar(2.5),
			"empty":       tensor.Zeros([]int{0, 3}, tensor.WithDType(tensor.Float64)),
			"adam/m/fc.w": tensor.Ones([]int{4, 3}).MulScalar(0.25),
		},
		Metadata: map[string]string{"epoch": "3", "adam/step": "1200", "": "empty key", "note": "ünïcode\x00bytes"},
	}
}

func sameBits(t *testing.T, name string, got, want *tensor.Tensor) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: missing", name)
	}
	if got.DType() != want.DType() || !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("%s: got %v %v, want %v %v", name, got.DType(), got.Shape(), want.DType(), want.Shape())
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range w {
		if math.Float64bits(g[i]) != math.Float64bits(w[i]) {
			t.Fatalf("%s[%d]: got %v, want %v", name, i, g[i], w[i])
		}
	}
}

func sameCheckpoint(t *testing.T, got, want *Checkpoint) {
	t.Helper()
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for n, w := range want.Tensors {
		sameBits(t, n, got.Tensors[n], w)
	}
	if len(got.Metadata) != len(want.Metadata) {
		t.Fatalf("metadata %v, want %v", got.Metadata, want.Metadata)
	}
	for k, v := range want.Metadata {
		if got.Metadata[k] != v {
			t.Fatalf("metadata %q = %q, want %q", k, got.Metadata[k], v)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.ckpt")
	c := sample()
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, tensor.On(device.CPU()))
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, c)

	// Deterministic bytes, and Write gives what Save stored.
	var a, b bytes.Buffer
	if err := Write(&a, c); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, got); err != nil {
		t.Fatal(err)
	}
	disk, _ := os.ReadFile(path)
	if !bytes.Equal(a.Bytes(), b.Bytes()) || !bytes.Equal(a.Bytes(), disk) {
		t.Fatal("the same checkpoint gave different bytes")
	}
	r, err := Read(&a)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, r, c)

	// An empty checkpoint.
	if err := Save(path, &Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if e, err := Load(path); err != nil || len(e.Tensors) != 0 || len(e.Metadata) != 0 {
		t.Fatalf("%v %v", e, err)
	}
}

func TestPrefixed(t *testing.T) {
	c := &Checkpoint{}
	c.Put("adam/m", map[string]*tensor.Tensor{"w": tensor.Ones([]int{2}), "b": tensor.Zeros([]int{1})})
	c.Tensors["w"] = tensor.Ones([]int{2})
	m := c.Prefixed("adam/m")
	if len(m) != 2 || m["w"] == nil || m["b"] == nil || c.Tensors["adam/m/w"] == nil {
		t.Fatalf("%v", m)
	}
}

func encoded(t *testing.T) []byte {
	var b bytes.Buffer
	if err := Write(&b, sample()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTruncationAtEveryLength(t *testing.T) {
	b := encoded(t)
	for n := 0; n < len(b); n++ {
		_, err := Read(bytes.NewReader(b[:n]))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(b), err)
		}
	}
	// Trailing bytes too.
	if _, err := Read(bytes.NewReader(append(b, 0))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func TestCorruptionDetected(t *testing.T) {
	b := encoded(t)
	check := func(pos int, mask byte) {
		t.Helper()
		c := append([]byte(nil), b...)
		c[pos] ^= mask
		_, err := Read(bytes.NewReader(c))
		want := ErrCorrupt
		if pos >= 8 && pos < 12 {
			want = ErrVersion // the version field
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d ^ %#x: %v, want %v", pos, mask, err, want)
		}
	}
	// Every byte with one bit flipped, then random positions and masks.
	for pos := range b {
		check(pos, 1<<(pos%8))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		check(rng.IntN(len(b)), byte(1+rng.IntN(255)))
	}
	// Several bytes at once.
	for i := 0; i < 200; i++ {
		c := append([]byte(nil), b...)
		for k := 0; k < 1+rng.IntN(8); k++ {
			c[12+rng.IntN(len(c)-12)] ^= byte(1 + rng.IntN(255))
		}
		if _, err := Read(bytes.NewReader(c)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("multi-byte corruption: %v", err)
		}
	}
}

// reseal rewrites the checksum after editing a file, as a writer of
// another version would.
func reseal(b []byte) []byte {
	end := len(b) - sha256.Size
	sum := sha256.Sum256(b[:end])
	return append(b[:end:end], sum[:]...)
}

func TestVersion(t *testing.T) {
	b := encoded(t)
	binary.LittleEndian.PutUint32(b[8:], 2)
	b = reseal(b)
	path := filepath.Join(t.TempDir(), "new.ckpt")
	os.WriteFile(path, b, 0o644)
	_, err := Load(path)
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("%v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Path != path || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("%v", err)
	}
	// Structural damage under a valid checksum is still caught.
	b = encoded(t)
	binary.LittleEndian.PutUint32(b[12:], 1) // flags
	if _, err := Read(bytes.NewReader(reseal(b))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flags: %v", err)
	}
	b = encoded(t)
	i := bytes.Index(b, []byte("adam/m/fc.w")) + len("adam/m/fc.w")
	b[i] = 9 // dtype
	if _, err := Read(bytes.NewReader(reseal(b))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("dtype: %v", err)
	}
	if _, err := Read(strings.NewReader("PK\x03\x04 not a checkpoint at all, but long enough....................")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("other file: %v", err)
	}
}

func TestLoadLike(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.ckpt")
	c := sample()
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	params := map[string]*tensor.Tensor{
		"fc.w": tensor.Zeros([]int{4, 3}),
		"fc.b": tensor.Zeros([]int{3}, tensor.WithDType(tensor.Float64)),
	}
	got, err := LoadLike(path, params)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, c)
	for n, p := range params {
		if got.Tensors[n] == p || got.Tensors[n].Device() != p.Device() {
			t.Fatalf("%s", n)
		}
	}
	for name, p := range map[string]*tensor.Tensor{
		"fc.w":    tensor.Zeros([]int{3, 4}),
		"fc.b":    tensor.Zeros([]int{3}),
		"missing": tensor.Zeros([]int{1}),
	} {
		_, err := LoadLike(path, map[string]*tensor.Tensor{name: p})
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.ckpt")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	r := tensor.Ones([]int{128, 128})
	r.Release()
	for name, c := range map[string]*Checkpoint{
		"empty name": {Tensors: map[string]*tensor.Tensor{"": tensor.Ones(nil)}},
		"nil tensor": {Tensors: map[string]*tensor.Tensor{"x": nil}},
		// Fails half way through writing: the target stays as it was.
		"released": {Tensors: map[string]*tensor.Tensor{"a": tensor.Ones([]int{1000}), "b": r}},
	} {
		if err := Save(path, c); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed Save changed the file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := Save(filepath.Join(dir, "no/such/dir/m.ckpt"), sample()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%v", err)
	}
}

// TestCrash simulates a crash after the temporary file is written: the
// target keeps its old contents, and the leftover temporary file does not
// disturb later loads and saves.
func TestCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.ckpt")
	old := sample()
	if err := Save(path, old); err != nil {
		t.Fatal(err)
	}
	crashed := errors.New("simulated crash")
	var leftover string
	beforeRename = func(tmp string) error {
		// Keep a copy of the finished temporary file, as a crash would
		// leave it, and a half-written one.
		b, _ := os.ReadFile(tmp)
		leftover = tmp + "-copy"
		os.WriteFile(leftover, b, 0o644)
		os.WriteFile(filepath.Join(dir, ".m.ckpt.tmp-half"), b[:len(b)/2], 0o644)
		return crashed
	}
	defer func() { beforeRename = nil }()
	next := &Checkpoint{Tensors: map[string]*tensor.Tensor{"x": tensor.Ones([]int{5})}}
	if err := Save(path, next); !errors.Is(err, crashed) {
		t.Fatalf("%v", err)
	}
	beforeRename = nil
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, old)
	if err := Save(path, next); err != nil {
		t.Fatal(err)
	}
	got, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, next)
	if _, err := Load(filepath.Join(dir, ".m.ckpt.tmp-half")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("half-written file: %v", err)
	}
}

// TestConcurrentSave saves different checkpoints to one path from several
// goroutines while another loads it: every load sees one whole checkpoint.
func TestConcurrentSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.ckpt")
	mk := func(i int) *Checkpoint {
		return &Checkpoint{
			Tensors:  map[string]*tensor.Tensor{"w": tensor.Full(float64(i), []int{64, 64}), "b": tensor.Full(float64(i), []int{7})},
			Metadata: map[string]string{"writer": fmt.Sprint(i)},
		}
	}
	if err := Save(path, mk(0)); err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds+100)
	for w := 1; w <= writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if err := Save(path, mk(w)); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	done := make(chan struct{})
	var rg sync.WaitGroup
	rg.Add(1)
	go func() {
		defer rg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			c, err := Load(path)
			if err != nil {
				errs <- err
				return
			}
			if err := consistent(c); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := consistent(c); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func consistent(c *Checkpoint) error {
	want := c.Metadata["writer"]
	for _, n := range []string{"w", "b"} {
		for _, v := range c.Tensors[n].Float64s() {
			if fmt.Sprint(v) != want {
				return fmt.Errorf("tensor %s has %v, metadata says writer %s", n, v, want)
			}
		}
	}
	return nil
}

// Integer tensors (step counters, token ids) keep their dtype and exact
// values.
func TestIntegerTensors(t *testing.T) {
	c := &Checkpoint{Tensors: map[string]*tensor.Tensor{
		"ids":  tensor.FromSlice([]int64{1<<53 + 1, -3, math.MaxInt64}, []int{3}),
		"mask": tensor.FromSlice([]int32{-1, 2, math.MinInt32, 0}, []int{2, 2}),
	}}
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range c.Tensors {
		g := got.Tensors[name]
		if g.DType() != want.DType() || fmt.Sprint(g.Shape()) != fmt.Sprint(want.Shape()) || fmt.Sprint(g.Int64s()) != fmt.Sprint(want.Int64s()) {
			t.Errorf("%s: %v %v %v, want %v %v %v", name, g.DType(), g.Shape(), g.Int64s(), want.DType(), want.Shape(), want.Int64s())
		}
	}
}

// Half tensors are stored as their bits (2 bytes each, dtype codes 5 and
// 6) and read back as half tensors, bit for bit (NaN as NaN); LoadLike
// checks their dtype like any other.
func TestHalfTensors(t *testing.T) {
	vals := []float64{1, -0.333, 65504, math.Inf(-1), math.Copysign(0, -1), 0x1p-24, 1e-40, math.NaN()}
	c := &Checkpoint{Tensors: map[string]*tensor.Tensor{
		"bf": tensor.FromSlice(vals, []int{2, 4}, tensor.WithDType(tensor.BFloat16)).T(), // non-contiguous
		"fp": tensor.FromSlice(vals, []int{8}, tensor.WithDType(tensor.Float16)),
	}}
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	// Header 24 bytes, two counts, two entries of 16 elements' bytes...
	if want := 24 + 4 + 4 + 2*(4+2+1+4) + 8*3 + 2*2*8 + sha256.Size; buf.Len() != want {
		t.Errorf("%d bytes, want %d (2 bytes per half element)", buf.Len(), want)
	}
	raw := bytes.Clone(buf.Bytes())
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range c.Tensors {
		g := got.Tensors[name]
		if g.DType() != want.DType() || !slices.Equal(g.Shape(), want.Shape()) {
			t.Fatalf("%s: %v %v, want %v %v", name, g.DType(), g.Shape(), want.DType(), want.Shape())
		}
		gv, wv := g.Float64s(), want.Float64s()
		for i := range wv {
			if math.Float64bits(gv[i]) != math.Float64bits(wv[i]) && !(gv[i] != gv[i] && wv[i] != wv[i]) {
				t.Errorf("%s[%d] = %v, want %v", name, i, gv[i], wv[i])
			}
		}
	}
	// The same tensors give the same bytes.
	var again bytes.Buffer
	Write(&again, c)
	if !bytes.Equal(again.Bytes(), raw) {
		t.Error("writing the same half tensors twice gave different bytes")
	}
	// LoadLike: a half parameter loads; a float32 one of the same shape
	// is a mismatch.
	path := filepath.Join(t.TempDir(), "h.ckpt")
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLike(path, map[string]*tensor.Tensor{"fp": tensor.Zeros([]int{8}, tensor.WithDType(tensor.Float16))}); err != nil {
		t.Errorf("LoadLike float16: %v", err)
	}
	if _, err := LoadLike(path, map[string]*tensor.Tensor{"fp": tensor.Zeros([]int{8})}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "float16") {
		t.Errorf("LoadLike float32 against float16: %v", err)
	}
}
