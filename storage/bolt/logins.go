package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// Sign-in sessions live in the login_sessions bucket by hash, each with one
// expiry index entry at the earlier of its idle and absolute expiry, moved
// by every touch that moves the idle expiry. Error messages never name a
// session's hash.

// CreateLoginSession stores a new sign-in session. ErrExists if its hash is
// taken.
func (db *DB) CreateLoginSession(ctx context.Context, s storage.LoginSession) error {
	if s.Hash == "" || s.ID == "" || s.UserID == "" {
		return errors.New("bolt: create sign-in session: hash, id and user id required")
	}
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketLogins).Get([]byte(s.Hash)) != nil {
			return storage.ErrExists
		}
		return putLoginSession(tx, nil, s)
	})
	if err != nil {
		return fmt.Errorf("bolt: create sign-in session %q: %w", s.ID, err)
	}
	return nil
}

// GetLoginSession returns the sign-in session with that hash, or
// ErrNotFound.
func (db *DB) GetLoginSession(ctx context.Context, hash string) (storage.LoginSession, error) {
	return read(ctx, db, func(tx *bbolt.Tx) (storage.LoginSession, error) {
		return getLoginSession(tx, hash)
	}, "bolt: get sign-in session: %w")
}

// TouchLoginSession records a use of the session: LastSeenAt becomes seen
// and IdleExpiresAt idleExpires, capped at ExpiresAt, neither moving back
// (a use older than the last recorded one, from a request that committed
// late, changes nothing). It returns the session as stored. ErrNotFound if
// absent.
func (db *DB) TouchLoginSession(ctx context.Context, hash string, seen, idleExpires time.Time) (storage.LoginSession, error) {
	var out storage.LoginSession
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getLoginSession(tx, hash)
		if err != nil {
			return err
		}
		s := touched(old, seen, idleExpires)
		out = s
		if s == old {
			return nil
		}
		return putLoginSession(tx, &old, s)
	})
	if err != nil {
		return storage.LoginSession{}, fmt.Errorf("bolt: touch sign-in session: %w", err)
	}
	return out, nil
}

// touched is s after a use at seen that would move its idle expiry to
// idleExpires.
func touched(s storage.LoginSession, seen, idleExpires time.Time) storage.LoginSession {
	if idleExpires.After(s.ExpiresAt) {
		idleExpires = s.ExpiresAt
	}
	if seen.After(s.LastSeenAt) {
		s.LastSeenAt = seen
	}
	if idleExpires.After(s.IdleExpiresAt) {
		s.IdleExpiresAt = idleExpires
	}
	return s
}

// DeleteLoginSession removes the sign-in session; nil if it is already
// gone.
func (db *DB) DeleteLoginSession(ctx context.Context, hash string) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		s, err := getLoginSession(tx, hash)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		if err := tx.Bucket(bucketExpiry).Delete(expiryKey(loginSessionExpiry(s), kindLoginSession, s.Hash)); err != nil {
			return err
		}
		return tx.Bucket(bucketLogins).Delete([]byte(hash))
	})
	if err != nil {
		return fmt.Errorf("bolt: delete sign-in session: %w", err)
	}
	return nil
}

func getLoginSession(tx *bbolt.Tx, hash string) (storage.LoginSession, error) {
	v := tx.Bucket(bucketLogins).Get([]byte(hash))
	if v == nil {
		return storage.LoginSession{}, storage.ErrNotFound
	}
	return decodeLoginSession([]byte(hash), v)
}

// putLoginSession writes s and keeps its expiry index entry in step; old
// is its previous state, nil for a new session.
func putLoginSession(tx *bbolt.Tx, old *storage.LoginSession, s storage.LoginSession) error {
	if err := tx.Bucket(bucketLogins).Put([]byte(s.Hash), encodeLoginSession(s)); err != nil {
		return err
	}
	exp := tx.Bucket(bucketExpiry)
	at := loginSessionExpiry(s)
	if old != nil {
		oldAt := loginSessionExpiry(*old)
		if oldAt.Equal(at) {
			return nil
		}
		if err := exp.Delete(expiryKey(oldAt, kindLoginSession, s.Hash)); err != nil {
			return err
		}
	}
	return exp.Put(expiryKey(at, kindLoginSession, s.Hash), nil)
}

// loginSessionExpiry is when Sweep removes s: the earlier of its idle and
// absolute expiry, the instant LoginSession.State first says
// FamilyExpired. A zero one (never valid) is the earliest.
func loginSessionExpiry(s storage.LoginSession) time.Time {
	if s.IdleExpiresAt.Before(s.ExpiresAt) {
		return s.IdleExpiresAt
	}
	return s.ExpiresAt
}
