package server

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/authd/authd/server/password"
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

	cl, err := s.client(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Client{}, invalidClient("client authentication failed", basic)
	}
	if err != nil {
		return storage.Client{}, serverError(err)
	}
	if cl.Public {
		// A public client has no secret; presenting one is a
		// misconfigured or confused client, not authentication.
		// Basic with an empty password, as some libraries send for
		// public clients, counts as "none".
		if secret != "" {
			return storage.Client{}, invalidClient("client authentication failed", basic)
		}
		return cl, nil
	}
	if secret == "" || !password.VerifySecret(cl.SecretHash, secret) {
		return storage.Client{}, invalidClient("client authentication failed", basic)
	}
	return cl, nil
}
