//go:build unix

package atomicfile

import (
	"errors"
	"syscall"
)

// processGone reports whether no process with id pid exists.
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
