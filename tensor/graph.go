package tensor

import (
	"fmt"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/internal/mode"
)

// GradReq says how a backward pass writes an attached gradient.
type GradReq uint8

// The gradient write modes.
const (
	GradWrite GradReq = iota // each backward pass overwrites the gradient (the default)
	GradAdd                  // each backward pass adds to the gradient
)

// String returns "write" or "add".
func (r GradReq) String() string {
	if r == GradAdd {
		return "add"
	}
	return "write"
}

type leafInfo struct {
	grad  *Tensor
	req   GradReq
	hooks hooks
}

// AttachGrad attaches a zero gradient buffer to t, so that backward passes
// compute the gradient of their heads with respect to t (MXNet's
// attach_grad). req says whether each pass overwrites the gradient
// (GradWrite, the default) or adds to it (GradAdd). Attaching a gradient
// makes t a leaf of future graphs: if a recorded operation produced t, t is
// cut from that history.
func (t *Tensor) AttachGrad(req ...GradReq) {
	t.live("AttachGrad")
	if t.st.dt.IsInt() {
		fail(ErrDType, "AttachGrad", fmt.Sprintf("a %v tensor has no gradient: integer tensors are not differentiable", t.st.dt), t)
	}
	r := GradWrite
	if len(req) > 1 || (len(req) == 1 && req[0] != GradWrite && req[0] != GradAdd) {
		fail(ErrArgument, "AttachGrad", fmt.Sprintf("want at most one of GradWrite, GradAdd, got %v", req), t)
	}
	if len(req) == 1 {
		r = req[0]
	}
	g := empty("AttachGrad", t.st.be, t.st.dt, t.shape)
	t.st.be.Fill(g.st.buf, g.layout(), 0)
	t.leaf = &leafInfo{grad: g, req: r}
	t.node = nil
	t.req = true
}

// Grad returns the gradient buffer attached to t, or nil if none is. For
// a recorded tensor on which RetainGrad was called it returns the gradient
// the last backward pass kept (nil before the first). Backward writes into
// an attached buffer in place, so a reference to it sees later gradients.
func (t *Tensor) Grad() *Tensor {
	if t.node != nil {
		if r := t.node.retained.Load(); r != nil {
			return r.grad
		}
		return nil
	}
	if t.leaf == nil {
		return nil
	}
	return t.leaf.grad
}

// ZeroGrad sets the attached gradient to zero (useful with GradAdd).
func (t *Tensor) ZeroGrad() {
	if g := t.Grad(); g != nil {
		g.st.be.Fill(g.st.buf, g.layout(), 0)
		g.st.version.Add(1)
	}
}

// RequiresGrad reports whether gradients flow to t: it has a gradient
// attached or a recorded operation produced it.
func (t *Tensor) RequiresGrad() bool { return t.req }

// node is a recorded operation: the producer of one tensor.
type node struct {
	op       string
	seq      uint64    // creation order: a node's inputs have smaller seq
	inputs   []*Tensor // every operand, for the backward rule
	edges    []edge    // per input: whether gradient flows, its version
	backward func(c *bctx)
	shape    []int // the output's shape, dtype and device
	dt       DType
	dev      device.Device
	freed    bool

	hooks    hooks                    // gradient hooks of the output (RegisterHook)
	retained atomic.Pointer[leafInfo] // where the output's gradient is kept (RetainGrad)
	site     string                   // file:line of the recording call, in anomaly mode

	// Inline storage for the common case of at most two inputs, so that
	// recording an operation costs one allocation for the node.
	inlInputs [2]*Tensor
	inlEdges  [2]edge
}

// edge is what a node knows of one of its inputs.
type edge struct {
	need    bool   // gradient flows to the input
	version uint64 // the input's storage version when recorded
}

var nodeSeq atomic.Uint64

// recording reports whether an operation on ts is to be recorded.
//
// The operands are looked at first: an operation on tensors that need no
// gradient (inference) never reads the goroutine's state.
func recording(ts ...*Tensor) bool {
	for _, t := range ts {
		if t.req {
			return mode.Recording()
		}
	}
	return false
}

