package distributed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tapegrad/tapegrad/autograd"
	"github.com/tapegrad/tapegrad/device"
	"github.com/tapegrad/tapegrad/tensor"
)

// The environment variables that name a process's place in a job, as
// torchrun (and tgrun) set them.
const (
	EnvRank       = "RANK"        // this process's rank, 0 ≤ RANK < WORLD_SIZE
	EnvLocalRank  = "LOCAL_RANK"  // its rank among the processes of its machine (picks its GPU)
	EnvWorldSize  = "WORLD_SIZE"  // the number of processes
	EnvMasterAddr = "MASTER_ADDR" // the host of rank 0, which serves the rendezvous store
	EnvMasterPort = "MASTER_PORT" // the store's TCP port
	// EnvTimeout overrides DefaultTimeout: a Go duration ("30s", "2m").
	EnvTimeout = "TAPEGRAD_DIST_TIMEOUT"
)

// DefaultTimeout bounds every collective and the rendezvous unless
// Options.Timeout or TAPEGRAD_DIST_TIMEOUT says otherwise: an operation
// that a dead or hung peer keeps from completing fails with ErrTimeout (or
// sooner with ErrPeer) after at most this long.
const DefaultTimeout = 60 * time.Second

// Options place a process in a job.
type Options struct {
	Rank       int
	LocalRank  int
	WorldSize  int
	MasterAddr string        // host of rank 0 ("127.0.0.1" for one machine)
	MasterPort int           // TCP port of the rendezvous store on it
	Timeout    time.Duration // 0: DefaultTimeout
}

// EnvOptions reads Options from the environment (RANK, LOCAL_RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TAPEGRAD_DIST_TIMEOUT). LOCAL_RANK
// defaults to RANK. Missing or malformed values give an *Error of kind
// ErrEnv naming the variable.
func EnvOptions() (Options, error) {
	var o Options
	bad := func(format string, a ...any) (Options, error) {
		return Options{}, &Error{Kind: ErrEnv, Op: "EnvOptions", Rank: o.Rank, World: o.WorldSize, Detail: fmt.Sprintf(format, a...)}
	}
	geti := func(name string, dst *int, required bool) error {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			if required {
				return fmt.Errorf("%s is not set", name)
			}
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s=%q is not an integer", name, v)
		}
		*dst = n
		return nil
	}
	for _, e := range []struct {
		name string
		dst  *int
		req  bool
	}{{EnvRank, &o.Rank, true}, {EnvWorldSize, &o.WorldSize, true}, {EnvMasterPort, &o.MasterPort, true}} {
		if err := geti(e.name, e.dst, e.req); err != nil {
			return bad("%v", err)
		}
	}
	o.LocalRank = o.Rank
	if err := geti(EnvLocalRank, &o.LocalRank, false); err != nil {
		return bad("%v", err)
	}
	o.MasterAddr = os.Getenv(EnvMasterAddr)
	if o.MasterAddr == "" {
		return bad("%s is not set", EnvMasterAddr)
	}
	if v := os.Getenv(EnvTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return bad("%s=%q is not a positive duration", EnvTimeout, v)
		}
		o.Timeout = d
	}
	return o, nil
}

// ReduceOp is a reduction of AllReduce and ReduceScatter.
type ReduceOp uint8

const (
	// Sum adds the ranks' elements.
	Sum ReduceOp = iota
	// Average adds them and divides the sum by the world size (in the
	// tensor's dtype, once, the same division on every rank).
	Average
)

// String returns "sum" or "average".
func (op ReduceOp) String() string {
	switch op {
	case Sum:
		return "sum"
	case Average:
		return "average"
	}
	return fmt.Sprintf("ReduceOp(%d)", uint8(op))
}

