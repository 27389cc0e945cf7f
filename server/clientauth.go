package server

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/authd/authd/server/password"
	"github.com/authd/authd/server/throttle"
	"github.com/authd/authd/storage"
)

// basicCredentials decodes an Authorization: Basic header per RFC 6749
// §2.3.1: base64 of form-urlencoded id, ':', form-urlencoded secret. ok is
// false when the header is not Basic at all; err is set when it is Basic but
// malformed.
func basicCredentials(h string) (id, secret string, ok bool, err error) {
	if h == "" {
		return "", "", false, nil
	}
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if derr != nil {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil || id == "" || !cleanText(id) || !cleanText(secret) {
		return "", "", true, errors.New("malformed Basic credentials")
	}
	return id, secret, true, nil
}

// authenticateClient authenticates the client of a token, revocation or
// introspection request with client_secret_basic, client_secret_post or
// none (public clients). Two methods in one request, or two Authorization
// headers, is invalid_request; every authentication failure is 401
// invalid_client, with a Basic challenge when Basic was tried (RFC 6749
// §5.2).
//
// Failures are throttled like failed logins (SPEC §2.1, RFC 6749 §2.3.1):
// per (client id, address) and per address, a growing delay and then 429
// with Retry-After, decided before the client is looked up, so that
// unknown ids are throttled alike. A secret is verified by s.secrets, whose
// work depends only on the presented secret (short ones in the bounded
// password hashing, behind everyone else for an address with failures on
// record), so that an unknown id costs what a wrong secret does. A
// success writes nothing to the throttle unless there were failures to
// forget.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, f form) (storage.Client, *Error) {
	if len(r.Header.Values("Authorization")) > 1 {
		// Which one would count is for no one to guess (SPEC 2.1).
		return storage.Client{}, invalidRequest("more than one Authorization header")
	}
	bid, bsecret, basic, berr := basicCredentials(r.Header.Get("Authorization"))
	if berr != nil {
		return storage.Client{}, invalidClient("client authentication failed", true)
	}
	postID, postSecret := f.get("client_id"), f.get("client_secret")

	var id, secret string
	switch {
	case basic && postSecret != "":
		return storage.Client{}, invalidRequest("more than one client authentication method was used")
	case basic:
		if postID != "" && postID != bid {
			return storage.Client{}, invalidRequest("client_id does not match the authenticated client")
		}
		id, secret = bid, bsecret
	case postID != "":
		id, secret = postID, postSecret
	default:
		return storage.Client{}, invalidClient("client authentication required", false)
	}

	addr := s.clientIP(r)
	d := s.clientThrottle.Check(id, addr)
	if d.Block {
		s.metrics.clientAuthThrottled.Inc()
		// Debug: a blocked attacker sends thousands of these; the request
		// line (429) and the metric tell the story.
		s.log.Debug("client authentication throttled", "event", "client_auth_throttled", "client_id", logClientID(id), "client_ip", addr.String())
		return storage.Client{}, &Error{Code: "slow_down", Description: "too many failed client authentications; retry later", Status: http.StatusTooManyRequests, RetryAfter: d.RetryAfter}
	}
	if d.Delay > 0 {
		s.metrics.clientAuthThrottled.Inc()
		if err := s.sleep(ctx, d.Delay); err != nil {
			return storage.Client{}, serverError(err)
		}
	}
	if d.Suspect {
		// Hash after everyone without failures on record.
		ctx = password.Deprioritize(ctx)
	}

	cl, err := s.client(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.Client{}, serverError(err)
	}
	known := err == nil
	if known && cl.Public && secret == "" {
		// A public client has no secret. Basic with an empty password, as
		// some libraries send for public clients, counts as "none".
		return s.clientAuthenticated(cl, d, addr)
	}
	// An unknown client, or a public one presented with a secret (a
	// misconfigured or confused client, not authentication), is checked
	// against no hash: the work of a wrong secret, and no match.
	hash := ""
	if known && !cl.Public {
		hash = cl.SecretHash
	}
	ok, err := s.secrets.Verify(ctx, hash, secret)
	if err != nil {
		if errors.Is(err, password.ErrBusy) {
			return storage.Client{}, &Error{Code: "temporarily_unavailable", Description: "the server is busy; retry later", Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Cause: err}
		}
		return storage.Client{}, serverError(err)
	}
	if !ok || hash == "" {
		s.clientThrottle.Failure(id, addr)
		s.metrics.clientAuthRejected.Inc()
		s.log.Info("client authentication failed", "event", "client_auth_failed", "client_id", logClientID(id), "client_ip", addr.String())
		return storage.Client{}, invalidClient("client authentication failed", basic)
	}
	return s.clientAuthenticated(cl, d, addr)
}

// clientAuthenticated forgets the failures of cl from addr, if Check found
// any, and returns cl.
func (s *Server) clientAuthenticated(cl storage.Client, d throttle.Decision, addr netip.Addr) (storage.Client, *Error) {
	if d.Suspect {
		s.clientThrottle.Success(cl.ID, addr)
	}
	return cl, nil
}

// logClientID is a presented client id as failure logs show it: cut to the
// longest valid id, so that a 64 KiB id does not make a 64 KiB log line.
func logClientID(id string) string {
	const max = 128 // the bound of a client id (admin's validClientID)
	if len(id) > max {
		return id[:max] + "…"
	}
	return id
}

// clientForm reads the form of an introspection or revocation request and
// authenticates its client (RFC 7662 §2.1, RFC 7009 §2.1).
func (s *Server) clientForm(r *http.Request) (form, storage.Client, *Error) {
	f, e := readForm(r)
	if e != nil {
		return form{}, storage.Client{}, e
	}
	cl, e := s.authenticateClient(r.Context(), r, f)
	if e != nil {
		return form{}, storage.Client{}, e
	}
	return f, cl, nil
}