// record makes out the output of a recorded operation with the given
// backward rule.
func record(out *Tensor, op string, backward func(c *bctx), inputs ...*Tensor) {
	n := &node{op: op, seq: nodeSeq.Add(1), backward: backward, shape: out.shape, dt: out.st.dt, dev: out.st.dev}
	if len(inputs) <= len(n.inlInputs) {
		n.inputs = n.inlInputs[:len(inputs):len(inputs)]
		n.edges = n.inlEdges[:len(inputs):len(inputs)]
		copy(n.inputs, inputs)
	} else {
		n.inputs = append([]*Tensor(nil), inputs...)
		n.edges = make([]edge, len(inputs))
	}
	for i, in := range inputs {
		n.edges[i] = edge{need: in.req, version: in.st.version.Load()}
	}
	out.node = n
	out.req = true
	if mode.Anomaly() {
		n.site = callSite()
		checkFinite(out, "forward: the output of "+op, n.site)
	}
}

// bctx is what a backward rule sees: the gradient of its output, its
// inputs, and where to put the inputs' gradients.
//
// Without CreateGraph the rule works on aliases of the saved tensors that
// carry no autograd state, so nothing it computes is recorded even while
// another goroutine records; with CreateGraph it works on the tensors
// themselves and every operation it runs is recorded.
type bctx struct {
	n      *node
	g      *Tensor
	create bool
	grads  []*Tensor
	scales []float64
	ins    []*Tensor

	inlGrads  [2]*Tensor
	inlScales [2]float64
	inlIns    [2]*Tensor

	escaped bool       // the rule handed the gradient to user code
	slice   sliceEmbed // input 0's gradient is grads[0] embedded in zeros (setSlice)
}

// sliceEmbed says where a slice's gradient lies in its input's gradient.
type sliceEmbed struct {
	on          bool
	shape       []int // the input's
	axis, start int
}

// setSlice gives input 0 of a single-input rule the gradient of its shape
// that is g at [start, start+len) along axis and zero elsewhere (the
// backward of Slice and Index). Outside CreateGraph the engine adds g into
// the input's accumulated gradient in place where it owns it, instead of
// materialising a zero-filled gradient of the input's shape and adding
// that: the slices of one tensor (q, k and v cut from one projection)
// then cost passes over their own sizes, not over the whole tensor each.
func (c *bctx) setSlice(g *Tensor, shape []int, axis, start int) {
	if !c.n.edges[0].need {
		return
	}
	if c.create {
		c.set(0, sliceGrad(g, shape, axis, start))
		return
	}
	c.grads[0], c.scales[0] = g, 1
	c.slice = sliceEmbed{on: true, shape: shape, axis: axis, start: start}
}

// needs reports whether input i wants a gradient.
func (c *bctx) needs(i int) bool { return c.n.edges[i].need }

// in returns input i.
func (c *bctx) in(i int) *Tensor {
	if c.create {
		return c.n.inputs[i]
	}
	if c.ins == nil {
		if k := len(c.n.inputs); k <= len(c.inlIns) {
			c.ins = c.inlIns[:k]
		} else {
			c.ins = make([]*Tensor, k)
		}
	}
	if c.ins[i] == nil {
		c.ins[i] = c.n.inputs[i].alias()
	}
	return c.ins[i]
}

// use returns a tensor saved by the rule's closure (such as the output),
// aliased like the inputs.
func (c *bctx) use(t *Tensor) *Tensor {
	if c.create {
		return t
	}
	return t.alias()
}

// set gives input i the gradient g (of the output's shape or of the
// input's; the engine sums broadcast axes away).
func (c *bctx) set(i int, g *Tensor) {
	if c.n.edges[i].need {
		c.grads[i], c.scales[i] = g, 1
	}
}

// setScaled gives input i the gradient s·g. The engine folds the factor
// into the next pass over the gradient (an accumulation or a write to the
// attached buffer) instead of spending a pass on it.
func (c *bctx) setScaled(i int, g *Tensor, s float64) {
	if !c.n.edges[i].need {
		return
	}
	if c.create {
		c.grads[i], c.scales[i] = g.MulScalar(s), 1
		return
	}
	c.grads[i], c.scales[i] = g, s
}

