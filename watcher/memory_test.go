package watcher

import (
	"testing"
	"unsafe"

	"github.com/relwatch/relwatch/config"
	"github.com/relwatch/relwatch/metrics"
)

// TestWatchBytesPerSecondIsWhatTheWatchKeeps: the configuration bounds an
// app's memory by what a watch keeps of each route it judges for each
// second since the release (traffic.sinceLive: a point and the histogram it
// points to); a field added to either must move the bound with it.
func TestWatchBytesPerSecondIsWhatTheWatchKeeps(t *testing.T) {
	if got := unsafe.Sizeof(metrics.Point{}) + unsafe.Sizeof(metrics.Histogram{}); got != config.WatchBytesPerSecond {
		t.Errorf("a judged route's second costs the watch %d bytes; config.WatchBytesPerSecond says %d", got, config.WatchBytesPerSecond)
	}
}
