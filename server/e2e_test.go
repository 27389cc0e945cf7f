package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/authd/authd/storage"
)

// resourceServer verifies access tokens the way a stock resource server
// does: offline, against the JWKS it fetched, with go-jose.
type resourceServer struct {
	issuer, audience string
	jwks             jose.JSONWebKeySet
}

func (e *testEnv) resourceServer(aud string) *resourceServer {
	e.t.Helper()
	rs := &resourceServer{issuer: e.url, audience: aud}
	rs.refetch(e.t, e.url)
	return rs
}

func (rs *resourceServer) refetch(t testing.TB, base string) {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&rs.jwks); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
}

type atClaims struct {
	jwt.Claims
	ClientID          string `json:"client_id"`
	Scope             string `json:"scope"`
	AuthTime          int64  `json:"auth_time"`
	PreferredUsername string `json:"preferred_username"`
}

func (rs *resourceServer) verify(token string, now time.Time) (*atClaims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return nil, fmt.Errorf("typ %q, want at+jwt", typ)
	}
	keys := rs.jwks.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, fmt.Errorf("kid %q not in the JWKS", h.KeyID)
	}
	var c atClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return nil, err
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: rs.issuer, AnyAudience: jwt.Audience{rs.audience}, Time: now}, 0); err != nil {
		return nil, err
	}
	return &c, nil
}

// TestEndToEnd_OAuth2Client: a stock OAuth 2.0 client library gets tokens,
// refreshes after expiry, and a stock JWT verifier accepts them.
func TestEndToEnd_OAuth2Client(t *testing.T) {
	e := newEnv(t)
	const secret = "e2e-secret-that-is-long-enough-1234567890"
	e.addClient("e2e", secret, nil)
	alice := e.addUser("alice", "correct horse battery staple", nil)

	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		t.Run(fmt.Sprintf("auth style %d", style), func(t *testing.T) {
			conf := &oauth2.Config{ClientID: "e2e", ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: e.url + "/token", AuthStyle: style}, Scopes: []string{"read"}}
			ctx := context.Background()
			tok, err := conf.PasswordCredentialsToken(ctx, "Alice", "correct horse battery staple")
			if err != nil {
				t.Fatalf("PasswordCredentialsToken: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.RefreshToken == "" || !strings.HasPrefix(tok.RefreshToken, "authd_rt_") {
				t.Fatalf("token: type %q refresh %q", tok.TokenType, tok.RefreshToken)
			}
			if got := tok.Extra("scope"); got != "read" {
				t.Errorf("scope = %v, want read", got)
			}
			rs := e.resourceServer(e.url)
			c, err := rs.verify(tok.AccessToken, e.clock.Now())
			if err != nil {
				t.Fatalf("verify access token: %v", err)
			}
			if c.Subject != alice.ID || c.PreferredUsername != "alice" || c.ClientID != "e2e" || c.Scope != "read" || c.ID == "" {
				t.Errorf("claims: %+v", c)
			}
			loginTime := c.AuthTime

			// Let the access token expire, as the client library sees it,
			// then use the token source: it must refresh.
			e.clock.Advance(16 * time.Minute)
			if _, err := rs.verify(tok.AccessToken, e.clock.Now()); err == nil {
				t.Fatal("expired access token still verifies")
			}
			stale := *tok
			stale.Expiry = time.Now().Add(-time.Second)
			src := conf.TokenSource(ctx, &stale)
			tok2, err := src.Token()
			if err != nil {
				t.Fatalf("refresh through TokenSource: %v", err)
			}
			if tok2.AccessToken == tok.AccessToken || tok2.RefreshToken == tok.RefreshToken {
				t.Fatal("refresh did not rotate the tokens")
			}
			c2, err := rs.verify(tok2.AccessToken, e.clock.Now())
			if err != nil {
				t.Fatalf("verify refreshed token: %v", err)
			}
			if c2.AuthTime != loginTime {
				t.Errorf("auth_time changed across refresh: %d, want %d", c2.AuthTime, loginTime)
			}

			// Past the grace window, the spent token is reuse: the family
			// dies, the successor with it.
			e.clock.Advance(time.Minute)
			var re *oauth2.RetrieveError
			stale2 := *tok
			stale2.Expiry = time.Now().Add(-time.Second)
			if _, err := conf.TokenSource(ctx, &stale2).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("reuse of a spent token: %v, want invalid_grant", err)
			}
			stale3 := *tok2
			stale3.Expiry = time.Now().Add(-time.Second)
			if _, err := conf.TokenSource(ctx, &stale3).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("successor after reuse: %v, want invalid_grant", err)
			}
		})
	}
}