// BackwardOptions configures [RunBackward].
type BackwardOptions struct {
	// RetainGraph keeps the graph for another backward pass; by default a
	// pass frees it.
	RetainGraph bool
	// CreateGraph records the backward computation itself, so that the
	// gradients it returns can be differentiated again. It implies
	// RetainGraph.
	CreateGraph bool
}

// Backward computes the gradient of t with respect to every tensor with an
// attached gradient that t depends on, and writes it to their Grad buffers
// according to their GradReq. headGrad is the gradient of some loss with
// respect to t (default: ones, as in MXNet). The graph is freed; a second
// Backward through it panics with ErrGraphFreed. Backward does not record,
// even inside autograd.Record.
func (t *Tensor) Backward(headGrad ...*Tensor) {
	if len(headGrad) > 1 {
		fail(ErrArgument, "Backward", fmt.Sprintf("want at most one head gradient, got %d", len(headGrad)), t)
	}
	RunBackward([]*Tensor{t}, headGrad, nil, BackwardOptions{})
}

// RunBackward is the backward engine behind [Tensor.Backward] and package
// autograd's Backward and Grad. It differentiates heads (with head
// gradients headGrads, nil entries or a nil slice meaning ones).
//
// With vars == nil it writes the gradients of all attached tensors the
// heads depend on, and returns nil. Otherwise it returns the gradients of
// the heads with respect to vars (zeros for a var the heads do not depend
// on) and writes no Grad buffer.
//
// Operations are differentiated in the reverse order of their recording, so
// gradient sums are formed in the same order on every run and the results
// are bitwise reproducible.
//
// A pass runs in phases: check the arguments, collect the graph, seed the
// heads' gradients, prune what leads to no wanted variable (Grad), sweep
// the operations newest first, then hand out the results (Grad) or write
// the attached gradients (Backward), and free the graph. Everything that
// can be refused is refused in the first two phases, before any gradient
// is computed, so that a misuse leaves all gradients and graphs as they
// were.
func RunBackward(heads, headGrads, vars []*Tensor, o BackwardOptions) []*Tensor {
	if mode.Autocast() != 0 {
		// Backward rules compute in the dtypes that the forward pass
		// chose, also when called inside an autocast scope.
		defer mode.Exit(mode.Enter(mode.Current() &^ mode.AutocastBits))
	}
	if o.CreateGraph {
		o.RetainGraph = true
		// The backward computation must be recorded whatever the caller's
		// scope (in the calling goroutine, like every scope).
		defer mode.Exit(mode.Enter(mode.Current() | mode.RecordBit))
	}
	e := &engine{create: o.CreateGraph, anomaly: mode.Anomaly(), startSeq: storageSeq.Load(),
		nodeIdx: map[*node]int{}, leafIdx: map[*Tensor]int{}}
	checkHeads(heads, headGrads)
	e.want(vars)
	e.collect(heads)
	if vars == nil {
		e.checkGradBuffers()
	}
	e.seed(heads, headGrads)
	e.prune()
	e.sweep()
	var results []*Tensor
	if vars == nil {
		e.writeLeaves()
	} else {
		results = e.results(vars)
	}
	if !o.RetainGraph {
		e.free()
	}
	return results
}

