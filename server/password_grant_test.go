package server

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/config"
	"github.com/authd/authd/server/internal/timingtest"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
)

func withTrustedLoopback(c *Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// loginFrom logs in as if from addr, through a trusted proxy.
func (e *testEnv) loginFrom(addr, user, pw string) tokenResult {
	e.t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth("app", appSecret))
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return decode(e.t, resp)
}

// TestPasswordGrant_Throttle: repeated failures for one user from one
// address end in 429 with Retry-After; the owner at another address is not
// locked out; time heals.
func TestPasswordGrant_Throttle(t *testing.T) {
	e := newEnv(t, withTrustedLoopback)
	e.addClient("app", appSecret, nil)
	e.addUser("alice", "alice-pw", nil)
	var delays []time.Duration
	e.srv.sleepFn = func(_ context.Context, d time.Duration) error { delays = append(delays, d); return nil }

	const attacker = "203.0.113.7"
	var blocked tokenResult
	for i := 0; i < 20; i++ {
		r := e.loginFrom(attacker, "alice", "guess")
		if r.Status == http.StatusTooManyRequests {
			blocked = r
			break
		}
		if r.Status != 400 || r.str("error") != "invalid_grant" {
			t.Fatalf("attempt %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if blocked.Status != http.StatusTooManyRequests || blocked.Header.Get("Retry-After") == "" {
		t.Fatalf("no 429 with Retry-After after 20 failures: %d %v", blocked.Status, blocked.Header)
	}
	if len(delays) == 0 || !slices.IsSorted(delays) {
		t.Errorf("delays before the block %v, want a growing sequence", delays)
	}
	// Even the right password is refused from the attacker's address.
	if r := e.loginFrom(attacker, "alice", "alice-pw"); r.Status != http.StatusTooManyRequests {
		t.Errorf("right password from the blocked address: %d", r.Status)
	}
	// The owner at her usual address is slowed at most, never locked out.
	if r := e.loginFrom("198.51.100.20", "alice", "alice-pw"); r.Status != 200 {
		t.Fatalf("owner from another address: %d %s", r.Status, r.Raw)
	}
	// Time heals: the block ends.
	e.clock.Advance(15 * time.Minute)
	if r := e.loginFrom(attacker, "alice", "alice-pw"); r.Status != 200 {
		t.Fatalf("after 15 minutes: %d %s", r.Status, r.Raw)
	}
	// Without a trusted proxy, X-Forwarded-For is ignored: tested in
	// TestClientIP.
}

func TestClientIP(t *testing.T) {
	s := &Server{cfg: Config{Settings: config.Settings{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}}
	tests := []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:1234", "", "192.0.2.1"},
		{"192.0.2.1:1234", "203.0.113.9", "192.0.2.1"}, // untrusted peer: header ignored
		{"10.1.2.3:1234", "203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:1234", "203.0.113.9, 10.9.9.9", "203.0.113.9"},     // nearest untrusted hop
		{"10.1.2.3:1234", "198.51.100.1, 203.0.113.9", "203.0.113.9"}, // a client cannot spoof past it
		{"10.1.2.3:1234", "garbage", "10.1.2.3"},
		{"[::1]:1234", "203.0.113.9", "::1"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := s.clientIP(r).String(); got != tt.want {
			t.Errorf("clientIP(%s, XFF %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

// busyHasher is a hasher whose slots are always taken.
type busyHasher struct{ PasswordHasher }

func (busyHasher) Verify(context.Context, string, string) (bool, bool, error) {
	return false, false, fmt.Errorf("test: %w", password.ErrBusy)
}
func (busyHasher) VerifyDummy(context.Context, string) error {
	return fmt.Errorf("test: %w", password.ErrBusy)
}

func TestPasswordGrant_Overloaded(t *testing.T) {
	e := newEnv(t)
	e.addClient("app", appSecret, nil)
	e.addUser("alice", "alice-pw", nil)
	e.srv.hasher = busyHasher{e.srv.hasher}
	for _, user := range []string{"alice", "nobody"} {
		r := e.login("app", appSecret, user, "alice-pw")
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || r.str("error") != "temporarily_unavailable" {
			t.Fatalf("%s: %d %v %s", user, r.Status, r.Header, r.Raw)
		}
	}
}

// TestPasswordGrant_Rehash: hashes with old parameters and imported bcrypt
// hashes are replaced by current argon2id ones at the next login.
func TestPasswordGrant_Rehash(t *testing.T) {
	e := newEnv(t)
	e.addClient("app", appSecret, nil)
	old := password.New(password.Config{Params: password.Params{Memory: 32, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}})
	oldHash, err := old.Hash(context.Background(), "pw-old")
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw-bcrypt"), bcrypt.MinCost)
	e.addUser("olduser", "x", func(u *storage.User) { u.PasswordHash = oldHash })
	e.addUser("bcuser", "x", func(u *storage.User) { u.PasswordHash = string(bc) })
	for _, tc := range []struct{ user, pw string }{{"olduser", "pw-old"}, {"bcuser", "pw-bcrypt"}} {
		if r := e.login("app", appSecret, tc.user, tc.pw); r.Status != 200 {
			t.Fatalf("%s: %d %s", tc.user, r.Status, r.Raw)
		}
		u, _ := e.store.GetUser(context.Background(), tc.user)
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("%s: hash after login %.30s…, want current argon2id parameters", tc.user, u.PasswordHash)
		}
		if r := e.login("app", appSecret, tc.user, tc.pw); r.Status != 200 {
			t.Fatalf("%s after rehash: %d", tc.user, r.Status)
		}
	}
}

// TestPasswordGrant_TimingEquality: an unknown user, a disabled user and a
// wrong password take the same time through the whole endpoint, by the
// paired, randomly ordered comparison of package timingtest (false alarms
// at most 10⁻⁶ however busy the machine is). argon2id with 4 MiB makes
// hashing dominate the request, as the production parameters do, at a
// quarter of their cost under the race detector.
// timingParams make argon2id dominate a request's time in timing tests.
var timingParams = password.Params{Memory: 4096, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordGrant_TimingEquality(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	e := newEnv(t, withTrustedLoopback, func(c *Config) {
		c.Hasher = password.New(password.Config{Params: timingParams, MaxConcurrent: 1, Wait: time.Minute})
	})
	e.addClient("app", appSecret, nil)
	e.addUser("alice", "alice-pw", nil)
	e.addUser("off", "off-pw", func(u *storage.User) { u.Disabled = true })

	var (
		n    int
		want string
	)
	attempt := func(user, pw string) func() error {
		return func() error {
			n++
			addr := fmt.Sprintf("198.18.%d.%d", n/250, n%250) // fresh addresses: no throttling delay
			r := e.loginFrom(addr, user, pw)
			if r.Status != 400 {
				return fmt.Errorf("%s: %d %s", user, r.Status, r.Raw)
			}
			if want == "" {
				want = r.Raw
			}
			if r.Raw != want {
				return fmt.Errorf("answers differ: %s vs %s", want, r.Raw)
			}
			return nil
		}
	}
	wrong := attempt("alice", "nope")
	timingtest.Equal(t, "unknown user", "wrong password", attempt("nobody", "nope"), wrong, timingtest.Options{})
	timingtest.Equal(t, "disabled user", "wrong password", attempt("off", "off-pw"), wrong, timingtest.Options{})
}
