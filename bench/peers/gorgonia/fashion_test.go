package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
)

// idxBytes encodes an IDX file of unsigned bytes with the given magic.
func idxBytes(magic uint32, dims []int, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipped(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadIDX(t *testing.T) {
	dir := t.TempDir()
	data := []byte{0, 1, 2, 3, 250, 251, 252, 253, 254, 255, 7, 8}
	for _, gz := range []bool{true, false} {
		raw := idxBytes(idxImageMagic, []int{2, 2, 3}, data)
		path := filepath.Join(dir, "plain")
		if gz {
			raw, path = gzipped(t, raw), filepath.Join(dir, "images.gz")
		}
		writeFile(t, path, raw)
		dims, got, err := readIDX(path, idxImageMagic)
		if err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		if !slices.Equal(dims, []int{2, 2, 3}) || !bytes.Equal(got, data) {
			t.Errorf("gzip %v: dims %v data %v, want [2 2 3] %v", gz, dims, got, data)
		}
	}

	// Broken files: the error names the file and says what is wrong.
	for name, tc := range map[string]struct {
		raw  []byte
		want []string
	}{
		"label magic in an image file": {idxBytes(idxLabelMagic, []int{12}, data), []string{"0x00000801", "want 0x00000803"}},
		"not an IDX file":              {[]byte("PK\x03\x04 a zip file"), []string{"0x504b0304", "want 0x00000803"}},
		"empty":                        {nil, []string{"truncated header", "0x00000803"}},
		"truncated dims":               {idxBytes(idxImageMagic, []int{2, 2}, nil), []string{"truncated header"}},
		"truncated data":               {idxBytes(idxImageMagic, []int{2, 2, 3}, data[:11]), []string{"truncated data", "12 bytes", "has 11"}},
		"extra data":                   {idxBytes(idxImageMagic, []int{2, 2, 3}, append(slices.Clone(data), 9)), []string{"extra data"}},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".gz")
		writeFile(t, path, gzipped(t, tc.raw))
		_, _, err := readIDX(path, idxImageMagic)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range append(tc.want, path) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
	}
	if _, _, err := readIDX(filepath.Join(dir, "missing.gz"), idxImageMagic); err == nil || !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	// A corrupt gzip stream (checksum).
	gz := gzipped(t, idxBytes(idxImageMagic, []int{2, 2, 3}, data))
	gz[len(gz)-6] ^= 0xff
	path := filepath.Join(dir, "bad-crc.gz")
	writeFile(t, path, gz)
	if _, _, err := readIDX(path, idxImageMagic); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt gzip: %v", err)
	}
}

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
	writeFile(t, filepath.Join(dir, fashionImages), gzipped(t, idxBytes(idxImageMagic, []int{n, 28, 28}, pixels)))
	writeFile(t, filepath.Join(dir, fashionLabels), gzipped(t, idxBytes(idxLabelMagic, []int{n}, labels)))
}

func TestLoadFashion(t *testing.T) {
	dir := t.TempDir()
	writeFashion(t, dir, 5)
	d, err := loadFashion(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.len() != 5 || len(d.pixels) != 5*784 || d.subset(3).len() != 3 || d.subset(9).len() != 5 {
		t.Errorf("loaded %d images, %d pixels", d.len(), len(d.pixels))
	}
	// Labels that do not match, or are out of range; images not 28×28.
	for name, edit := range map[string]func(){
		"count": func() {
			writeFile(t, filepath.Join(dir, fashionLabels), gzipped(t, idxBytes(idxLabelMagic, []int{4}, []byte{0, 1, 2, 3})))
		},
		"label 10": func() {
			writeFile(t, filepath.Join(dir, fashionLabels), gzipped(t, idxBytes(idxLabelMagic, []int{5}, []byte{0, 1, 10, 3, 4})))
		},
		"27×28": func() {
			writeFile(t, filepath.Join(dir, fashionImages), gzipped(t, idxBytes(idxImageMagic, []int{5, 27, 28}, make([]byte, 5*27*28))))
		},
	} {
		writeFashion(t, dir, 5)
		edit()
		if _, err := loadFashion(dir); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

// The values below were printed by tapegrad itself (data.Permutation;
// tensor.Seed(1) then nn.NewDense(784, 256), (256, 128), (128, 10)), so
// the peer shuffles and initialises exactly as tapegrad's case does.
func TestPermutationMatchesTapegrad(t *testing.T) {
	for _, tc := range []struct {
		n    int
		seed uint64
		want []int
	}{
		{10, 1, []int{9, 0, 1, 4, 8, 2, 3, 7, 6, 5}},
		{60000, 1, []int{20199, 51310, 19294, 2486, 35803, 4331}},
		{60000, 99, []int{43141, 3354, 944, 33308, 2659, 31215}},
		{6000, 1, []int{4836, 3526, 4248, 2100, 3880, 2500}},
	} {
		p := permutation(tc.n, tc.seed)
		if got := p[:len(tc.want)]; !slices.Equal(got, tc.want) {
			t.Errorf("permutation(%d, %d) starts %v, tapegrad's %v", tc.n, tc.seed, got, tc.want)
		}
		s := slices.Clone(p)
		slices.Sort(s)
		for i, v := range s {
			if v != i {
				t.Fatalf("permutation(%d, %d) is not a permutation", tc.n, tc.seed)
			}
		}
	}
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
	d, err := loadFashion(dir)
	if err != nil {
		t.Fatal(err)
	}
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
func runFashionCase(t *testing.T, quick bool) Case {
	t.Helper()
	o := newOptions(quick)
	o.Cases = regexp.MustCompile(`^fashion/epoch$`)
	o.JSONPath = filepath.Join(t.TempDir(), "out.json")
	if code := execute(o); code != 0 {
		t.Fatalf("exit code %d", code)
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
	t.Setenv(fashionEnv, dir)
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
	t.Setenv(fashionEnv, dir)
	for _, quick := range []bool{false, true} {
		c := runFashionCase(t, quick)
		want := int64(60000)
		if quick {
			want = 6000
		}
		if c.Size != want || !strings.Contains(c.Skipped, "dataset not available") || !strings.Contains(c.Skipped, filepath.Join(dir, fashionImages)) {
			t.Errorf("quick %v: case %+v, want skipped with size %d naming %s", quick, c, want, dir)
		}
	}
}

// realFashion returns the Fashion-MNIST training set, or skips the test.
func realFashion(t *testing.T) *fashionSet {
	t.Helper()
	dir, err := fashionDir()
	if err == nil {
		var d *fashionSet
		if d, err = loadFashion(dir); err == nil {
			return d
		}
	}
	t.Skipf("Fashion-MNIST not available (set %s): %v", fashionEnv, err)
	return nil
}

// TestFashionStepsMatchTapegrad checks the first warm-up steps on the real
// dataset against the losses tapegrad's case has (same weights, same
// order): they differ only by float32 rounding.
func TestFashionStepsMatchTapegrad(t *testing.T) {
	d := realFashion(t)
	if d.len() != 60000 {
		t.Skipf("%d training images, want Fashion-MNIST's 60000", d.len())
	}
	net, err := newFashionNet(128, fashionWeights())
	if err != nil {
		t.Fatal(err)
	}
	defer net.vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(1e-3))
	order := permutation(d.len(), 99)
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
