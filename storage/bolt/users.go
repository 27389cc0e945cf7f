package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// CreateUser stores a new user. ErrExists if the username or the id is
// taken.
func (db *DB) CreateUser(ctx context.Context, u storage.User) error {
	if u.Username == "" || u.ID == "" {
		return fmt.Errorf("bolt: create user %q: username and id required", u.Username)
	}
	v, err := encodeUser(u)
	if err != nil {
		return fmt.Errorf("bolt: create user %q: %w", u.Username, err)
	}
	err = db.update(ctx, func(tx *bbolt.Tx) error {
		users, ids := tx.Bucket(bucketUsers), tx.Bucket(bucketUserIDs)
		if users.Get([]byte(u.Username)) != nil {
			return storage.ErrExists
		}
		if ids.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("id %q: %w", u.ID, storage.ErrExists)
		}
		if err := users.Put([]byte(u.Username), v); err != nil {
			return err
		}
		return ids.Put([]byte(u.ID), []byte(u.Username))
	})
	if err != nil {
		return fmt.Errorf("bolt: create user %q: %w", u.Username, err)
	}
	return nil
}

// GetUser returns the user with that username, or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, username string) (storage.User, error) {
	return read(ctx, db, func(tx *bbolt.Tx) (storage.User, error) {
		return getUser(tx, username)
	}, "bolt: get user %q: %w", username)
}

// GetUserByID returns the user with that id, or ErrNotFound.
func (db *DB) GetUserByID(ctx context.Context, id string) (storage.User, error) {
	return read(ctx, db, func(tx *bbolt.Tx) (storage.User, error) {
		return getUserByID(tx, id)
	}, "bolt: get user by id %q: %w", id)
}

// ListUsers returns every user, ordered by username.
func (db *DB) ListUsers(ctx context.Context) ([]storage.User, error) {
	return read(ctx, db, func(tx *bbolt.Tx) ([]storage.User, error) {
		return decodeAll(tx.Bucket(bucketUsers), decodeUser)
	}, "bolt: list users: %w")
}

// UpdateUser applies fn to the user atomically and returns the stored
// result. fn's error is returned as is; fn must not change Username or ID.
func (db *DB) UpdateUser(ctx context.Context, username string, fn func(storage.User) (storage.User, error)) (storage.User, error) {
	var out storage.User
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getUser(tx, username)
		if err != nil {
			return err
		}
		u, err := fn(old)
		if err != nil {
			return callerError{err}
		}
		if u.Username != old.Username || u.ID != old.ID {
			return errors.New("username and id cannot change")
		}
		v, err := encodeUser(u)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketUsers).Put([]byte(username), v); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return storage.User{}, wrapErr(err, "bolt: update user %q: %w", username)
	}
	return out, nil
}

// DeleteUser removes the user and, in the same transaction, marks every
// family of the user not yet revoked revoked at at, with reason "user
// deleted" (Family.State already counts them dead once the user is gone),
// and removes the user's consents. It reads the user's families through
// the user_families index and the consents as one key range. The user's
// sign-in sessions die with the user (LoginSession.State) and are swept at
// their expiry.
func (db *DB) DeleteUser(ctx context.Context, username string, at time.Time) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		u, err := getUser(tx, username)
		if err != nil {
			return err
		}
		if _, err := revokeUserFamilies(tx, u.ID, "", at, "user deleted"); err != nil {
			return err
		}
		if err := deleteUserConsents(tx, u.ID); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUsers).Delete([]byte(username)); err != nil {
			return err
		}
		return tx.Bucket(bucketUserIDs).Delete([]byte(u.ID))
	})
	if err != nil {
		return fmt.Errorf("bolt: delete user %q: %w", username, err)
	}
	return nil
}

func getUserByID(tx *bbolt.Tx, id string) (storage.User, error) {
	name := tx.Bucket(bucketUserIDs).Get([]byte(id))
	if name == nil {
		return storage.User{}, storage.ErrNotFound
	}
	return getUser(tx, string(name))
}

func getUser(tx *bbolt.Tx, username string) (storage.User, error) {
	v := tx.Bucket(bucketUsers).Get([]byte(username))
	if v == nil {
		return storage.User{}, storage.ErrNotFound
	}
	return decodeUser(v)
}
