package nn

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tapegrad/tapegrad/tensor"
)

// NamedTensor is a tensor under its name in a model: a dot-separated path
// such as "0.weight" or "2.running_mean" (see the package documentation).
type NamedTensor struct {
	Name   string
	Tensor *tensor.Tensor
}

// Module is a [Layer] that names its trainable tensors. NamedParameters
// returns the same tensors as Params, in the same order, each under its
// name; the names of one module are distinct.
//
// Every layer of this package is a Module. A Layer that is not one still
// works with the functions that take a Layer ([NamedParameters],
// [StateDict], [Summary], ...): its parameters are named by their position
// in Params ("0", "1", ...).
type Module interface {
	Layer
	// NamedParameters returns the trainable tensors with their names, in
	// the order of Params.
	NamedParameters() []NamedTensor
}

// BufferOwner is implemented by layers with state that is not trained but
// belongs in a [StateDict]: BatchNorm's running statistics (PyTorch's
// buffers). Buffers have no gradient attached and are not in Params, so
// optimisers leave them alone.
type BufferOwner interface {
	NamedBuffers() []NamedTensor
}

// Child is a layer inside a composite layer, under its name there.
type Child struct {
	Name  string
	Layer Layer
}

// Container is implemented by composite layers ([Sequential], or a model
// of the caller's own) so that [SetTraining], [NamedBuffers] and [Summary]
// reach the layers inside them, and so that [NamedParameters] can name the
// parameters of a composite that is not itself a [Module]: a child's
// tensors get the child's name and a dot in front of theirs.
type Container interface {
	Children() []Child
}

// Modal is implemented by layers that behave differently in training and in
// prediction ([Dropout], [BatchNorm1d], [BatchNorm2d]). Layers start in
// training mode, as in PyTorch; [SetTraining] switches a whole model.
type Modal interface {
	// SetTraining switches the layer to training mode (on) or prediction
	// mode.
	SetTraining(on bool)
	// Training reports whether the layer is in training mode.
	Training() bool
}

// NamedParameters returns l's trainable tensors with their names, in the
// order of l.Params(): l's own NamedParameters if it is a [Module], else
// its children's, prefixed with the child's name, if it is a [Container],
// else l.Params() named by position ("0", "1", ...).
func NamedParameters(l Layer) []NamedTensor {
	switch m := l.(type) {
	case Module:
		return m.NamedParameters()
	case Container:
		return childTensors(m, NamedParameters)
	}
	ps := l.Params()
	out := make([]NamedTensor, 0, len(ps))
	for i, p := range ps {
		out = append(out, NamedTensor{strconv.Itoa(i), p})
	}
	return out
}

// NamedBuffers returns l's buffers (non-trainable state, such as running
// statistics) with their names: l's own NamedBuffers if it is a
// [BufferOwner], else its children's, prefixed, if it is a [Container],
// else none.
func NamedBuffers(l Layer) []NamedTensor {
	switch m := l.(type) {
	case BufferOwner:
		return m.NamedBuffers()
	case Container:
		return childTensors(m, NamedBuffers)
	}
	return nil
}

// childTensors returns the tensors that of gives for each child of c, the
// child's name and a dot in front of theirs.
func childTensors(c Container, of func(Layer) []NamedTensor) []NamedTensor {
	var out []NamedTensor
	for _, ch := range c.Children() {
		out = append(out, prefixed(ch.Name, of(ch.Layer))...)
	}
	return out
}

// prefixed returns ts with prefix and a dot in front of every name.
func prefixed(prefix string, ts []NamedTensor) []NamedTensor {
	out := make([]NamedTensor, len(ts))
	for i, t := range ts {
		out[i] = NamedTensor{prefix + "." + t.Name, t.Tensor}
	}
	return out
}

// named returns the non-nil tensors among ts, a name then a tensor, as a
// list: named("weight", w, "bias", b) (a nil bias is left out).
func named(pairs ...any) []NamedTensor {
	var out []NamedTensor
	for i := 0; i < len(pairs); i += 2 {
		if t := pairs[i+1].(*tensor.Tensor); t != nil {
			out = append(out, NamedTensor{pairs[i].(string), t})
		}
	}
	return out
}

// tensorsOf returns the tensors of ts, in order.
func tensorsOf(ts []NamedTensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		out[i] = t.Tensor
	}
	return out
}

