//go:build race

package tensor

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = true
