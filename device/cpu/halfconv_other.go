//go:build !amd64

package cpu

// haveF16C: the float16 conversion instructions are amd64's.
const haveF16C = false

func widenBF16x8(d *float32, s *uint16, n int)  { panic("cpu: no assembly conversions") }
func narrowBF16x8(d *uint16, s *float32, n int) { panic("cpu: no assembly conversions") }
func widenF16x8(d *float32, s *uint16, n int)   { panic("cpu: no assembly conversions") }
func narrowF16x8(d *uint16, s *float32, n int)  { panic("cpu: no assembly conversions") }
