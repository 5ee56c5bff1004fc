//go:build race

package main

// raceEnabled reports whether the tests run under the race detector, where
// the training runs take minutes and are skipped.
const raceEnabled = true
