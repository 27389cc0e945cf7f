package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/authd/authd/storage"
)

// memCodes stands in for the bbolt backend's authorization codes until
// they land (storage/bolt/authcode_pending.go): CreateCode and RedeemCode
// in memory, serialised by one mutex, the rest of the storage as is. It
// is not atomic with the families it creates; the conformance suite
// proves that of the real backends.
type memCodes struct {
	storage.Storage
	mu    sync.Mutex
	codes map[string]storage.AuthCode
}

func withMemCodes(s storage.Storage) storage.Storage {
	if err := s.RedeemCode(context.Background(), "probe", func(storage.CodeState) (storage.CodeChange, error) {
		return storage.CodeChange{}, nil
	}); errors.Is(err, storage.ErrNotFound) {
		return s // the backend has codes of its own
	}
	return &memCodes{Storage: s, codes: map[string]storage.AuthCode{}}
}

func (m *memCodes) CreateCode(ctx context.Context, c storage.AuthCode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.codes[c.Hash]; ok {
		return fmt.Errorf("memcodes: %w", storage.ErrExists)
	}
	m.codes[c.Hash] = c
	return nil
}

func (m *memCodes) RedeemCode(ctx context.Context, hash string, fn storage.CodeFunc) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.codes[hash]
	if !ok {
		return fmt.Errorf("memcodes: %w", storage.ErrNotFound)
	}
	st := storage.CodeState{Code: c}
	if u, err := m.Storage.GetUserByID(ctx, c.UserID); err == nil {
		st.User = &u
	}
	if cl, err := m.Storage.GetClient(ctx, c.ClientID); err == nil {
		st.Client = &cl
	}
	if c.FamilyID != "" {
		if f, err := m.Storage.GetFamily(ctx, c.FamilyID); err == nil {
			st.Family = &f
		}
	}
	ch, err := fn(st)
	if err != nil {
		return err
	}
	if ch.Create != nil {
		if err := m.Storage.CreateFamily(ctx, *ch.Create, *ch.First); err != nil {
			return err
		}
	}
	if ch.Family != nil {
		if _, err := m.Storage.RevokeFamily(ctx, ch.Family.ID, ch.Family.RevokedAt, ch.Family.RevokeReason); err != nil {
			return err
		}
	}
	if ch.Code != nil {
		m.codes[hash] = *ch.Code
	}
	return nil
}
