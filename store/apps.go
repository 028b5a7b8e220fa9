package store

import (
	"context"
	"fmt"
)

// Apps lists every app the store knows of.
func (d *DB) Apps(ctx context.Context) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT app FROM watches UNION SELECT app FROM pauses UNION SELECT app FROM requests UNION SELECT app FROM journal UNION SELECT app FROM decisions ORDER BY app`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("list apps: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}
