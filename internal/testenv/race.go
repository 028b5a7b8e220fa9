//go:build race

package testenv

// Race is true when the tests run under the race detector (go test -race),
// where a long measurement runs ten times slower and says nothing more.
const Race = true
