package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// The key set is one record (encodeKeys): it is small, and read and
// written whole.
var keyKeySet = []byte("set")

// ListKeys returns the signing key set.
func (db *DB) ListKeys(ctx context.Context) ([]storage.Key, error) {
	return read(ctx, db, getKeys, "bolt: list keys: %w")
}

// UpdateKeys replaces the key set with fn's result atomically and returns
// it. fn's error is returned as is. Key ids must be unique and not empty.
func (db *DB) UpdateKeys(ctx context.Context, fn func([]storage.Key) ([]storage.Key, error)) ([]storage.Key, error) {
	var out []storage.Key
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getKeys(tx)
		if err != nil {
			return err
		}
		keys, err := fn(old)
		if err != nil {
			return callerError{err}
		}
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			if k.ID == "" || seen[k.ID] {
				return fmt.Errorf("key id %q empty or repeated", k.ID)
			}
			seen[k.ID] = true
		}
		v, err := encodeKeys(keys)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketKeys).Put(keyKeySet, v); err != nil {
			return err
		}
		// Hand out a copy that fn's caller cannot share with fn's input.
		out, err = decodeKeys(v)
		return err
	})
	if err != nil {
		return nil, wrapErr(err, "bolt: update keys: %w")
	}
	return out, nil
}

func getKeys(tx *bbolt.Tx) ([]storage.Key, error) {
	v := tx.Bucket(bucketKeys).Get(keyKeySet)
	if v == nil {
		return nil, nil
	}
	return decodeKeys(v)
}
