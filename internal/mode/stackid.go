package mode

import (
	"bytes"
	"runtime"
	"strconv"
)

// stackID returns the calling goroutine's id, read from the header of its
// stack trace ("goroutine 18 [running]:"). Ids are never reused.
func stackID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("mode: cannot read the goroutine id from " + strconv.Quote(string(buf[:])))
	}
	return id
}
