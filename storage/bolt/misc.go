package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
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

// The key set is one JSON value: it is small, and read and written whole.
var keyKeySet = []byte("set")

// ListKeys returns the signing key set.
func (db *DB) ListKeys(ctx context.Context) ([]storage.Key, error) {
	var keys []storage.Key
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		keys, err = getKeys(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: list keys: %w", err)
	}
	return keys, nil
}

// UpdateKeys replaces the key set with fn's result atomically and returns
// it. Key ids must be unique and not empty.
func (db *DB) UpdateKeys(ctx context.Context, fn func([]storage.Key) ([]storage.Key, error)) ([]storage.Key, error) {
	var out []storage.Key
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getKeys(tx)
		if err != nil {
			return err
		}
		keys, err := fn(old)
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			if k.ID == "" || seen[k.ID] {
				return fmt.Errorf("key id %q empty or repeated", k.ID)
			}
			seen[k.ID] = true
		}
		v, err := json.Marshal(keys)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketKeys).Put(keyKeySet, v); err != nil {
			return err
		}
		// Hand out a copy that fn's caller cannot share with fn's input.
		return json.Unmarshal(v, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: update keys: %w", err)
	}
	return out, nil
}

func getKeys(tx *bbolt.Tx) ([]storage.Key, error) {
	v := tx.Bucket(bucketKeys).Get(keyKeySet)
	if v == nil {
		return nil, nil
	}
	var keys []storage.Key
	if err := json.Unmarshal(v, &keys); err != nil {
		return nil, fmt.Errorf("%w: keys: %w", errCorrupt, err)
	}
	return keys, nil
}

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
		return nil, fmt.Errorf("bolt: secret %q: generate: %w", name, err)
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

// DefaultSweepLimit is the limit Sweep uses when given limit <= 0.
const DefaultSweepLimit = 1000

// Sweep removes what expired by now, reading the expiry index from its
// start, in one transaction of at most limit index entries. Each token,
// family and deny entry has one index entry; a family's tokens have their
// own, never later than the family's.
func (db *DB) Sweep(ctx context.Context, now time.Time, limit int) (storage.SweepStats, error) {
	if limit <= 0 {
		limit = DefaultSweepLimit
	}
	end := nanos(now)
	var st storage.SweepStats
	var began time.Time
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		began = time.Now()
		st = storage.SweepStats{}
		var due [][]byte
		c := tx.Bucket(bucketExpiry).Cursor()
		k, _ := c.First()
		for ; k != nil && len(due) < limit; k, _ = c.Next() {
			at, _, _, ok := parseExpiryKey(k)
			if ok && at > end {
				break
			}
			due = append(due, bytes.Clone(k))
		}
		if len(due) == limit && k != nil {
			at, _, _, ok := parseExpiryKey(k)
			st.More = !ok || at <= end
		}
		for _, k := range due {
			if err := sweepOne(tx, k, end, &st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storage.SweepStats{}, fmt.Errorf("bolt: sweep: %w", err)
	}
	st.Held = time.Since(began)
	return st, nil
}

// sweepOne removes the item of one due index entry and the entry.
func sweepOne(tx *bbolt.Tx, k []byte, end uint64, st *storage.SweepStats) error {
	idx := tx.Bucket(bucketExpiry)
	if err := idx.Delete(k); err != nil {
		return err
	}
	_, kind, id, ok := parseExpiryKey(k)
	if !ok {
		return nil // not a key this package writes; drop it
	}
	switch kind {
	case kindToken:
		tokens := tx.Bucket(bucketTokens)
		v := tokens.Get([]byte(id))
		if v == nil {
			return nil
		}
		t, err := decodeToken([]byte(id), v)
		if err != nil {
			return err
		}
		// The entry may be early if the family's expiry moved later after
		// the token was written: index the token again where it belongs.
		if f, err := getFamily(tx, t.FamilyID); err == nil {
			if at := tokenExpiry(t, f); nanos(at) > end {
				return idx.Put(expiryKey(at, kindToken, id), nil)
			}
		}
		st.Tokens++
		return tokens.Delete([]byte(id))
	case kindFamily:
		f, err := getFamily(tx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketUserFamilies).Delete(userFamilyKey(f.UserID, f.ID)); err != nil {
			return err
		}
		st.Families++
		return tx.Bucket(bucketFamilies).Delete([]byte(id))
	case kindDeny:
		deny := tx.Bucket(bucketDeny)
		if deny.Get([]byte(id)) == nil {
			return nil
		}
		st.Denied++
		return deny.Delete([]byte(id))
	}
	return nil
}
