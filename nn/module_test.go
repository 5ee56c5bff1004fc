package nn_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/nn"
	"github.com/tapegrad/tapegrad/tensor"
)

// The optional interfaces of the layers that have modes and buffers.
var (
	_ nn.Modal       = (*nn.Dropout)(nil)
	_ nn.Modal       = (*nn.BatchNorm1d)(nil)
	_ nn.Modal       = (*nn.BatchNorm2d)(nil)
	_ nn.BufferOwner = (*nn.BatchNorm1d)(nil)
	_ nn.BufferOwner = (*nn.BatchNorm2d)(nil)
	_ nn.BufferOwner = nn.Sequential{}
	_ nn.Container   = nn.Sequential{}
	_ nn.Module      = nn.Sequential{}
)

// names returns the names of ts separated by spaces.
func names(ts []nn.NamedTensor) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.Name
	}
	return strings.Join(s, " ")
}

// pair is a Layer that is not a Module: its parameters are named by
// position.
type pair struct{ a, b *tensor.Tensor }

func (p pair) Forward(x *tensor.Tensor) *tensor.Tensor { return x.Mul(p.a).Add(p.b) }
func (p pair) Params() []*tensor.Tensor                { return []*tensor.Tensor{p.a, p.b} }

// block is a composite that is a Container but not a Module.
type block struct {
	fc *nn.Dense
	bn *nn.BatchNorm1d
}

func (b *block) Forward(x *tensor.Tensor) *tensor.Tensor { return b.bn.Forward(b.fc.Forward(x)) }
func (b *block) Params() []*tensor.Tensor                { return append(b.fc.Params(), b.bn.Params()...) }
func (b *block) Children() []nn.Child {
	return []nn.Child{{Name: "fc", Layer: b.fc}, {Name: "bn", Layer: b.bn}}
}

// testModel returns a small model with every kind of naming: Sequential
// indices, a nested Sequential, a Container that is not a Module, a Layer
// that is not a Module, buffers and stateless layers.
func testModel(seed uint64) (nn.Sequential, *block, *nn.Dropout) {
	g := tensor.WithGenerator(tensor.NewGenerator(seed))
	f := tensor.WithDType(tensor.Float64)
	blk := &block{fc: nn.NewDense(3, 4, g, f), bn: nn.NewBatchNorm1d(4, f)}
	drop := &nn.Dropout{P: 0.5}
	m := nn.Sequential{
		nn.NewDense(2, 3, g, f),
		nn.ReLU{},
		blk,
		drop,
		nn.Sequential{nn.Tanh{}, pair{tensor.RandNormal(0, 1, []int{4}, g, f), tensor.RandNormal(0, 1, []int{4}, g, f)}},
	}
	return m, blk, drop
}

