package tensor

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/mode"
)

// Gradient hooks, retained gradients of intermediate results, anomaly
// detection and Graphviz export. None of them costs anything on the
// ordinary path beyond a nil check or an atomic load per recorded
// operation.

type hook struct {
	id uint64
	fn func(g *Tensor) *Tensor
}

var hookID atomic.Uint64

// hooks is a tensor's list of gradient hooks. Backward passes read it
// without a lock while other goroutines may register or remove hooks: the
// list is copied on every change (under hookMu) and published with one
// atomic store, so a pass sees either the old list or the new one.
type hooks struct{ p atomic.Pointer[[]hook] }

// hookMu serialises changes to hook lists and retained gradients.
var hookMu sync.Mutex

// list returns the current hooks, nil when there are none.
func (h *hooks) list() []hook {
	if l := h.p.Load(); l != nil {
		return *l
	}
	return nil
}

// change replaces the list by f(copy of the list), under hookMu.
func (h *hooks) change(f func([]hook) []hook) {
	hookMu.Lock()
	defer hookMu.Unlock()
	l := f(slices.Clone(h.list()))
	if len(l) == 0 {
		h.p.Store(nil)
		return
	}
	h.p.Store(&l)
}

// RegisterHook adds fn to the functions called with t's gradient during
// backward passes, once the gradient is complete (before it flows further
// back, or before it is written to an attached buffer). fn may return a
// replacement of the same shape, dtype and device (clipping, say), or nil
// to keep the gradient. Hooks run in the order they were registered. t must
// be recorded or have a gradient attached. The returned function removes the
// hook.
//
// Hooks may be registered and removed while other goroutines run backward
// passes through t: a pass that has started uses the hooks registered when
// it reached t.
func (t *Tensor) RegisterHook(fn func(g *Tensor) *Tensor) (remove func()) {
	const op = "RegisterHook"
	t.live(op)
	if fn == nil {
		fail(ErrArgument, op, "nil hook function", t)
	}
	h := hook{id: hookID.Add(1), fn: fn}
	var list *hooks
	switch {
	case t.node != nil:
		list = &t.node.hooks
	case t.leaf != nil:
		list = &t.leaf.hooks
	default:
		fail(ErrNotRecorded, op, "the tensor is neither recorded nor has a gradient attached", t)
	}
	list.change(func(l []hook) []hook { return append(l, h) })
	return func() {
		list.change(func(l []hook) []hook {
			return slices.DeleteFunc(l, func(x hook) bool { return x.id == h.id })
		})
	}
}

// RetainGrad makes backward passes keep the gradient of t, a recorded
// intermediate result, so that t.Grad() returns it afterwards (each pass
// replaces it). For a tensor with a gradient attached it does nothing. It
// may be called while other goroutines run backward passes through t.
func (t *Tensor) RetainGrad() {
	t.live("RetainGrad")
	if t.leaf != nil && t.node == nil {
		return
	}
	if t.node == nil {
		fail(ErrNotRecorded, "RetainGrad", "the tensor was not produced by a recorded operation", t)
	}
	t.node.retained.CompareAndSwap(nil, &leafInfo{})
}

// hookAndRetain runs hooks on the gradient in s and keeps it for a
// retaining tensor. A gradient handed to user code may be kept by it, so
// the engine stops treating its buffer as its own.
func (e *engine) hookAndRetain(hooks []hook, keep *leafInfo, s *gradSlot) {
	g := e.value(s)
	g.st.shared.Store(true)
	s.owned = false
	for _, h := range hooks {
		r := h.fn(g)
		if r == nil {
			continue
		}
		if !slices.Equal(r.shape, g.shape) || r.st.dt != g.st.dt || r.st.dev != g.st.dev {
			fail(ErrShape, "RegisterHook", "a hook returned a gradient of another shape, dtype or device", g, r)
		}
		r.st.shared.Store(true)
		g = r
	}
	s.t, s.scale, s.owned = g, 1, false
	if keep != nil {
		if e.create {
			keep.grad = g
		} else {
			keep.grad = g.alias()
		}
	}
}

// --- anomaly detection ----------------------------------------------------------

