//go:build !gloo || !cgo

package distributed

import (
	"time"
)

// HaveGloo reports whether the binary was built with the Gloo engine (the
// gloo build tag), which process groups need for CPU tensors.
const HaveGloo = false

// newGloo reports that this build has no engine for CPU tensors.
func newGloo(rank, world int, host string, store *Store, prefix string, timeout time.Duration) (engine, error) {
	return nil, &engineError{kind: ErrNoEngine, msg: "built without Gloo: build with -tags gloo (and cgo) after installing Debian's libgloo-dev"}
}
