package tensor_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

func TestArray(t *testing.T) {
	cases := []struct {
		name  string
		v     any
		opts  []tensor.Option
		shape []int
		dt    tensor.DType
		vals  []float64
	}{
		{"float64 0-d", 2.5, nil, []int{}, tensor.Float64, []float64{2.5}},
		{"float32 0-d", float32(-1.5), nil, []int{}, tensor.Float32, []float64{-1.5}},
		{"int 0-d", 3, nil, []int{}, tensor.Float32, []float64{3}},
		{"float32 1-d", []float32{1, 2, 3}, nil, []int{3}, tensor.Float32, []float64{1, 2, 3}},
		{"float64 2-d", [][]float64{{1, 2, 3}, {4, 5, 6}}, nil, []int{2, 3}, tensor.Float64, []float64{1, 2, 3, 4, 5, 6}},
		{"int 3-d", [][][]int{{{1}, {2}}, {{3}, {4}}, {{5}, {6}}}, nil, []int{3, 2, 1}, tensor.Float32, []float64{1, 2, 3, 4, 5, 6}},
		{"float32 4-d", [][][][]float32{{{{1, 2}}}, {{{3, 4}}}}, nil, []int{2, 1, 1, 2}, tensor.Float32, []float64{1, 2, 3, 4}},
		{"int64 and uint8", []uint8{255, 0}, nil, []int{2}, tensor.Float32, []float64{255, 0}},
		{"int8 negative", []int8{-128, 127}, nil, []int{2}, tensor.Float32, []float64{-128, 127}},
		{"Go array", [2][3]float64{{1, 2, 3}, {4, 5, 6}}, nil, []int{2, 3}, tensor.Float64, []float64{1, 2, 3, 4, 5, 6}},
		{"slice of arrays", [][2]int{{1, 2}, {3, 4}, {5, 6}}, nil, []int{3, 2}, tensor.Float32, []float64{1, 2, 3, 4, 5, 6}},
		{"array of slices", [2][]float32{{1, 2}, {3, 4}}, nil, []int{2, 2}, tensor.Float32, []float64{1, 2, 3, 4}},
		{"WithDType float64", []float32{0.5, 1}, []tensor.Option{tensor.WithDType(tensor.Float64)}, []int{2}, tensor.Float64, []float64{0.5, 1}},
		{"WithDType float32 rounds", []float64{0.1, 1e40}, []tensor.Option{tensor.WithDType(tensor.Float32)}, []int{2}, tensor.Float32, []float64{float64(float32(0.1)), math.Inf(1)}},
		{"int WithDType float64", [][]int{{1 << 40}}, []tensor.Option{tensor.WithDType(tensor.Float64)}, []int{1, 1}, tensor.Float64, []float64{1 << 40}},
		{"On cpu", []float64{1}, []tensor.Option{tensor.On(device.CPU())}, []int{1}, tensor.Float64, []float64{1}},
		{"empty", []float64{}, nil, []int{0}, tensor.Float64, []float64{}},
		{"empty rows", [][]float32{{}, {}}, nil, []int{2, 0}, tensor.Float32, []float64{}},
		{"NaN and inf", []float64{math.NaN(), math.Inf(-1)}, nil, []int{2}, tensor.Float64, []float64{math.NaN(), math.Inf(-1)}},
	}
	for _, c := range cases {
		x := tensor.Array(c.v, c.opts...)
		if x.DType() != c.dt || x.Device() != device.CPU() {
			t.Errorf("%s: dtype %v on %v, want %v on cpu", c.name, x.DType(), x.Device(), c.dt)
		}
		expectShape(t, c.name, x, c.shape...)
		expectValues(t, c.name, x, c.vals)
	}
	// An empty outer slice has no element to take inner lengths from.
	if x := tensor.Array([][]float64{}); x.Size() != 0 || x.Rank() != 2 {
		t.Errorf("Array of an empty [][]float64: shape %v", x.Shape())
	}
	// The tensor holds a copy.
	src := []float64{1, 2}
	x := tensor.Array(src)
	src[0] = 99
	expectValues(t, "Array copies", x, []float64{1, 2})
}