// Errors of [LoadStateDict], wrapped in a *tensor.Error; test for them
// with errors.Is.
var (
	// ErrMissingKey: the model has a tensor that the state dict lacks.
	ErrMissingKey = errors.New("missing key")
	// ErrUnexpectedKey: the state dict has a tensor that the model lacks.
	ErrUnexpectedKey = errors.New("unexpected key")
)

// entries returns l's parameters and then its buffers, and panics with
// ErrArgument if two have one name or a tensor is nil.
func entries(op string, l Layer) []NamedTensor {
	ts := append(NamedParameters(l), NamedBuffers(l)...)
	seen := make(map[string]bool, len(ts))
	for _, t := range ts {
		switch {
		case seen[t.Name]:
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("the model names two tensors %q", t.Name)})
		case t.Tensor == nil:
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("the model's tensor %q is nil", t.Name)})
		}
		seen[t.Name] = true
	}
	return ts
}

// StateDict returns l's parameters and buffers under their names, as
// PyTorch's state_dict: the model's own tensors, not copies, so that the
// map reflects later training until the tensors are saved (with package
// checkpoint: ck.Put("model", nn.StateDict(m))). A model that names two
// tensors alike, or names a nil tensor, panics with a *tensor.Error of
// kind tensor.ErrArgument.
func StateDict(l Layer) map[string]*tensor.Tensor {
	ts := entries("StateDict", l)
	sd := make(map[string]*tensor.Tensor, len(ts))
	for _, t := range ts {
		sd[t.Name] = t.Tensor
	}
	return sd
}

// LoadStateDict copies the tensors of sd into l's parameters and buffers
// of the same names, in place (tensor.AssignAll: optimisers and views
// holding them see the new values; attached gradients stay), moving them
// to each tensor's device as needed. It is strict, as PyTorch's
// load_state_dict(strict=True), and all-or-nothing: it returns a
// *tensor.Error and changes nothing when
//
//   - a tensor of l is not in sd (ErrMissingKey) or sd holds a name l does
//     not have (ErrUnexpectedKey); the error lists every such name;
//   - a tensor of sd has another shape (tensor.ErrShape) or dtype
//     (tensor.ErrDType) than l's tensor of that name (or is nil:
//     tensor.ErrArgument); the error names the key, and its Shapes and
//     DTypes are the model's and the state dict's;
//   - the copy itself fails: the calling goroutine records
//     (tensor.ErrArgument; call it outside autograd.Record), say.
//
// A model that names two tensors alike gives tensor.ErrArgument.
func LoadStateDict(l Layer, sd map[string]*tensor.Tensor) error {
	const op = "LoadStateDict"
	var ts []NamedTensor
	if err := tensor.Maybe(func() { ts = entries(op, l) }); err != nil {
		return err
	}
	var missing, unexpected []string
	have := make(map[string]bool, len(ts))
	for _, t := range ts {
		have[t.Name] = true
		if _, ok := sd[t.Name]; !ok {
			missing = append(missing, t.Name)
		}
	}
	for k := range sd {
		if !have[k] {
			unexpected = append(unexpected, k)
		}
	}
	slices.Sort(unexpected)
	if len(missing) > 0 || len(unexpected) > 0 {
		kind := ErrMissingKey
		if len(missing) == 0 {
			kind = ErrUnexpectedKey
		}
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("missing keys %q", missing))
		}
		if len(unexpected) > 0 {
			parts = append(parts, fmt.Sprintf("unexpected keys %q", unexpected))
		}
		return &tensor.Error{Kind: kind, Op: op, Detail: strings.Join(parts, "; ")}
	}
	dst, src := make([]*tensor.Tensor, len(ts)), make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		s := sd[t.Name]
		switch {
		case s == nil:
			return &tensor.Error{Kind: tensor.ErrArgument, Op: op, Detail: fmt.Sprintf("key %q: the state dict's tensor is nil", t.Name)}
		case !slices.Equal(s.Shape(), t.Tensor.Shape()):
			return &tensor.Error{Kind: tensor.ErrShape, Op: op, Shapes: [][]int{t.Tensor.Shape(), s.Shape()},
				Detail: fmt.Sprintf("key %q: the model's tensor has shape %v, the state dict's %v", t.Name, t.Tensor.Shape(), s.Shape())}
		case s.DType() != t.Tensor.DType():
			return &tensor.Error{Kind: tensor.ErrDType, Op: op, DTypes: []tensor.DType{t.Tensor.DType(), s.DType()},
				Detail: fmt.Sprintf("key %q: the model's tensor is %v, the state dict's %v", t.Name, t.Tensor.DType(), s.DType())}
		}
		dst[i], src[i] = t.Tensor, s
	}
	// AssignAll checks every pair, and that the goroutine is not
	// recording, before it writes any.
	return tensor.Maybe(func() { tensor.AssignAll(dst, src) })
}

