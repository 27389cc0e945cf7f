package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/admin"
	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/storage"
)

// The admin API (SPEC §2.5) is package admin. The server builds it twice:
// mounted under /admin/api/ of the public router behind bearer
// authentication, and as AdminHandler, without it, for the control socket.
// This file is what the admin API needs of the server: the acceptance of
// its bearer tokens and the client cache.

// adminAPI builds the admin API. With requireToken every request needs a
// bearer access token that adminServer.Accept accepts; without it (the
// control socket) the caller is the local operator, and the admin API logs
// its requests itself.
func (s *Server) adminAPI(requireToken bool) http.Handler {
	cfg := admin.Config{
		Store:          s.store,
		Keys:           s.keys,
		Hasher:         s.hasher,
		Clients:        adminServer{s},
		Users:          adminServer{s},
		Log:            s.log,
		Now:            s.now,
		RefreshIdleTTL: s.cfg.RefreshIdleTTL,
		Middleware:     []gin.HandlerFunc{s.recoverer()},
	}
	if requireToken {
		cfg.Tokens = adminServer{s}
	} else {
		cfg.Middleware = []gin.HandlerFunc{s.requestLog(), s.recoverer()}
	}
	return admin.New(cfg)
}

// mountAdmin mounts the admin API at /admin/api/ on the public router, whose
// request log has already given the request its id: the id crosses into the
// admin API's own router in the request's context.
func (s *Server) mountAdmin(r *gin.Engine) {
	h := s.adminAPI(true)
	r.Any("/admin/api/*path", func(c *gin.Context) {
		ctx := httpapi.WithRequestID(c.Request.Context(), httpapi.RequestID(c))
		h.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
	})
}

// adminServer is the server as the admin API sees it (admin.Tokens,
// admin.ClientCache, admin.UserCache).
type adminServer struct{ s *Server }

func (a adminServer) ForgetClient(id string) { a.s.forgetClient(id) }

func (a adminServer) ForgetUser(id string) { a.s.forgetUser(id) }

// Accept authenticates the bearer access token of an admin API
// request in the order of SPEC §2.5: an expired, revoked or badly signed
// token is 401; a valid token without authd:admin, whoever its subject, is
// 403 insufficient_scope; a token with authd:admin is accepted only if
// adminTokenHolder accepts it and it is still current (tokenCurrent: issued
// after its user's last password change or session revocation, by a client
// not deleted since); 401 invalid_token otherwise.
func (a adminServer) Accept(ctx context.Context, tok string) (string, *Error) {
	s := a.s
	// verifyAccessToken also refuses tokens on the deny list.
	claims, err := s.verifyAccessToken(ctx, tok)
	if errors.Is(err, errTokenInvalid) {
		return "", httpapi.InvalidToken("the access token is invalid, expired or revoked")
	} else if err != nil {
		return "", serverError(err)
	}
	if !claims.HasScope(AdminScope) {
		return "", oauthErr(http.StatusForbidden, "insufficient_scope", "the access token lacks the scope "+AdminScope)
	}
	u, e := s.adminTokenHolder(ctx, claims)
	if e != nil {
		return "", e
	}
	// Issued before the user's password change or session revocation,
	// or by a client deleted since: refused (SPEC §2.5).
	if current, err := s.tokenCurrent(ctx, claims); err != nil {
		return "", serverError(err)
	} else if !current {
		return "", httpapi.InvalidToken("the access token is no longer valid: its user's sessions ended or its client was deleted since")
	}
	return u.Username, nil
}

// adminTokenHolder decides whether a valid token with authd:admin may use
// the admin API (SPEC 2.5) and returns its user. Only tokens issued to the
// built-in console for the issuer are accepted, so that a token replayed
// by a resource server or obtained through another client gets nowhere;
// and only while their user exists, is enabled and still an admin.
func (s *Server) adminTokenHolder(ctx context.Context, claims *AccessClaims) (storage.User, *Error) {
	if claims.ClientID != ConsoleClientID {
		return storage.User{}, httpapi.InvalidToken("the access token was not issued to " + ConsoleClientID)
	}
	if len(claims.Audience) != 1 || claims.Audience[0] != s.cfg.Issuer {
		return storage.User{}, httpapi.InvalidToken("the access token is not meant for this server")
	}
	u, err := s.store.GetUserByID(ctx, claims.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.User{}, httpapi.InvalidToken("the access token does not belong to an existing user")
	case err != nil:
		return storage.User{}, serverError(err)
	case u.Disabled:
		return storage.User{}, httpapi.InvalidToken("the user of the access token is disabled")
	case !u.Admin:
		return storage.User{}, httpapi.InvalidToken("the user of the access token is no longer an admin")
	}
	return u, nil
}
