package account

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/server/internal/growth"
	"github.com/authd/authd/server/password"
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

// TestParseImport_HashLimits: the import refuses exactly the hashes that
// password.CheckHash, the limits of verification, refuses, with its reason
// and never the hash, so that an imported user can always log in.
func TestParseImport_HashLimits(t *testing.T) {
	for _, tt := range limitCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			_, errImport := ParseImport(strings.NewReader(`{"username":"alice","password_hash":"` + tt.hash + `"}`))
			if errCheck := password.CheckHash(tt.hash); (errCheck == nil) != tt.ok {
				t.Fatalf("CheckHash = %v, want ok %v", errCheck, tt.ok)
			}
			if tt.ok {
				if errImport != nil {
					t.Fatalf("ParseImport = %v, want nil", errImport)
				}
				return
			}
			if errImport == nil || !strings.Contains(errImport.Error(), tt.why) {
				t.Errorf("ParseImport = %v, want an error saying %q", errImport, tt.why)
			}
			if errImport != nil && strings.Contains(errImport.Error(), tt.hash) {
				t.Errorf("ParseImport error %q contains the hash", errImport)
			}
		})
	}
}

// TestParseImport_Cost: an import file costs work linear in its number of
// users (duplicates are found with a map, scopes are capped), so the 32 MiB
// an admin API import may carry is read in proportion.
func TestParseImport_Cost(t *testing.T) {
	file := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `{"username":"user%d","password_hash":"%s","scopes":["a","b","c"]}`+"\n", i, bc1)
		}
		return b.String()
	}
	ns := []int{100, 200, 400, 800}
	var allocs, bytes []float64
	for _, n := range ns {
		in := file(n)
		a, b := costOfRuns(5, func() {
			if _, err := ParseImport(strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
		})
		allocs, bytes = append(allocs, a), append(bytes, b)
	}
	t.Logf("N = %v users: %v allocations, %v bytes", ns, allocs, bytes)
	for _, m := range []struct {
		name string
		v    []float64
	}{{"allocations", allocs}, {"bytes", bytes}} {
		// Doubling N must about double the cost, never quadruple it.
		for i := 1; i < len(ns); i++ {
			if r := m.v[i] / m.v[i-1]; r > 2.5 {
				t.Errorf("%s: %v for N = %v: grows faster than N", m.name, m.v, ns)
			}
		}
	}
}

// costOfRuns is the allocations and bytes allocated by one run of f.
func costOfRuns(runs int, f func()) (allocs, bytes float64) {
	c := growth.Of(runs, f)
	return c.Allocs, c.Bytes
}
