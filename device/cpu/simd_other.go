//go:build !amd64

package cpu

import "github.com/tapegrad/tapegrad/device"

// haveSIMD: there are assembly kernels for amd64 only.
const haveSIMD = false

// haveFMA: the FMA kernels are amd64 assembly too.
const haveFMA = false

func ntFence() {}

func simdUnary[T float](device.UnaryOp, []T, []T, stores) bool           { return false }
func simdScalar[T float](device.ScalarOp, []T, []T, T, stores) bool      { return false }
func simdBinaryVV[T float](device.BinaryOp, []T, []T, []T, stores) bool  { return false }
func simdBinaryVS[T float](device.BinaryOp, []T, []T, T, stores) bool    { return false }
func simdBinarySV[T float](device.BinaryOp, []T, T, []T, stores) bool    { return false }
func simdAddScaled[T float](d, a, b []T, alpha, beta T, st stores) bool  { return false }
func simdConvert[D, S float](d []D, s []S, st stores) bool               { return false }
func simdLanes4[T float](runs *[4][]T, sq bool, out *[4][8]float64) bool { return false }
func simdColSums[T float](acc []float64, x []T, rows []int, lo int, sq bool) bool {
	return false
}

func simdAdam[T float](w, m, v, g []T, c *adamConsts[T]) int { return 0 }

func simdSqDev[T float](row []T, mu float64) (s [4]float64, n int) { return s, 0 }
func simdNormAffine[T float](y, x, w, b []T, mu, r float64) int    { return 0 }

func simdNormGradSums[T float](gs, xs []float64, x, dy, w []T, mu, r float64, s, t *[4]float64) int {
	return 0
}
func simdNormGradRow[T float](dx, dy []T, gs, xs, cw, cb []float64, r, a, k float64) int { return 0 }