// checkHeads refuses heads that cannot be differentiated and head
// gradients that do not fit them.
func checkHeads(heads, headGrads []*Tensor) {
	const op = "Backward"
	if len(heads) == 0 {
		fail(ErrArgument, op, "no heads")
	}
	if headGrads != nil && len(headGrads) != len(heads) {
		fail(ErrArgument, op, fmt.Sprintf("%d head gradients for %d heads", len(headGrads), len(heads)))
	}
	for i, h := range heads {
		if h == nil {
			fail(ErrArgument, op, fmt.Sprintf("head %d is nil", i))
		}
		h.live(op)
		if h.node == nil && h.leaf == nil {
			fail(ErrNotRecorded, op, "the head was not produced by an operation recorded inside autograd.Record and has no gradient attached: "+
				"call AttachGrad on the parameters before recording, and update them in place (an optimiser, Assign) instead of rebinding them (w = w.Sub(...) makes a new, unrecorded tensor)", h)
		}
		if h.node != nil && h.node.freed {
			fail(ErrGraphFreed, op, "the head's graph was freed by an earlier backward pass; to differentiate a graph twice, keep it with autograd.Backward(heads, autograd.RetainGraph()) or autograd.Grad(..., autograd.RetainGraph())", h)
		}
		if headGrads == nil || headGrads[i] == nil {
			continue
		}
		g := headGrads[i]
		g.live(op)
		switch {
		case !slices.Equal(g.shape, h.shape):
			fail(ErrShape, op, "head gradient shape differs from the head's", h, g)
		case g.st.dt != h.st.dt:
			fail(ErrDType, op, "head gradient dtype differs from the head's", h, g)
		case g.st.dev != h.st.dev:
			fail(ErrDevice, op, "head gradient device differs from the head's", h, g)
		}
	}
}

// want records which slots of vars each wanted node or leaf fills (a
// variable may be listed more than once). vars == nil means Backward.
func (e *engine) want(vars []*Tensor) {
	if vars == nil {
		return
	}
	e.wanted, e.wantedLeaf = map[*node][]int{}, map[*Tensor][]int{}
	for i, v := range vars {
		if v == nil {
			fail(ErrArgument, "Grad", fmt.Sprintf("variable %d is nil", i))
		}
		v.live("Grad")
		switch {
		case v.node != nil:
			e.wanted[v.node] = append(e.wanted[v.node], i)
		case v.leaf != nil:
			e.wantedLeaf[v] = append(e.wantedLeaf[v], i)
		default:
			fail(ErrNotRecorded, "Grad", fmt.Sprintf("variable %d has no gradient attached and was not produced by a recorded operation", i), v)
		}
	}
}

// checkGradBuffers refuses a Backward into an attached gradient buffer
// that was released.
func (e *engine) checkGradBuffers() {
	for _, t := range e.leaves {
		if li := t.leaf; li != nil && li.grad != nil && li.grad.st.buf == nil {
			fail(ErrReleased, "Backward", "the gradient buffer attached to a variable was released; call AttachGrad again to attach a new one", t)
		}
	}
}

// seed puts the heads' gradients into their slots.
func (e *engine) seed(heads, headGrads []*Tensor) {
	for i, h := range heads {
		var g *Tensor
		if headGrads != nil && headGrads[i] != nil {
			g = headGrads[i]
			if g.req && !e.create {
				g = g.alias()
			}
		} else {
			one := Full(1, nil, On(h.st.dev), WithDType(h.st.dt))
			g = one.BroadcastTo(h.shape...)
		}
		e.accumulate(e.slotOf(h), g, 1, false)
	}
}

// prune marks, in Grad mode, the operations that lead to a wanted
// variable; the sweep skips the others.
func (e *engine) prune() {
	if e.wanted == nil {
		return
	}
	e.useful = make([]bool, len(e.nodes))
	for i := len(e.nodes) - 1; i >= 0; i-- { // ascending seq: inputs first
		n := e.nodes[i]
		if _, ok := e.wanted[n]; ok {
			e.useful[i] = true
			continue
		}
		for k, in := range n.inputs {
			if !n.edges[k].need {
				continue
			}
			if in.node != nil {
				if j, ok := e.nodeIdx[in.node]; ok && e.useful[j] {
					e.useful[i] = true
				}
			} else if _, ok := e.wantedLeaf[in]; ok {
				e.useful[i] = true
			}
		}
	}
}

// sweep runs the operations newest first: hooks and retained gradients of
// each output, the wanted results, then the backward rule.
func (e *engine) sweep() {
	if e.wanted != nil {
		e.found = make(map[int]*Tensor)
	}
	for i, n := range e.nodes {
		s := &e.acc[i]
		if s.t != nil {
			if hs, keep := n.hooks.list(), n.retained.Load(); hs != nil || keep != nil {
				e.hookAndRetain(hs, keep, s)
			}
		}
		if ks, ok := e.wanted[n]; ok && s.t != nil {
			r := e.value(s)
			for _, k := range ks {
				e.found[k] = r
			}
			s.owned = false
		}
		if s.t == nil || (e.useful != nil && !e.useful[i]) {
			continue
		}
		e.run(n, s)
	}
}

