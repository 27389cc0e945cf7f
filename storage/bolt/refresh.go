package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// CreateFamily stores a new family and its first token atomically.
// ErrExists if either exists already; first must belong to f.
func (db *DB) CreateFamily(ctx context.Context, f storage.Family, first storage.RefreshToken) error {
	switch {
	case f.ID == "" || f.UserID == "" || first.Hash == "":
		return fmt.Errorf("bolt: create family %q: family id, user id and token hash required", f.ID)
	case first.FamilyID != f.ID:
		return fmt.Errorf("bolt: create family %q: first token belongs to family %q", f.ID, first.FamilyID)
	}
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketFamilies).Get([]byte(f.ID)) != nil {
			return storage.ErrExists
		}
		if tx.Bucket(bucketTokens).Get([]byte(first.Hash)) != nil {
			return fmt.Errorf("token: %w", storage.ErrExists)
		}
		if err := putFamily(tx, nil, f); err != nil {
			return err
		}
		return putToken(tx, nil, f, first, f)
	})
	if err != nil {
		return fmt.Errorf("bolt: create family %q: %w", f.ID, err)
	}
	return nil
}

// GetFamily returns the family with that id, or ErrNotFound.
func (db *DB) GetFamily(ctx context.Context, id string) (storage.Family, error) {
	return read(ctx, db, func(tx *bbolt.Tx) (storage.Family, error) {
		return getFamily(tx, id)
	}, "bolt: get family %q: %w", id)
}

// MaxListLimit is the most items one page of a listing holds, and the
// number a page holds when asked for none in particular (Page.Limit <= 0).
const MaxListLimit = 1000

// ListFamilies returns one page of the families matching filter, ordered
// by id, and the next page's cursor (the last id, empty after the last
// page). With a UserID it reads only that user's index.
func (db *DB) ListFamilies(ctx context.Context, filter storage.FamilyFilter, page storage.Page) ([]storage.Family, string, error) {
	limit := page.Limit
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	var (
		out  []storage.Family
		more bool
	)
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		out, more = out[:0], false
		var c *bbolt.Cursor
		var prefix []byte
		if filter.UserID == "" {
			c = tx.Bucket(bucketFamilies).Cursor()
		} else {
			c, prefix = tx.Bucket(bucketUserFamilies).Cursor(), userFamilyPrefix(filter.UserID)
		}
		seek := append(bytes.Clone(prefix), page.After...)
		k, v := c.Seek(seek)
		if page.After != "" && bytes.Equal(k, seek) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(out) == limit {
				more = true
				return nil
			}
			var f storage.Family
			var err error
			if filter.UserID == "" {
				f, err = decodeFamily(v)
			} else {
				f, err = getFamily(tx, string(k[len(prefix):]))
				if errors.Is(err, storage.ErrNotFound) {
					continue // an index entry without family; Sweep never leaves one
				}
			}
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("bolt: list families: %w", err)
	}
	var next string
	if more {
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// GetRefreshToken returns the token with that hash and its family.
// ErrNotFound if either is missing.
func (db *DB) GetRefreshToken(ctx context.Context, hash string) (storage.RefreshToken, storage.Family, error) {
	var (
		t storage.RefreshToken
		f storage.Family
	)
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		t, f, err = getTokenAndFamily(tx, hash)
		return err
	})
	if err != nil {
		return storage.RefreshToken{}, storage.Family{}, fmt.Errorf("bolt: get refresh token: %w", err)
	}
	return t, f, nil
}

// Errors of a RefreshChange that breaks the rules of UpdateRefresh.
var errInvalidChange = errors.New("invalid refresh change")

