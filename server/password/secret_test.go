package password

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGenerateSecret(t *testing.T) {
	re := regexp.MustCompile(`^authd_cs_[A-Za-z0-9_-]{43}$`)
	a, b := GenerateSecret(), GenerateSecret()
	if !re.MatchString(a) {
		t.Errorf("GenerateSecret() = %q, want match of %s", a, re)
	}
	if a == b {
		t.Error("two generated secrets are equal")
	}
	if len(a) < MinFastSecretLen {
		t.Errorf("generated secret has %d bytes, want at least %d", len(a), MinFastSecretLen)
	}
}

// newSecretVerifier returns a SecretVerifier on a Hasher with slots slots
// and the given wait.
func newSecretVerifier(t *testing.T, slots int, wait time.Duration) (*SecretVerifier, *Hasher) {
	t.Helper()
	h := newTiny(t, slots, wait)
	return NewSecretVerifier(h, Params{}), h
}

func TestHashSecret_SecretVerifier(t *testing.T) {
	v, _ := newSecretVerifier(t, 2, time.Minute)
	tests := []struct {
		name, secret, prefix string
	}{
		{"generated", GenerateSecret(), "$sha256$"},
		{"32 bytes", strings.Repeat("s", 32), "$sha256$"},
		{"31 bytes", strings.Repeat("s", 31), "$argon2id$v=19$m=19456,t=2,p=1$"},
		{"short", "hunter2", "$argon2id$v=19$m=19456,t=2,p=1$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := HashSecret(tt.secret)
			if !strings.HasPrefix(h, tt.prefix) {
				t.Fatalf("HashSecret = %q, want prefix %q", h, tt.prefix)
			}
			if strings.Contains(h, tt.secret) {
				t.Fatalf("hash %q contains the secret", h)
			}
			if h2 := HashSecret(tt.secret); h2 == h {
				t.Error("two hashes of one secret are equal; salt not random")
			}
			// Twice: the second may come from the cache.
			for i := range 2 {
				if ok, err := v.Verify(t.Context(), h, tt.secret); !ok || err != nil {
					t.Errorf("Verify(right) #%d = %v, %v; want true, nil", i+1, ok, err)
				}
			}
			wrongs := []string{"", tt.secret + "x", tt.secret[:len(tt.secret)-1], strings.ToUpper(tt.secret)}
			for _, wrong := range wrongs {
				if wrong == tt.secret {
					continue
				}
				if ok, err := v.Verify(t.Context(), h, wrong); ok || err != nil {
					t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
				}
			}
			// No client: never a match.
			if ok, err := v.Verify(t.Context(), "", tt.secret); ok || err != nil {
				t.Errorf("Verify(no hash) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestSecretVerifier_Malformed(t *testing.T) {
	v, _ := newSecretVerifier(t, 1, time.Minute)
	long := strings.Repeat("k", 40)
	short := "kkkk"
	good := HashSecret(long)
	goodShort := HashSecret(short)
	for _, h := range []string{
		"",
		"plain",
		"$sha256$",
		"$sha256$c29tZXNhbHQ",
		"$sha256$c29tZXNhbHQ$",
		"$sha256$$" + good[strings.LastIndex(good, "$")+1:],
		"$sha256$c2FsdA$" + good[strings.LastIndex(good, "$")+1:],
		good + "A",
		good + "\n",
		goodShort + "A",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ",
		"$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
	} {
		secret := long
		if strings.HasPrefix(h, "$argon2id$") {
			secret = short
		}
		if ok, err := v.Verify(t.Context(), h, secret); ok || err != nil {
			t.Errorf("Verify(%q, %d-byte secret) = %v, %v; want false, nil", h, len(secret), ok, err)
		}
	}
}

// countingVerifier counts the argon2id verifications a SecretVerifier asks
// of its Hasher, and the parameters of each.
type countingVerifier struct {
	h      *Hasher
	mu     sync.Mutex
	params []Params
}

func (c *countingVerifier) Verify(ctx context.Context, phc, pw string) (bool, bool, error) {
	p, _, _, err := ParsePHC(phc)
	c.mu.Lock()
	c.params = append(c.params, p)
	c.mu.Unlock()
	if err != nil {
		return false, false, err
	}
	return c.h.Verify(ctx, phc, pw)
}

func (c *countingVerifier) take() []Params {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.params
	c.params = nil
	return p
}

// TestSecretVerifier_WorkDependsOnPresentedSecret checks, without timing
// anything, that a wrong secret costs the same whatever is stored for the
// client, or whether there is a client at all: one argon2id verification
// with DefaultParams for a short secret, none for a long one (one HMAC,
// whose equal cost the server's timing test shows), none for the empty one.
func TestSecretVerifier_WorkDependsOnPresentedSecret(t *testing.T) {
	cv := &countingVerifier{h: newTiny(t, 1, time.Minute)}
	v := NewSecretVerifier(cv, Params{})
	stored := []struct{ name, hash string }{
		{"no client", ""},
		{"fast hash", HashSecret(GenerateSecret())},
		{"argon2id hash", HashSecret("operator-chosen")},
		{"malformed", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ"},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"},
	}
	presented := []struct {
		name, secret string
		argon2       int
	}{
		{"31 bytes", strings.Repeat("g", MinFastSecretLen-1), 1},
		{"32 bytes", strings.Repeat("g", MinFastSecretLen), 0},
		{"generated", GenerateSecret(), 0},
		{"empty", "", 0},
	}
	for _, st := range stored {
		for _, pr := range presented {
			ok, err := v.Verify(t.Context(), st.hash, pr.secret)
			if ok || err != nil {
				t.Fatalf("%s, %s secret: Verify = %v, %v; want false, nil", st.name, pr.name, ok, err)
			}
			got := cv.take()
			if len(got) != pr.argon2 {
				t.Errorf("%s, %s secret: %d argon2id verifications, want %d", st.name, pr.name, len(got), pr.argon2)
				continue
			}
			for _, p := range got {
				if p != DefaultParams {
					t.Errorf("%s, %s secret: verified with %+v, want DefaultParams", st.name, pr.name, p)
				}
			}
		}
	}
}

func TestSecretVerifier_Cache(t *testing.T) {
	v, h := newSecretVerifier(t, 1, 50*time.Millisecond)
	hash := HashSecret("short-secret")
	if ok, err := v.Verify(t.Context(), hash, "wrong"); ok || err != nil {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
	if v.cache.contains(v.key(hash, "wrong")) {
		t.Error("a failed verification was cached")
	}
	if ok, err := v.Verify(t.Context(), hash, "short-secret"); !ok || err != nil {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	if !v.cache.contains(v.key(hash, "short-secret")) {
		t.Fatal("a successful verification was not cached")
	}
	// With every hashing slot taken, as under a flood of wrong secrets or
	// passwords, a cached client still gets in without hashing; anything
	// else with a short secret waits for a slot of the Hasher and gives up
	// with ErrBusy.
	defer fill(h)()
	if ok, err := v.Verify(t.Context(), hash, "short-secret"); !ok || err != nil {
		t.Errorf("Verify(right) with all slots taken = %v, %v; want true from the cache", ok, err)
	}
	for _, stored := range []string{hash, ""} {
		if ok, err := v.Verify(t.Context(), stored, "wrong"); ok || !errors.Is(err, ErrBusy) {
			t.Errorf("Verify(%q, wrong) with all slots taken = %v, %v; want false, ErrBusy", stored, ok, err)
		}
	}
	// Two verifiers share nothing.
	if other := NewSecretVerifier(h, Params{}); other.cache.contains(other.key(hash, "short-secret")) {
		t.Error("a new verifier knows the first one's cached success")
	}
}

// TestSecretVerifier_FastPathTakesNoSlot: long secrets never wait for a
// hashing slot.
func TestSecretVerifier_FastPathTakesNoSlot(t *testing.T) {
	v, h := newSecretVerifier(t, 1, time.Hour)
	secret := GenerateSecret()
	hash := HashSecret(secret)
	defer fill(h)()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if ok, err := v.Verify(ctx, hash, secret); !ok || err != nil {
		t.Errorf("Verify(right) with all slots taken = %v, %v; want true, nil", ok, err)
	}
	if ok, err := v.Verify(ctx, "", secret); ok || err != nil {
		t.Errorf("Verify(no client) with all slots taken = %v, %v; want false, nil", ok, err)
	}
}

// TestSecretVerifier_Deprioritized: a verification from a context marked
// with Deprioritize waits behind a password login for the Hasher's slot.
func TestSecretVerifier_Deprioritized(t *testing.T) {
	v, h := newSecretVerifier(t, 1, time.Hour)
	pwHash, err := h.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	release := fill(h)
	order := make(chan string, 2)
	go func() {
		v.Verify(Deprioritize(context.Background()), "", "guess")
		order <- "suspect secret"
	}()
	waitLane(t, h.sem, 1, 1)
	go func() {
		h.Verify(context.Background(), pwHash, "pw")
		order <- "login"
	}()
	waitLane(t, h.sem, 0, 1)
	release()
	if first := <-order; first != "login" {
		t.Errorf("%s got the slot first, want the login", first)
	}
	<-order
}

func TestLRUSet_Bounded(t *testing.T) {
	const size = 8
	c := newLRUSet(size)
	v := NewSecretVerifier(nil, Params{})
	key := func(i int) [32]byte { return v.key(fmt.Sprint(i), "s") }
	for i := range 100 {
		c.add(key(i))
		if i == 50 {
			// Touching an old entry keeps it.
			c.add(key(45))
		}
		if n := c.len(); n > size {
			t.Fatalf("after %d adds len = %d, want at most %d", i+1, n, size)
		}
	}
	if c.len() != size {
		t.Errorf("len = %d, want %d", c.len(), size)
	}
	for i := 92; i < 100; i++ {
		if !c.contains(key(i)) {
			t.Errorf("recent key %d evicted", i)
		}
	}
	if c.contains(key(0)) || c.contains(key(45)) {
		t.Error("old keys kept beyond the bound")
	}
	// Recency: use key 92, add one more; 93 goes, 92 stays.
	c.contains(key(92))
	c.add(key(100))
	if !c.contains(key(92)) || c.contains(key(93)) {
		t.Error("eviction is not least recently used")
	}
}

// FuzzSecretVerifier_FastHash: no stored string and long secret make the
// fast path panic or match, except the secret against its own hash.
// (Short secrets reach argon2id, whose parameter parsing FuzzParsePHC
// covers.)
func FuzzSecretVerifier_FastHash(f *testing.F) {
	secret := strings.Repeat("s", MinFastSecretLen)
	// A fixed salt: fuzz workers are other processes.
	salt := []byte("0123456789abcdef")
	good := sha256Prefix + b64.EncodeToString(salt) + "$" + b64.EncodeToString(secretMAC(salt, secret))
	for _, h := range []string{"", good, good + "A", "$sha256$", "$sha256$$", "$sha256$c29tZXNhbHQ$" + good[strings.LastIndex(good, "$")+1:], "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$c29tZWhhc2hzb21laGFzaA"} {
		f.Add(h, secret)
	}
	v := NewSecretVerifier(nil, Params{})
	f.Fuzz(func(t *testing.T, hash, s string) {
		if len(s) < MinFastSecretLen {
			s += strings.Repeat("s", MinFastSecretLen)
		}
		ok, err := v.Verify(context.Background(), hash, s)
		if err != nil {
			t.Fatalf("Verify(%q, %q): %v", hash, s, err)
		}
		if ok && (hash != good || s != secret) {
			t.Fatalf("Verify(%q, %q) = true", hash, s)
		}
	})
}