// ProcessGroup is this process's membership of a group of WorldSize
// processes that run collectives together. Every rank must call the same
// collectives in the same order with tensors of the same shapes, dtypes
// and device kinds. Collectives run one at a time, in the order they were
// called, on a goroutine of the group; the Async methods return at once
// and the others wait. A ProcessGroup is safe for concurrent use, but the
// order of calls from different goroutines is then theirs to agree on.
//
// After a failure (a timeout, a dead peer) the group is aborted: every
// later collective returns an error of kind ErrAborted wrapping the first
// failure, and the program should exit (a job restarts from a checkpoint,
// see the package documentation).
type ProcessGroup struct {
	rank, localRank, world int
	timeout                time.Duration
	store                  *Store
	ownsStore              bool // Init's group: Close closes the store
	prefix                 string
	ranks                  []int        // the parent's ranks of the members, nil for Init's group
	outside                bool         // NewGroup's value on a rank that is not a member
	subgroups              atomic.Int64 // NewGroup calls on this group, naming their keys
	host                   string       // the address the engines listen on

	cpu    engine // Gloo, nil without it
	cpuErr error  // why cpu is nil

	gpuMu sync.Mutex
	gpu   map[int]engine // NCCL communicators by CUDA ordinal

	queue  chan *Work
	done   chan struct{}
	mu     sync.Mutex
	closed bool
	failed atomic.Pointer[Error]

	// running is when the worker started the collective it is in, in
	// Unix nanoseconds (0: idle), for the watchdog in Work.Wait.
	running atomic.Int64

	submitted atomic.Int64 // collectives submitted, for the tests
}

// groups counts the groups this process has made: every rank makes its
// groups in the same order, so the count names a group's keys in the
// store.
var groups atomic.Int64

