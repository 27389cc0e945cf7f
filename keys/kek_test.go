package keys

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/storage"
)

func newKEK(t *testing.T) []byte {
	t.Helper()
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

// privateExponents returns, for every stored key, its private exponent as
// base64url (the JWK "d") and as raw big-endian bytes.
func privateExponents(t *testing.T, m *Manager, keys []storage.Key) (b64 []string, raw [][]byte) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		mat, ok := m.cache[k.ID]
		if !ok {
			t.Fatalf("key %s not loaded", k.ID)
		}
		d := mat.priv.(*rsa.PrivateKey).D.Bytes()
		b64 = append(b64, base64.RawURLEncoding.EncodeToString(d))
		raw = append(raw, d)
	}
	return b64, raw
}

func TestNew_KEK_NoPrivateExponentStored(t *testing.T) {
	t.Parallel()
	for _, encrypted := range []bool{false, true} {
		s, c := &memStore{}, newClock()
		cfg := testConfig(t, s, c)
		if encrypted {
			cfg.KEK = newKEK(t)
		}
		var logs bytes.Buffer
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		m := mustNew(t, cfg)
		const warning = "private signing keys are stored unencrypted; set --key-encryption-key-file"
		if got := strings.Contains(logs.String(), warning); got == encrypted {
			t.Errorf("encrypted=%v: warning logged: %v\n%s", encrypted, got, logs.String())
		}
		keys, _ := s.snapshot()
		stored := s.raw(t)
		b64, raw := privateExponents(t, m, keys)
		for i, k := range keys {
			found := bytes.Contains(stored, []byte(b64[i])) || bytes.Contains(stored, raw[i])
			for _, k2 := range keys { // Private as the backend gets it

				found = found || bytes.Contains(k2.Private, []byte(b64[i])) || bytes.Contains(k2.Private, raw[i])
			}
			if found == encrypted {
				t.Errorf("encrypted=%v: private exponent of %s found in the store: %v", encrypted, k.ID, found)
			}
			if k.Encrypted != encrypted {
				t.Errorf("key %s: Encrypted=%v, want %v", k.ID, k.Encrypted, encrypted)
			}
			if encrypted && strings.Count(string(k.Private), ".") != 4 {
				t.Errorf("key %s: Private is not a compact JWE", k.ID)
			}
		}
	}
}

func TestNew_WrongKEK(t *testing.T) {
	t.Parallel()
	s, c := &memStore{}, newClock()
	cfg := testConfig(t, s, c)
	cfg.KEK = newKEK(t)
	m := mustNew(t, cfg)
	tok := mustSign(t, m, `{}`)
	before, writes := s.snapshot()
	raw := s.raw(t)

	for name, kek := range map[string][]byte{"wrong KEK": newKEK(t), "no KEK": nil} {
		t.Run(name, func(t *testing.T) {
			cfg := cfg
			cfg.KEK = kek
			c.Advance(def.KeyRotation * 3) // a rotation is due, and must not happen
			_, err := New(t.Context(), cfg)
			if !errors.Is(err, ErrWrongKEK) {
				t.Fatalf("New = %v, want ErrWrongKEK", err)
			}
			if _, w := s.snapshot(); w != writes || !bytes.Equal(s.raw(t), raw) {
				t.Error("New with a wrong KEK changed the store")
			}
		})
	}
	// The right KEK still works, and the keys are the same.
	m = mustNew(t, cfg)
	if _, err := m.Verify(tok); err != nil {
		t.Errorf("Verify after reopening: %v", err)
	}
	after, _ := s.snapshot()
	if storedKey(t, after, before[0].ID).State != storage.KeyRetired {
		t.Errorf("the right KEK did not catch up on the due rotation: %s", timeline(after, c.Now()))
	}
}

func TestNew_KEK_Migration(t *testing.T) {
	t.Parallel()
	s, c := &memStore{}, newClock()
	cfg := testConfig(t, s, c)
	m := mustNew(t, cfg)
	tok := mustSign(t, m, `{}`)
	before, writes := s.snapshot()
	_, etag := m.JWKS()

	cfg.KEK = newKEK(t)
	m = mustNew(t, cfg)
	after, w := s.snapshot()
	if w != writes+1 {
		t.Errorf("migration took %d writes, want 1", w-writes)
	}
	if timeline(after, c.Now()) != timeline(before, c.Now()) {
		t.Errorf("migration changed the life cycle:\n got %s\nwant %s", timeline(after, c.Now()), timeline(before, c.Now()))
	}
	for i, k := range after {
		if k.ID != before[i].ID || !k.Encrypted || bytes.Equal(k.Private, before[i].Private) {
			t.Errorf("key %s: Encrypted=%v after migration, want the same key encrypted", k.ID, k.Encrypted)
		}
	}
	b64, _ := privateExponents(t, m, after)
	for _, d := range b64 {
		if bytes.Contains(s.raw(t), []byte(d)) {
			t.Error("a private exponent is still in the store after migration")
		}
	}
	if _, e := m.JWKS(); e != etag {
		t.Error("migration changed the JWKS")
	}
	if _, err := m.Verify(tok); err != nil {
		t.Errorf("token signed before migration: %v", err)
	}
	// Another start with the same KEK writes nothing.
	mustNew(t, cfg)
	if _, w2 := s.snapshot(); w2 != w {
		t.Errorf("a start after migration wrote %d times", w2-w)
	}
	cfg.KEK = nil
	if _, err := New(t.Context(), cfg); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("New without KEK after migration = %v, want ErrWrongKEK", err)
	}
}

func TestLoadKEK(t *testing.T) {
	t.Parallel()
	key := newKEK(t)
	for key[0] < 0x80 { // make sure the raw key is not text
		key = newKEK(t)
	}
	dir := t.TempDir()
	tests := []struct {
		name    string
		content []byte
		want    []byte
		err     string // substring of the error; empty for success
	}{
		{"raw", key, key, ""},
		{"hex", []byte(hex.EncodeToString(key)), key, ""},
		{"hex with newline", []byte(hex.EncodeToString(key) + "\n"), key, ""},
		{"upper-case hex", []byte(strings.ToUpper(hex.EncodeToString(key))), key, ""},
		{"base64 with whitespace", []byte("  " + base64.StdEncoding.EncodeToString(key) + "\r\n"), key, ""},
		{"base64url", []byte(base64.URLEncoding.EncodeToString(key)), key, ""},
		{"16 raw bytes", key[:16], nil, "found 16 bytes"},
		{"33 raw bytes", append(bytes.Clone(key), 1), nil, "found 33 bytes"},
		{"32 hex characters", []byte(hex.EncodeToString(key[:16])), nil, "found 32 bytes"},
		{"base64 of 16 bytes", []byte(base64.StdEncoding.EncodeToString(key[:16]) + "\n"), nil, "found 25 bytes"},
		{"64 characters not hex", []byte(strings.Repeat("zz", 32)), nil, "not hexadecimal"},
		{"44 characters not base64", []byte(strings.Repeat("!", 44)), nil, "not base64"},
		{"all zeros", make([]byte, 32), nil, "all zeros"},
		{"empty", nil, nil, "found 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKEK(path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("LoadKEK = %x, %v; want an error naming the file and saying %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("LoadKEK = %x, %v; want %x", got, err, tt.want)
			}
		})
	}
	if _, err := LoadKEK(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadKEK(missing) = %v, want os.ErrNotExist", err)
	}
}