func TestArrayBadInput(t *testing.T) {
	cases := []struct {
		name string
		v    any
		kind error
		msg  string
	}{
		{"ragged", [][]float64{{1, 2}, {3}}, tensor.ErrShape, "ragged"},
		{"ragged empty first", [][]float64{{}, {1}}, tensor.ErrShape, "ragged"},
		{"ragged deep", [][][]float32{{{1}, {2}}, {{3}, {4, 5}}}, tensor.ErrShape, "ragged"},
		{"ragged outer", [][][]int{{{1}}, {{2}, {3}}}, tensor.ErrShape, "ragged"},
		{"strings", []string{"a"}, tensor.ErrDType, "string"},
		{"bools", [][]bool{{true}}, tensor.ErrDType, "bool"},
		{"interfaces", []any{1.0}, tensor.ErrDType, "interface"},
		{"complex", complex(1, 2), tensor.ErrDType, "complex128"},
		{"map", map[int]float64{}, tensor.ErrDType, "map"},
		{"nil", nil, tensor.ErrDType, "nil"},
		{"pointer", new(float64), tensor.ErrDType, "*float64"},
	}
	for _, c := range cases {
		err := tensor.Maybe(func() { tensor.Array(c.v) })
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: Array error %v, want %v", c.name, err, c.kind)
			continue
		}
		if !strings.Contains(err.Error(), "tensor: Array: ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: Array error %q does not name the op and %q", c.name, err, c.msg)
		}
	}
	if err := tensor.Maybe(func() { tensor.Array([]float64{1}, tensor.WithDType(tensor.DType(7))) }); !errors.Is(err, tensor.ErrDType) {
		t.Errorf("WithDType(7): %v, want ErrDType", err)
	}
}

func TestFromSlice(t *testing.T) {
	d32 := []float32{1, 2, 3, 4, 5, 6}
	x := tensor.FromSlice(d32, []int{2, 3})
	if x.DType() != tensor.Float32 {
		t.Errorf("FromSlice([]float32) dtype %v", x.DType())
	}
	shape := []int{3, 2}
	y := tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, shape)
	if y.DType() != tensor.Float64 {
		t.Errorf("FromSlice([]float64) dtype %v", y.DType())
	}
	// The tensor keeps copies of the data and the shape.
	d32[0] = 100
	shape[0] = 7
	expectValues(t, "FromSlice copies data", x, []float64{1, 2, 3, 4, 5, 6})
	expectShape(t, "FromSlice copies shape", y, 3, 2)
	z := tensor.FromSlice([]float32{1.5}, nil, tensor.WithDType(tensor.Float64))
	if z.DType() != tensor.Float64 || z.Rank() != 0 || z.Item() != 1.5 {
		t.Errorf("FromSlice 0-d with WithDType: %v %v %v", z.DType(), z.Shape(), z.Item())
	}
	expectShape(t, "FromSlice empty", tensor.FromSlice([]float64(nil), []int{0, 4}), 0, 4)

	for _, c := range []struct {
		name  string
		fn    func()
		kind  error
		parts []string
	}{
		{"too few", func() { tensor.FromSlice([]float32{1, 2, 3, 4, 5}, []int{2, 3}) }, tensor.ErrShape, []string{"FromSlice", "5 values for 6 elements", "[2 3]"}},
		{"too many", func() { tensor.FromSlice([]float64{1, 2}, nil) }, tensor.ErrShape, []string{"FromSlice", "2 values for 1 elements"}},
		{"negative", func() { tensor.FromSlice([]float64{}, []int{-1}) }, tensor.ErrShape, []string{"FromSlice", "negative dimension", "[-1]"}},
		{"overflow", func() { tensor.FromSlice([]float64{}, []int{1 << 40, 1 << 40}) }, tensor.ErrShape, []string{"too many elements"}},
	} {
		err := tensor.Maybe(c.fn)
		checkErr(t, c.name, err, c.kind, c.parts...)
	}
}

