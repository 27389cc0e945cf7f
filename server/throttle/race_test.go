//go:build race

package throttle

// raceEnabled makes the longest tests smaller under the race detector,
// which slows them about tenfold.
const raceEnabled = true
