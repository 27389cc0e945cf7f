package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// signalKeys closes signed when an ID token has been signed (after the
// access token: issueWith signs them in that order).
type signalKeys struct {
	Keys
	once   sync.Once
	signed chan struct{}
}

func (k *signalKeys) SignIDTokenWith(claims func(alg string) ([]byte, error)) (string, error) {
	tok, err := k.Keys.SignIDTokenWith(claims)
	k.once.Do(func() { close(k.signed) })
	return tok, err
}

// commitWaitsForSigning is a store whose RedeemCode does not return, after
// its commit, until the tokens are signed: the signatures must not wait for
// RedeemCode to return.
type commitWaitsForSigning struct {
	storage.Storage
	signed <-chan struct{}
}

func (s *commitWaitsForSigning) RedeemCode(ctx context.Context, hash string, fn storage.CodeFunc) error {
	err := s.Storage.RedeemCode(ctx, hash, fn)
	select {
	case <-s.signed:
		return err
	case <-time.After(10 * time.Second): // a bound for failure only
		return errors.New("the tokens were not signed while the code was redeemed")
	}
}

// TestCodeGrant_SignsDuringCommit: the access and ID tokens are signed
// while the redeem commits, not after it (the password grant's issueAsync
// pattern): a store that holds RedeemCode until both are signed still
// answers.
func TestCodeGrant_SignsDuringCommit(t *testing.T) {
	t.Parallel()
	signed := make(chan struct{})
	e := &codeEnv{testEnv: newWrappedEnv(t, func(s storage.Storage) storage.Storage {
		return &commitWaitsForSigning{Storage: s, signed: signed}
	})}
	e.srv.keys = &signalKeys{Keys: e.srv.keys, signed: signed}
	e.addClient("spa", "", func(c *storage.Client) {
		c.Grants = []string{GrantAuthorizationCode, GrantRefreshToken}
		c.Scopes = []string{ScopeOpenID, "read"}
		c.RedirectURIs = []string{spaRedirect}
	})
	e.spa = e.storedClient("spa")
	e.user = e.addUser("alice", "alice-pw", nil)
	e.authTime = e.clock.Now()
	code, verifier := e.newCode(e.spa, func(c *storage.AuthCode) { c.Scope = []string{ScopeOpenID, "read"} })
	if r := e.redeem(e.spa, "", code, verifier); r.Status != 200 || r.str("id_token") == "" {
		t.Fatalf("exchange: %d %s, want 200 with an ID token", r.Status, r.Raw)
	}
}

// BenchmarkCodeExchange measures one authorization code exchange through
// the whole middleware chain: one code spent and one family created in one
// commit, an access token and an ID token signed.
func BenchmarkCodeExchange(b *testing.B) {
	e := newCodeEnv(b)
	e.srv.log = slog.New(slog.DiscardHandler)
	h := e.srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		code, verifier := e.newCode(e.spa, nil)
		body := url.Values{"grant_type": {GrantAuthorizationCode}, "client_id": {"spa"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {spaRedirect}}.Encode()
		b.StartTimer()
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:5555"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
