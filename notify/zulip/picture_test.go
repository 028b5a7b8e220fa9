package zulip_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/notify/chart"
	"github.com/relwatch/relwatch/notify/notifytest"
)

func TestVerdictPictureInTheReleaseTopic(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	story := notifytest.Pictured()
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), story, notify.ThreadOptions{Picture: chart.ForThread})

	uploads := z.Uploads()
	verdicts := story[1:]
	if len(uploads) != len(verdicts) {
		t.Fatalf("%d uploads, want one per verdict (%d)", len(uploads), len(verdicts))
	}
	msgs := z.Messages()
	for i, u := range uploads {
		e := verdicts[i]
		if u.Name != chart.FileName(e) {
			t.Errorf("upload %d is %s, want %s", i, u.Name, chart.FileName(e))
		}
		notifytest.CheckPicture(t, u.Data, e)
		link := "[" + u.Name + "](" + u.URI + ")"
		linked := false
		for j, m := range msgs {
			if m.Content == link {
				linked = m.Stream == "t-crates-io" && m.Topic == "deployments" && j > 0 && strings.Contains(msgs[j-1].Content, headline(e))
			}
		}
		if !linked {
			t.Errorf("no message in t-crates-io > deployments right after the %s text links %s", e.Kind, link)
		}
	}
}

// headline is a distinctive piece of the text each verdict posts.
func headline(e notify.Event) string {
	switch e.Kind {
	case notify.Anomaly:
		return "looks bad"
	case notify.RollbackStarted:
		return "Rolling crates-io back"
	}
	return "is rolled back to v41"
}

func TestUploadRefusedTopicStillGetsTheTextOnce(t *testing.T) {
	z := notifytest.NewZulip("relwatch-bot@zulip.example", "k3y", "t-crates-io")
	defer z.Close()
	var mu sync.Mutex
	refused := 0
	z.FailWith(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/v1/user_uploads" {
			return false
		}
		mu.Lock()
		refused++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"result":"error","code":"BAD_REQUEST","msg":"File upload is disabled in this organization."}`))
		return true
	})
	story := notifytest.Pictured()
	notifytest.Deliver(t, newChat(z, "t-crates-io", "k3y"), story, notify.ThreadOptions{Picture: chart.ForThread})

	if msgs := z.Messages(); len(msgs) != len(story) {
		t.Errorf("%d messages, want each of the %d announcements once and no link: %+v", len(msgs), len(story), msgs)
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != len(story)-1 {
		t.Errorf("%d uploads tried, want one per verdict (%d), not retried", refused, len(story)-1)
	}
}
