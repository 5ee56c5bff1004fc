package main

import (
	"bytes"
	"compress/gzip"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/tapegrad/tapegrad/bench/internal/peerkit"
	"github.com/tapegrad/tapegrad/data"
)

// writeFashion writes a Fashion-MNIST-like training set of n learnable
// images into dir: label k lights up rows 2k..2k+2 of the 28×28 image.
func writeFashion(t *testing.T, dir string, n int) {
	t.Helper()
	pixels := make([]byte, n*784)
	labels := make([]byte, n)
	for i := range labels {
		k := (i*7 + i/3) % 10
		labels[i] = byte(k)
		img := pixels[i*784 : (i+1)*784]
		for p := range img {
			img[p] = byte((i*31 + p*17) % 64) // background noise
		}
		for r := 2 * k; r < 2*k+3; r++ {
			for c := 4; c < 24; c++ {
				img[r*28+c] = 255
			}
		}
	}
	write := func(name string, x *data.IDX) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if err := data.WriteIDX(zw, x); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(data.FashionMNISTTrainImages, &data.IDX{Type: data.IDXUint8, Dims: []int{n, 28, 28}, Data: pixels})
	write(data.FashionMNISTTrainLabels, &data.IDX{Type: data.IDXUint8, Dims: []int{n}, Data: labels})
}