func TestNamedParameters(t *testing.T) {
	m, blk, drop := testModel(1)
	ps := nn.NamedParameters(m)
	if got, want := names(ps), "0.weight 0.bias 2.fc.weight 2.fc.bias 2.bn.weight 2.bn.bias 4.1.0 4.1.1"; got != want {
		t.Errorf("NamedParameters names:\n got %s\nwant %s", got, want)
	}
	if !slices.Equal(tensorsOf(ps), m.Params()) {
		t.Error("NamedParameters' tensors are not Params, in order")
	}
	if got, want := names(nn.NamedBuffers(m)), "2.bn.running_mean 2.bn.running_var"; got != want {
		t.Errorf("NamedBuffers names: %s, want %s", got, want)
	}
	if nn.NamedBuffers(m)[0].Tensor != blk.bn.RunningMean {
		t.Error("NamedBuffers does not hold the layer's own tensors")
	}
	sd := nn.StateDict(m)
	if got := slices.Sorted(maps.Keys(sd)); len(got) != 10 || sd["2.bn.running_var"] != blk.bn.RunningVar || sd["0.weight"] != m[0].(*nn.Dense).W {
		t.Errorf("StateDict keys %v", got)
	}

	// Every layer of the package names its parameters.
	for _, tc := range []struct {
		l    nn.Module
		want string
	}{
		{nn.NewDense(2, 3), "weight bias"},
		{&nn.Dense{W: tensor.Ones([]int{2, 3})}, "weight"},
		{nn.NewConv2D(1, 2, 3, 1, 1), "weight bias"},
		{nn.NewLayerNorm([]int{3}), "weight bias"},
		{nn.NewRMSNorm([]int{3}), "weight"},
		{nn.NewBatchNorm2d(3), "weight bias"},
		{nn.NewMultiHeadAttention(4, 2, false, true), "in_proj_weight in_proj_bias out_proj.weight out_proj.bias"},
		{nn.NewMultiHeadAttention(4, 2, true, false), "in_proj_weight out_proj.weight"},
		{nn.MaxPool2D{}, ""}, {nn.AvgPool2D{}, ""}, {nn.ReLU{}, ""}, {nn.Tanh{}, ""}, {nn.Flatten{}, ""},
		{nn.GELU{}, ""}, {nn.SiLU{}, ""}, {&nn.Dropout{}, ""},
	} {
		if got := names(tc.l.NamedParameters()); got != tc.want {
			t.Errorf("%T: names %q, want %q", tc.l, got, tc.want)
		}
		if !slices.Equal(tensorsOf(tc.l.NamedParameters()), tc.l.Params()) {
			t.Errorf("%T: NamedParameters' tensors are not Params", tc.l)
		}
	}

	// SetTraining reaches layers inside Sequentials and Containers.
	if !drop.Training() || !blk.bn.Training() {
		t.Error("layers do not start in training mode")
	}
	nn.SetTraining(m, false)
	if drop.Training() || blk.bn.Training() {
		t.Error("SetTraining(false) missed a layer")
	}
	nn.SetTraining(m, true)
	if !drop.Training() || !blk.bn.Training() {
		t.Error("SetTraining(true) missed a layer")
	}
}

