package wait

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

type slowDown struct{ d time.Duration }

func (s slowDown) Error() string          { return "slow down" }
func (s slowDown) RetryIn() time.Duration { return s.d }

func TestHinted(t *testing.T) {
	ctx := context.Background()
	if got := Hinted(ctx, fmt.Errorf("post: %w", slowDown{time.Millisecond})); got != time.Millisecond {
		t.Fatalf("a wrapped hint waited %s", got)
	}
	if got := Hinted(ctx, errors.New("no hint")); got != 0 {
		t.Fatalf("no hint waited %s", got)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if got := Hinted(cancelled, slowDown{time.Hour}); got != 0 {
		t.Fatalf("a cancelled context waited %s", got)
	}
}