// results returns the gradients for vars (Grad): the intermediate results
// the sweep found, the leaves' accumulated gradients (after their hooks),
// zeros for a var the heads do not depend on.
func (e *engine) results(vars []*Tensor) []*Tensor {
	results := make([]*Tensor, len(vars))
	for k, r := range e.found {
		results[k] = r
	}
	for j, v := range e.leaves { // discovery order: hooks run in a fixed order
		ks, ok := e.wantedLeaf[v]
		if !ok || e.leafAcc[j].t == nil {
			continue
		}
		if v.leaf != nil {
			if hs := v.leaf.hooks.list(); hs != nil {
				e.hookAndRetain(hs, nil, &e.leafAcc[j])
			}
		}
		r := e.value(&e.leafAcc[j])
		for _, k := range ks {
			results[k] = r
		}
	}
	for k, r := range results {
		switch {
		case r == nil:
			v := vars[k]
			r = Zeros(v.Shape(), On(v.st.dev), WithDType(v.st.dt))
		case !e.create && r.req:
			r = r.alias()
		}
		if e.create {
			r = recordedConstant(r)
		}
		results[k] = r
	}
	return results
}

// free drops the graph's rules and saved tensors (no RetainGraph).
func (e *engine) free() {
	for _, n := range e.nodes {
		n.freed = true
		n.backward = nil
		n.inputs = nil
	}
}

// uses reports whether the recorded history of v has t as an input.
func uses(v, t *Tensor) bool {
	found := false
	walk([]*Tensor{v}, map[*node]int{}, map[*Tensor]int{}, func(n *node) {
		for _, in := range n.inputs {
			found = found || in == t
		}
	}, func(*Tensor) {})
	return found
}

// recordedConstant returns t if it is recorded, else a recorded alias of it
// that depends on nothing, so that differentiating it again gives zeros
// instead of ErrNotRecorded. With CreateGraph every gradient handed out is
// differentiable again, also one that does not depend on the variables
// (the gradient of a linear function of them, say, or a constant head
// gradient passed through Abs or MulScalar).
func recordedConstant(t *Tensor) *Tensor {
	if t.req {
		return t
	}
	c := t.alias()
	t.st.shared.Store(true)
	record(c, "Constant", func(*bctx) {})
	return c
}

// gradSlot accumulates the gradient of one tensor: scale·t.
type gradSlot struct {
	t     *Tensor
	scale float64
	owned bool // the engine made t's buffer and nothing else refers to it
}

// value returns the slot's gradient as a tensor, applying a pending scale
// (in place when the engine owns the buffer).
func (e *engine) value(s *gradSlot) *Tensor {
	if s.scale == 1 {
		return s.t
	}
	if s.owned && s.t.dense() {
		s.t.st.be.Scalar(device.MulS, s.t.st.buf, s.t.st.buf, s.t.layout(), s.scale)
	} else {
		t := rawScalar("Backward", device.MulS, s.t, s.scale)
		if s.owned {
			s.t.st.release()
		}
		s.t, s.owned = t, true
	}
	s.scale = 1
	return s.t
}

// engine is one backward pass.
//
// Buffer ownership, the invariant every phase keeps: a gradSlot's tensor is
// "owned" when the engine made its buffer during this pass and nothing
// outside the engine refers to it (no user code has seen it: no hook, no
// custom Function, no result handed out; no other view). Only owned
// buffers are written in place (accumulating into them, scaling them,
// handing them to an attached gradient) or released early. Whatever has
// been shown to user code is marked shared and never owned again.
type engine struct {
	create   bool
	anomaly  bool   // the calling goroutine detects anomalies
	startSeq uint64 // storages with a larger seq were made during this pass

	nodes   []*node // reachable nodes, newest first
	nodeIdx map[*node]int
	acc     []gradSlot

	leaves  []*Tensor // reachable attached tensors, in discovery order
	leafIdx map[*Tensor]int
	leafAcc []gradSlot

	// Grad mode only.
	wanted     map[*node][]int   // slots of vars filled by a node's output
	wantedLeaf map[*Tensor][]int // slots of vars filled by a leaf
	useful     []bool            // per node: leads to a wanted variable
	found      map[int]*Tensor   // results the sweep found, by slot
}

