package notifytest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
)

// CheckPicture fails t unless data, as a chat received it, is e's picture
// (a Pictured event): a PNG of chart.Width×chart.Height whose pixels show
// the baseline's band and the release's live mark where they belong.
func CheckPicture(t testing.TB, data []byte, e notify.Event) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s v%d %s: the file is not a PNG: %v", e.App, e.Release, e.Kind, err)
		return
	}
	if b := img.Bounds(); b.Dx() != chart.Width || b.Dy() != chart.Height {
		t.Errorf("%s: picture is %dx%d, want %dx%d", e.Kind, b.Dx(), b.Dy(), chart.Width, chart.Height)
		return
	}
	pic, err := chart.Render(e, chart.Width, chart.Height)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		x, y int
		want color.RGBA
	}{
		{"the baseline's band", pic.X(-8), pic.Y(4), chart.BandColor},
		{"the live mark", pic.X(0), pic.Y(60), chart.LiveColor},
		{"the onset mark", pic.X(2), pic.Y(60), chart.OnsetColor},
	} {
		if !Near(img, c.x, c.y, c.want) {
			t.Errorf("%s: %s: pixel (%d, %d) is %v, want %v", e.Kind, c.what, c.x, c.y, img.At(c.x, c.y), c.want)
		}
	}
}

// Near reports whether a pixel within 2 px of (x, y) has colour want, to
// within antialiasing.
func Near(img image.Image, x, y int, want color.RGBA) bool {
	close8 := func(v uint32, w uint8) bool { return math.Abs(float64(v>>8)-float64(w)) <= 12 }
	for dx := -2; dx <= 2; dx++ {
		for dy := -2; dy <= 2; dy++ {
			r, g, b, _ := img.At(x+dx, y+dy).RGBA()
			if close8(r, want.R) && close8(g, want.G) && close8(b, want.B) {
				return true
			}
		}
	}
	return false
}
