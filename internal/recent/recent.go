// Package recent keeps a bounded map of the entries used most lately: what
// a worker that runs for weeks remembers of things it meets once each (a
// release's thread), without growing with them.
package recent

// Map holds at most Max entries (Max > 0); putting one more forgets the
// entry used least lately. Get and Put both count as a use. The zero Map
// with Max set is ready; it is not safe for concurrent use.
type Map[K comparable, V any] struct {
	Max     int
	entries map[K]entry[V]
	uses    uint64
}

type entry[V any] struct {
	v    V
	used uint64
}

// Get returns k's value, counting it as used.
func (m *Map[K, V]) Get(k K) (V, bool) {
	e, ok := m.entries[k]
	if ok {
		m.uses++
		e.used = m.uses
		m.entries[k] = e
	}
	return e.v, ok
}

// Put keeps v as k's, used now, and forgets the entry used least lately
// when more than Max are kept.
func (m *Map[K, V]) Put(k K, v V) {
	if m.entries == nil {
		m.entries = map[K]entry[V]{}
	}
	m.uses++
	m.entries[k] = entry[V]{v: v, used: m.uses}
	if len(m.entries) <= m.Max {
		return
	}
	var oldest K
	var at uint64
	first := true
	for key, e := range m.entries {
		if first || e.used < at {
			oldest, at, first = key, e.used, false
		}
	}
	delete(m.entries, oldest)
}

// Len is how many entries are kept.
func (m *Map[K, V]) Len() int { return len(m.entries) }