// Init joins the group that o describes: rank 0 serves the rendezvous
// store at MasterAddr:MasterPort, every rank connects to it, and the
// engines connect their ranks to each other (Gloo at once, for CPU
// tensors; NCCL on the first collective on a CUDA tensor). It fails with
// ErrTimeout when the other ranks do not arrive within the timeout.
//
// Without the Gloo engine (a build without the gloo tag) Init still
// succeeds, and collectives on CPU tensors fail with ErrNoEngine.
func Init(o Options) (*ProcessGroup, error) {
	const op = "Init"
	fail := func(kind error, detail string, cause error) (*ProcessGroup, error) {
		return nil, &Error{Kind: kind, Op: op, Rank: o.Rank, World: o.WorldSize, Detail: detail, Err: cause}
	}
	if o.WorldSize < 1 || o.Rank < 0 || o.Rank >= o.WorldSize {
		return fail(ErrEnv, fmt.Sprintf("rank %d of world size %d", o.Rank, o.WorldSize), nil)
	}
	if o.MasterAddr == "" || o.MasterPort < 0 || o.MasterPort > 65535 || (o.MasterPort == 0 && o.WorldSize > 1) {
		return fail(ErrEnv, fmt.Sprintf("rendezvous address %q port %d", o.MasterAddr, o.MasterPort), nil)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	g := &ProcessGroup{rank: o.Rank, localRank: o.LocalRank, world: o.WorldSize, timeout: o.Timeout,
		prefix: fmt.Sprintf("pg%d/", groups.Add(1)), gpu: map[int]engine{}, ownsStore: true}
	addr := net.JoinHostPort(o.MasterAddr, strconv.Itoa(o.MasterPort))
	var srv *storeServer
	if o.Rank == 0 {
		var err error
		// On one machine (a loopback MASTER_ADDR) the store listens on
		// loopback only; otherwise on every interface, as torchrun's does.
		host := ""
		if ip := net.ParseIP(o.MasterAddr); (ip != nil && ip.IsLoopback()) || o.MasterAddr == "localhost" {
			host = o.MasterAddr
		}
		if srv, err = listenStore(net.JoinHostPort(host, strconv.Itoa(o.MasterPort))); err != nil {
			return fail(ErrEnv, "rank 0 cannot serve the rendezvous store at "+addr, err)
		}
		if o.MasterPort == 0 {
			addr = net.JoinHostPort(o.MasterAddr, strconv.Itoa(srv.ln.Addr().(*net.TCPAddr).Port))
		}
	}
	st, err := dialStore(addr, o.Timeout)
	if err != nil {
		if srv != nil {
			srv.close()
		}
		kind := ErrTimeout
		if !isTimeout(err) {
			kind = ErrPeer
		}
		return fail(kind, "cannot reach the rendezvous store at "+addr+" within "+o.Timeout.String(), err)
	}
	st.server = srv
	g.store = st
	// Gloo's TCP device listens on the address this process reaches the
	// store from: loopback on one machine, the right interface on many.
	g.host = st.conn.LocalAddr().(*net.TCPAddr).IP.String()
	if err := g.connect(); err != nil {
		st.close()
		return fail(kindOf(err), "connecting Gloo's full mesh", err)
	}
	return g, nil
}

// connect makes the group's Gloo context (keeping ErrNoEngine in cpuErr
// for a build without it) and starts its goroutine.
func (g *ProcessGroup) connect() error {
	if eng, err := newGloo(g.rank, g.world, g.host, g.store, g.prefix+"gloo/", g.timeout); err != nil {
		var ee *engineError
		if !errors.As(err, &ee) || ee.kind != ErrNoEngine {
			return err
		}
		g.cpuErr = err
	} else {
		g.cpu = eng
	}
	g.queue = make(chan *Work, 1024)
	g.done = make(chan struct{})
	go g.worker()
	return nil
}

// NewGroup makes a group of some of g's ranks (torch.distributed's
// new_group), for collectives among those ranks only: the 8 GPUs of a
// node for tensor parallelism, the same position in every node for data
// parallelism, the ranks that share a shard of optimiser state. ranks
// names g's ranks, each at most once, in any order; a member's rank in
// the new group is its position in the sorted ranks, and the new group's
// world size is len(ranks). Every collective of [ProcessGroup] works on
// the new group as on g, and [DataParallel] averages over whatever group
// it is given.
//
// Every rank of g must call NewGroup, with the same ranks, in the same
// order relative to its other NewGroup calls on g (as in PyTorch), from
// one goroutine; the calls count the groups so that their rendezvous keys
// differ. A rank that is not in ranks gets, at once, a group that is not
// connected to anything: Member reports false, Rank is -1, and every
// collective on it fails with an *Error of kind ErrNotMember. The members
// connect a new Gloo context among themselves through g's store (under a
// prefix of their own) and, in the cuda build, make a NCCL communicator of
// their own on a new unique id on the first collective on a CUDA tensor.
// A member fails with ErrTimeout when the other members do not arrive
// within the timeout.
//
// The new group has its own goroutine: its collectives run concurrently
// with those of g and of other groups (each group's still run one at a
// time, in order). It shares g's store, so Close it before g. Bad ranks
// (out of range, repeated, none) give an *Error of kind ErrArgument; a
// rank outside g (g from an earlier NewGroup) gets ErrNotMember.
func (g *ProcessGroup) NewGroup(ranks []int) (*ProcessGroup, error) {
	const op = "NewGroup"
	if g.outside {
		return nil, g.errorFor(op, nil, ErrNotMember, "this rank is not in the group it would split", nil)
	}
	sorted := slices.Clone(ranks)
	slices.Sort(sorted)
	if len(sorted) == 0 || sorted[0] < 0 || sorted[len(sorted)-1] >= g.world {
		return nil, g.errorFor(op, nil, ErrArgument, fmt.Sprintf("ranks %v of a group of %d", ranks, g.world), nil)
	}
	if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		return nil, g.errorFor(op, nil, ErrArgument, fmt.Sprintf("ranks %v name a rank more than once", ranks), nil)
	}
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return nil, g.errorFor(op, nil, ErrClosed, "", nil)
	}
	names := make([]string, len(sorted))
	for i, r := range sorted {
		names[i] = strconv.Itoa(r)
	}
	sub := &ProcessGroup{rank: slices.Index(sorted, g.rank), localRank: g.localRank, world: len(sorted),
		timeout: g.timeout, store: g.store, host: g.host, ranks: sorted, gpu: map[int]engine{},
		prefix: fmt.Sprintf("%ssub%d[%s]/", g.prefix, g.subgroups.Add(1), strings.Join(names, ","))}
	if sub.rank < 0 {
		sub.outside = true
		return sub, nil
	}
	if err := sub.connect(); err != nil {
		return nil, &Error{Kind: kindOf(err), Op: op, Rank: g.rank, World: g.world,
			Detail: fmt.Sprintf("connecting Gloo's full mesh among ranks %v", sorted), Err: err}
	}
	return sub, nil
}

