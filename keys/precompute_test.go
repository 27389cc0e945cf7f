package keys

import (
	"crypto/rsa"
	"reflect"
	"testing"
)

// TestManager_LoadedKeyPrecomputed: a key read back from the store signs
// with its precomputed values made once, not on every signature. A key
// parsed from a JWK has its CRT values but not the crypto/rsa internal key
// built from them (Precomputed.fips), which Sign would otherwise rebuild and
// re-check each time.
func TestManager_LoadedKeyPrecomputed(t *testing.T) {
	s, c := &memStore{}, newClock()
	cfg := testConfig(t, s, c)
	mustNew(t, cfg)
	m := mustNew(t, cfg) // a second start loads the keys from the store
	active := m.state.Load().active
	if active == nil {
		t.Fatal("no active key")
	}
	fips := reflect.ValueOf(active.priv.(*rsa.PrivateKey).Precomputed).FieldByName("fips")
	if !fips.IsValid() {
		t.Skip("crypto/rsa no longer keeps Precomputed.fips; nothing to check")
	}
	if fips.IsNil() {
		t.Fatal("the loaded key was not precomputed: every signature would redo it")
	}
	if _, err := m.Verify(mustSign(t, m, `{"sub":"x"}`)); err != nil {
		t.Fatal(err)
	}
}
