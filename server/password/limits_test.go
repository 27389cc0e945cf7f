package password

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// limitCases are stored or imported hashes at and beyond the limits that a
// server of this kind can serve (SPEC §1, issue 12): argon2id memory at most
// 256 MiB and time at most 10, bcrypt cost 4 to 17. ok says whether the
// hash is within them.
func limitCases(t *testing.T) []struct {
	name, hash, why string
	ok              bool
} {
	t.Helper()
	const salt, key = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	phc := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	b, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bc := func(cost string) string { return "$2b$" + cost + string(b[6:]) }
	return []struct {
		name, hash, why string
		ok              bool
	}{
		{"argon2id at the limits", phc("m=262144,t=10,p=1"), "", true},
		{"argon2id memory one over", phc("m=262145,t=1,p=1"), "memory 262145 KiB is above the limit of 262144 KiB", false},
		{"argon2id 4 GiB and t=100", phc("m=4194304,t=100,p=1"), "memory 4194304 KiB is above the limit of 262144 KiB", false},
		{"argon2id time 11", phc("m=64,t=11,p=1"), "time 11 is above the limit of 10", false},
		{"argon2id time 100", phc("m=64,t=100,p=1"), "time 100 is above the limit of 10", false},
		{"bcrypt cost 4", bc("04"), "", true},
		{"bcrypt cost 17", bc("17"), "", true},
		{"bcrypt cost 18", bc("18"), "cost 18 is outside 4 to 17", false},
		{"bcrypt cost 31", bc("31"), "cost 31 is outside 4 to 17", false},
		{"bcrypt cost 3", bc("03"), "cost 3 is outside 4 to 17", false},
	}
}

// TestHashLimits_CheckAndVerifyAgree: CheckHash, which every import
// applies (users.ParseImport, the admin API's import), and verification
// apply the same limits, so that an imported user can always log in and no
// stored hash makes a login allocate more than the limit.
func TestHashLimits_CheckAndVerifyAgree(t *testing.T) {
	h := newTiny(t, 1, time.Second)
	for _, tt := range limitCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			errCheck := CheckHash(tt.hash)
			if tt.ok {
				if errCheck != nil {
					t.Fatalf("CheckHash = %v, want nil", errCheck)
				}
				return
			}
			if !errors.Is(errCheck, ErrMalformedHash) {
				t.Errorf("CheckHash = %v, want ErrMalformedHash", errCheck)
			}
			var he *HashError
			if !errors.As(errCheck, &he) || !strings.Contains(he.Reason, tt.why) {
				t.Errorf("CheckHash = %v, want a *HashError saying %q", errCheck, tt.why)
			}
			// Out-of-bounds argon2id hashes are refused before any work:
			// a bounded Hasher never allocates their memory. (bcrypt costs
			// are refused the same way, by checkBcrypt.)
			if strings.HasPrefix(tt.hash, "$argon2id$") && strings.Contains(tt.hash, "m=64,") {
				ok, rehash, err := h.Verify(t.Context(), tt.hash, "password")
				if ok || rehash || !errors.Is(err, ErrMalformedHash) {
					t.Errorf("Verify = %v, %v, %v; want false, false, ErrMalformedHash", ok, rehash, err)
				}
			}
		})
	}
}

// TestHasher_Verify_OutOfBoundsDoesNoWork: verifying a stored hash beyond
// the limits is a malformed hash, answered without allocating its memory
// (on the old limits, m=4 GiB made every login attempt allocate 4 GiB).
func TestHasher_Verify_OutOfBoundsDoesNoWork(t *testing.T) {
	h := newTiny(t, 1, time.Second)
	const huge = "$argon2id$v=19$m=4194304,t=100,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	if _, _, _, err := ParsePHC(huge); !errors.Is(err, ErrMalformedHash) {
		// Guard: never run Verify on it with the old limits.
		t.Fatalf("ParsePHC(m=4 GiB) = %v, want ErrMalformedHash", err)
	}
	allocs := testing.AllocsPerRun(10, func() {
		if _, _, err := h.Verify(t.Context(), huge, "password"); !errors.Is(err, ErrMalformedHash) {
			t.Fatalf("Verify = %v, want ErrMalformedHash", err)
		}
	})
	if allocs > 10 {
		t.Errorf("Verify of an out-of-bounds hash made %.0f allocations, want a handful", allocs)
	}
}
