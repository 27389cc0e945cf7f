package bolt

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// CreateUser stores a new user. ErrExists if the username or the id is
// taken.
func (db *DB) CreateUser(ctx context.Context, u storage.User) error {
	if u.Username == "" || u.ID == "" {
		return fmt.Errorf("bolt: create user %q: username and id required", u.Username)
	}
	v, err := json.Marshal(u)
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
	var u storage.User
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		u, err = getUser(tx, username)
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("bolt: get user %q: %w", username, err)
	}
	return u, nil
}

// GetUserByID returns the user with that id, or ErrNotFound.
func (db *DB) GetUserByID(ctx context.Context, id string) (storage.User, error) {
	var u storage.User
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		u, err = getUserByID(tx, id)
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("bolt: get user by id %q: %w", id, err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by username.
func (db *DB) ListUsers(ctx context.Context) ([]storage.User, error) {
	var users []storage.User
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		users = users[:0]
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u storage.User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("user %q: %w", k, err)
			}
			users = append(users, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: list users: %w", err)
	}
	return users, nil
}

// UpdateUser applies fn to the user atomically and returns the stored
// result. fn's error is returned wrapped; fn must not change Username or ID.
func (db *DB) UpdateUser(ctx context.Context, username string, fn func(storage.User) (storage.User, error)) (storage.User, error) {
	var out storage.User
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getUser(tx, username)
		if err != nil {
			return err
		}
		u, err := fn(old)
		if err != nil {
			return err
		}
		if u.Username != old.Username || u.ID != old.ID {
			return errors.New("username and id cannot change")
		}
		v, err := json.Marshal(u)
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
		return storage.User{}, fmt.Errorf("bolt: update user %q: %w", username, err)
	}
	return out, nil
}

// DeleteUser removes the user and, in the same transaction, marks every
// family of the user not yet revoked revoked, with reason "user deleted"
// (Family.State already counts them dead once the user is gone).
func (db *DB) DeleteUser(ctx context.Context, username string) error {
	at := db.now()
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		u, err := getUser(tx, username)
		if err != nil {
			return err
		}
		if _, err := revokeUserFamilies(tx, u.ID, at, "user deleted"); err != nil {
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
	var u storage.User
	if err := json.Unmarshal(v, &u); err != nil {
		return storage.User{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return u, nil
}

// CreateClient stores a new client, with a new random Instance if it has
// none. ErrExists if the id is taken.
func (db *DB) CreateClient(ctx context.Context, c storage.Client) error {
	if c.ID == "" {
		return errors.New("bolt: create client: id required")
	}
	if c.Instance == "" {
		c.Instance = newInstance()
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("bolt: create client %q: %w", c.ID, err)
	}
	err = db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if b.Get([]byte(c.ID)) != nil {
			return storage.ErrExists
		}
		return b.Put([]byte(c.ID), v)
	})
	if err != nil {
		return fmt.Errorf("bolt: create client %q: %w", c.ID, err)
	}
	return nil
}

// GetClient returns the client with that id, or ErrNotFound.
func (db *DB) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var c storage.Client
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		c, err = getClient(tx, id)
		return err
	})
	if err != nil {
		return storage.Client{}, fmt.Errorf("bolt: get client %q: %w", id, err)
	}
	return c, nil
}

// ListClients returns every client, ordered by id.
func (db *DB) ListClients(ctx context.Context) ([]storage.Client, error) {
	var clients []storage.Client
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		clients = clients[:0]
		return tx.Bucket(bucketClients).ForEach(func(k, v []byte) error {
			var c storage.Client
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("client %q: %w", k, err)
			}
			clients = append(clients, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: list clients: %w", err)
	}
	return clients, nil
}

// UpdateClient applies fn to the client atomically and returns the stored
// result. fn must not change the ID, the Instance or LegacyFamilies.
func (db *DB) UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error)) (storage.Client, error) {
	var out storage.Client
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getClient(tx, id)
		if err != nil {
			return err
		}
		c, err := fn(old)
		if err != nil {
			return err
		}
		if c.ID != old.ID || c.Instance != old.Instance || c.LegacyFamilies != old.LegacyFamilies {
			return errors.New("id and instance cannot change")
		}
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketClients).Put([]byte(id), v); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return storage.Client{}, fmt.Errorf("bolt: update client %q: %w", id, err)
	}
	return out, nil
}

// DeleteClient removes the client, or returns ErrNotFound. It is one write:
// the client's families and access tokens recorded its Instance, which no
// client has any more (Family.State, Client.Issued); the families expire
// and are swept in time.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if b.Get([]byte(id)) == nil {
			return storage.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("bolt: delete client %q: %w", id, err)
	}
	return nil
}

// newInstance returns a client instance: 128 random bits, base64url.
func newInstance() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func getClient(tx *bbolt.Tx, id string) (storage.Client, error) {
	v := tx.Bucket(bucketClients).Get([]byte(id))
	if v == nil {
		return storage.Client{}, storage.ErrNotFound
	}
	var c storage.Client
	if err := json.Unmarshal(v, &c); err != nil {
		return storage.Client{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return c, nil
}
