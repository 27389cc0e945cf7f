package bolt

import (
	"bytes"
	"encoding/hex"
	"errors"
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
			RevokedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), RevokeReason: "reuse detected", ClientInstance: "inst",
			IdleExpiresAt: at.Add(7 * 24 * time.Hour)},
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

// olderFamily encodes f as an earlier format wrote it: format 3 is format
// 4 without the trailing sign-in session id, format 2 is format 3 without
// the trailing idle expiry, format 1 is format 2 without the trailing
// instance. f must have the fields the format lacks zero.
func olderFamily(t testing.TB, f storage.Family, format byte) []byte {
	t.Helper()
	v := encodeFamily(f)
	if v[0] != familyFormat || v[len(v)-1] != 0 {
		t.Fatalf("encodeFamily: format %d, last byte %d: want format %d ending in an empty sign-in session id", v[0], v[len(v)-1], familyFormat)
	}
	v = v[:len(v)-1]
	if format <= familyFormat2 {
		if v[len(v)-1] != 0 {
			t.Fatalf("olderFamily: format %d has no idle expiry, family has %v", format, f.IdleExpiresAt)
		}
		v = v[:len(v)-1]
	}
	if format == familyFormat1 {
		if v[len(v)-1] != 0 {
			t.Fatalf("olderFamily: format 1 has no instance, family has %q", f.ClientInstance)
		}
		v = v[:len(v)-1]
	}
	return append([]byte{format}, v[1:]...)
}

// TestCodec_OlderFamilyFormats decodes families as earlier schemas wrote
// them: format 1 (no client instance), format 2 (no idle expiry) and
// format 3 (no sign-in session id) read back with those fields empty, are
// written again in the current format, and are damaged with a byte more.
func TestCodec_OlderFamilyFormats(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	f := storage.Family{ID: "f", UserID: "u", ClientID: "c", Scope: []string{"read"}, UserGen: 2,
		AuthTime: at, CreatedAt: at, LastUsedAt: at, ExpiresAt: at.Add(time.Hour)}
	withInstance := f
	withInstance.ClientInstance = "inst"
	withIdle := withInstance
	withIdle.IdleExpiresAt = at.Add(time.Minute)
	for _, tc := range []struct {
		name   string
		format byte
		f      storage.Family
	}{
		{"format 1", familyFormat1, f},
		{"format 2", familyFormat2, withInstance},
		{"format 2 without instance", familyFormat2, f},
		{"format 3", familyFormat3, withIdle},
		{"format 3 without idle expiry", familyFormat3, withInstance},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := olderFamily(t, tc.f, tc.format)
			got, err := decodeFamily(v)
			if err != nil {
				t.Fatalf("decodeFamily: %v", err)
			}
			if !reflect.DeepEqual(got, tc.f) {
				t.Errorf("decoded:\n got %+v\nwant %+v", got, tc.f)
			}
			if again := encodeFamily(got); again[0] != familyFormat {
				t.Errorf("written again in format %d, want %d", again[0], familyFormat)
			}
			if _, err := decodeFamily(append(v, 0)); err == nil {
				t.Error("decodeFamily with a trailing byte: got nil error")
			}
		})
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
	f.Add(encodeFamily(storage.Family{ID: "f", ClientInstance: "i", IdleExpiresAt: time.Unix(3, 4)}))
	f.Add(olderFamily(f, storage.Family{ID: "f", Scope: []string{"a"}}, familyFormat1))
	f.Add(olderFamily(f, storage.Family{ID: "f", ClientInstance: "i"}, familyFormat2))
	f.Add(olderFamily(f, storage.Family{ID: "f", ClientInstance: "i", IdleExpiresAt: time.Unix(3, 4)}, familyFormat3))
	f.Add(encodeFamily(storage.Family{ID: "f", IdleExpiresAt: time.Unix(3, 4), LoginSessionID: "sid"}))
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

