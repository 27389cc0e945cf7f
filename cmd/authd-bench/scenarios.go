package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// client is an authd client as the load generator sees it: an HTTP client
// for the server and the credentials of an OAuth client.
type client struct {
	http *http.Client
	base string
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func (c client) get(ctx context.Context, path string, hdr http.Header, want int, buf *[]byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return exchange(c.http, req, want, buf)
}

func (c client) post(ctx context.Context, path, body, auth string, want int, buf *[]byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return exchange(c.http, req, want, buf)
}

func passwordForm(user, pw string) string {
	return url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}.Encode()
}

func refreshForm(rt string) string {
	return "grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt)
}

// login does one password grant for appClient and returns the access and
// refresh tokens.
func (e *env) login(ctx context.Context, c client, user int) (at, rt string, err error) {
	buf := make([]byte, 0, 4096)
	err = c.post(ctx, "/token", passwordForm(e.seed.users[user], passwordOf(user)), e.appAuth, http.StatusOK, &buf)
	if err != nil {
		return "", "", fmt.Errorf("login as %s: %w", e.seed.users[user], err)
	}
	at, rt = jsonString(buf, "access_token"), jsonString(buf, "refresh_token")
	if at == "" || rt == "" {
		return "", "", fmt.Errorf("login as %s: no tokens in %s", e.seed.users[user], truncate(string(buf), 200))
	}
	return at, rt, nil
}

// Workers of the authd scenarios. Each returns the factory runLoad calls
// once per worker.

func (e *env) getWorker(c client, path string, hdr http.Header, want int) func(int) (requestFunc, error) {
	return func(int) (requestFunc, error) {
		buf := make([]byte, 0, 8192)
		return func(ctx context.Context) error { return c.get(ctx, path, hdr, want, &buf) }, nil
	}
}

// passwordWorker logs in with the right password, user i mod the number of
// users. A 503 (no hashing slot free within the server's --hash-wait, as
// specified for overload) is counted in busy, not as an error: the row's
// throughput, of 200s only, shows what it costs.
func (e *env) passwordWorker(c client, busy *atomic.Uint64) func(int) (requestFunc, error) {
	return func(i int) (requestFunc, error) {
		u := i % len(e.seed.users)
		body := passwordForm(e.seed.users[u], passwordOf(u))
		buf := make([]byte, 0, 4096)
		return func(ctx context.Context) error {
			err := c.post(ctx, "/token", body, e.appAuth, http.StatusOK, &buf)
			var se *statusError
			if errors.As(err, &se) && se.code == http.StatusServiceUnavailable {
				busy.Add(1)
				return errRefused
			}
			return err
		}, nil
	}
}

// refreshWorker logs in once, then follows its own rotating chain: each
// answer's refresh token is the next request's. After an error it presents
// the same token again (a retry within the reuse grace gets the same
// successor).
func (e *env) refreshWorker(ctx context.Context, c client) func(int) (requestFunc, error) {
	return func(i int) (requestFunc, error) {
		_, rt, err := e.login(ctx, c, i%len(e.seed.users))
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 0, 4096)
		return func(ctx context.Context) error {
			if err := c.post(ctx, "/token", refreshForm(rt), e.appAuth, http.StatusOK, &buf); err != nil {
				return err
			}
			next := jsonString(buf, "refresh_token")
			if next == "" {
				return errors.New("no refresh_token in the answer")
			}
			rt = next
			return nil
		}, nil
	}
}

func (e *env) clientCredentialsWorker(c client) func(int) (requestFunc, error) {
	return func(int) (requestFunc, error) {
		buf := make([]byte, 0, 4096)
		return func(ctx context.Context) error {
			return c.post(ctx, "/token", "grant_type=client_credentials", e.svcAuth, http.StatusOK, &buf)
		}, nil
	}
}

var activeTrue = []byte(`"active":true`)

// introspectWorker has svcClient introspect one access token of appClient;
// the answer must say active.
func (e *env) introspectWorker(c client, at string) func(int) (requestFunc, error) {
	body := "token=" + url.QueryEscape(at) + "&token_type_hint=access_token"
	return func(int) (requestFunc, error) {
		buf := make([]byte, 0, 4096)
		return func(ctx context.Context) error {
			if err := c.post(ctx, "/introspect", body, e.svcAuth, http.StatusOK, &buf); err != nil {
				return err
			}
			if !bytes.Contains(buf, activeTrue) {
				return fmt.Errorf("token reported inactive: %s", truncate(string(buf), 100))
			}
			return nil
		}, nil
	}
}

// revokeWorker has appClient revoke fresh refresh tokens of its own, each
// one once, from the pool seeded before the server started.
func (e *env) revokeWorker(c client, pool []string, next *atomic.Int64) func(int) (requestFunc, error) {
	return func(int) (requestFunc, error) {
		buf := make([]byte, 0, 1024)
		return func(ctx context.Context) error {
			i := next.Add(1) - 1
			if i >= int64(len(pool)) {
				return errors.New("revocation pool exhausted")
			}
			body := "token=" + url.QueryEscape(pool[i]) + "&token_type_hint=refresh_token"
			return c.post(ctx, "/revoke", body, e.appAuth, http.StatusOK, &buf)
		}, nil
	}
}

// checkRevoked introspects a few revoked refresh tokens as their client:
// each must now be inactive, or the revocations did not take.
func (e *env) checkRevoked(ctx context.Context, c client, tokens []string) error {
	buf := make([]byte, 0, 1024)
	for _, t := range tokens {
		if err := c.post(ctx, "/introspect", "token="+url.QueryEscape(t), e.appAuth, http.StatusOK, &buf); err != nil {
			return err
		}
		if bytes.Contains(buf, activeTrue) {
			return fmt.Errorf("a refresh token revoked with 200 is still active")
		}
	}
	return nil
}
