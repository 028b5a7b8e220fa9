package testenv

import "runtime"

// SettledGoroutines is how many goroutines run once the count stops
// falling: the far side of a cancelled request ends when it sees its
// connection closed, a little after the call that cancelled it.
func SettledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		runtime.GC()
		runtime.Gosched()
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}
