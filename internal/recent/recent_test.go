package recent

import "testing"

// TestTheLeastLatelyUsedIsForgotten: past Max, the entry neither got nor
// put for longest goes; one got lately stays, however old.
func TestTheLeastLatelyUsedIsForgotten(t *testing.T) {
	m := Map[string, int]{Max: 3}
	m.Put("a", 1)
	m.Put("b", 2)
	m.Put("c", 3)
	if v, ok := m.Get("a"); !ok || v != 1 {
		t.Fatalf("a = %d, %v", v, ok)
	}
	m.Put("d", 4) // b is the least lately used
	if _, ok := m.Get("b"); ok {
		t.Error("b kept past Max: it was the least lately used")
	}
	for k, want := range map[string]int{"a": 1, "c": 3, "d": 4} {
		if v, ok := m.Get(k); !ok || v != want {
			t.Errorf("%s = %d, %v; want %d", k, v, ok, want)
		}
	}
	m.Put("a", 5) // a again: replaced, not added
	if m.Len() != 3 {
		t.Errorf("%d kept, want 3", m.Len())
	}
	if v, _ := m.Get("a"); v != 5 {
		t.Errorf("a = %d after its Put of 5", v)
	}
}