// InitFromEnv joins the group that the environment describes (see
// EnvOptions): the way a program started by tgrun or torchrun begins.
func InitFromEnv() (*ProcessGroup, error) {
	o, err := EnvOptions()
	if err != nil {
		return nil, err
	}
	return Init(o)
}

// Rank returns this process's rank in [0, WorldSize), or -1 in a group
// from NewGroup that this process is not a member of.
func (g *ProcessGroup) Rank() int { return g.rank }

// Member reports whether this process is a member of the group: false
// only for a group from NewGroup whose ranks leave it out.
func (g *ProcessGroup) Member() bool { return !g.outside }

// Ranks returns the ranks in the parent group of the members of a group
// from NewGroup, in the order of their ranks here (member i is the
// parent's rank Ranks()[i]); for a group from Init, 0 … WorldSize−1.
func (g *ProcessGroup) Ranks() []int {
	if g.ranks == nil {
		r := make([]int, g.world)
		for i := range r {
			r[i] = i
		}
		return r
	}
	return slices.Clone(g.ranks)
}

// LocalRank returns this process's rank among those on its machine.
func (g *ProcessGroup) LocalRank() int { return g.localRank }

// WorldSize returns the number of processes in the group.
func (g *ProcessGroup) WorldSize() int { return g.world }

// Timeout returns the bound on each collective.
func (g *ProcessGroup) Timeout() time.Duration { return g.timeout }

// Store returns the group's rendezvous store, for exchanging small
// values (a run id, a checkpoint step) outside the collectives.
func (g *ProcessGroup) Store() *Store { return g.store }

// Work is a collective in flight.
type Work struct {
	run  func() error
	done chan struct{}
	err  error
	g    *ProcessGroup
	op   string
}

// watchdogGrace is how long past the group's timeout a collective may
// stay inside the engine before Wait gives up on it.
const watchdogGrace = time.Second

// Wait blocks until the collective has completed and returns its error.
//
// The engines enforce the group's timeout themselves, but Wait does not
// rely on them alone (under heavy load a Gloo all-reduce was seen to stay
// in the engine long after its peer died): when the collective the
// group's goroutine is running has been in the engine for the timeout
// plus a second, Wait aborts the group and returns an error of kind
// ErrTimeout (ErrAborted for the collectives queued behind it), leaving
// the stuck call and its tensors to the engine. So a collective fails
// within about the timeout of when it started running, never hangs.
func (w *Work) Wait() error {
	select {
	case <-w.done:
		return w.err
	default:
	}
	g := w.g
	if g == nil || g.timeout <= 0 {
		<-w.done
		return w.err
	}
	tick := time.NewTicker(min(g.timeout/4, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			return w.err
		case <-tick.C:
		}
		start := g.running.Load()
		if start == 0 || time.Since(time.Unix(0, start)) <= g.timeout+watchdogGrace {
			continue
		}
		select {
		case <-w.done: // finished meanwhile
			return w.err
		default:
		}
		e := g.errorFor(w.op, nil, ErrTimeout, fmt.Sprintf("the engine did not return within the timeout of %v (and %v of grace); the group is aborted", g.timeout, watchdogGrace), nil)
		if !g.failed.CompareAndSwap(nil, e) {
			return g.errorFor(w.op, nil, ErrAborted, "", g.failed.Load())
		}
		return e
	}
}

