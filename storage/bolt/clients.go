package bolt

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// CreateClient stores a new client, with a new random Instance if it has
// none. ErrExists if the id is taken.
func (db *DB) CreateClient(ctx context.Context, c storage.Client) error {
	if c.ID == "" {
		return errors.New("bolt: create client: id required")
	}
	if c.Instance == "" {
		c.Instance = newInstance()
	}
	v, err := encodeClient(c)
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
	return read(ctx, db, func(tx *bbolt.Tx) (storage.Client, error) {
		return getClient(tx, id)
	}, "bolt: get client %q: %w", id)
}

// ListClients returns every client, ordered by id.
func (db *DB) ListClients(ctx context.Context) ([]storage.Client, error) {
	return read(ctx, db, func(tx *bbolt.Tx) ([]storage.Client, error) {
		return decodeAll(tx.Bucket(bucketClients), decodeClient)
	}, "bolt: list clients: %w")
}

// UpdateClient applies fn to the client atomically and returns the stored
// result. fn's error is returned as is; fn must not change the ID, the
// Instance or LegacyFamilies.
func (db *DB) UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error)) (storage.Client, error) {
	var out storage.Client
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getClient(tx, id)
		if err != nil {
			return err
		}
		c, err := fn(old)
		if err != nil {
			return callerError{err}
		}
		if c.ID != old.ID || c.Instance != old.Instance || c.LegacyFamilies != old.LegacyFamilies {
			return errors.New("id and instance cannot change")
		}
		v, err := encodeClient(c)
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
		return storage.Client{}, wrapErr(err, "bolt: update client %q: %w", id)
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
	return decodeClient(v)
}
