package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/storage"
)

// handleRevoke implements RFC 7009. Revoking a refresh token revokes its
// family; revoking an access token denies its jti until it expires. Unknown
// tokens and tokens of other clients: 200 and nothing changes (§2.2).
func (s *Server) handleRevoke(c *gin.Context) {
	ctx := c.Request.Context()
	f, cl, e := s.clientForm(c.Request)
	if e != nil {
		s.writeError(c, e)
		return
	}
	token := f.get("token")
	if token == "" {
		s.writeError(c, invalidRequest("missing token"))
		return
	}
	var err error
	if strings.HasPrefix(token, refreshPrefix) {
		err = s.revokeRefresh(ctx, token, cl)
	} else {
		err = s.revokeAccess(ctx, token, cl)
	}
	if err != nil {
		s.writeError(c, serverError(err))
		return
	}
	httpapi.NoStore(c)
	c.Status(http.StatusOK)
}

func (s *Server) revokeRefresh(ctx context.Context, token string, cl storage.Client) error {
	hash, ok := refreshTokenHash(token)
	if !ok {
		return nil
	}
	_, fam, err := s.store.GetRefreshToken(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if fam.ClientID != cl.ID || fam.Revoked() {
		return nil
	}
	if _, err := s.store.RevokeFamily(ctx, fam.ID, s.now(), "revoked by client"); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	s.metrics.revocations.WithLabelValues("refresh_token").Inc()
	s.log.Info("refresh token revoked", "event", "revocation", "token_type", "refresh_token", "family_id", fam.ID, "client_id", cl.ID)
	return nil
}

func (s *Server) revokeAccess(ctx context.Context, token string, cl storage.Client) error {
	ac, err := s.verifyAccessToken(ctx, token)
	if errors.Is(err, errTokenInvalid) {
		return nil
	}
	if err != nil {
		return err
	}
	if ac.ClientID != cl.ID {
		return nil
	}
	if err := s.store.DenyAccessToken(ctx, ac.JTI, ac.Exp); err != nil {
		return err
	}
	s.metrics.revocations.WithLabelValues("access_token").Inc()
	s.log.Info("access token revoked", "event", "revocation", "token_type", "access_token", "jti", ac.JTI, "client_id", cl.ID)
	return nil
}
