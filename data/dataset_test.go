package data_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// synthetic returns n images of 2×3 pixels where image i holds i, i+1, ...,
// i+5 (mod 256), labelled i%10.
func synthetic(n int) *data.Dataset {
	pixels := make([]uint8, n*6)
	labels := make([]uint8, n)
	for i := range n {
		for k := range 6 {
			pixels[i*6+k] = uint8(i + k)
		}
		labels[i] = uint8(i % 10)
	}
	return data.NewDataset(pixels, labels, 2, 3)
}

// example returns the index of the example whose image row is x (6 values
// in [0, 1]) in a synthetic dataset of fewer than 256 images.
func example(t *testing.T, x []float32) int {
	t.Helper()
	i := int(math.Round(float64(x[0]) * 255))
	for k := range 6 {
		if want := float32(uint8(i+k)) / 255; x[k] != want {
			t.Fatalf("image row %v is not example %d", x, i)
		}
	}
	return i
}

func TestLoadRoundTrip(t *testing.T) {
	const n = 7
	want := synthetic(n)
	dir := t.TempDir()
	for _, gz := range []bool{false, true} {
		ip := writeFile(t, dir, "images", idxBytes(t, &data.IDX{Type: data.IDXUint8, Dims: []int{n, 2, 3}, Data: want.Pixels()}, gz))
		lp := writeFile(t, dir, "labels", idxBytes(t, &data.IDX{Type: data.IDXUint8, Dims: []int{n}, Data: want.LabelBytes()}, gz))
		d, err := data.Load(ip, lp)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != n || !reflect.DeepEqual(d.ImageShape(), []int{2, 3}) ||
			!slices.Equal(d.Pixels(), want.Pixels()) || !slices.Equal(d.LabelBytes(), want.LabelBytes()) {
			t.Fatalf("gzip %v: loaded %v, pixels %v, labels %v", gz, d, d.Pixels(), d.LabelBytes())
		}
	}
}

