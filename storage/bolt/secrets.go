package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// Secret returns the named secret, creating it with gen on first use. gen
// runs outside any transaction and may run in several concurrent callers;
// one result wins and all of them return it.
func (db *DB) Secret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	if name == "" {
		return nil, errors.New("bolt: secret: empty name")
	}
	var out []byte
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketSecrets).Get([]byte(name)); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: secret %q: %w", name, err)
	}
	if out != nil {
		return out, nil
	}
	if gen == nil {
		return nil, fmt.Errorf("bolt: secret %q: %w", name, storage.ErrNotFound)
	}
	fresh, err := gen()
	if err != nil {
		return nil, err // as is, like every caller's function's error
	}
	if len(fresh) == 0 {
		return nil, fmt.Errorf("bolt: secret %q: generator returned no bytes", name)
	}
	err = db.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		if v := b.Get([]byte(name)); v != nil {
			out = bytes.Clone(v)
			return nil
		}
		out = bytes.Clone(fresh)
		return b.Put([]byte(name), fresh)
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: secret %q: %w", name, err)
	}
	return out, nil
}