func TestFullZerosOnesScalar(t *testing.T) {
	expectValues(t, "Zeros", tensor.Zeros([]int{2, 2}), []float64{0, 0, 0, 0})
	expectValues(t, "Ones", tensor.Ones([]int{3}), []float64{1, 1, 1})
	expectValues(t, "Full NaN", tensor.Full(math.NaN(), []int{2}), []float64{math.NaN(), math.NaN()})
	expectValues(t, "Full float32 rounds", tensor.Full(0.1, []int{1}), []float64{float64(float32(0.1))})
	expectValues(t, "Full float64", tensor.Full(0.1, []int{1}, tensor.WithDType(tensor.Float64)), []float64{0.1})
	expectShape(t, "Zeros 0-d", tensor.Zeros(nil))
	expectShape(t, "Zeros empty", tensor.Zeros([]int{3, 0}), 3, 0)
	for _, x := range []*T{tensor.Zeros([]int{1}), tensor.Ones(nil), tensor.Full(2, []int{1}), tensor.Scalar(1), tensor.Arange(0, 1, 1), tensor.RandUniform(0, 1, []int{1}), tensor.RandNormal(0, 1, nil)} {
		if x.DType() != tensor.Float32 || x.Device() != device.CPU() {
			t.Errorf("constructors default to float32 on cpu, got %v on %v", x.DType(), x.Device())
		}
	}
	s := tensor.Scalar(-3.25, tensor.WithDType(tensor.Float64))
	if s.Rank() != 0 || s.Size() != 1 || s.Item() != -3.25 || s.DType() != tensor.Float64 {
		t.Errorf("Scalar: rank %d size %d item %v dtype %v", s.Rank(), s.Size(), s.Item(), s.DType())
	}
	for _, shape := range [][]int{{-1}, {2, -3}} {
		checkErr(t, "Zeros negative", tensor.Maybe(func() { tensor.Zeros(shape) }), tensor.ErrShape, "negative dimension", fmt.Sprint(shape))
		checkErr(t, "RandUniform negative", tensor.Maybe(func() { tensor.RandUniform(0, 1, shape) }), tensor.ErrShape, "RandUniform")
	}
}

func TestArange(t *testing.T) {
	cases := []struct {
		start, stop, step float64
		want              []float64
	}{
		{0, 5, 1, []float64{0, 1, 2, 3, 4}},
		{5, 0, -1, []float64{5, 4, 3, 2, 1}},
		{0, 1, 0.25, []float64{0, 0.25, 0.5, 0.75}},
		{1, 2.1, 0.5, []float64{1, 1.5, 2}},
		{-1, -3, -0.5, []float64{-1, -1.5, -2, -2.5}},
		{0, 0, 1, []float64{}},
		{0, 5, -1, []float64{}},
		{5, 0, 1, []float64{}},
	}
	for _, c := range cases {
		for _, dt := range dtypes {
			x := tensor.Arange(c.start, c.stop, c.step, tensor.WithDType(dt))
			expectShape(t, "Arange", x, len(c.want))
			expectValues(t, "Arange", x, c.want)
		}
	}
	for _, c := range [][3]float64{{0, 1, 0}, {0, 1, math.NaN()}, {0, math.Inf(1), 1}, {math.NaN(), 1, 1}, {math.Inf(-1), 0, 1}} {
		err := tensor.Maybe(func() { tensor.Arange(c[0], c[1], c[2]) })
		checkErr(t, "Arange bad", err, tensor.ErrArgument, "Arange")
	}
}

