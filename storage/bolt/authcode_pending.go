package bolt

// The storage of the authorization code flow (issue 14) is being built on
// branch storage-authcode; until it lands these methods refuse.

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/storage"
)

var errPending = errors.New("bolt: authorization code storage not built yet")

func (db *DB) CreateLoginSession(ctx context.Context, s storage.LoginSession) error {
	return errPending
}
func (db *DB) GetLoginSession(ctx context.Context, hash string) (storage.LoginSession, error) {
	return storage.LoginSession{}, errPending
}
func (db *DB) TouchLoginSession(ctx context.Context, hash string, seen, idleExpires time.Time) (storage.LoginSession, error) {
	return storage.LoginSession{}, errPending
}
func (db *DB) DeleteLoginSession(ctx context.Context, hash string) error { return errPending }
func (db *DB) CreateCode(ctx context.Context, c storage.AuthCode) error  { return errPending }
func (db *DB) RedeemCode(ctx context.Context, hash string, fn storage.CodeFunc) error {
	return errPending
}
func (db *DB) PutConsent(ctx context.Context, c storage.Consent) error { return errPending }
func (db *DB) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	return storage.Consent{}, errPending
}
func (db *DB) ListConsents(ctx context.Context, filter storage.ConsentFilter, page storage.Page) ([]storage.Consent, string, error) {
	return nil, "", errPending
}
func (db *DB) RevokeConsent(ctx context.Context, userID, clientID string, at time.Time) error {
	return errPending
}