// Done reports whether the collective has completed.
func (w *Work) Done() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (g *ProcessGroup) worker() {
	defer close(g.done)
	for w := range g.queue {
		g.running.Store(time.Now().UnixNano())
		w.err = w.run()
		g.running.Store(0)
		close(w.done)
	}
}

// submit queues fn; the closed check and the send are under mu, so that
// Close never closes the queue under a sender.
func (g *ProcessGroup) submit(op string, fn func() error) *Work {
	w := &Work{run: fn, done: make(chan struct{}), g: g, op: op}
	g.submitted.Add(1)
	if g.outside {
		w.err = g.errorFor(op, nil, ErrNotMember, fmt.Sprintf("this rank is not one of the group's ranks %v", g.ranks), nil)
		close(w.done)
		return w
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		w.err = &Error{Kind: ErrClosed, Op: op, Rank: g.rank, World: g.world}
		close(w.done)
		return w
	}
	g.queue <- w
	return w
}

// Close waits for the queued collectives, then for every rank to reach
// Close (up to the timeout; not when the group has failed), and drops the
// connections; rank 0 stops serving the store last. A group from NewGroup
// leaves the store, which it shares with its parent, open; on a rank that
// is not its member, Close does nothing.
func (g *ProcessGroup) Close() error {
	g.mu.Lock()
	if g.closed || g.outside {
		g.closed = true
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	close(g.queue)
	g.mu.Unlock()
	if !g.waitWorker() {
		// The worker is stuck in the engine (the watchdog aborted the
		// group): leave the engine's contexts to it rather than close
		// them under it.
		return &Error{Kind: ErrAborted, Op: "Close", Rank: g.rank, World: g.world,
			Detail: "a collective is still inside the engine; its connections are left open", Err: g.failed.Load()}
	}
	var err error
	if g.failed.Load() == nil {
		n, e := g.store.Add(g.prefix+"closed", 1)
		if e == nil && n == int64(g.world) {
			e = g.store.Set(g.prefix+"all-closed", nil)
		}
		if e == nil && g.rank == 0 {
			_, e = g.store.Get(g.prefix + "all-closed")
		}
		if e != nil {
			err = &Error{Kind: kindOf(e), Op: "Close", Rank: g.rank, World: g.world, Detail: "waiting for the other ranks to close", Err: e}
		}
	}
	if g.cpu != nil {
		g.cpu.close()
	}
	g.gpuMu.Lock()
	for _, e := range g.gpu {
		e.close()
	}
	g.gpuMu.Unlock()
	if g.ownsStore {
		g.store.close()
	}
	return err
}

// waitWorker waits for the group's goroutine to finish the queued
// collectives. It gives up on one that has stayed in the engine past the
// timeout plus watchdogGrace (aborting the group, as Work.Wait does), and
// reports whether the goroutine finished.
func (g *ProcessGroup) waitWorker() bool {
	for {
		select {
		case <-g.done:
			return true
		case <-time.After(50 * time.Millisecond):
		}
		start := g.running.Load()
		if g.timeout <= 0 || start == 0 || time.Since(time.Unix(0, start)) <= g.timeout+watchdogGrace {
			continue
		}
		select {
		case <-g.done:
			return true
		default:
		}
		g.failed.CompareAndSwap(nil, g.errorFor("Close", nil, ErrTimeout,
			fmt.Sprintf("a collective did not return from the engine within the timeout of %v (and %v of grace)", g.timeout, watchdogGrace), nil))
		return false
	}
}

// kindOf classifies an error of the store or an engine.
func kindOf(err error) error {
	var ee *engineError
	if errors.As(err, &ee) {
		return ee.kind
	}
	if errors.Is(err, ErrTimeout) || isTimeout(err) {
		return ErrTimeout
	}
	return ErrPeer
}

func isTimeout(err error) bool {
	if errors.Is(err, ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// --- tensors ----------------------------------------------------------------------

// abandoned keeps what a failed collective was given: the engine's threads
// may still write into that memory, so it must never be freed or reused.
var (
	abandonedMu sync.Mutex
	abandoned   []any
)

func abandon(v ...any) {
	abandonedMu.Lock()
	abandoned = append(abandoned, v...)
	abandonedMu.Unlock()
}

// devicePointer returns the address of a contiguous CUDA tensor's first
// element; set by the cuda-tagged build.
var devicePointer func(t *tensor.Tensor) (unsafe.Pointer, error)

// gpuEngine makes the NCCL communicator of a CUDA device; set by the
// cuda-tagged build.
var gpuEngine func(g *ProcessGroup, d device.Device) (engine, error)

// errorFor describes a failure of op on t.
func (g *ProcessGroup) errorFor(op string, t *tensor.Tensor, kind error, detail string, cause error) *Error {
	e := &Error{Kind: kind, Op: op, Rank: g.rank, World: g.world, Detail: detail, Err: cause}
	if t != nil {
		d := t.Device()
		e.Shape, e.DType, e.Device = t.Shape(), t.DType(), &d
	}
	return e
}

// engineFor returns the engine for t's device and checks its dtype.
func (g *ProcessGroup) engineFor(op string, t *tensor.Tensor) (engine, *Error) {
	if t == nil {
		return nil, g.errorFor(op, nil, ErrArgument, "nil tensor", nil)
	}
	if dt := t.DType(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, g.errorFor(op, t, ErrArgument, "the engines reduce float32 and float64 tensors only", nil)
	}
	d := t.Device()
	if d == device.CPU() {
		if g.cpu == nil {
			return nil, g.errorFor(op, t, ErrNoEngine, "", g.cpuErr)
		}
		return g.cpu, nil
	}
	if gpuEngine == nil {
		return nil, g.errorFor(op, t, ErrNoEngine, "built without the cuda tag: no NCCL", nil)
	}
	g.gpuMu.Lock()
	defer g.gpuMu.Unlock()
	if e, ok := g.gpu[d.Index()]; ok {
		return e, nil
	}
	e, err := gpuEngine(g, d)
	if err != nil {
		return nil, g.errorFor(op, t, kindOf(err), "making the NCCL communicator", err)
	}
	g.gpu[d.Index()] = e
	return e, nil
}

// pointer returns the address of the first element of the contiguous
// tensor t, pinned for the engine; unpin releases it.
func pointer(t *tensor.Tensor) (p unsafe.Pointer, unpin func(), err error) {
	n := t.Size()
	if t.Device() != device.CPU() {
		p, err := devicePointer(t)
		return p, func() {}, err
	}
	hb, ok := t.Buffer().(device.HostBuffer)
	if !ok {
		return nil, nil, fmt.Errorf("a CPU tensor's buffer %T is not host memory", t.Buffer())
	}
	off := t.Layout().Offset
	var pin runtime.Pinner
	switch t.DType() {
	case tensor.Float32:
		s := hb.Float32s()[off : off+n]
		if n == 0 {
			return nil, func() {}, nil
		}
		p = unsafe.Pointer(&s[0])
	case tensor.Float64:
		s := hb.Float64s()[off : off+n]
		if n == 0 {
			return nil, func() {}, nil
		}
		p = unsafe.Pointer(&s[0])
	}
	pin.Pin(p)
	return p, pin.Unpin, nil
}

// run checks the group, then runs the engine call f on the contiguous
// tensors ts (whose first is the one errors describe), pinned, and
// abandons them on failure.
func (g *ProcessGroup) run(op string, eng engine, f func(ps []unsafe.Pointer) error, ts ...*tensor.Tensor) error {
	if first := g.failed.Load(); first != nil {
		return g.errorFor(op, ts[0], ErrAborted, "", first)
	}
	ps := make([]unsafe.Pointer, len(ts))
	unpins := make([]func(), len(ts))
	for i, t := range ts {
		p, unpin, err := pointer(t)
		if err != nil {
			for _, u := range unpins[:i] {
				u()
			}
			return g.errorFor(op, ts[0], ErrEngine, "", err)
		}
		ps[i], unpins[i] = p, unpin
	}
	if err := f(ps); err != nil {
		// Keep the memory pinned and alive forever: the engine may still
		// be writing into it.
		abandon(ts, unpins)
		e := g.errorFor(op, ts[0], kindOf(err), err.Error(), nil)
		g.failed.CompareAndSwap(nil, e)
		return e
	}
	for _, u := range unpins {
		u()
	}
	runtime.KeepAlive(ts)
	return nil
}

// contiguous returns t or, for a strided view, a row-major copy.
func contiguous(t *tensor.Tensor) *tensor.Tensor {
	if t.Layout().IsContiguous() {
		return t
	}
	var c *tensor.Tensor
	autograd.Pause(func() { c = t.Contiguous() })
	return c
}

// divide divides the contiguous t by the world size in place.
func (g *ProcessGroup) divide(t *tensor.Tensor) {
	if g.world == 1 || t.Size() == 0 {
		return
	}
	if t.Device() == device.CPU() {
		hb := t.Buffer().(device.HostBuffer)
		off, n := t.Layout().Offset, t.Size()
		switch t.DType() {
		case tensor.Float32:
			w := float32(g.world)
			for i, s := 0, hb.Float32s()[off:off+n]; i < n; i++ {
				s[i] /= w
			}
		case tensor.Float64:
			w := float64(g.world)
			for i, s := 0, hb.Float64s()[off:off+n]; i < n; i++ {
				s[i] /= w
			}
		}
		return
	}
	autograd.Pause(func() { t.Assign(t.DivScalar(float64(g.world))) })
}

// AllReduce replaces t, on every rank, by the sum (or average) of the
// ranks' t, bitwise the same on every rank. t may be any float32 or
// float64 tensor (a strided view is reduced through a copy); the ranks'
// tensors must have the same number of elements and dtype. Like
// Broadcast, it writes t's memory in place, outside autograd (as an
// optimiser step does): reduce parameters, gradients and data, not an
// input that a recorded graph still needs for its backward pass.
func (g *ProcessGroup) AllReduce(t *tensor.Tensor, op ReduceOp) error {
	return g.AllReduceAsync(t, op).Wait()
}

// AllReduceAsync queues AllReduce and returns at once; t must not be
// read or written until the Work has completed.
func (g *ProcessGroup) AllReduceAsync(t *tensor.Tensor, op ReduceOp) *Work {
	const name = "AllReduce"
	return g.submit(name, func() error {
		eng, e := g.engineFor(name, t)
		if e != nil {
			return e
		}
		if op != Sum && op != Average {
			return g.errorFor(name, t, ErrArgument, "reduction "+op.String(), nil)
		}
		if t.Size() == 0 {
			return nil
		}
		c := contiguous(t)
		if err := g.run(name, eng, func(ps []unsafe.Pointer) error { return eng.allReduce(ps[0], c.Size(), c.DType()) }, c); err != nil {
			return err
		}
		if op == Average {
			g.divide(c)
		}
		if c != t {
			autograd.Pause(func() { t.Assign(c) })
		}
		return nil
	})
}

// Broadcast replaces t on every rank by root's t.
func (g *ProcessGroup) Broadcast(t *tensor.Tensor, root int) error {
	return g.BroadcastAsync(t, root).Wait()
}

// BroadcastAsync queues Broadcast and returns at once.
func (g *ProcessGroup) BroadcastAsync(t *tensor.Tensor, root int) *Work {
	const name = "Broadcast"
	return g.submit(name, func() error {
		eng, e := g.engineFor(name, t)
		if e != nil {
			return e
		}
		if root < 0 || root >= g.world {
			return g.errorFor(name, t, ErrArgument, fmt.Sprintf("root %d", root), nil)
		}
		if t.Size() == 0 {
			return nil
		}
		c := contiguous(t)
		if err := g.run(name, eng, func(ps []unsafe.Pointer) error { return eng.broadcast(ps[0], c.Size(), c.DType(), root) }, c); err != nil {
			return err
		}
		if c != t {
			autograd.Pause(func() { t.Assign(c) })
		}
		return nil
	})
}

// AllGather returns, on every rank, the ranks' t stacked along a new
// first axis: shape [WorldSize, t.Shape()...], rank r's t at index r.
func (g *ProcessGroup) AllGather(t *tensor.Tensor) (*tensor.Tensor, error) {
	const name = "AllGather"
	var out *tensor.Tensor
	err := g.submit(name, func() error {
		eng, e := g.engineFor(name, t)
		if e != nil {
			return e
		}
		out = tensor.Zeros(append([]int{g.world}, t.Shape()...), tensor.On(t.Device()), tensor.WithDType(t.DType()))
		if t.Size() == 0 {
			return nil
		}
		c := contiguous(t)
		return g.run(name, eng, func(ps []unsafe.Pointer) error { return eng.allGather(ps[0], ps[1], c.Size(), c.DType()) }, c, out)
	}).Wait()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ShardSizes splits n elements into world shards as ReduceScatter does:
// the first n mod world shards have one element more than the others.
func ShardSizes(n, world int) []int {
	s := make([]int, world)
	for r := range s {
		s[r] = n / world
		if r < n%world {
			s[r]++
		}
	}
	return s
}

// ReduceScatter reduces t (the same shape on every rank) over the ranks
// and returns this rank's shard of the flattened result: a 1-D tensor of
// ShardSizes(t.Size(), WorldSize)[Rank] elements, those from offset
// sum(ShardSizes(...)[:Rank]). t is not modified. This is the first half
// of an all-reduce, and what a sharded optimiser (ZeRO) reduces its
// gradients with.
func (g *ProcessGroup) ReduceScatter(t *tensor.Tensor, op ReduceOp) (*tensor.Tensor, error) {
	const name = "ReduceScatter"
	var out *tensor.Tensor
	err := g.submit(name, func() error {
		eng, e := g.engineFor(name, t)
		if e != nil {
			return e
		}
		if op != Sum && op != Average {
			return g.errorFor(name, t, ErrArgument, "reduction "+op.String(), nil)
		}
		counts := ShardSizes(t.Size(), g.world)
		if t.Size() == 0 {
			out = tensor.Zeros([]int{0}, tensor.On(t.Device()), tensor.WithDType(t.DType()))
			return nil
		}
		var work *tensor.Tensor
		autograd.Pause(func() { work = t.Detach().Reshape(t.Size()).Clone() })
		out = tensor.Zeros([]int{counts[g.rank]}, tensor.On(t.Device()), tensor.WithDType(t.DType()))
		if err := g.run(name, eng, func(ps []unsafe.Pointer) error { return eng.reduceScatter(ps[0], ps[1], counts, work.DType()) }, work, out); err != nil {
			return err
		}
		if op == Average {
			g.divide(out)
		}
		return nil
	}).Wait()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Barrier returns once every rank has called it (on the CPU engine).
func (g *ProcessGroup) Barrier() error {
	const name = "Barrier"
	return g.submit(name, func() error {
		if first := g.failed.Load(); first != nil {
			return g.errorFor(name, nil, ErrAborted, "", first)
		}
		if g.cpu == nil {
			return g.errorFor(name, nil, ErrNoEngine, "", g.cpuErr)
		}
		if err := g.cpu.barrier(); err != nil {
			e := g.errorFor(name, nil, kindOf(err), err.Error(), nil)
			g.failed.CompareAndSwap(nil, e)
			return e
		}
		return nil
	}).Wait()
}
