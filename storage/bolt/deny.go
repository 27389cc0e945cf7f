package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// DenyAccessToken puts jti on the deny list until exp. Denying a jti again
// keeps the later exp.
func (db *DB) DenyAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" {
		return errors.New("bolt: deny access token: empty jti")
	}
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		deny, idx := tx.Bucket(bucketDeny), tx.Bucket(bucketExpiry)
		if v := deny.Get([]byte(jti)); v != nil {
			old, err := decodeDeny(v)
			if err != nil {
				return err
			}
			if !exp.After(old) {
				return nil
			}
			if err := idx.Delete(expiryKey(old, kindDeny, jti)); err != nil {
				return err
			}
		}
		if err := deny.Put([]byte(jti), appendTime(nil, exp)); err != nil {
			return err
		}
		return idx.Put(expiryKey(exp, kindDeny, jti), nil)
	})
	if err != nil {
		return fmt.Errorf("bolt: deny access token %q: %w", jti, err)
	}
	return nil
}

// AccessTokenDenied reports whether jti is on the deny list.
func (db *DB) AccessTokenDenied(ctx context.Context, jti string) (bool, error) {
	var denied bool
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		denied = tx.Bucket(bucketDeny).Get([]byte(jti)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("bolt: access token denied %q: %w", jti, err)
	}
	return denied, nil
}

func decodeDeny(v []byte) (time.Time, error) {
	d := decoder{b: v}
	t := d.time()
	if err := d.done(); err != nil {
		return time.Time{}, fmt.Errorf("deny entry: %w", err)
	}
	return t, nil
}