// walk visits the nodes and leaves reachable from heads through edges that
// carry gradient, with an explicit stack (graphs may be deep): visitNode
// for every node once, visitLeaf for every tensor with an attached
// gradient once, in discovery order. seen and seenLeaf record what was
// visited (with the value -1); the backward engine passes its index maps,
// so that a pass builds no extra map.
func walk(heads []*Tensor, seen map[*node]int, seenLeaf map[*Tensor]int, visitNode func(*node), visitLeaf func(*Tensor)) {
	var stack []*node
	visit := func(t *Tensor) {
		switch {
		case t.node != nil:
			if _, ok := seen[t.node]; !ok {
				seen[t.node] = -1
				stack = append(stack, t.node)
			}
		case t.leaf != nil:
			if _, ok := seenLeaf[t]; !ok {
				seenLeaf[t] = -1
				visitLeaf(t)
			}
		}
	}
	for _, h := range heads {
		visit(h)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		visitNode(n)
		for k, in := range n.inputs {
			if n.edges[k].need {
				visit(in)
			}
		}
	}
}

// collect finds the nodes and leaves reachable from heads and orders the
// nodes newest first. A node freed by an earlier pass is refused here,
// before anything is computed.
func (e *engine) collect(heads []*Tensor) {
	walk(heads, e.nodeIdx, e.leafIdx, func(n *node) {
		if n.freed {
			panic(&Error{Kind: ErrGraphFreed, Op: "Backward", Detail: fmt.Sprintf(
				"operation %s in the graph was freed by an earlier backward pass; to differentiate a graph twice, keep it with autograd.Backward(heads, autograd.RetainGraph())", n.op)})
		}
		e.nodes = append(e.nodes, n)
	}, func(t *Tensor) {
		e.leafIdx[t] = len(e.leaves)
		e.leaves = append(e.leaves, t)
	})
	sort.Slice(e.nodes, func(i, j int) bool { return e.nodes[i].seq > e.nodes[j].seq })
	for i, n := range e.nodes {
		e.nodeIdx[n] = i
	}
	e.acc = make([]gradSlot, len(e.nodes))
	e.leafAcc = make([]gradSlot, len(e.leaves))
}

// slotOf returns where the gradient of t accumulates.
func (e *engine) slotOf(t *Tensor) *gradSlot {
	if t.node != nil {
		if i, ok := e.nodeIdx[t.node]; ok {
			return &e.acc[i]
		}
		return nil
	}
	if i, ok := e.leafIdx[t]; ok {
		return &e.leafAcc[i]
	}
	return nil
}

// fresh reports whether t's buffer was made during this pass and no other
// tensor views it.
func (e *engine) fresh(t *Tensor) bool {
	return t.st.seq > e.startSeq && !t.st.shared.Load() && t.st.buf != nil
}

