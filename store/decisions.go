package store

import (
	"context"
	"fmt"
	"time"
)

// DecisionRecord is one judgement the watcher acted on.
type DecisionRecord struct {
	App      string    `json:"app"`
	Release  int       `json:"release"`
	At       time.Time `json:"at"`
	Action   string    `json:"action"`
	Reason   string    `json:"reason"`
	Evidence string    `json:"evidence"` // JSON of the findings
}

// RecordDecision stores a decision.
func (d *DB) RecordDecision(ctx context.Context, dec DecisionRecord) error {
	_, err := d.exec(ctx, `INSERT INTO decisions (app, release, at_ms, action, reason, evidence) VALUES (?, ?, ?, ?, ?, ?)`,
		dec.App, dec.Release, ms(dec.At), dec.Action, dec.Reason, dec.Evidence)
	if err != nil {
		return fmt.Errorf("record the decision on %s v%d: %w", dec.App, dec.Release, err)
	}
	return nil
}

// Decisions returns app's last decisions, newest first.
func (d *DB) Decisions(ctx context.Context, app string, limit int) ([]DecisionRecord, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT app, release, at_ms, action, reason, evidence FROM decisions WHERE app = ? ORDER BY at_ms DESC, id DESC LIMIT ?`), app, limit)
	if err != nil {
		return nil, fmt.Errorf("read decisions of %s: %w", app, err)
	}
	defer rows.Close()
	var out []DecisionRecord
	for rows.Next() {
		var dec DecisionRecord
		var at int64
		if err := rows.Scan(&dec.App, &dec.Release, &at, &dec.Action, &dec.Reason, &dec.Evidence); err != nil {
			return nil, fmt.Errorf("read decisions of %s: %w", app, err)
		}
		dec.At = fromMS(at)
		out = append(out, dec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read decisions of %s: %w", app, err)
	}
	return out, nil
}