func TestDataset(t *testing.T) {
	d := synthetic(12)
	if d.Len() != 12 || d.String() != "Dataset(12 images of 2×3)" {
		t.Errorf("Len %d, String %q", d.Len(), d)
	}
	if !slices.Equal(d.Image(3), []uint8{3, 4, 5, 6, 7, 8}) || d.Label(11) != 1 {
		t.Errorf("Image(3) = %v, Label(11) = %d", d.Image(3), d.Label(11))
	}
	if got := d.LabelInts(); !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1}) {
		t.Errorf("LabelInts = %v", got)
	}

	cpu := data.On(device.CPU())
	x := d.Images(cpu)
	if !reflect.DeepEqual(x.Shape(), []int{12, 2, 3}) || x.DType() != tensor.Float32 || x.Device() != device.CPU() {
		t.Errorf("Images: %v %v %v", x.Shape(), x.DType(), x.Device())
	}
	for i, v := range x.Float32s() {
		if want := float32(d.Pixels()[i]) / 255; v != want {
			t.Fatalf("Images()[%d] = %v, want %v", i, v, want)
		}
	}
	if s := d.Images(data.Flat()).Shape(); !reflect.DeepEqual(s, []int{12, 6}) {
		t.Errorf("Images(Flat()).Shape() = %v", s)
	}
	if x := d.Images(data.TensorOptions(tensor.WithDType(tensor.Float64), tensor.On(device.CPU()))); x.DType() != tensor.Float64 {
		t.Errorf("Images(Float64).DType() = %v", x.DType())
	}
	y := d.Labels(cpu)
	if !reflect.DeepEqual(y.Shape(), []int{12}) || !slices.Equal(y.Float32s(), []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1}) {
		t.Errorf("Labels = %v", y)
	}

	// Pixel 255 is exactly 1 and 0 is exactly 0.
	px := data.NewDataset([]uint8{0, 255}, []uint8{0}, 1, 2).Images().Float32s()
	if px[0] != 0 || px[1] != 1 {
		t.Errorf("scaling 0 and 255 gives %v", px)
	}

	s := d.Slice(4, 9)
	if s.Len() != 5 || s.Label(0) != 4 || !slices.Equal(s.Image(4), d.Image(8)) {
		t.Errorf("Slice(4, 9): %v, first label %d", s, s.Label(0))
	}
	if sub := d.Subset(3); sub.Len() != 3 || sub.Label(2) != 2 {
		t.Errorf("Subset(3): %v", sub)
	}
	if e := d.Slice(12, 12); e.Len() != 0 || e.Images().Size() != 0 {
		t.Errorf("empty slice: %v", e)
	}

	for name, fn := range map[string]func(){
		"Slice(-1, 2)":  func() { d.Slice(-1, 2) },
		"Slice(3, 2)":   func() { d.Slice(3, 2) },
		"Slice(0, 13)":  func() { d.Subset(13) },
		"Image(12)":     func() { d.Image(12) },
		"Label(-1)":     func() { d.Label(-1) },
		"NewDataset":    func() { data.NewDataset(make([]uint8, 5), make([]uint8, 1), 2, 3) },
		"Batches(0...)": func() { d.Batches(0, false, 0) },
		"NumBatches(0)": func() { d.NumBatches(0) },
	} {
		err := tensor.Maybe(fn)
		if !errors.Is(err, tensor.ErrIndex) && !errors.Is(err, tensor.ErrArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// epoch runs one pass of Batches and returns the examples in the order they
// came, checking shapes, labels and the batch sizes on the way.
func epoch(t *testing.T, d *data.Dataset, size int, shuffle bool, seed uint64, opts ...data.Option) []int {
	t.Helper()
	var order []int
	batches := 0
	for x, y := range d.Batches(size, shuffle, seed, opts...) {
		b := y.Shape()[0]
		if !reflect.DeepEqual(x.Shape(), []int{b, 2, 3}) && !reflect.DeepEqual(x.Shape(), []int{b, 6}) {
			t.Fatalf("x %v, y %v", x.Shape(), y.Shape())
		}
		if b != size && (batches != d.NumBatches(size)-1 || b != d.Len()%size) {
			t.Fatalf("batch %d of size %d, want %d", batches, b, size)
		}
		xs, ys := x.Float32s(), y.Float32s()
		for j := range b {
			i := example(t, xs[6*j:6*j+6])
			if ys[j] != float32(i%10) {
				t.Fatalf("example %d labelled %v", i, ys[j])
			}
			order = append(order, i)
		}
		batches++
	}
	if batches != d.NumBatches(size, opts...) {
		t.Errorf("%d batches, NumBatches says %d", batches, d.NumBatches(size, opts...))
	}
	return order
}

func TestBatches(t *testing.T) {
	const n = 23
	d := synthetic(n)
	for _, size := range []int{1, 5, 23, 50} {
		for _, shuffle := range []bool{false, true} {
			for _, drop := range []bool{false, true} {
				var opts []data.Option
				if drop {
					opts = append(opts, data.DropLast())
				}
				order := epoch(t, d, size, shuffle, 7, opts...)
				want := data.Permutation(n, 7)
				if !shuffle {
					want = data.Permutation(n, 7)
					slices.Sort(want)
				}
				if drop {
					want = want[:n/size*size]
				}
				if !slices.Equal(order, want) {
					t.Errorf("size %d, shuffle %v, drop last %v: order %v, want %v", size, shuffle, drop, order, want)
				}
				// Every example once per epoch (without DropLast).
				if !drop {
					sorted := slices.Sorted(slices.Values(order))
					for i, v := range sorted {
						if v != i {
							t.Fatalf("size %d: examples %v", size, sorted)
						}
					}
				}
			}
		}
	}

	// The same seed gives the same order, on every pass over the iterator;
	// other seeds give other orders.
	seq := d.Batches(4, true, 1)
	a, b := epoch(t, d, 4, true, 1), epoch(t, d, 4, true, 1)
	var c []int
	for _, y := range seq {
		for _, v := range y.Float32s() {
			c = append(c, int(v))
		}
	}
	var c2 []int
	for _, y := range seq {
		for _, v := range y.Float32s() {
			c2 = append(c2, int(v))
		}
	}
	if !slices.Equal(a, b) || !slices.Equal(c, c2) {
		t.Errorf("seed 1 gives %v and %v", a, b)
	}
	for seed := uint64(2); seed < 10; seed++ {
		if o := epoch(t, d, 4, true, seed); slices.Equal(o, a) {
			t.Errorf("seeds 1 and %d give the same order %v", seed, o)
		}
	}

	// Flat, device, breaking out early.
	batches := 0
	for x, y := range d.Batches(10, false, 0, data.Flat(), data.On(device.CPU())) {
		if !reflect.DeepEqual(x.Shape(), []int{10, 6}) || x.Device() != device.CPU() || y.Device() != device.CPU() {
			t.Errorf("x %v on %v", x.Shape(), x.Device())
		}
		batches++
		break
	}
	if batches != 1 {
		t.Errorf("break: %d batches", batches)
	}
	if n := d.NumBatches(5, data.DropLast()); n != 4 {
		t.Errorf("NumBatches(5, DropLast()) = %d", n)
	}
	for range synthetic(0).Batches(3, true, 0) {
		t.Error("a batch of an empty dataset")
	}
}

func TestPermutation(t *testing.T) {
	// Pinned: any change to the generator or the shuffle changes every
	// training run's order.
	if p := data.Permutation(10, 42); !slices.Equal(p, []int{8, 3, 6, 5, 4, 0, 9, 2, 1, 7}) {
		t.Errorf("Permutation(10, 42) = %v", p)
	}
	for n := range 50 {
		p := data.Permutation(n, uint64(n))
		s := slices.Sorted(slices.Values(p))
		for i, v := range s {
			if v != i {
				t.Fatalf("Permutation(%d) = %v", n, p)
			}
		}
	}
	// The six orders of three elements are about equally likely.
	count := map[[3]int]int{}
	const seeds = 6000
	for seed := range uint64(seeds) {
		p := data.Permutation(3, seed)
		count[[3]int(p)]++
	}
	if len(count) != 6 {
		t.Errorf("orders of 3: %v", count)
	}
	for p, c := range count {
		if c < 850 || c > 1150 {
			t.Errorf("order %v in %d of %d seeds", p, c, seeds)
		}
	}
}

// writeFashion writes the four Fashion-MNIST files of a tiny dataset with
// images of rows×cols into dir.
func writeFashion(t *testing.T, dir string, rows, cols int, label uint8) {
	t.Helper()
	for _, f := range []struct {
		images, labels string
		n              int
	}{{data.FashionMNISTTrainImages, data.FashionMNISTTrainLabels, 3}, {data.FashionMNISTTestImages, data.FashionMNISTTestLabels, 2}} {
		writeFile(t, dir, f.images, idxBytes(t, &data.IDX{Type: data.IDXUint8, Dims: []int{f.n, rows, cols}, Data: make([]uint8, f.n*rows*cols)}, true))
		writeFile(t, dir, f.labels, idxBytes(t, &data.IDX{Type: data.IDXUint8, Dims: []int{f.n}, Data: slices.Repeat([]uint8{label}, f.n)}, true))
	}
}

func TestFashionMNISTSynthetic(t *testing.T) {
	dir := t.TempDir()
	writeFashion(t, dir, 28, 28, 9)
	train, test, err := data.FashionMNIST(dir)
	if err != nil || train.Len() != 3 || test.Len() != 2 || test.Label(1) != 9 {
		t.Fatalf("FashionMNIST: %v, %v, %v", train, test, err)
	}

	t.Setenv(data.FashionMNISTEnv, dir)
	if got, err := data.FashionMNISTDir(); got != dir || err != nil {
		t.Errorf("FashionMNISTDir() = %q, %v with $%s set", got, err, data.FashionMNISTEnv)
	}
	if train, _, err := data.FashionMNIST(""); err != nil || train.Len() != 3 {
		t.Errorf("FashionMNIST(\"\") with $%s: %v, %v", data.FashionMNISTEnv, train, err)
	}

	bad := t.TempDir()
	writeFashion(t, bad, 27, 28, 0)
	_, _, err = data.FashionMNIST(bad)
	checkErr(t, "27×28", err, data.ErrFormat, filepath.Join(bad, data.FashionMNISTTrainImages), "images of 27×28 pixels, want 28×28 for Fashion-MNIST")
	writeFashion(t, bad, 28, 28, 10)
	_, _, err = data.FashionMNIST(bad)
	if !errors.Is(err, data.ErrFormat) || !strings.HasSuffix(err.Error(), "labels-idx1-ubyte.gz: label 10 at index 0, want 0 to 9 for Fashion-MNIST") {
		t.Errorf("label 10: %v", err)
	}

	if err := os.Remove(filepath.Join(bad, data.FashionMNISTTrainLabels)); err != nil {
		t.Fatal(err)
	}
	_, _, err = data.FashionMNIST(bad)
	checkErr(t, "missing labels", err, data.ErrNotFound, bad, "Fashion-MNIST file(s) missing: train-labels-idx1-ubyte.gz; ...")
	for _, s := range []string{"scripts/fashion-mnist.sh", "apt-get install dataset-fashion-mnist", data.FashionMNISTEnv} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not mention %s: %v", s, err)
		}
	}
}

func TestFashionMNISTDirNotFound(t *testing.T) {
	if _, err := os.Stat(filepath.Join(data.FashionMNISTSystemDir, data.FashionMNISTTrainImages)); err == nil {
		t.Skip("Fashion-MNIST is installed in", data.FashionMNISTSystemDir)
	}
	t.Setenv(data.FashionMNISTEnv, "")
	t.Chdir(t.TempDir())
	_, _, err := data.FashionMNIST("")
	if !errors.Is(err, data.ErrNotFound) || !errors.Is(err, os.ErrNotExist) ||
		!strings.Contains(err.Error(), "scripts/fashion-mnist.sh") || !strings.Contains(err.Error(), data.FashionMNISTSystemDir) {
		t.Errorf("FashionMNIST(\"\") without the dataset: %v", err)
	}
	t.Log(err)

	// .cache/fashion-mnist in a parent directory is found.
	root := t.TempDir()
	cache := filepath.Join(root, ".cache", "fashion-mnist")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFashion(t, cache, 28, 28, 1)
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	if dir, err := data.FashionMNISTDir(); err != nil || dir != cache {
		t.Errorf("FashionMNISTDir() from %s = %q, %v; want %s", sub, dir, err, cache)
	}
}