// run applies n's backward rule to the gradient in s and routes the
// results to n's inputs.
func (e *engine) run(n *node, s *gradSlot) {
	for i, in := range n.inputs {
		if in.st.version.Load() != n.edges[i].version {
			panic(&Error{Kind: ErrModified, Op: n.op, Shapes: [][]int{in.Shape()}, Devices: []device.Device{in.st.dev}, Detail: fmt.Sprintf(
				"input %d was modified in place (an optimiser step or Assign) after the operation was recorded", i)})
		}
	}
	g := e.value(s)
	c := &bctx{n: n, g: g, create: e.create}
	if k := len(n.inputs); k <= len(c.inlGrads) {
		c.grads, c.scales = c.inlGrads[:k], c.inlScales[:k]
	} else {
		c.grads, c.scales = make([]*Tensor, k), make([]float64, k)
	}
	if g.req && !e.create {
		c.g = g.alias()
	}
	n.backward(c)
	if c.escaped {
		// User code (a custom Function) saw the gradient and may keep it.
		s.owned = false
	}
	if e.anomaly {
		for i, r := range c.grads {
			if r != nil {
				checkFinite(r, fmt.Sprintf("backward: the gradient that %s gave its input %d", n.op, i), n.site)
			}
		}
	}

	var inlOwned [2]bool
	owned := inlOwned[:0]
	if len(c.grads) <= len(inlOwned) {
		owned = inlOwned[:len(c.grads)]
	} else {
		owned = make([]bool, len(c.grads))
	}
	passThrough := 0
	for i, r := range c.grads {
		if r == nil {
			continue
		}
		if r.st == g.st {
			passThrough++
			owned[i] = s.owned && r == g
		} else {
			owned[i] = !e.create && e.fresh(r)
		}
		for j := 0; j < i; j++ {
			if c.grads[j] != nil && c.grads[j].st == r.st {
				owned[i], owned[j] = false, false
			}
		}
	}
	if passThrough > 1 {
		for i, r := range c.grads {
			if r != nil && r.st == g.st {
				owned[i] = false
			}
		}
	}
	if passThrough == 0 && s.owned {
		g.st.release()
	}
	s.t, s.owned, s.scale = nil, false, 1

	for i, r := range c.grads {
		if r == nil {
			continue
		}
		in := n.inputs[i]
		if r.st.dt != in.st.dt || r.st.dev != in.st.dev {
			panic(&Error{Kind: ErrDType, Op: n.op, Detail: fmt.Sprintf(
				"backward rule gave input %d a gradient of dtype %v on %v, want %v on %v",
				i, r.st.dt, r.st.dev, in.st.dt, in.st.dev)})
		}
		if i == 0 && c.slice.on {
			e.embed(in, r, c.scales[0], owned[0], c.slice)
			continue
		}
		if !slices.Equal(r.shape, in.shape) {
			u := sumTo(n.op, r, in.shape)
			if owned[i] {
				r.st.release()
			}
			r, owned[i] = u, !e.create && e.fresh(u)
		}
		slot := e.slotOf(in)
		if slot == nil {
			if owned[i] {
				r.st.release()
			}
			continue
		}
		e.accumulate(slot, r, c.scales[i], owned[i])
	}
}

// embed adds scale·g, placed at emb in zeros of in's shape (setSlice), to
// in's gradient: in place, over g's elements only, where the engine owns a
// dense accumulated gradient already; otherwise as a zero-filled gradient
// with g written into it.
func (e *engine) embed(in, g *Tensor, scale float64, owned bool, emb sliceEmbed) {
	slot := e.slotOf(in)
	switch {
	case slot == nil:
	case slot.t != nil && slot.owned && slot.t.dense():
		t := e.value(slot) // scaled in place: owned and dense
		l := t.layout()
		l.Offset += emb.start * l.Strides[emb.axis]
		l.Shape = g.shape
		sum := empty("Backward", g.st.be, g.st.dt, g.shape)
		g.st.be.AddScaled(sum.st.buf, t.st.buf, l, 1, g.st.buf, g.layout(), scale)
		g.st.be.Copy(t.st.buf, l, sum.st.buf, sum.layout())
		sum.st.release()
	default:
		full := sliceGrad(g, emb.shape, emb.axis, emb.start)
		if owned {
			g.st.release()
		}
		e.accumulate(slot, full, scale, true)
		return
	}
	if owned {
		g.st.release()
	}
}

