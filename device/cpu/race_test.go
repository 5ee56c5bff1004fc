//go:build race

package cpu_test

// raceEnabled trims the large cases, which the race detector slows down
// tenfold; the paths they cover still run, on fewer combinations.
const raceEnabled = true
