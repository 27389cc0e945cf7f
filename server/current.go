package server

import (
	"context"
	"errors"

	"github.com/authd/authd/storage"
)

// tokenCurrent reports whether a verified access token's client and user
// are still the ones it was issued to (SPEC §2.4, §2.5): the client exists
// and is the same instance (not deleted, nor deleted and created again),
// and for a user's token, the user exists, is enabled, and has had no
// password change, disable or session revocation since the token was
// issued (storage.User.SessionGen). A token that is not current is
// inactive at introspection and refused by the admin API.
//
// It costs one read of the client cache and, for a user's token, one read
// of the user cache (usercache.go).
func (s *Server) tokenCurrent(ctx context.Context, ac *AccessClaims) (bool, error) {
	c, err := s.client(ctx, ac.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !c.Issued(ac.ClientInstance, ac.IssuedAt) {
		return false, nil
	}
	// A client's own token (client_credentials) has sub = client_id and no
	// generation. A user's token issued before authd_gen existed counts as
	// generation 0: if the user's sessions ended since, it is not current.
	if ac.SessionGen == nil && ac.Subject == ac.ClientID {
		return true, nil
	}
	u, err := s.userState(ctx, ac.Subject)
	if err != nil {
		return false, err
	}
	var gen uint64
	if ac.SessionGen != nil {
		gen = *ac.SessionGen
	}
	return u.exists && !u.disabled && u.gen == gen, nil
}