// UpdateRefresh reads the token with that hash, its family, its successor
// and the family's user and client, calls fn and writes the change it
// returns, all in one write transaction: bbolt has one writer at a time, so
// nothing fn saw can change before the commit. fn's error is returned as
// is; fn may run more than once.
// ErrNotFound if the token or its family is missing; ErrExists if the
// inserted token's hash exists. A change must keep the token's Hash and
// FamilyID and the family's ID, and insert only into the same family.
func (db *DB) UpdateRefresh(ctx context.Context, hash string, fn storage.RefreshFunc) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		tok, fam, err := getTokenAndFamily(tx, hash)
		if err != nil {
			return err
		}
		st := storage.RefreshState{Token: tok, Family: fam}
		if tok.SuccessorHash != "" {
			s, err := getToken(tx, tok.SuccessorHash)
			switch {
			case err == nil:
				st.Successor = &s
			case !errors.Is(err, storage.ErrNotFound):
				return err
			}
		}
		switch u, err := getUserByID(tx, fam.UserID); {
		case err == nil:
			st.User = &u
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("user of family: %w", err)
		}
		switch c, err := getClient(tx, fam.ClientID); {
		case err == nil:
			st.Client = &c
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("client of family: %w", err)
		}
		change, err := fn(st)
		if err != nil {
			return callerError{err}
		}
		return applyRefresh(tx, tok, fam, change)
	})
	if err != nil {
		return wrapErr(err, "bolt: update refresh token: %w")
	}
	return nil
}

func applyRefresh(tx *bbolt.Tx, tok storage.RefreshToken, fam storage.Family, c storage.RefreshChange) error {
	if c.Token != nil && (c.Token.Hash != tok.Hash || c.Token.FamilyID != tok.FamilyID) {
		return fmt.Errorf("%w: token hash or family changed", errInvalidChange)
	}
	if c.Family != nil && c.Family.ID != fam.ID {
		return fmt.Errorf("%w: family id changed", errInvalidChange)
	}
	if c.Insert != nil {
		switch {
		case c.Insert.FamilyID != fam.ID:
			return fmt.Errorf("%w: inserted token belongs to family %q, not %q", errInvalidChange, c.Insert.FamilyID, fam.ID)
		case c.Insert.Hash == "" || c.Insert.Hash == tok.Hash:
			return fmt.Errorf("%w: inserted token needs a new hash", errInvalidChange)
		case tx.Bucket(bucketTokens).Get([]byte(c.Insert.Hash)) != nil:
			return fmt.Errorf("inserted token: %w", storage.ErrExists)
		}
	}
	newFam := fam
	if c.Family != nil {
		if err := putFamily(tx, &fam, *c.Family); err != nil {
			return err
		}
		newFam = *c.Family
	}
	if c.Token != nil {
		if err := putToken(tx, &tok, fam, *c.Token, newFam); err != nil {
			return err
		}
	}
	if c.Insert != nil {
		if err := putToken(tx, nil, fam, *c.Insert, newFam); err != nil {
			return err
		}
	}
	return nil
}

// RevokeFamily marks the family revoked. An already revoked family keeps
// its first RevokedAt and reason. ErrNotFound if absent.
func (db *DB) RevokeFamily(ctx context.Context, id string, at time.Time, reason string) (storage.Family, error) {
	var out storage.Family
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		f, err := getFamily(tx, id)
		if err != nil {
			return err
		}
		if !f.Revoked() {
			old := f
			f.RevokedAt, f.RevokeReason = at, reason
			if err := putFamily(tx, &old, f); err != nil {
				return err
			}
		}
		out = f
		return nil
	})
	if err != nil {
		return storage.Family{}, fmt.Errorf("bolt: revoke family %q: %w", id, err)
	}
	return out, nil
}

