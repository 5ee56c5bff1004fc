//go:build !race

package cpu

const simdRace = false
