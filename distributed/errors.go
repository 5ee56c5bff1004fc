package distributed

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tapegrad/tapegrad/device"
)

// The kinds of error that process groups return, wrapped in an [*Error].
// Test for them with errors.Is.
var (
	// ErrNoEngine: the binary has no collective engine for the tensors'
	// device (built without the gloo tag for CPU tensors, or without the
	// cuda tag, or without a loadable libnccl.so.2, for CUDA tensors).
	ErrNoEngine = errors.New("no collective engine")
	// ErrEnv: the environment that names rank, world size and the
	// rendezvous address (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) is
	// missing or inconsistent.
	ErrEnv = errors.New("bad distributed environment")
	// ErrTimeout: an operation did not complete within the group's
	// timeout (a peer that hangs, or one that died without closing its
	// connections).
	ErrTimeout = errors.New("timed out")
	// ErrPeer: a peer's connection failed (a peer process exited or was
	// killed mid-operation).
	ErrPeer = errors.New("peer failure")
	// ErrAborted: the group failed earlier; every later operation returns
	// this kind, wrapping the first failure, because the ranks can no
	// longer be assumed to be in step.
	ErrAborted = errors.New("process group aborted")
	// ErrClosed: an operation on a closed group.
	ErrClosed = errors.New("process group closed")
	// ErrArgument: a bad argument (a root out of range, a dtype the engine
	// does not reduce, tensors of different devices).
	ErrArgument = errors.New("invalid argument")
	// ErrNotMember: a collective on a group from NewGroup on a rank that
	// is not one of its members.
	ErrNotMember = errors.New("not a member of the process group")
	// ErrEngine: any other failure the engine reported.
	ErrEngine = errors.New("engine failure")
)

// Error describes a failed collective or rendezvous: the operation, this
// rank and the world size, the tensor's shape, dtype and device, and the
// engine's own message.
type Error struct {
	Kind   error          // one of the Err* values above
	Op     string         // "AllReduce", "Broadcast", "Init", ...
	Rank   int            // this process's rank
	World  int            // the world size
	Shape  []int          // the tensor's shape, where there is one
	DType  device.DType   // the tensor's dtype, where there is one
	Device *device.Device // the tensor's device; nil when there is no tensor
	Detail string         // what happened, the engine's message included
	Err    error          // an underlying cause, if any
}

// Error formats the error in one line.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "distributed: %s on rank %d of %d", e.Op, e.Rank, e.World)
	if e.Device != nil {
		fmt.Fprintf(&b, " (%v %v on %v)", e.Shape, e.DType, *e.Device)
	}
	fmt.Fprintf(&b, ": %v", e.Kind)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so that errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}
