package password

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
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

func TestHashSecret_VerifySecret(t *testing.T) {
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
			if !VerifySecret(h, tt.secret) {
				t.Error("VerifySecret(right) = false")
			}
			// Twice: the second may come from the cache.
			if !VerifySecret(h, tt.secret) {
				t.Error("VerifySecret(right, again) = false")
			}
			for _, wrong := range []string{"", tt.secret + "x", tt.secret[:len(tt.secret)-1], strings.ToUpper(tt.secret)} {
				if VerifySecret(h, wrong) {
					t.Errorf("VerifySecret(%q) = true", wrong)
				}
			}
		})
	}
}

func TestVerifySecret_Malformed(t *testing.T) {
	good := HashSecret(strings.Repeat("k", 40))
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
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ",
		"$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
	} {
		if VerifySecret(h, strings.Repeat("k", 40)) {
			t.Errorf("VerifySecret(%q) = true", h)
		}
	}
}

func TestVerifySecret_Cache(t *testing.T) {
	h := HashSecret("short-secret")
	if VerifySecret(h, "wrong") {
		t.Fatal("VerifySecret(wrong) = true")
	}
	if secretCache.contains(secretCacheKey(h, "wrong")) {
		t.Error("a failed verification was cached")
	}
	if !VerifySecret(h, "short-secret") {
		t.Fatal("VerifySecret(right) = false")
	}
	if !secretCache.contains(secretCacheKey(h, "short-secret")) {
		t.Fatal("a successful verification was not cached")
	}
	// With every argon2id slot taken, as under a flood of wrong secrets, a
	// cached client still gets in without hashing.
	for range cap(secretSem) {
		secretSem <- struct{}{}
	}
	defer func() {
		for range cap(secretSem) {
			<-secretSem
		}
	}()
	if !VerifySecret(h, "short-secret") {
		t.Error("VerifySecret(right) with all slots taken = false, want true from the cache")
	}
}

func TestLRUSet_Bounded(t *testing.T) {
	const size = 8
	c := newLRUSet(size)
	key := func(i int) [32]byte { return secretCacheKey(fmt.Sprint(i), "s") }
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
