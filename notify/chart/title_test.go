package chart_test

import (
	"image/color"
	"strings"
	"testing"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
)

// A route far wider than the picture (a long path template) is shortened
// in the title: the title is centred, and drawn whole it ran off both
// sides, losing the app's name and the verdict and signal at its end.
// Its first rows' outer columns stay background.
func TestALongRouteKeepsTheTitleInThePicture(t *testing.T) {
	e := Verdict()
	step := e.Fact.(notify.RollbackStep)
	step.Seen.Route = "GET " + strings.Repeat("/api/v1/crates/{name}", 20) + "/download"
	e.Fact = step
	b, err := chart.PNG(e)
	if err != nil {
		t.Fatal(err)
	}
	img := decode(t, b)
	white := color.RGBAModel.Convert(color.White)
	for y := range 20 {
		for _, x := range []int{0, 1, 2, chart.Width - 3, chart.Width - 2, chart.Width - 1} {
			if c := color.RGBAModel.Convert(img.At(x, y)); c != white {
				t.Fatalf("pixel (%d,%d) of the title row is %v: the title runs off the picture", x, y, c)
			}
		}
	}
}
