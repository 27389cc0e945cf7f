package keys

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// TestListStored: the stored keys are described as Manager.List describes
// them, without a key-encryption key and without any write, even on an
// empty store and when a rotation is due.
func TestListStored(t *testing.T) {
	c := newClock()
	s := &memStore{}
	cfg := testConfig(t, s, c)

	if infos, err := ListStored(t.Context(), cfg); err != nil || len(infos) != 0 {
		t.Fatalf("ListStored on an empty store = %v, %v; want nothing", infos, err)
	}
	if _, writes := s.snapshot(); writes != 0 {
		t.Fatalf("ListStored on an empty store wrote %d times", writes)
	}

	enc := cfg
	enc.KEK = newKEK(t)
	m := mustNew(t, enc)
	c.Advance(3 * def.KeyRotation) // a rotation is due
	before := s.raw(t)
	_, writes := s.snapshot()

	got, err := ListStored(t.Context(), cfg) // no KEK
	if err != nil {
		t.Fatalf("ListStored without the KEK: %v", err)
	}
	want, err := m.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(got) != 2 {
		t.Errorf("ListStored = %+v\nwant Manager.List's %+v", got, want)
	}
	for _, k := range got {
		if !k.Encrypted {
			t.Errorf("key %s listed as not encrypted", k.ID)
		}
	}
	if _, w := s.snapshot(); w != writes || !bytes.Equal(s.raw(t), before) {
		t.Error("ListStored changed the store")
	}

	bad := cfg
	bad.KeyRotation = -time.Second
	if _, err := ListStored(t.Context(), bad); err == nil {
		t.Error("ListStored accepted an invalid configuration")
	}
}