// The records below were written by the binary before bolt had its own
// record types (storage's value types carried the JSON tags then). Files
// written since must decode them to the same values and encode those
// values to the same bytes, so that old and new databases read alike.
// Families are the exception: goldenFamily2 is format 2 as written then,
// which now decodes with a zero idle expiry and is written back in the
// current format; goldenFamily3 is format 3, which decodes with an empty
// sign-in session id; goldenFamily is format 4, as this binary writes it.
// The sign-in session, code and consent records are as this binary writes
// them (format 1 of each).
var (
	goldenAt         = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	goldenUserMin    = `{"id":"u-min","username":"min","password_hash":"","admin":false,"disabled":false,"session_gen":0,"created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z"}`
	goldenUserFull   = `{"id":"u-full","username":"full","password_hash":"$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA","scopes":["read","write"],"admin":true,"disabled":true,"session_gen":7,"created_at":"2030-01-02T03:04:05.000000006Z","updated_at":"2030-01-02T04:04:05.000000006Z","sessions_ended_at":"2030-01-02T05:04:05.000000006Z","sessions_end_reason":"password changed"}`
	goldenClientMin  = `{"id":"c-min","public":false,"grants":null,"created_at":"0001-01-01T00:00:00Z"}`
	goldenClientFull = `{"id":"c-full","public":true,"secret_hash":"$argon2id$x","grants":["password","refresh_token"],"scopes":["read"],"audiences":["https://api.example"],"built_in":true,"created_at":"2030-01-02T03:04:05.000000006Z","instance":"inst","legacy_families":true}`
	goldenKeys       = `[{"kid":"k-min","state":"","private":null,"encrypted":false,"bits":0,"created_at":"0001-01-01T00:00:00Z"},{"kid":"k-full","state":"retired","private":"eyJrdHkiOiJSU0EifQ==","encrypted":true,"bits":2048,"created_at":"2030-01-02T03:04:05.000000006Z","published_at":"2030-01-02T03:04:05.000000007Z","activated_at":"2030-01-02T03:04:05.000000008Z","retired_at":"2030-01-02T03:04:05.000000009Z","remove_at":"2030-01-02T03:04:05.00000001Z","revoked_at":"2030-01-02T03:04:05.000000011Z"}]`
	// goldenKeysAlg is a key set as this binary writes it since keys carry
	// their algorithm; goldenKeys (no alg) is one written before, and
	// still as written now for RS256 keys that have no Alg.
	goldenKeysAlg = `[{"kid":"k-es","state":"next","private":"e30=","encrypted":false,"bits":256,"alg":"ES256","created_at":"2030-01-02T03:04:05.000000006Z","published_at":"2030-01-02T03:04:05.000000007Z"},{"kid":"k-ed","state":"active","private":"e30=","encrypted":true,"bits":0,"alg":"EdDSA","created_at":"2030-01-02T03:04:05.000000006Z"}]`
	goldenFamily2 = "0206662d66756c6c06752d66756c6c06632d66756c6c0204726561640577726974651368747470733a2f2f6170692e6578616d706c650707cad4ea8d0e08cad4ea8d0e09cad4ea8d0e07ca88a7900e0acad4ea8d0e066c6f676f757404696e7374"
	goldenFamily3 = "0306662d66756c6c06752d66756c6c06632d66756c6c0204726561640577726974651368747470733a2f2f6170692e6578616d706c650707cad4ea8d0e08cad4ea8d0e09cad4ea8d0e07ca88a7900e0acad4ea8d0e066c6f676f757404696e737407ea8ceb8d0e"
	goldenFamily  = "0406662d66756c6c06752d66756c6c06632d66756c6c0204726561640577726974651368747470733a2f2f6170692e6578616d706c650707cad4ea8d0e08cad4ea8d0e09cad4ea8d0e07ca88a7900e0acad4ea8d0e066c6f676f757404696e737407ea8ceb8d0e057369642d31"
	goldenToken   = "0106662d66756c6c07cad4ea8d0e07ea8ceb8d0e07c2d5ea8d0e026832"
	goldenDeny    = "07cad4ea8d0e"
)

