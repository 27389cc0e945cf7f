package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/storage"
)

// ConsoleClientID is the built-in public client of the web console.
const ConsoleClientID = httpapi.ConsoleClientID

// consoleClient is the registration of the built-in console client that a
// server with the given issuer needs (SPEC 2.5): public, first party,
// grants authorization_code (the console signs in with the code flow and
// PKCE), refresh_token and password, scope authd:admin, and one redirect
// URI, the console's own page ISSUER/admin/.
func consoleClient(issuer string) storage.Client {
	return storage.Client{
		ID:           ConsoleClientID,
		Public:       true,
		FirstParty:   true,
		Grants:       []string{httpapi.GrantAuthorizationCode, GrantRefreshToken, GrantPassword},
		Scopes:       []string{AdminScope},
		RedirectURIs: []string{ConsoleRedirectURI(issuer)},
		BuiltIn:      true,
	}
}

// ConsoleRedirectURI is the redirect URI of the built-in console client
// for issuer: the console's page, ISSUER/admin/.
func ConsoleRedirectURI(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/admin/"
}

// sameRegistration reports whether a and b agree on everything
// consoleClient sets.
func sameRegistration(a, b storage.Client) bool {
	return a.Public == b.Public && a.FirstParty == b.FirstParty && a.BuiltIn == b.BuiltIn &&
		a.SecretHash == b.SecretHash && len(a.Audiences) == 0 && len(b.Audiences) == 0 &&
		slices.Equal(a.Grants, b.Grants) && slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.RedirectURIs, b.RedirectURIs)
}

// EnsureBuiltins creates the built-in clients if they are missing, for the
// Server's issuer; for a Server built with NewAdmin (the management
// commands without a running server), whose issuer is only its best guess
// of the one the server will run with. It never changes an existing
// built-in client: a management command changes only what it asks to
// change, and the next server start gives the console the registration
// its issuer needs (ensureBuiltins).
func (s *Server) EnsureBuiltins(ctx context.Context) error {
	return s.createBuiltins(ctx, s.cfg.Issuer)
}

// ensureBuiltins creates the built-in console client if it is missing and
// gives an existing one the registration this server needs (consoleClient
// of its issuer): databases from before the authorization code flow hold
// a console without its grant and redirect URI, and a server started with
// another issuer moves the redirect URI. The client keeps its instance,
// so the console's sessions live on. It is idempotent (a console already
// right is not written) and safe when several processes start at once
// (UpdateClient is a compare-and-swap).
func (s *Server) ensureBuiltins(ctx context.Context) error {
	want := consoleClient(s.cfg.Issuer)
	// Twice at most: a console created by another process between the
	// read and the create is then read and migrated.
	for range 2 {
		cur, err := s.store.GetClient(ctx, ConsoleClientID)
		if errors.Is(err, storage.ErrNotFound) {
			created, err := s.createConsole(ctx, want)
			if err != nil || created {
				return err
			}
			continue
		} else if err != nil {
			return fmt.Errorf("server: get built-in client: %w", err)
		}
		if sameRegistration(cur, want) {
			return nil
		}
		_, err = s.store.UpdateClient(ctx, ConsoleClientID, func(c storage.Client) (storage.Client, error) {
			c.Public, c.FirstParty, c.BuiltIn = want.Public, want.FirstParty, want.BuiltIn
			c.SecretHash, c.Audiences = "", nil
			c.Grants, c.Scopes, c.RedirectURIs = want.Grants, want.Scopes, want.RedirectURIs
			return c, nil
		})
		if err != nil {
			return fmt.Errorf("server: migrate built-in client: %w", err)
		}
		s.forgetClient(ConsoleClientID)
		s.log.LogAttrs(ctx, slog.LevelInfo, "migrated the built-in client",
			slog.String("client_id", ConsoleClientID),
			slog.Any("grants", want.Grants), slog.Any("redirect_uris", want.RedirectURIs))
		return nil
	}
	return fmt.Errorf("server: built-in client %s: created and gone again while starting", ConsoleClientID)
}

// createBuiltins creates the console client for issuer if it is missing;
// one that exists is left as it is.
func (s *Server) createBuiltins(ctx context.Context, issuer string) error {
	_, err := s.store.GetClient(ctx, ConsoleClientID)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("server: get built-in client: %w", err)
	}
	_, err = s.createConsole(ctx, consoleClient(issuer))
	return err
}

// createConsole stores c, the console client; created is false when it
// exists already (another process created it meanwhile).
func (s *Server) createConsole(ctx context.Context, c storage.Client) (created bool, err error) {
	c.CreatedAt = s.now().UTC()
	err = s.store.CreateClient(ctx, c)
	switch {
	case errors.Is(err, storage.ErrExists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("server: create built-in client: %w", err)
	}
	return true, nil
}