func TestRandom(t *testing.T) {
	tensor.Seed(2024)
	a := tensor.RandUniform(-3, 2, []int{1001})
	b := tensor.RandUniform(-3, 2, []int{7})
	tensor.Seed(2024)
	a2 := tensor.RandUniform(-3, 2, []int{1001})
	b2 := tensor.RandUniform(-3, 2, []int{7})
	av, bv := a.Float32s(), b.Float32s()
	for i, v := range a2.Float32s() {
		if math.Float32bits(v) != math.Float32bits(av[i]) {
			t.Fatalf("RandUniform after Seed not reproducible at %d", i)
		}
	}
	for i, v := range b2.Float32s() {
		if v != bv[i] {
			t.Fatalf("second RandUniform after Seed not reproducible at %d", i)
		}
	}
	// The tensors are the generator's stream: block counter 0 for the first
	// call, then advanced by the blocks the first call consumed.
	want := make([]float32, 1001)
	device.RandomFloat32(want, 0, device.Uniform, 2024, 0, -3, 2)
	for i := range want {
		if av[i] != want[i] {
			t.Fatalf("RandUniform element %d = %v, stream %v", i, av[i], want[i])
		}
		if av[i] < -3 || av[i] >= 2 {
			t.Fatalf("RandUniform element %d = %v outside [-3, 2)", i, av[i])
		}
	}
	want7 := make([]float32, 7)
	device.RandomFloat32(want7, 0, device.Uniform, 2024, device.RandomBlocks(device.Float32, 1001), -3, 2)
	for i := range want7 {
		if bv[i] != want7[i] {
			t.Fatalf("second RandUniform element %d = %v, stream %v", i, bv[i], want7[i])
		}
	}
	// Consecutive calls differ.
	if c := tensor.RandUniform(-3, 2, []int{7}).Float32s(); c[0] == bv[0] && c[1] == bv[1] {
		t.Error("consecutive RandUniform calls repeat values")
	}

	// Float64 and the normal distribution.
	tensor.Seed(7)
	n := tensor.RandNormal(2, 3, []int{100000}, tensor.WithDType(tensor.Float64))
	w := make([]float64, 100000)
	device.RandomFloat64(w, 0, device.Normal, 7, 0, 2, 3)
	nv := n.Float64s()
	for i := range w {
		if math.Float64bits(nv[i]) != math.Float64bits(w[i]) {
			t.Fatalf("RandNormal float64 element %d = %v, stream %v", i, nv[i], w[i])
		}
	}
	mean := n.Mean().Item()
	std := n.SubScalar(mean).Square().Mean().Sqrt().Item()
	if math.Abs(mean-2) > 5*3/math.Sqrt(1e5) || math.Abs(std-3) > 0.06 {
		t.Errorf("RandNormal(2, 3): mean %v std %v", mean, std)
	}
	u := tensor.RandUniform(10, 20, []int{100000}, tensor.WithDType(tensor.Float64))
	if mn, mx := u.Min().Item(), u.Max().Item(); mn < 10 || mx >= 20 || mn > 10.01 || mx < 19.99 {
		t.Errorf("RandUniform(10, 20): min %v max %v", mn, mx)
	}
	if m := u.Mean().Item(); math.Abs(m-15) > 0.05 {
		t.Errorf("RandUniform(10, 20) mean %v", m)
	}
	n32 := tensor.RandNormal(0, 1, []int{100000})
	if m, s := n32.Mean().Item(), n32.Square().Mean().Sqrt().Item(); math.Abs(m) > 0.02 || math.Abs(s-1) > 0.02 {
		t.Errorf("RandNormal float32: mean %v rms %v", m, s)
	}
	// Large tensors are filled in chunks across goroutines: still the
	// single stream.
	tensor.Seed(8)
	big := tensor.RandUniform(0, 1, []int{70001}).Float32s()
	wb := make([]float32, 70001)
	device.RandomFloat32(wb, 0, device.Uniform, 8, 0, 0, 1)
	for i := range wb {
		if big[i] != wb[i] {
			t.Fatalf("large RandUniform element %d = %v, stream %v", i, big[i], wb[i])
		}
	}
}

