package store_test

import (
	"time"

	"github.com/relwatch/relwatch/store"
	"github.com/relwatch/relwatch/watcher"
)

// benchKinds are the stores the benchmarks measure (and BenchmarkTick
// "nostore": no store at all).
var benchKinds = []string{"sqlite", "sqlite-unprepared", "postgres", "postgres-unprepared"}

func benchLeases(db *store.DB, holder string, ttl time.Duration) watcher.Leases {
	return store.NewLeases(db, holder, ttl, nil)
}

func benchUnprepared() store.Option { return store.Unprepared() }