// DetectAnomaly runs fn with anomaly detection on: every recorded
// operation remembers the file:line that recorded it, its output is checked
// for NaN and ±Inf as it is recorded, and every gradient a backward rule
// computes is checked too; the first non-finite value panics with an
// *Error of kind ErrAnomaly naming the operation, forward or backward, and
// where it was recorded. The checks read values back from the device, so
// the mode is for debugging. Like the other autograd scopes it holds for the
// calling goroutine only (and the goroutines it hands its scope to, see
// package autograd), and nests.
func DetectAnomaly(fn func()) {
	defer mode.Exit(mode.Enter(mode.Current() | mode.AnomalyBit))
	fn()
}

// callSite returns file:line of the first caller outside tapegrad's own
// library packages.
func callSite() string {
	var pcs [32]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !isLibraryFrame(f.Function) {
			return fmt.Sprintf("%s:%d", shortFile(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

var libraryPrefixes = []string{
	"github.com/tapegrad/tapegrad/tensor.", "github.com/tapegrad/tapegrad/autograd.",
	"github.com/tapegrad/tapegrad/nn.", "github.com/tapegrad/tapegrad/optim.", "runtime.",
}

func isLibraryFrame(fn string) bool {
	for _, p := range libraryPrefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

func shortFile(f string) string {
	if i := strings.LastIndex(f, "/"); i >= 0 {
		if j := strings.LastIndex(f[:i], "/"); j >= 0 {
			return f[j+1:]
		}
	}
	return f
}

// checkFinite panics with ErrAnomaly if t holds a NaN or an infinity.
func checkFinite(t *Tensor, what, site string) {
	for i, v := range t.Float64s() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			panic(&Error{Kind: ErrAnomaly, Op: "DetectAnomaly", Shapes: [][]int{t.Shape()}, Devices: []device.Device{t.st.dev},
				Detail: fmt.Sprintf("%s (recorded at %s) has %v at element %d", what, site, v, i)})
		}
	}
}

// --- Graphviz ------------------------------------------------------------------

// WriteDOT writes the graph recorded behind heads in Graphviz DOT: one box
// per recorded operation (name, output shape, dtype, device, and the
// recording site in anomaly mode), one ellipse per tensor with an attached
// gradient, edges from inputs to the operations that used them. Node names
// follow the recording order, so the output is deterministic.
func WriteDOT(w io.Writer, heads ...*Tensor) error {
	var b strings.Builder
	b.WriteString("digraph tapegrad {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n")
	nodeIDs := map[*node]string{}
	leafIDs := map[*Tensor]string{}
	var order []*node
	var leaves []*Tensor
	walk(heads, map[*node]int{}, map[*Tensor]int{}, func(n *node) { order = append(order, n) }, func(t *Tensor) {
		leafIDs[t] = fmt.Sprintf("leaf%d", len(leaves))
		leaves = append(leaves, t)
	})
	sort.Slice(order, func(i, j int) bool { return order[i].seq < order[j].seq })
	for i, n := range order {
		nodeIDs[n] = fmt.Sprintf("op%d", i)
	}
	for _, t := range leaves {
		fmt.Fprintf(&b, "  %s [shape=ellipse, label=\"leaf\\n%v %v\\n%v\"];\n", leafIDs[t], t.shape, t.st.dt, t.st.dev)
	}
	for _, n := range order {
		label := fmt.Sprintf("%s\\n%v %v\\n%v", n.op, n.shape, n.dt, n.dev)
		if n.freed {
			label += "\\n(freed)"
		}
		if n.site != "" {
			label += "\\n" + n.site
		}
		fmt.Fprintf(&b, "  %s [shape=box, label=\"%s\"];\n", nodeIDs[n], label)
	}
	for _, n := range order {
		for k, in := range n.inputs {
			if !n.edges[k].need {
				continue
			}
			from := ""
			if in.node != nil {
				from = nodeIDs[in.node]
			} else if in.leaf != nil {
				from = leafIDs[in]
			}
			if from != "" {
				fmt.Fprintf(&b, "  %s -> %s [label=\"%d\"];\n", from, nodeIDs[n], k)
			}
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