// loadFashion reads the training set that writeFashion wrote into dir.
func loadFashion(t *testing.T, dir string) *data.Dataset {
	t.Helper()
	d, err := data.Load(filepath.Join(dir, data.FashionMNISTTrainImages), filepath.Join(dir, data.FashionMNISTTrainLabels))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWeightsMatchTapegrad(t *testing.T) {
	want := []struct {
		shape []int
		first []float32
		last  float32
		sum   float64
	}{
		{[]int{784, 256}, []float32{0.06828112, 0.06905543, 0.014998905}, -0.08464325, -11.22495084},
		{[]int{256}, []float32{0, 0, 0}, 0, 0},
		{[]int{256, 128}, []float32{-0.042681247, 0.10542284, -0.08003611}, 0.08220129, -23.22147682},
		{[]int{128}, []float32{0, 0, 0}, 0, 0},
		{[]int{128, 10}, []float32{0.019747213, 0.045987293, 0.21599369}, -0.0990222, 5.154424526},
		{[]int{10}, []float32{0, 0, 0}, 0, 0},
	}
	ps := fashionWeights()
	if len(ps) != len(want) {
		t.Fatalf("%d parameters, want %d", len(ps), len(want))
	}
	for i, p := range ps {
		w := want[i]
		v := p.Data().([]float32)
		sum, bound := 0.0, 0.0
		if len(w.shape) == 2 {
			bound = math.Sqrt(6 / float64(w.shape[0]))
		}
		for _, x := range v {
			sum += float64(x)
			if math.Abs(float64(x)) > bound {
				t.Fatalf("param %d: %g outside ±%g", i, x, bound)
			}
		}
		if !slices.Equal([]int(p.Shape()), w.shape) || !slices.Equal(v[:3], w.first) || v[len(v)-1] != w.last || math.Abs(sum-w.sum) > 1e-6 {
			t.Errorf("param %d: shape %v, first %v, last %v, sum %.10g; tapegrad: %v %v %v %.10g", i, p.Shape(), v[:3], v[len(v)-1], sum,
				w.shape, w.first, w.last, w.sum)
		}
	}
}

// noSolver leaves the weights alone.
type noSolver struct{}

func (noSolver) Step([]G.ValueGrad) error { return nil }

// TestFashionNetsShareWeights checks that a net for the last, smaller batch
// sees the weights that the solver updates through the main net.
func TestFashionNetsShareWeights(t *testing.T) {
	dir := t.TempDir()
	writeFashion(t, dir, 8)
	d := loadFashion(t, dir)
	params := fashionWeights()
	net4, err := newFashionNet(4, params)
	if err != nil {
		t.Fatal(err)
	}
	defer net4.vm.Close()
	net2, err := newFashionNet(2, params)
	if err != nil {
		t.Fatal(err)
	}
	defer net2.vm.Close()
	losses := func() (l4, l2 float32) {
		var err4, err2 error
		l4, err4 = net4.step(d, []int{0, 1, 0, 1}, noSolver{}) // the mean over a repeated pair
		l2, err2 = net2.step(d, []int{0, 1}, noSolver{})
		if err4 != nil || err2 != nil {
			t.Fatal(err4, err2)
		}
		return l4, l2
	}
	a4, a2 := losses()
	if math.Abs(float64(a4-a2)) > 1e-5 || math.IsNaN(float64(a4)) {
		t.Fatalf("losses %g (batch 4) and %g (batch 2) of the same examples differ", a4, a2)
	}
	solver := G.NewAdamSolver(G.WithLearnRate(1e-3))
	for range 5 {
		if _, err := net4.step(d, []int{2, 3, 4, 5}, solver); err != nil {
			t.Fatal(err)
		}
	}
	b4, b2 := losses()
	if math.Abs(float64(b4-b2)) > 1e-5 || b2 == a2 {
		t.Errorf("after 5 Adam steps through the batch-4 net: losses %g (batch 4) and %g (batch 2), before %g", b4, b2, a2)
	}
}

// runFashionCase runs the case as `-cases '^fashion/epoch$'` (with -quick
// when quick) and returns its JSON entry.
func runFashionCase(t *testing.T, quick bool) peerkit.Case {
	t.Helper()
	o := peerkit.NewOptions(quick)
	o.Cases = regexp.MustCompile(`^fashion/epoch$`)
	rep, err := peerkit.RunReport(peer, o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cases) != 1 || rep.Cases[0].Name != "fashion/epoch" {
		t.Fatalf("cases %+v, want fashion/epoch alone", rep.Cases)
	}
	return rep.Cases[0]
}

// TestFashionEpochSynthetic runs the whole case on a small learnable
// dataset (300 images: two batches of 128 and a last one of 44).
func TestFashionEpochSynthetic(t *testing.T) {
	dir := t.TempDir()
	writeFashion(t, dir, 300)
	t.Setenv(data.FashionMNISTEnv, dir)
	c := runFashionCase(t, false)
	if c.Skipped != "" {
		t.Fatalf("skipped: %s", c.Skipped)
	}
	if c.Size != 300 || c.Reps != 1 || c.Unit != "images/s" || c.Mode != "tape" || c.Value <= 0 ||
		math.Abs(c.Value-300/(float64(c.MedianNs)/1e9)) > 1e-3*c.Value+1e-3 || !strings.Contains(c.Note, "3 steps, loss") {
		t.Errorf("case %+v", c)
	}
}

func TestFashionEpochNoDataset(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(data.FashionMNISTEnv, dir)
	for _, quick := range []bool{false, true} {
		c := runFashionCase(t, quick)
		want := int64(60000)
		if quick {
			want = 6000
		}
		if c.Size != want || !strings.Contains(c.Skipped, "dataset not available") || !strings.Contains(c.Skipped, filepath.Join(dir, data.FashionMNISTTrainImages)) {
			t.Errorf("quick %v: case %+v, want skipped with size %d naming %s", quick, c, want, dir)
		}
	}
}

// realFashion returns the Fashion-MNIST training set, or skips the test.
func realFashion(t *testing.T) *data.Dataset {
	t.Helper()
	train, _, err := data.FashionMNIST("")
	if err != nil {
		t.Skipf("Fashion-MNIST not available (set %s): %v", data.FashionMNISTEnv, err)
	}
	return train
}

// TestFashionStepsMatchTapegrad checks the first warm-up steps on the real
// dataset against the losses tapegrad's case has (same weights, same
// order): they differ only by float32 rounding.
func TestFashionStepsMatchTapegrad(t *testing.T) {
	d := realFashion(t)
	if d.Len() != 60000 {
		t.Skipf("%d training images, want Fashion-MNIST's 60000", d.Len())
	}
	net, err := newFashionNet(128, fashionWeights())
	if err != nil {
		t.Fatal(err)
	}
	defer net.vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(1e-3))
	order := data.Permutation(d.Len(), 99)
	for k, want := range []float32{2.2449753, 1.9816476, 1.7665786} {
		got, err := net.step(d, order[k*128:(k+1)*128], solver)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %d: loss %.7f, tapegrad %.7f", k, got, want)
		if math.Abs(float64(got-want)) > 1e-4*float64(want) {
			t.Errorf("step %d: loss %.7f, tapegrad %.7f", k, got, want)
		}
	}
}

// TestFashionEpochQuick runs the case as -quick does, on the real dataset.
func TestFashionEpochQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("trains an epoch of 6000 images")
	}
	realFashion(t)
	c := runFashionCase(t, true)
	if c.Skipped != "" || c.Size != 6000 || c.Value <= 0 || !strings.Contains(c.Note, "47 steps, loss") {
		t.Errorf("case %+v", c)
	}
}