func TestLoadStateDict(t *testing.T) {
	src, srcBlk, _ := testModel(1)
	// Change the running statistics with a training step.
	src.Forward(rnd(80, 5, 2))
	dst, dstBlk, _ := testModel(2)
	x := rnd(81, 3, 2)
	nn.SetTraining(src, false)
	nn.SetTraining(dst, false)
	if err := nn.LoadStateDict(dst, nn.StateDict(src)); err != nil {
		t.Fatal(err)
	}
	want := src.Forward(x).Float64s()
	near(t, "forward after LoadStateDict", dst.Forward(x), []int{3, 4}, want, 0)
	near(t, "running mean after LoadStateDict", dstBlk.bn.RunningMean, []int{4}, srcBlk.bn.RunningMean.Float64s(), 0)
	if dstBlk.bn.RunningMean == srcBlk.bn.RunningMean {
		t.Error("LoadStateDict replaced the tensor instead of copying into it")
	}

	// Every failure leaves the model unchanged.
	before := func() map[string][]float64 {
		out := map[string][]float64{}
		for k, v := range nn.StateDict(dst) {
			out[k] = v.Float64s()
		}
		return out
	}
	fresh, _, _ := testModel(3)
	good := nn.StateDict(fresh)
	modified := func(change func(sd map[string]*tensor.Tensor)) map[string]*tensor.Tensor {
		sd := maps.Clone(good)
		change(sd)
		return sd
	}
	for _, tc := range []struct {
		name   string
		sd     map[string]*tensor.Tensor
		kind   error
		inText []string
	}{
		{"missing", modified(func(sd map[string]*tensor.Tensor) { delete(sd, "2.bn.running_var"); delete(sd, "4.1.0") }),
			nn.ErrMissingKey, []string{`"2.bn.running_var"`, `"4.1.0"`}},
		{"unexpected", modified(func(sd map[string]*tensor.Tensor) { sd["5.weight"] = tensor.Ones([]int{1}) }),
			nn.ErrUnexpectedKey, []string{`unexpected keys ["5.weight"]`}},
		{"missing and unexpected", modified(func(sd map[string]*tensor.Tensor) { sd["0.w"] = sd["0.weight"]; delete(sd, "0.weight") }),
			nn.ErrMissingKey, []string{`missing keys ["0.weight"]`, `unexpected keys ["0.w"]`}},
		{"shape", modified(func(sd map[string]*tensor.Tensor) { sd["2.fc.weight"] = rnd(1, 4, 3) }),
			tensor.ErrShape, []string{`"2.fc.weight"`, "[3 4]", "[4 3]"}},
		{"dtype", modified(func(sd map[string]*tensor.Tensor) { sd["4.1.1"] = sd["4.1.1"].AsType(tensor.Float32) }),
			tensor.ErrDType, []string{`"4.1.1"`, "float64", "float32"}},
		{"nil", modified(func(sd map[string]*tensor.Tensor) { sd["0.bias"] = nil }), tensor.ErrArgument, []string{`"0.bias"`}},
	} {
		b := before()
		err := nn.LoadStateDict(dst, tc.sd)
		var te *tensor.Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &te) || te.Op != "LoadStateDict" {
			t.Errorf("%s: error %v, want %v from LoadStateDict", tc.name, err, tc.kind)
			continue
		}
		for _, s := range tc.inText {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not say %s", tc.name, err, s)
			}
		}
		if !maps.EqualFunc(b, before(), slices.Equal) {
			t.Errorf("%s: the model changed", tc.name)
		}
	}
	var shapeErr *tensor.Error
	errors.As(nn.LoadStateDict(dst, modified(func(sd map[string]*tensor.Tensor) { sd["0.bias"] = rnd(1, 2) })), &shapeErr)
	if shapeErr == nil || !slices.Equal(shapeErr.Shapes[0], []int{3}) || !slices.Equal(shapeErr.Shapes[1], []int{2}) {
		t.Errorf("shape error %v: want Shapes [[3] [2]]", shapeErr)
	}

	// While recording, AssignAll refuses; nothing changes.
	b := before()
	var err error
	autograd.Record(func() { err = nn.LoadStateDict(dst, good) })
	if !errors.Is(err, tensor.ErrArgument) || !maps.EqualFunc(b, before(), slices.Equal) {
		t.Errorf("LoadStateDict while recording: %v", err)
	}

	// Two tensors under one name.
	d := nn.NewDense(2, 2)
	twice := nn.Sequential{dupNames{d}}
	if err := nn.LoadStateDict(twice, map[string]*tensor.Tensor{}); !errors.Is(err, tensor.ErrArgument) || !strings.Contains(err.Error(), `"0.w"`) {
		t.Errorf("LoadStateDict of a model with duplicate names: %v", err)
	}
	wantError(t, "StateDict of a model with duplicate names", tensor.ErrArgument, "StateDict", func() { nn.StateDict(twice) })
}

// dupNames names both of a Dense's tensors "w".
type dupNames struct{ *nn.Dense }

func (d dupNames) NamedParameters() []nn.NamedTensor {
	return []nn.NamedTensor{{Name: "w", Tensor: d.W}, {Name: "w", Tensor: d.B}}
}

func TestSummary(t *testing.T) {
	m, _, _ := testModel(1)
	shared := nn.NewDense(4, 4)
	m = append(m, nn.Sequential{shared, nn.GELU{}, shared})
	want := `layer  type             params
0      *nn.Dense        9
1      nn.ReLU          0
2.fc   *nn.Dense        16
2.bn   *nn.BatchNorm1d  8
3      *nn.Dropout      0
4.0    nn.Tanh          0
4.1    nn_test.pair     8
5.0    *nn.Dense        20
5.1    nn.GELU          0
5.2    *nn.Dense        20
total                   61
`
	if got := nn.Summary(m); got != want {
		t.Errorf("Summary:\n%s\nwant\n%s", got, want)
	}
	if got, want := nn.Summary(nn.NewDense(2, 3)), "layer    type       params\n(model)  *nn.Dense  9\ntotal               9\n"; got != want {
		t.Errorf("Summary of a Dense:\n%q\nwant\n%q", got, want)
	}
}

// tensorsOf returns the tensors of ts, in order.
func tensorsOf(ts []nn.NamedTensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		out[i] = t.Tensor
	}
	return out
}
