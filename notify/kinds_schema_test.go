package notify_test

import (
	"slices"
	"testing"

	"github.com/relwatch/relwatch/notify"
	"github.com/relwatch/relwatch/store"
)

// kindsAtSchema is, for each schema version, the event kinds the first
// relwatch that opens a state at that version knows. An older relwatch
// opens a state at its own version: the previous release, deployed back
// (a `heroku rollback` of relwatch) or still running beside the new one
// during a deploy. An outbox row of a kind it does not know, it says as
// "app v42: watch.blind" and marks delivered: the announcement is lost.
var kindsAtSchema = map[int][]notify.Kind{
	10: {"watch.started", "anomaly", "watch.healthy", "watch.inconclusive", "rollback.started",
		"rollback.succeeded", "rollback.failed", "rollback.skipped", "rollback.joined",
		"override.paused", "override.resumed", "override.approved", "promotion.started",
		"promotion.refused", "override.refused", "app.forbidden"},
	11: {"watch.started", "anomaly", "watch.healthy", "watch.inconclusive", "rollback.started",
		"rollback.succeeded", "rollback.failed", "rollback.skipped", "rollback.joined",
		"override.paused", "override.resumed", "override.ended", "override.approved", "promotion.started",
		"promotion.refused", "override.refused", "watch.blind", "app.forbidden"},
}

func init() { kindsAtSchema[12] = kindsAtSchema[11] } // version 12 mends requests only

// Every kind this relwatch may store in the outbox is known to every
// relwatch that opens a state at this schema version: a new kind comes
// with a migration (and a row here), so that an older relwatch refuses
// the state ("newer than this relwatch knows") instead of saying the new
// announcements as their kind's name and marking them delivered.
func TestEveryKindIsKnownAtItsSchemaVersion(t *testing.T) {
	v := store.SchemaVersion()
	known, ok := kindsAtSchema[v]
	if !ok {
		t.Fatalf("schema version %d has no row in kindsAtSchema: list the kinds this relwatch knows", v)
	}
	for _, k := range notify.Kinds() {
		if !slices.Contains(known, k) {
			t.Errorf("kind %s is stored by this relwatch at schema version %d, which a relwatch that does not know it opens: add a migration (and a row in kindsAtSchema)", k, v)
		}
	}
}
