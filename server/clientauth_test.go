package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/server/internal/timingtest"
	"github.com/authd/authd/server/password"
	"github.com/authd/authd/storage"
)

// postFrom sends a form to path as if from addr, through a trusted proxy,
// with Basic credentials.
func (e *testEnv) postFrom(addr, path string, form url.Values, id, secret string) tokenResult {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(id, secret))
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return decode(e.t, resp)
}

// clientAuthEndpoints are the endpoints that authenticate clients, each
// with a form that succeeds once the client is authenticated.
var clientAuthEndpoints = []struct {
	path string
	form url.Values
}{
	{"/token", url.Values{"grant_type": {"client_credentials"}}},
	{"/revoke", url.Values{"token": {"not-a-token"}}},
	{"/introspect", url.Values{"token": {"not-a-token"}}},
}

// TestClientAuth_Throttle: failed client authentication is throttled like
// failed logins (SPEC §2.1, RFC 6749 §2.3.1), on every endpoint that
// authenticates clients and for unknown client ids alike: free failures,
// growing delays, then 429 with Retry-After that even the right secret
// gets; another address is unaffected; time heals. Delays are recorded,
// not slept, and time is the injected clock.
func TestClientAuth_Throttle(t *testing.T) {
	for _, ep := range clientAuthEndpoints {
		for _, id := range []string{"svc", "ghost"} {
			t.Run(strings.TrimPrefix(ep.path, "/")+"/"+id, func(t *testing.T) {
				e := newEnv(t, withTrustedLoopback)
				e.addClient("svc", rsSecret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
				var mu sync.Mutex
				var delays []time.Duration
				e.srv.sleepFn = func(_ context.Context, d time.Duration) error {
					mu.Lock()
					delays = append(delays, d)
					mu.Unlock()
					return nil
				}
				const attacker = "203.0.113.7"
				wrong := strings.Repeat("w", len(rsSecret))
				var statuses []int
				var last tokenResult
				for range 12 {
					last = e.postFrom(attacker, ep.path, ep.form, id, wrong)
					statuses = append(statuses, last.Status)
				}
				want := []int{401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 429, 429}
				if !slices.Equal(statuses, want) {
					t.Fatalf("statuses of 12 wrong secrets %v, want %v", statuses, want)
				}
				if last.str("error") != "slow_down" || last.Header.Get("Retry-After") == "" {
					t.Fatalf("12th attempt: %v %s, want slow_down with Retry-After", last.Header, last.Raw)
				}
				if len(delays) != 5 || !slices.IsSorted(delays) || delays[0] <= 0 || delays[4] <= delays[0] {
					t.Errorf("delays before the block %v, want 5 growing ones", delays)
				}
				// 10 refusals (401), 5 delays and 2 blocks, counted.
				metrics := e.get("/metrics")
				for _, want := range []string{"authd_client_auth_rejected_total 10\n", "authd_client_auth_throttled_total 7\n"} {
					if !strings.Contains(metrics, want) {
						t.Errorf("/metrics lacks %q", want)
					}
				}
				if id != "svc" {
					return
				}
				// Even the right secret is refused from the attacker's address.
				if r := e.postFrom(attacker, ep.path, ep.form, "svc", rsSecret); r.Status != http.StatusTooManyRequests {
					t.Errorf("right secret from the blocked address: %d %s", r.Status, r.Raw)
				}
				// Another address is unaffected, and its success adds no delay.
				for range 3 {
					if r := e.postFrom("198.51.100.20", ep.path, ep.form, "svc", rsSecret); r.Status != 200 {
						t.Fatalf("right secret from another address: %d %s", r.Status, r.Raw)
					}
				}
				if len(delays) != 5 {
					t.Errorf("successes from another address were delayed: %v", delays[5:])
				}
				// Time heals.
				e.clock.Advance(15 * time.Minute)
				if r := e.postFrom(attacker, ep.path, ep.form, "svc", rsSecret); r.Status != 200 {
					t.Fatalf("after 15 minutes: %d %s", r.Status, r.Raw)
				}
			})
		}
	}
}

// TestClientAuth_SuccessesDoNotCount: successful authentications are not
// counted as failures: after many of them, five failures are still free.
func TestClientAuth_SuccessesDoNotCount(t *testing.T) {
	e := newEnv(t, withTrustedLoopback)
	e.addClient("svc", rsSecret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	var delays []time.Duration
	e.srv.sleepFn = func(_ context.Context, d time.Duration) error { delays = append(delays, d); return nil }
	const addr = "203.0.113.8"
	form := url.Values{"grant_type": {"client_credentials"}}
	for range 20 {
		if r := e.postFrom(addr, "/token", form, "svc", rsSecret); r.Status != 200 {
			t.Fatalf("right secret: %d %s", r.Status, r.Raw)
		}
	}
	for range 5 {
		if r := e.postFrom(addr, "/token", form, "svc", "wrong"); r.Status != 401 {
			t.Fatalf("wrong secret: %d %s", r.Status, r.Raw)
		}
	}
	if len(delays) != 0 {
		t.Errorf("delays %v within the first five failures", delays)
	}
}

// TestClientAuth_BoundedHashing: a short, operator-chosen secret is
// verified in the server's password hasher, so that with every hashing
// slot taken it waits and gets 503 with Retry-After, whether the client
// exists or not; a generated secret never queues behind password hashes.
func TestClientAuth_BoundedHashing(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Hasher = busyHasher{password.New(password.Config{Params: testParams, MaxConcurrent: 1})}
	})
	e.addClient("short", "operator-pw", func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	e.addClient("gen", rsSecret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	form := url.Values{"grant_type": {"client_credentials"}}
	for _, id := range []string{"short", "ghost"} {
		r := e.token(form, id, "operator-pw")
		if r.Status != http.StatusServiceUnavailable || r.str("error") != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s, short secret, all slots taken: %d %v %s; want 503 with Retry-After", id, r.Status, r.Header, r.Raw)
		}
	}
	if r := e.token(form, "gen", rsSecret); r.Status != 200 {
		t.Errorf("generated secret, all slots taken: %d %s; want 200", r.Status, r.Raw)
	}
	if r := e.token(form, "ghost", rsSecret); r.Status != 401 {
		t.Errorf("unknown client, long secret, all slots taken: %d %s; want 401", r.Status, r.Raw)
	}
}

// TestClientAuth_Secrets: every kind of stored secret authenticates with
// the right secret and only with it, on each endpoint, with Basic and
// with client_secret_post.
func TestClientAuth_Secrets(t *testing.T) {
	e := newEnv(t)
	secrets := map[string]string{"short": "operator-pw", "gen": password.GenerateSecret(), "long": rsSecret}
	for id, secret := range secrets {
		e.addClient(id, secret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	}
	e.addClient("pub", "", nil)
	for _, ep := range clientAuthEndpoints {
		for id, secret := range secrets {
			if r := decode(t, e.post(ep.path, ep.form, id, secret)); r.Status != 200 {
				t.Errorf("%s %s, Basic, right secret: %d %s", ep.path, id, r.Status, r.Raw)
			}
			post := url.Values{"client_id": {id}, "client_secret": {secret}}
			for k, v := range ep.form {
				post[k] = v
			}
			if r := decode(t, e.post(ep.path, post, "", "")); r.Status != 200 {
				t.Errorf("%s %s, post, right secret: %d %s", ep.path, id, r.Status, r.Raw)
			}
			for _, wrong := range []string{"", "x", secret + "x", secret[:len(secret)-1]} {
				if r := decode(t, e.post(ep.path, ep.form, id, wrong)); r.Status != 401 || r.str("error") != "invalid_client" {
					t.Errorf("%s %s, secret %q: %d %s, want 401 invalid_client", ep.path, id, wrong, r.Status, r.Raw)
				}
			}
		}
	}
	// A public client presenting a secret is not authenticated.
	if r := decode(t, e.post("/revoke", url.Values{"token": {"x"}}, "pub", "anything")); r.Status != 401 {
		t.Errorf("public client with a secret: %d %s, want 401", r.Status, r.Raw)
	}
}

// TestClientAuth_TimingUnknownID: an unknown client id takes the time of a
// wrong secret through the real endpoint, for each kind of stored secret,
// by the paired, randomly ordered comparison of package timingtest (false
// alarms at most 10⁻⁶ however busy the machine is). The argon2id secret
// and the verifier's dummy use timingParams instead of DefaultParams, to
// keep the test short.
func TestClientAuth_TimingUnknownID(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	e := newEnv(t, withTrustedLoopback, func(c *Config) {
		c.Hasher = password.New(password.Config{Params: timingParams, MaxConcurrent: 1, Wait: time.Minute})
	})
	e.srv.secrets = password.NewSecretVerifier(e.srv.hasher, timingParams)
	short, err := e.srv.hasher.Hash(t.Context(), "operator-pw")
	if err != nil {
		t.Fatal(err)
	}
	e.addClient("short", "x", func(c *storage.Client) {
		c.Grants = []string{GrantClientCredentials}
		c.SecretHash = short
	})
	e.addClient("gen", password.GenerateSecret(), func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	if r := e.token(url.Values{"grant_type": {"client_credentials"}}, "short", "operator-pw"); r.Status != 200 {
		t.Fatalf("short secret: %d %s", r.Status, r.Raw)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	var n int
	attempt := func(id, secret string) func() error {
		return func() error {
			n++
			addr := fmt.Sprintf("198.18.%d.%d", n/250, n%250) // fresh addresses: no throttling delay
			if r := e.postFrom(addr, "/token", form, id, secret); r.Status != 401 || r.str("error") != "invalid_client" {
				return fmt.Errorf("%s: %d %s", id, r.Status, r.Raw)
			}
			return nil
		}
	}
	timingtest.Equal(t, "unknown id, short secret", "argon2id client, wrong secret",
		attempt("ghost", "wrong-pw"), attempt("short", "wrong-pw"), timingtest.Options{})
	long := password.GenerateSecret()
	timingtest.Equal(t, "unknown id, long secret", "generated-secret client, wrong secret",
		attempt("ghost", long), attempt("gen", long), timingtest.Options{})
	// The other mixes: a short secret against a generated-secret client,
	// a long one against an argon2id client.
	timingtest.Equal(t, "unknown id, short secret", "generated-secret client, short secret",
		attempt("ghost", "wrong-pw"), attempt("gen", "wrong-pw"), timingtest.Options{})
	timingtest.Equal(t, "unknown id, long secret", "argon2id client, long secret",
		attempt("ghost", long), attempt("short", long), timingtest.Options{})
}

// TestClientAuth_FailureLog: a failed client authentication is logged with
// the client id and address, never the secret, and a huge presented id is
// cut short.
func TestClientAuth_FailureLog(t *testing.T) {
	e := newEnv(t)
	e.addClient("svc", rsSecret, func(c *storage.Client) { c.Grants = []string{GrantClientCredentials} })
	form := url.Values{"grant_type": {"client_credentials"}}
	const wrong = "wrong-secret-that-must-not-be-logged"
	if r := e.token(form, "svc", wrong); r.Status != 401 {
		t.Fatalf("wrong secret: %d %s", r.Status, r.Raw)
	}
	huge := strings.Repeat("i", 10000)
	post := url.Values{"grant_type": {"client_credentials"}, "client_id": {huge}, "client_secret": {wrong}}
	if r := decode(t, e.post("/token", post, "", "")); r.Status != 401 {
		t.Fatalf("huge client id: %d %s", r.Status, r.Raw)
	}
	logs := e.logBuf.String()
	if !strings.Contains(logs, "event=client_auth_failed client_id=svc") {
		t.Errorf("no failure line for svc in the log:\n%s", logs)
	}
	if strings.Contains(logs, wrong) {
		t.Error("the log contains a presented secret")
	}
	if strings.Contains(logs, huge[:200]) {
		t.Error("the log contains the whole huge client id")
	}
}
