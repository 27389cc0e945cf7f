package bolt

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

func TestCodec_RoundTrip(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 999999999, time.UTC)
	families := []storage.Family{
		{},
		{ID: "f", UserID: "u", ClientID: "c", Scope: []string{"a", ""}, Audience: "aud", UserGen: 1 << 60,
			AuthTime: at, CreatedAt: at.Add(-time.Hour), LastUsedAt: time.Unix(0, 0).UTC(), ExpiresAt: at.AddDate(500, 0, 0),
			RevokedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), RevokeReason: "reuse detected", ClientInstance: "inst"},
	}
	for _, f := range families {
		got, err := decodeFamily(encodeFamily(f))
		if err != nil {
			t.Fatalf("decodeFamily: %v", err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("family round trip:\n got %+v\nwant %+v", got, f)
		}
	}
	tokens := []storage.RefreshToken{
		{Hash: "h"},
		{Hash: "h", FamilyID: "f", IssuedAt: at, IdleExpiresAt: at.Add(time.Nanosecond), SpentAt: at.Add(-time.Nanosecond), SuccessorHash: "s"},
	}
	for _, tok := range tokens {
		got, err := decodeToken([]byte(tok.Hash), encodeToken(tok))
		if err != nil {
			t.Fatalf("decodeToken: %v", err)
		}
		if !reflect.DeepEqual(got, tok) {
			t.Errorf("token round trip:\n got %+v\nwant %+v", got, tok)
		}
	}
}

// TestCodec_FamilyFormat1 decodes a family as schema 1 wrote it (no client
// instance): it reads back with an empty ClientInstance, and is written
// again in the current format.
func TestCodec_FamilyFormat1(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	f := storage.Family{ID: "f", UserID: "u", ClientID: "c", Scope: []string{"read"}, UserGen: 2,
		AuthTime: at, CreatedAt: at, LastUsedAt: at, ExpiresAt: at.Add(time.Hour)}
	// Format 1 is format 2 without the trailing instance string.
	v2 := encodeFamily(f)
	if v2[0] != familyFormat || v2[len(v2)-1] != 0 {
		t.Fatalf("encodeFamily: format %d, last byte %d: want format %d ending in an empty instance", v2[0], v2[len(v2)-1], familyFormat)
	}
	v1 := append([]byte{familyFormat1}, v2[1:len(v2)-1]...)
	got, err := decodeFamily(v1)
	if err != nil {
		t.Fatalf("decodeFamily(format 1): %v", err)
	}
	if !reflect.DeepEqual(got, f) {
		t.Errorf("format 1 family:\n got %+v\nwant %+v", got, f)
	}
	// A format 1 record with bytes after the reason is damaged.
	if _, err := decodeFamily(append(v1, 0)); err == nil {
		t.Error("decodeFamily(format 1 with a trailing byte): got nil error")
	}
}

func TestExpiryKey_Order(t *testing.T) {
	times := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), // clamped to the minimum
		time.Unix(-1, 0),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), // clamped to the maximum
	}
	for i := 1; i < len(times); i++ {
		a, b := expiryKey(times[i-1], kindToken, "x"), expiryKey(times[i], kindToken, "x")
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("expiry key of %v not before that of %v", times[i-1], times[i])
		}
	}
}

// FuzzDecodeFamily checks that no stored bytes make the decoder panic and
// that what it accepts encodes back to the same bytes.
func FuzzDecodeFamily(f *testing.F) {
	f.Add(encodeFamily(storage.Family{ID: "f", Scope: []string{"a"}, ExpiresAt: time.Unix(1, 2)}))
	f.Add([]byte{familyFormat})
	f.Add(encodeFamily(storage.Family{ID: "f", ClientInstance: "i"}))
	v2 := encodeFamily(storage.Family{ID: "f", Scope: []string{"a"}})
	f.Add(append([]byte{familyFormat1}, v2[1:len(v2)-1]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		fam, err := decodeFamily(b)
		if err != nil {
			return
		}
		again, err := decodeFamily(encodeFamily(fam))
		if err != nil || !reflect.DeepEqual(again, fam) {
			t.Errorf("re-encoded family: got %+v, %v, want %+v", again, err, fam)
		}
	})
}

func FuzzDecodeToken(f *testing.F) {
	f.Add(encodeToken(storage.RefreshToken{FamilyID: "f", IssuedAt: time.Unix(1, 2)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := decodeToken([]byte("h"), b)
		if err != nil {
			return
		}
		again, err := decodeToken([]byte("h"), encodeToken(tok))
		if err != nil || !reflect.DeepEqual(again, tok) {
			t.Errorf("re-encoded token: got %+v, %v, want %+v", again, err, tok)
		}
	})
}
