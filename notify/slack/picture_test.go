package slack_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
	"github.com/relwatch/relwatch/notify/notifytest"
	"github.com/relwatch/relwatch/notify/slack"
)

func TestVerdictPictureInTheReleaseThread(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	story := notifytest.Pictured()
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), story,
		notify.ThreadOptions{Picture: chart.ForThread})

	files := srv.Files()
	verdicts := story[1:] // anomaly, rollback.started, rollback.succeeded: watch.started has no picture
	if len(files) != len(verdicts) {
		t.Fatalf("%d files, want one per verdict (%d): %+v", len(files), len(verdicts), files)
	}
	opening := srv.Messages()[0].TS
	for i, f := range files {
		e := verdicts[i]
		if !f.Uploaded || !f.Completed || f.Channel != "C0DEPLOY" || f.ThreadTS != opening {
			t.Errorf("file %s: uploaded %v completed %v in %q thread %q; want completed in C0DEPLOY thread %s", f.Name, f.Uploaded, f.Completed, f.Channel, f.ThreadTS, opening)
		}
		if f.Name != chart.FileName(e) {
			t.Errorf("file %d is %s, want %s", i, f.Name, chart.FileName(e))
		}
		notifytest.CheckPicture(t, f.Data, e)
	}
}

func TestUploadRefusedTextStillDeliveredOnce(t *testing.T) {
	srv := notifytest.NewSlack()
	defer srv.Stop()
	var mu sync.Mutex
	asked := 0
	srv.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/files.getUploadURLExternal" {
			return false
		}
		mu.Lock()
		asked++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":false,"error":"missing_scope","needed":"files:write","provided":"chat:write"}`))
		return true
	})
	story := notifytest.Pictured()
	notifytest.Deliver(t, slack.New(slack.Config{Token: "xoxb-test", Channel: "C0DEPLOY", APIURL: srv.GetAPIURL()}), story,
		notify.ThreadOptions{Picture: chart.ForThread})

	if msgs := srv.Messages(); len(msgs) != len(story) {
		t.Errorf("%d messages, want each of the %d announcements once", len(msgs), len(story))
	}
	mu.Lock()
	defer mu.Unlock()
	if asked != len(story)-1 {
		t.Errorf("asked for an upload URL %d times, want once per verdict (%d): a refused picture is not retried", asked, len(story)-1)
	}
	if f := srv.Files(); len(f) != 0 {
		t.Errorf("files shared although Slack refused: %+v", f)
	}
}