// revokeUserFamilies marks every family of the user not yet revoked
// revoked, only those of client clientID unless it is empty, and returns
// how many.
func revokeUserFamilies(tx *bbolt.Tx, userID, clientID string, at time.Time, reason string) (int, error) {
	var revoke []storage.Family
	err := forUserFamilies(tx, userID, func(f storage.Family) error {
		if !f.Revoked() && (clientID == "" || f.ClientID == clientID) {
			revoke = append(revoke, f)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, f := range revoke {
		old := f
		f.RevokedAt, f.RevokeReason = at, reason
		if err := putFamily(tx, &old, f); err != nil {
			return 0, err
		}
	}
	return len(revoke), nil
}

// forUserFamilies calls fn for each family in the user's index. fn must not
// change the index.
func forUserFamilies(tx *bbolt.Tx, userID string, fn func(storage.Family) error) error {
	prefix := userFamilyPrefix(userID)
	c := tx.Bucket(bucketUserFamilies).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		f, err := getFamily(tx, string(k[len(prefix):]))
		if errors.Is(err, storage.ErrNotFound) {
			continue // an index entry without family; Sweep never leaves one
		}
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func getFamily(tx *bbolt.Tx, id string) (storage.Family, error) {
	v := tx.Bucket(bucketFamilies).Get([]byte(id))
	if v == nil {
		return storage.Family{}, storage.ErrNotFound
	}
	return decodeFamily(v)
}

func getToken(tx *bbolt.Tx, hash string) (storage.RefreshToken, error) {
	v := tx.Bucket(bucketTokens).Get([]byte(hash))
	if v == nil {
		return storage.RefreshToken{}, storage.ErrNotFound
	}
	return decodeToken([]byte(hash), v)
}

func getTokenAndFamily(tx *bbolt.Tx, hash string) (storage.RefreshToken, storage.Family, error) {
	t, err := getToken(tx, hash)
	if err != nil {
		return storage.RefreshToken{}, storage.Family{}, err
	}
	f, err := getFamily(tx, t.FamilyID)
	if err != nil {
		return storage.RefreshToken{}, storage.Family{}, fmt.Errorf("family of token: %w", err)
	}
	return t, f, nil
}

// putFamily writes f and keeps the user index and expiry index in step with
// it; old is its previous state, nil for a new family.
func putFamily(tx *bbolt.Tx, old *storage.Family, f storage.Family) error {
	if err := tx.Bucket(bucketFamilies).Put([]byte(f.ID), encodeFamily(f)); err != nil {
		return err
	}
	idx, exp := tx.Bucket(bucketUserFamilies), tx.Bucket(bucketExpiry)
	if old != nil && old.UserID != f.UserID {
		if err := idx.Delete(userFamilyKey(old.UserID, f.ID)); err != nil {
			return err
		}
	}
	if old == nil || old.UserID != f.UserID {
		if err := idx.Put(userFamilyKey(f.UserID, f.ID), nil); err != nil {
			return err
		}
	}
	if old != nil && old.ExpiresAt.Equal(f.ExpiresAt) {
		return nil
	}
	if old != nil && !old.ExpiresAt.IsZero() {
		if err := exp.Delete(expiryKey(old.ExpiresAt, kindFamily, f.ID)); err != nil {
			return err
		}
	}
	if !f.ExpiresAt.IsZero() {
		return exp.Put(expiryKey(f.ExpiresAt, kindFamily, f.ID), nil)
	}
	return nil
}

// putToken writes t and keeps its expiry index entry in step; old is its
// previous state (nil for a new token) and oldFam its family then, f its
// family now. The entry is at the earlier of the token's idle expiry and its
// family's expiry, so no token outlives its family in the file.
func putToken(tx *bbolt.Tx, old *storage.RefreshToken, oldFam storage.Family, t storage.RefreshToken, f storage.Family) error {
	if err := tx.Bucket(bucketTokens).Put([]byte(t.Hash), encodeToken(t)); err != nil {
		return err
	}
	exp := tx.Bucket(bucketExpiry)
	newKey := expiryKey(tokenExpiry(t, f), kindToken, t.Hash)
	if old != nil {
		oldKey := expiryKey(tokenExpiry(*old, oldFam), kindToken, t.Hash)
		if bytes.Equal(oldKey, newKey) {
			return nil
		}
		if err := exp.Delete(oldKey); err != nil {
			return err
		}
	}
	return exp.Put(newKey, nil)
}

// tokenExpiry is when Sweep removes t: its idle expiry, or its family's
// expiry if earlier (or if t has none).
func tokenExpiry(t storage.RefreshToken, f storage.Family) time.Time {
	switch {
	case t.IdleExpiresAt.IsZero():
		return f.ExpiresAt
	case !f.ExpiresAt.IsZero() && f.ExpiresAt.Before(t.IdleExpiresAt):
		return f.ExpiresAt
	}
	return t.IdleExpiresAt
}
