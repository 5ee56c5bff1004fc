package data_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tapegrad/tapegrad/data"
	"github.com/tapegrad/tapegrad/device"
)

// loadFashion loads the real Fashion-MNIST, or skips the test when it is not
// there (but fails when $TAPEGRAD_FASHION_MNIST names a directory without it).
func loadFashion(tb testing.TB) (train, test *data.Dataset) {
	tb.Helper()
	if raceEnabled {
		// Decompressing the 30 MB took 30 s under the race detector on the
		// (busy) 2-core development machine, and the concurrent loading is
		// the code that TestFashionMNISTSynthetic runs.
		tb.Skip("skipped under the race detector (slow); run without -race to test with the real Fashion-MNIST")
	}
	t0 := time.Now()
	train, test, err := data.FashionMNIST("")
	if errors.Is(err, data.ErrNotFound) && os.Getenv(data.FashionMNISTEnv) == "" {
		tb.Skipf("Fashion-MNIST is not installed: run `bash scripts/fashion-mnist.sh` (no root) to test with it\n(%v)", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	if t, ok := tb.(*testing.T); ok {
		dir, _ := data.FashionMNISTDir()
		t.Logf("loaded Fashion-MNIST from %s in %v", dir, time.Since(t0).Round(time.Millisecond))
	}
	return train, test
}

func TestFashionMNIST(t *testing.T) {
	train, test := loadFashion(t)
	for _, c := range []struct {
		name           string
		d              *data.Dataset
		n              int
		first          []int
		pixelSum       int
		pixels, labels string // SHA-256 of the pixel and label bytes
	}{
		{"train", train, 60000, []int{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, 3431114169,
			"2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
			"657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"},
		{"test", test, 10000, []int{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, 573469082,
			"c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
			"3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"},
	} {
		d := c.d
		if d.Len() != c.n || !slices.Equal(d.ImageShape(), []int{28, 28}) || len(d.Pixels()) != c.n*784 {
			t.Fatalf("%s: %v", c.name, d)
		}
		labels := d.LabelInts()
		if !slices.Equal(labels[:10], c.first) {
			t.Errorf("%s: first labels %v, want %v", c.name, labels[:10], c.first)
		}
		// Balanced classes: 6000 of each in train, 1000 in test.
		hist := make([]int, 10)
		for _, l := range labels {
			hist[l]++ // labels are checked to be below 10 when loading
		}
		for k, h := range hist {
			if h != c.n/10 {
				t.Errorf("%s: %d examples of class %d (%s), want %d", c.name, h, k, data.FashionMNISTClasses[k], c.n/10)
			}
		}
		sum, lo, hi := 0, 255, 0
		for _, p := range d.Pixels() {
			sum += int(p)
			lo, hi = min(lo, int(p)), max(hi, int(p))
		}
		if sum != c.pixelSum || lo != 0 || hi != 255 {
			t.Errorf("%s: pixel sum %d (want %d), range %d to %d", c.name, sum, c.pixelSum, lo, hi)
		}
		if h := fmt.Sprintf("%x", sha256.Sum256(d.Pixels())); h != c.pixels {
			t.Errorf("%s: pixels have SHA-256 %s, want %s", c.name, h, c.pixels)
		}
		if h := fmt.Sprintf("%x", sha256.Sum256(d.LabelBytes())); h != c.labels {
			t.Errorf("%s: labels have SHA-256 %s, want %s", c.name, h, c.labels)
		}
	}

	// As tensors: pixels in [0, 1] with the well-known mean 0.2860 (train).
	x := test.Images(data.On(device.CPU()), data.Flat())
	if s := x.Shape(); !slices.Equal(s, []int{10000, 784}) {
		t.Errorf("test images: shape %v", s)
	}
	if lo, hi, mean := x.Min().Item(), x.Max().Item(), x.Mean().Item(); lo != 0 || hi != 1 || mean < 0.2868 || mean > 0.2869 {
		t.Errorf("test images: range %v to %v, mean %v", lo, hi, mean)
	}
	if m := float64(3431114169) / 255 / 47040000; m < 0.28604 || m > 0.28605 {
		t.Errorf("train mean %v", m)
	}
	// One shuffled epoch over the test set sees every class 1000 times.
	hist := make([]int, 10)
	for _, y := range test.Batches(256, true, 1, data.On(device.CPU())) {
		for _, v := range y.Float32s() {
			hist[int(v)]++
		}
	}
	if !slices.Equal(hist, slices.Repeat([]int{1000}, 10)) {
		t.Errorf("batched test labels: %v", hist)
	}
}

func BenchmarkFashionMNIST(b *testing.B) {
	loadFashion(b)
	for b.Loop() {
		loadFashion(b)
	}
}

// An epoch of Fashion-MNIST-sized batches of 128, shuffled, on the CPU.
func BenchmarkBatches(b *testing.B) {
	n := 60000
	pixels := make([]uint8, n*784)
	for i := range pixels {
		pixels[i] = uint8(i * 7)
	}
	d := data.NewDataset(pixels, make([]uint8, n), 28, 28)
	cpu := data.On(device.CPU())
	b.SetBytes(int64(len(pixels)) * 4)
	for i := 0; b.Loop(); i++ {
		for x, y := range d.Batches(128, true, uint64(i), cpu, data.Flat()) {
			_, _ = x, y
		}
	}
}
