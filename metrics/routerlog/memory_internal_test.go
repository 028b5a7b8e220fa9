package routerlog

import (
	"testing"
	"unsafe"

	"github.com/relwatch/relwatch/config"
)

// The config bounds retain by what a route's second costs here: a ring
// slot and its response times. A field added to either changes the cost.
func TestRouterBytesPerSecondIsTheRings(t *testing.T) {
	if got := unsafe.Sizeof(bucket{}) + unsafe.Sizeof(latencyCounts{}); got != config.RouterBytesPerSecond {
		t.Errorf("a route's second costs %d bytes; config.RouterBytesPerSecond says %d", got, config.RouterBytesPerSecond)
	}
}
