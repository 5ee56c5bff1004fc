//go:build amd64

package cpu

import "golang.org/x/sys/cpu"

// haveF16C reports whether the CPU has the float16 conversion instructions
// (VCVTPH2PS, VCVTPS2PH) that widenF16x8 and narrowF16x8 use.
var haveF16C = cpu.X86.HasF16C && cpu.X86.HasAVX

// The assembly conversions of halfconv_amd64.s, n a multiple of 8.

//go:noescape
func widenBF16x8(d *float32, s *uint16, n int)

//go:noescape
func narrowBF16x8(d *uint16, s *float32, n int)

//go:noescape
func widenF16x8(d *float32, s *uint16, n int)

//go:noescape
func narrowF16x8(d *uint16, s *float32, n int)
