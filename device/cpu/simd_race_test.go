//go:build race

package cpu

// simdRace trims the assembly comparison tests, which the race detector
// slows down tenfold.
const simdRace = true