// TestRefresh_Concurrent: 20 concurrent refreshes of one token make exactly
// one rotation.
func TestRefresh_Concurrent(t *testing.T) {
	const secret = "app-secret-that-is-long-enough-123456"
	run := func(t *testing.T, grace time.Duration) []tokenResult {
		e := newEnv(t, withGrace(grace))
		e.addClient("app", secret, nil)
		e.addUser("alice", "pw", nil)
		first := e.login("app", secret, "alice", "pw")
		if first.Status != 200 {
			t.Fatalf("login: %d", first.Status)
		}
		results := make([]tokenResult, 20)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = e.refresh("app", secret, first.str("refresh_token"))
			}()
		}
		close(start)
		wg.Wait()
		fams, err := storage.ListAllFamilies(context.Background(), e.store, storage.FamilyFilter{})
		if err != nil || len(fams) != 1 {
			t.Fatalf("families: %d %v, want 1", len(fams), err)
		}
		return results
	}
	t.Run("grace 0: exactly one 200", func(t *testing.T) {
		ok := 0
		for _, r := range run(t, 0) {
			switch {
			case r.Status == 200:
				ok++
			case r.Status == 400 && r.str("error") == "invalid_grant":
			default:
				t.Errorf("unexpected answer %d %s", r.Status, r.Raw)
			}
		}
		if ok != 1 {
			t.Fatalf("%d successful refreshes, want exactly 1", ok)
		}
	})
	t.Run("default grace: all get the same successor", func(t *testing.T) {
		var succ string
		for _, r := range run(t, 10*time.Second) {
			if r.Status != 200 {
				t.Fatalf("refresh: %d %s", r.Status, r.Raw)
			}
			if succ == "" {
				succ = r.str("refresh_token")
			}
			if r.str("refresh_token") != succ {
				t.Fatalf("two different successors: %q and %q", succ, r.str("refresh_token"))
			}
		}
	})
}

// TestRefresh_GraceWindow: the retry answer holds only while the successor
// is unused and within the grace.
func TestRefresh_GraceWindow(t *testing.T) {
	const secret = "app-secret-that-is-long-enough-123456"
	e := newEnv(t)
	e.addClient("app", secret, nil)
	e.addUser("alice", "pw", nil)
	rt0 := e.login("app", secret, "alice", "pw").str("refresh_token")
	r1 := e.refresh("app", secret, rt0)
	if r1.Status != 200 {
		t.Fatalf("refresh: %d %s", r1.Status, r1.Raw)
	}
	e.clock.Advance(5 * time.Second)
	r1b := e.refresh("app", secret, rt0)
	if r1b.Status != 200 || r1b.str("refresh_token") != r1.str("refresh_token") {
		t.Fatalf("retry within grace: %d %s, want the same successor", r1b.Status, r1b.Raw)
	}
	if r1b.str("access_token") == r1.str("access_token") {
		t.Error("retry within grace returned the same access token; want a fresh one")
	}
	// The successor is used: the predecessor is now reuse, even within
	// the grace, and the whole family dies.
	r2 := e.refresh("app", secret, r1.str("refresh_token"))
	if r2.Status != 200 {
		t.Fatalf("second rotation: %d %s", r2.Status, r2.Raw)
	}
	if r := e.refresh("app", secret, rt0); r.Status != 400 || r.str("error") != "invalid_grant" {
		t.Fatalf("predecessor after its successor was used: %d %s", r.Status, r.Raw)
	}
	if r := e.refresh("app", secret, r2.str("refresh_token")); r.Status != 400 || r.str("error_description") != "refresh token revoked" {
		t.Fatalf("newest token after reuse: %d %s, want revoked", r.Status, r.Raw)
	}
	if !strings.Contains(e.logBuf.String(), "refresh_reuse") {
		t.Error("reuse was not logged as a security event")
	}
}

// TestRestart: tokens and keys survive a restart on the same file.
func TestRestart(t *testing.T) {
	const secret = "app-secret-that-is-long-enough-123456"
	e := newEnv(t)
	e.addClient("app", secret, nil)
	e.addUser("alice", "pw", nil)
	r := e.login("app", secret, "alice", "pw")
	rs := e.resourceServer(e.url)
	jwksBefore := e.get("/.well-known/jwks.json")

	e.restart()
	if _, err := rs.verify(r.str("access_token"), e.clock.Now()); err != nil {
		t.Fatalf("old token with cached JWKS: %v", err)
	}
	if got := e.get("/.well-known/jwks.json"); got != jwksBefore {
		t.Errorf("JWKS changed across restart:\n%s\n%s", jwksBefore, got)
	}
	r2 := e.refresh("app", secret, r.str("refresh_token"))
	if r2.Status != 200 {
		t.Fatalf("refresh after restart: %d %s", r2.Status, r2.Raw)
	}
	rs2 := e.resourceServer(e.url)
	if _, err := rs2.verify(r2.str("access_token"), e.clock.Now()); err != nil {
		t.Fatalf("new token: %v", err)
	}
}

func (e *testEnv) get(path string) string {
	e.t.Helper()
	resp, err := http.Get(e.url + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