// golden checks that decode(stored) is want and encode(want) is stored.
func golden[T any](t *testing.T, what string, stored []byte, want T, decode func([]byte) (T, error), encode func(T) ([]byte, error)) {
	t.Helper()
	got, err := decode(stored)
	if err != nil {
		t.Fatalf("%s: decode: %v", what, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: decoded\n got %+v\nwant %+v", what, got, want)
	}
	again, err := encode(want)
	if err != nil {
		t.Fatalf("%s: encode: %v", what, err)
	}
	if !bytes.Equal(again, stored) {
		t.Errorf("%s: encoded\n got %s\nwant %s", what, again, stored)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCodec_Golden: records as earlier binaries wrote them decode to the
// same values and are written back byte for byte.
func TestCodec_Golden(t *testing.T) {
	at := goldenAt
	golden(t, "minimal user", []byte(goldenUserMin), storage.User{ID: "u-min", Username: "min"}, decodeUser, encodeUser)
	golden(t, "user", []byte(goldenUserFull), storage.User{ID: "u-full", Username: "full",
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", Scopes: []string{"read", "write"},
		Admin: true, Disabled: true, SessionGen: 7, CreatedAt: at, UpdatedAt: at.Add(time.Hour),
		SessionsEndedAt: at.Add(2 * time.Hour), SessionsEndReason: "password changed"}, decodeUser, encodeUser)
	golden(t, "minimal client", []byte(goldenClientMin), storage.Client{ID: "c-min"}, decodeClient, encodeClient)
	golden(t, "client", []byte(goldenClientFull), storage.Client{ID: "c-full", Public: true, SecretHash: "$argon2id$x",
		Grants: []string{"password", "refresh_token"}, Scopes: []string{"read"}, Audiences: []string{"https://api.example"},
		BuiltIn: true, CreatedAt: at, Instance: "inst", LegacyFamilies: true}, decodeClient, encodeClient)
	golden(t, "key set", []byte(goldenKeys), []storage.Key{
		{ID: "k-min"},
		{ID: "k-full", State: storage.KeyRetired, Private: []byte(`{"kty":"RSA"}`), Encrypted: true, Bits: 2048, CreatedAt: at,
			PublishedAt: at.Add(1), ActivatedAt: at.Add(2), RetiredAt: at.Add(3), RemoveAt: at.Add(4), RevokedAt: at.Add(5)},
	}, decodeKeys, encodeKeys)
	golden(t, "key set with algorithms", []byte(goldenKeysAlg), []storage.Key{
		{ID: "k-es", State: storage.KeyNext, Private: []byte(`{}`), Bits: 256, Alg: "ES256", CreatedAt: at, PublishedAt: at.Add(1)},
		{ID: "k-ed", State: storage.KeyActive, Private: []byte(`{}`), Encrypted: true, Alg: "EdDSA", CreatedAt: at},
	}, decodeKeys, encodeKeys)
	fam2 := storage.Family{ID: "f-full", UserID: "u-full", ClientID: "c-full",
		Scope: []string{"read", "write"}, Audience: "https://api.example", UserGen: 7, AuthTime: at, CreatedAt: at.Add(1),
		LastUsedAt: at.Add(2), ExpiresAt: at.Add(30 * 24 * time.Hour), RevokedAt: at.Add(3), RevokeReason: "logout", ClientInstance: "inst"}
	// A format 2 family (no idle expiry) decodes with a zero one; written
	// again it is format 3: its format byte changes and a zero time (one
	// 0 byte) follows the instance.
	if got, err := decodeFamily(unhex(t, goldenFamily2)); err != nil || !reflect.DeepEqual(got, fam2) {
		t.Errorf("format 2 family: decoded\n got %+v, %v\nwant %+v", got, err, fam2)
	}
	if got, want := encodeFamily(fam2), unhex(t, "04"+goldenFamily2[2:]+"0000"); !bytes.Equal(got, want) {
		t.Errorf("format 2 family: encoded again\n got %x\nwant %x", got, want)
	}
	// A format 3 family decodes with an empty sign-in session id; written
	// again, an empty string (one 0 byte) follows the idle expiry.
	fam3 := fam2
	fam3.IdleExpiresAt = at.Add(time.Hour)
	if got, err := decodeFamily(unhex(t, goldenFamily3)); err != nil || !reflect.DeepEqual(got, fam3) {
		t.Errorf("format 3 family: decoded\n got %+v, %v\nwant %+v", got, err, fam3)
	}
	if got, want := encodeFamily(fam3), unhex(t, "04"+goldenFamily3[2:]+"00"); !bytes.Equal(got, want) {
		t.Errorf("format 3 family: encoded again\n got %x\nwant %x", got, want)
	}
	fam4 := fam3
	fam4.LoginSessionID = "sid-1"
	golden(t, "family", unhex(t, goldenFamily), fam4,
		decodeFamily, func(f storage.Family) ([]byte, error) { return encodeFamily(f), nil })
	golden(t, "token", unhex(t, goldenToken), storage.RefreshToken{Hash: "h", FamilyID: "f-full", IssuedAt: at,
		IdleExpiresAt: at.Add(time.Hour), SpentAt: at.Add(time.Minute), SuccessorHash: "h2"},
		func(b []byte) (storage.RefreshToken, error) { return decodeToken([]byte("h"), b) },
		func(tok storage.RefreshToken) ([]byte, error) { return encodeToken(tok), nil })
	golden(t, "deny entry", unhex(t, goldenDeny), at, decodeDeny, func(exp time.Time) ([]byte, error) { return appendTime(nil, exp), nil })
}

// FuzzDecodeRecords: no stored bytes make the JSON record decoders panic,
// and what they accept is written the same way once read back.
func FuzzDecodeRecords(f *testing.F) {
	for _, s := range []string{goldenUserMin, goldenUserFull, goldenClientMin, goldenClientFull, goldenKeys, goldenKeysAlg, "null", "{}", "[]", `{"id":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if u, err := decodeUser(b); err == nil {
			roundTrip(t, "user", u, decodeUser, encodeUser)
		}
		if c, err := decodeClient(b); err == nil {
			roundTrip(t, "client", c, decodeClient, encodeClient)
		}
		if k, err := decodeKeys(b); err == nil {
			roundTrip(t, "keys", k, decodeKeys, encodeKeys)
		}
	})
}

func roundTrip[T any](t *testing.T, what string, v T, decode func([]byte) (T, error), encode func(T) ([]byte, error)) {
	t.Helper()
	b, err := encode(v)
	if err != nil {
		t.Fatalf("%s: encode %+v: %v", what, v, err)
	}
	again, err := decode(b)
	if err != nil {
		t.Fatalf("%s: decode of %s: %v", what, b, err)
	}
	if b2, err := encode(again); err != nil || !bytes.Equal(b2, b) {
		t.Errorf("%s encoded again: got %s, %v, want %s", what, b2, err, b)
	}
}

// The records of the authorization code flow, format 1 of each, with every
// field set.
var (
	goldenLoginSession = storage.LoginSession{Hash: "h", ID: "sid-1", UserID: "u-full", UserGen: 7,
		AuthTime: goldenAt, CreatedAt: goldenAt.Add(1), LastSeenAt: goldenAt.Add(time.Minute),
		IdleExpiresAt: goldenAt.Add(time.Hour), ExpiresAt: goldenAt.Add(12 * time.Hour)}
	goldenCode = storage.AuthCode{Hash: "h", ClientID: "c-full", ClientInstance: "inst", UserID: "u-full", UserGen: 7,
		RedirectURI: "https://app.example/cb", RedirectURIGiven: true, CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Scope: []string{"openid", "read"}, Audience: "https://api.example", Nonce: "n-1", AuthTime: goldenAt,
		LoginSessionID: "sid-1", IssuedAt: goldenAt.Add(1), ExpiresAt: goldenAt.Add(time.Minute),
		SpentAt: goldenAt.Add(time.Second), FamilyID: "f-full", AccessTokenID: "jti-1",
		AccessTokenExpiresAt: goldenAt.Add(time.Hour), ForgetAt: goldenAt.Add(10 * time.Minute)}
	goldenConsent = storage.Consent{UserID: "u-full", ClientID: "c-full", ClientInstance: "inst",
		Scopes: []string{"openid", "read"}, GrantedAt: goldenAt, UpdatedAt: goldenAt.Add(time.Hour)}
)

const (
	goldenLoginSessionHex = "01057369642d3106752d66756c6c0707cad4ea8d0e08cad4ea8d0e07c2d5ea8d0e07ea8ceb8d0e07caf7ef8d0e"
	goldenCodeHex         = "0106632d66756c6c04696e737406752d66756c6c071668747470733a2f2f6170702e6578616d706c652f6362012b45394d656c686f61324f77764672454d544a67754348616f654b3174385552576275474a537374772d634d02066f70656e696404726561641368747470733a2f2f6170692e6578616d706c65036e2d3107cad4ea8d0e057369642d3108cad4ea8d0e07c2d5ea8d0e07ccd4ea8d0e06662d66756c6c056a74692d3107ea8ceb8d0e07faddea8d0e"
	goldenConsentHex      = "0106752d66756c6c06632d66756c6c04696e737402066f70656e6964047265616407cad4ea8d0e07ea8ceb8d0e"
)

// TestCodec_GoldenAuthCode: the sign-in session, code and consent records
// decode to the same values and are written back byte for byte, so that a
// change to their encoding is seen (it needs a new format and a
// migration).
func TestCodec_GoldenAuthCode(t *testing.T) {
	golden(t, "sign-in session", unhex(t, goldenLoginSessionHex), goldenLoginSession,
		func(b []byte) (storage.LoginSession, error) { return decodeLoginSession([]byte("h"), b) },
		func(s storage.LoginSession) ([]byte, error) { return encodeLoginSession(s), nil })
	golden(t, "code", unhex(t, goldenCodeHex), goldenCode,
		func(b []byte) (storage.AuthCode, error) { return decodeCode([]byte("h"), b) },
		func(c storage.AuthCode) ([]byte, error) { return encodeCode(c), nil })
	golden(t, "consent", unhex(t, goldenConsentHex), goldenConsent,
		decodeConsent, func(c storage.Consent) ([]byte, error) { return encodeConsent(c), nil })
}

// TestCodec_AuthCodeRecords: minimal and extreme records round-trip, and
// damaged ones (truncated, a byte more, an unknown format, a bad bool)
// are refused, never half read.
func TestCodec_AuthCodeRecords(t *testing.T) {
	far := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	for _, s := range []storage.LoginSession{{Hash: "h"}, {Hash: "h", ID: "i", UserGen: 1 << 63, ExpiresAt: far, LastSeenAt: time.Unix(0, 0).UTC()}} {
		if got, err := decodeLoginSession([]byte("h"), encodeLoginSession(s)); err != nil || !reflect.DeepEqual(got, s) {
			t.Errorf("sign-in session round trip: got %+v, %v, want %+v", got, err, s)
		}
	}
	for _, c := range []storage.AuthCode{{Hash: "h"}, {Hash: "h", Scope: []string{""}, RedirectURIGiven: true, ForgetAt: far}} {
		if got, err := decodeCode([]byte("h"), encodeCode(c)); err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("code round trip: got %+v, %v, want %+v", got, err, c)
		}
	}
	for _, c := range []storage.Consent{{}, {UserID: "u", ClientID: "c\x00x", Scopes: []string{"a", "b"}, GrantedAt: far}} {
		if got, err := decodeConsent(encodeConsent(c)); err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("consent round trip: got %+v, %v, want %+v", got, err, c)
		}
	}

	decoders := map[string]func([]byte) error{
		"sign-in session": func(b []byte) error { _, err := decodeLoginSession([]byte("h"), b); return err },
		"code":            func(b []byte) error { _, err := decodeCode([]byte("h"), b); return err },
		"consent":         func(b []byte) error { _, err := decodeConsent(b); return err },
	}
	records := map[string]string{"sign-in session": goldenLoginSessionHex, "code": goldenCodeHex, "consent": goldenConsentHex}
	for what, h := range records {
		v, decode := unhex(t, h), decoders[what]
		for i := range len(v) {
			if err := decode(v[:i]); !errors.Is(err, errCorrupt) {
				t.Errorf("%s truncated to %d of %d bytes: got %v, want errCorrupt", what, i, len(v), err)
			}
		}
		if err := decode(append(bytes.Clone(v), 0)); !errors.Is(err, errCorrupt) {
			t.Errorf("%s with a trailing byte: got %v, want errCorrupt", what, err)
		}
		if err := decode(append([]byte{2}, v[1:]...)); !errors.Is(err, errCorrupt) {
			t.Errorf("%s in an unknown format: got %v, want errCorrupt", what, err)
		}
	}
	// RedirectURIGiven's byte is 0 or 1.
	v := unhex(t, goldenCodeHex)
	i := bytes.Index(v, []byte("/cb")) + len("/cb")
	if v[i] != 1 {
		t.Fatalf("golden code: byte after the redirect URI is %d, want RedirectURIGiven's 1", v[i])
	}
	v[i] = 2
	if _, err := decodeCode([]byte("h"), v); !errors.Is(err, errCorrupt) {
		t.Errorf("code with a bool byte of 2: got %v, want errCorrupt", err)
	}
}

// FuzzDecodeAuthCodeRecords: no stored bytes make the sign-in session,
// code or consent decoders panic or allocate without bound, and what they
// accept encodes to bytes that decode to the same value (the bytes need
// not be the same: an overlong varint decodes too).
func FuzzDecodeAuthCodeRecords(f *testing.F) {
	for _, h := range []string{goldenLoginSessionHex, goldenCodeHex, goldenConsentHex} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Add(encodeLoginSession(storage.LoginSession{}))
	f.Add(encodeCode(storage.AuthCode{}))
	f.Add(encodeConsent(storage.Consent{}))
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeLoginSession([]byte("h"), b); err == nil {
			again, err := decodeLoginSession([]byte("h"), encodeLoginSession(s))
			if err != nil || !reflect.DeepEqual(again, s) {
				t.Errorf("re-encoded sign-in session: got %+v, %v, want %+v", again, err, s)
			}
		}
		if c, err := decodeCode([]byte("h"), b); err == nil {
			again, err := decodeCode([]byte("h"), encodeCode(c))
			if err != nil || !reflect.DeepEqual(again, c) {
				t.Errorf("re-encoded code: got %+v, %v, want %+v", again, err, c)
			}
		}
		if c, err := decodeConsent(b); err == nil {
			again, err := decodeConsent(encodeConsent(c))
			if err != nil || !reflect.DeepEqual(again, c) {
				t.Errorf("re-encoded consent: got %+v, %v, want %+v", again, err, c)
			}
		}
	})
}
