package keys

import (
	"reflect"
	"testing"
)

// TestManager_Active: Active describes the active key as List does, from
// memory: it reads no store.
func TestManager_Active(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := &countingStore{memStore: &memStore{}, lists: make(chan struct{}, 1)}
	m := mustNew(t, testConfig(t, s, c))
	infos, err := m.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var want Info
	for _, i := range infos {
		if i.State == "active" {
			want = i
		}
	}
	c.Advance(def.KeyRotation / 2)
	before := s.n.Load()
	got, ok := m.Active()
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("Active() = %+v, %v; want %+v, true", got, ok, want)
	}
	if n := s.n.Load() - before; n != 0 {
		t.Errorf("Active read the store %d times, want 0", n)
	}
	if got.NextRotation.IsZero() || !got.NextRotation.Equal(got.ActivatedAt.Add(def.KeyRotation)) {
		t.Errorf("NextRotation %s, want ActivatedAt + %s", got.NextRotation, def.KeyRotation)
	}
}