func TestConversionsAndItem(t *testing.T) {
	x := tensor.Array([]float64{0.1, 1e40, -2})
	f32 := x.Float32s()
	if f32[0] != float32(0.1) || !math.IsInf(float64(f32[1]), 1) || f32[2] != -2 {
		t.Errorf("Float32s of float64 data = %v", f32)
	}
	y := tensor.Array([]float32{0.1})
	if y.Float64s()[0] != float64(float32(0.1)) {
		t.Errorf("Float64s of float32 data = %v", y.Float64s())
	}
	// The slices are copies.
	v := x.Float64s()
	v[0] = 5
	if x.Float64s()[0] != 0.1 {
		t.Error("Float64s returned the tensor's memory")
	}
	// Views come out in row-major order.
	m := tensor.Array([][]float32{{1, 2, 3}, {4, 5, 6}})
	if got := m.T().Float64s(); got[1] != 4 || got[2] != 2 {
		t.Errorf("Float64s of a transposed view = %v", got)
	}
	if got := m.Index(1).Slice(0, 1, 3).Float32s(); len(got) != 2 || got[0] != 5 || got[1] != 6 {
		t.Errorf("Float32s of a slice = %v", got)
	}
	for _, c := range []struct {
		x    *T
		want float64
	}{{tensor.Scalar(4), 4}, {tensor.Ones([]int{1, 1, 1}), 1}, {m.Index(1).Index(2), 6}, {m.Sum(), 21}} {
		if got := c.x.Item(); got != c.want {
			t.Errorf("Item of %v = %v, want %v", c.x.Shape(), got, c.want)
		}
	}
	checkErr(t, "Item of [2]", tensor.Maybe(func() { tensor.Zeros([]int{2}).Item() }), tensor.ErrShape, "Item", "has 2", "[2]")
	checkErr(t, "Item of empty", tensor.Maybe(func() { tensor.Zeros([]int{0}).Item() }), tensor.ErrShape, "Item", "has 0")
}

// TestGeneratorPerGoroutine: goroutines that own generators get the same
// tensors as the same draws made one after the other, whatever the
// interleaving; the default generator is unaffected by them.
func TestGeneratorPerGoroutine(t *testing.T) {
	draw := func(seed uint64) string {
		g := tensor.NewGenerator(seed)
		var s string
		for i := 0; i < 20; i++ {
			s += fmt.Sprint(tensor.RandNormal(0, 1, []int{7}, tensor.WithGenerator(g)).Float32s(),
				tensor.RandUniform(-1, 1, []int{3}, tensor.WithDType(tensor.Float64), tensor.WithGenerator(g)).Float64s())
		}
		return s
	}
	want := []string{draw(1), draw(2), draw(3), draw(4)}
	tensor.Seed(5)
	wantDefault := tensor.RandNormal(0, 1, []int{4}).Float32s()
	tensor.Seed(5)
	got := make([]string, len(want))
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = draw(uint64(i + 1)) }()
	}
	wg.Wait()
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("generator %d drawn concurrently differs from the same draws alone", i+1)
		}
	}
	if fmt.Sprint(tensor.RandNormal(0, 1, []int{4}).Float32s()) != fmt.Sprint(wantDefault) {
		t.Error("own generators moved the default generator")
	}
	g := tensor.NewGenerator(1)
	tensor.RandNormal(0, 1, []int{9}, tensor.WithGenerator(g))
	g.Seed(1)
	if fmt.Sprint(tensor.RandNormal(0, 1, []int{7}, tensor.WithGenerator(g)).Float32s()) != fmt.Sprint(tensor.RandNormal(0, 1, []int{7}, tensor.WithGenerator(tensor.NewGenerator(1))).Float32s()) {
		t.Error("Generator.Seed does not restart the stream")
	}
}