// SetTraining switches l and every layer inside it (through [Container])
// to training mode (on) or prediction mode, calling SetTraining on each
// [Modal] layer. Layers start in training mode, as in PyTorch: call
// SetTraining(model, false) before evaluating, and SetTraining(model,
// true) to resume training. (The modes of package autograd — Record's
// training mode, autograd.PredictMode — do not change how nn's layers
// behave; only SetTraining does.)
func SetTraining(l Layer, on bool) {
	if m, ok := l.(Modal); ok {
		m.SetTraining(on)
	}
	if c, ok := l.(Container); ok {
		for _, ch := range c.Children() {
			SetTraining(ch.Layer, on)
		}
	}
}

// Summary returns a table of l's leaf layers (those that are not a
// [Container] with children), one line each with its name, its type and
// its number of trainable elements, and the total, as a compact
// torchinfo:
//
//	layer  type           params
//	0      *nn.Dense      200960
//	1      nn.ReLU        0
//	2      *nn.Dense      2570
//	total                 203530
//
// A tensor shared by several layers counts once in the total. A composite
// whose own parameters are not all its children's gets a line of its own
// for the rest.
func Summary(l Layer) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "layer\ttype\tparams")
	var line func(name string, l Layer)
	line = func(name string, l Layer) {
		c, ok := l.(Container)
		var children []Child
		if ok {
			children = c.Children()
		}
		if len(children) == 0 {
			fmt.Fprintf(w, "%s\t%T\t%d\n", orRoot(name), l, count(NamedParameters(l)))
			return
		}
		inner := 0
		for _, ch := range children {
			inner += count(NamedParameters(ch.Layer))
			line(join(name, ch.Name), ch.Layer)
		}
		if own := count(NamedParameters(l)) - inner; own != 0 {
			fmt.Fprintf(w, "%s\t%T (own)\t%d\n", orRoot(name), l, own)
		}
	}
	line("", l)
	total, seen := 0, map[*tensor.Tensor]bool{}
	for _, t := range NamedParameters(l) {
		if !seen[t.Tensor] {
			seen[t.Tensor] = true
			total += t.Tensor.Size()
		}
	}
	fmt.Fprintf(w, "total\t\t%d\n", total)
	w.Flush()
	return b.String()
}

func orRoot(name string) string {
	if name == "" {
		return "(model)"
	}
	return name
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// count returns the number of elements of ts.
func count(ts []NamedTensor) int {
	n := 0
	for _, t := range ts {
		n += t.Tensor.Size()
	}
	return n
}

// --- the Module methods of the layers of nn.go -----------------------------

// Children returns the layers under their indices: "0", "1", ...
func (s Sequential) Children() []Child {
	out := make([]Child, len(s))
	for i, l := range s {
		out[i] = Child{strconv.Itoa(i), l}
	}
	return out
}

// NamedParameters returns the parameters of all layers, each layer's under
// its index: "0.weight", "0.bias", "2.weight", ...
func (s Sequential) NamedParameters() []NamedTensor { return childTensors(s, NamedParameters) }

// NamedBuffers returns the buffers of all layers, each layer's under its
// index: "1.running_mean", ...
func (s Sequential) NamedBuffers() []NamedTensor { return childTensors(s, NamedBuffers) }

// NamedParameters returns W as "weight" and B (unless nil) as "bias".
func (d *Dense) NamedParameters() []NamedTensor { return named("weight", d.W, "bias", d.B) }

// NamedParameters returns W as "weight" and B (unless nil) as "bias".
func (c *Conv2D) NamedParameters() []NamedTensor { return named("weight", c.W, "bias", c.B) }

// NamedParameters returns nil.
func (MaxPool2D) NamedParameters() []NamedTensor { return nil }

// NamedParameters returns nil.
func (ReLU) NamedParameters() []NamedTensor { return nil }

// NamedParameters returns nil.
func (Tanh) NamedParameters() []NamedTensor { return nil }

// NamedParameters returns nil.
func (Flatten) NamedParameters() []NamedTensor { return nil }