// accumulate adds scale·g to the slot, in place where the engine owns a
// buffer: one pass over the data whatever the scales.
func (e *engine) accumulate(s *gradSlot, g *Tensor, scale float64, owned bool) {
	switch {
	case s.t == nil:
		s.t, s.scale, s.owned = g, scale, owned
	case e.create:
		s.t, s.scale, s.owned = e.value(s).Add(g), 1, false
	case s.owned && s.t.dense():
		s.t.st.be.AddScaled(s.t.st.buf, s.t.st.buf, s.t.layout(), s.scale, g.st.buf, g.layout(), scale)
		s.scale = 1
		if owned {
			g.st.release()
		}
	case owned && g.dense():
		g.st.be.AddScaled(g.st.buf, g.st.buf, g.layout(), scale, s.t.st.buf, s.t.layout(), s.scale)
		if s.owned {
			s.t.st.release()
		}
		s.t, s.scale, s.owned = g, 1, true
	default:
		checkPair("Backward", s.t, g)
		sum := empty("Backward", g.st.be, g.st.dt, g.shape)
		g.st.be.AddScaled(sum.st.buf, s.t.st.buf, s.t.layout(), s.scale, g.st.buf, g.layout(), scale)
		if s.owned {
			s.t.st.release()
		}
		if owned {
			g.st.release()
		}
		s.t, s.scale, s.owned = sum, 1, true
	}
}

// writeLeaves stores the accumulated gradients in the attached buffers.
func (e *engine) writeLeaves() {
	for i, t := range e.leaves {
		s := &e.leafAcc[i]
		li := t.leaf
		if li == nil {
			continue
		}
		if s.t != nil {
			if hs := li.hooks.list(); hs != nil {
				e.hookAndRetain(hs, nil, s)
			}
		}
		dst := li.grad
		if e.create && s.t != nil {
			e.writeRecorded(li, s)
			continue
		}
		dst.st.version.Add(1)
		// Values written in place: no longer the result of the
		// computation an earlier CreateGraph pass recorded.
		dst.node, dst.req = nil, false
		switch {
		case s.t == nil:
			if li.req == GradWrite {
				dst.st.be.Fill(dst.st.buf, dst.layout(), 0)
			}
		case li.req == GradAdd:
			dst.st.be.AddScaled(dst.st.buf, dst.st.buf, dst.layout(), 1, s.t.st.buf, s.t.layout(), s.scale)
			if s.owned {
				s.t.st.release()
			}
		case s.owned && s.t.dense() && dst.dense() && !dst.st.shared.Load() && dst.node == nil:
			// Hand the engine's buffer to the gradient tensor instead of
			// copying it.
			e.value(s)
			old := dst.st
			dst.st = s.t.st
			old.release()
		default:
			if s.scale == 1 {
				dst.st.be.Copy(dst.st.buf, dst.layout(), s.t.st.buf, s.t.layout())
			} else {
				dst.st.be.Scalar(device.MulS, dst.st.buf, s.t.st.buf, s.t.layout(), s.scale)
			}
			if s.owned {
				s.t.st.release()
			}
		}
	}
}

// writeRecorded writes a CreateGraph pass's gradient s into the attached
// gradient li. The gradient tensor stays the same object with the same
// buffer (a reference taken earlier sees the new values) and becomes the
// recorded result of the gradient computation, so that it can be
// differentiated again. The sum with the old gradient (GradAdd) reads it
// through an alias that carries its old history, so that the new history
// does not loop through the tensor itself.
//
// When the computation used the gradient tensor itself (a gradient
// penalty, say), recorded operations hold it as an input whose values and
// history they need: then it is left as it was, and the attached gradient
// becomes a new tensor (as PyTorch does for every create_graph pass).
func (e *engine) writeRecorded(li *leafInfo, s *gradSlot) {
	dst := li.grad
	v := e.value(s)
	var snap *Tensor
	if li.req == GradAdd {
		prev := dst.alias()
		prev.node, prev.req = dst.node, dst.req
		snap = prev.Clone()
		v = snap.Add(v)
	}
	v = recordedConstant(v)
	if uses(v, dst) {
		li.grad = v
		return
	}
	dst.st.version.Add(1)
	dst.st.be.Copy(dst.st.buf, dst.layout(), v.st.buf, v.layout())
	dst.node, dst.req = v.node, true
	if snap != nil && snap.node != nil {
		// The copy of the old gradient was taken before this write, and
		// a copy's backward rule does not read its input: the write does
		// not invalidate it.
		snap.node.edges[0].version = dst.st.version.Load()
	}
}
