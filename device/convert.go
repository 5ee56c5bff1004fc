package device

import "math"

// FloatToInt64 converts f to int64 as every backend's Copy does: toward
// zero, NaN to 0, and values beyond the int64 range (±Inf included) to the
// nearest end of the range. These are the rules of CUDA's cvt.rzi.s64
// conversion and of Rust's `as`; a plain Go conversion leaves the last two
// cases to the platform.
func FloatToInt64(f float64) int64 {
	switch {
	case f != f:
		return 0
	case f >= 1<<63:
		return math.MaxInt64
	case f <= -1<<63:
		return math.MinInt64
	}
	return int64(f)
}

// FloatToInt32 is [FloatToInt64] for int32.
func FloatToInt32(f float64) int32 {
	switch {
	case f != f:
		return 0
	case f >= 1<<31:
		return math.MaxInt32
	case f <= -1<<31:
		return math.MinInt32
	}
	return int32(f)
}
