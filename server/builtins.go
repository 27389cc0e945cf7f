package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd/authd/server/internal/httpapi"
	"github.com/authd/authd/storage"
)

// ConsoleClientID is the built-in public client of the web console.
const ConsoleClientID = httpapi.ConsoleClientID

// EnsureBuiltins creates the built-in clients if they are missing, as New
// does; for a Server built with NewAdmin.
func (s *Server) EnsureBuiltins(ctx context.Context) error { return s.ensureBuiltins(ctx) }

// ensureBuiltins creates the built-in public client of the web console if it
// is missing. It is idempotent and safe when several processes start at once.
func (s *Server) ensureBuiltins(ctx context.Context) error {
	_, err := s.store.GetClient(ctx, ConsoleClientID)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("server: get built-in client: %w", err)
	}
	err = s.store.CreateClient(ctx, storage.Client{
		ID:        ConsoleClientID,
		Public:    true,
		Grants:    []string{GrantPassword, GrantRefreshToken},
		Scopes:    []string{AdminScope},
		BuiltIn:   true,
		CreatedAt: s.now().UTC(),
	})
	if err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("server: create built-in client: %w", err)
	}
	return nil
}
