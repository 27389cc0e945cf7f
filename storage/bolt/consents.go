package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// Consents live in the consents bucket under consentKey(user, client), so
// that a user's consents are one key range: ListConsents with a user and
// DeleteUser read only that range.

// PutConsent stores c, replacing the consent of the same user and client.
// ErrNotFound if no user has c.UserID: checked in the same write, so that
// a consent given while its user is deleted is not left behind for good.
// The user id must not hold a NUL byte (the key's separator).
func (db *DB) PutConsent(ctx context.Context, c storage.Consent) error {
	switch {
	case c.UserID == "" || c.ClientID == "":
		return errors.New("bolt: put consent: user id and client id required")
	case strings.IndexByte(c.UserID, 0) >= 0:
		return fmt.Errorf("bolt: put consent: user id %q holds a NUL byte", c.UserID)
	}
	v := encodeConsent(c)
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketUserIDs).Get([]byte(c.UserID)) == nil {
			return fmt.Errorf("user: %w", storage.ErrNotFound)
		}
		return tx.Bucket(bucketConsents).Put(consentKey(c.UserID, c.ClientID), v)
	})
	if err != nil {
		return fmt.Errorf("bolt: put consent of user %q for client %q: %w", c.UserID, c.ClientID, err)
	}
	return nil
}

// GetConsent returns the user's consent for the client, or ErrNotFound.
func (db *DB) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	return read(ctx, db, func(tx *bbolt.Tx) (storage.Consent, error) {
		v := getConsent(tx, userID, clientID)
		if v == nil {
			return storage.Consent{}, storage.ErrNotFound
		}
		return decodeConsent(v)
	}, "bolt: get consent of user %q for client %q: %w", userID, clientID)
}

// ListConsents returns one page of the consents matching filter, ordered
// by user id then client id, and the next page's cursor (empty after the
// last page). With a UserID it reads only that user's key range. The
// cursor is the last consent's key, base64url-encoded; one that does not
// decode is an error.
func (db *DB) ListConsents(ctx context.Context, filter storage.ConsentFilter, page storage.Page) ([]storage.Consent, string, error) {
	limit := page.Limit
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	var after []byte
	if page.After != "" {
		var err error
		if after, err = base64.RawURLEncoding.DecodeString(page.After); err != nil || len(after) == 0 {
			return nil, "", fmt.Errorf("bolt: list consents: bad cursor %q", page.After)
		}
	}
	var (
		out  []storage.Consent
		next string
	)
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		out, next = out[:0], ""
		var last []byte // the transaction's memory: valid until it ends
		var prefix []byte
		if filter.UserID != "" {
			if strings.IndexByte(filter.UserID, 0) >= 0 {
				return nil // no such user's consent is stored
			}
			prefix = consentPrefix(filter.UserID)
		}
		seek := prefix
		if bytes.Compare(after, prefix) > 0 {
			seek = after
		}
		c := tx.Bucket(bucketConsents).Cursor()
		k, v := c.Seek(seek)
		if after != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(out) == limit {
				next = base64.RawURLEncoding.EncodeToString(last)
				return nil
			}
			cs, err := decodeConsent(v)
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			out, last = append(out, cs), k
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("bolt: list consents: %w", err)
	}
	return out, next, nil
}

// RevokeConsent removes the user's consent for the client and, in the same
// transaction, marks the user's families of that client not yet revoked
// revoked at at with reason "consent revoked", found through the
// user_families index. ErrNotFound (and nothing written) if there was no
// consent.
func (db *DB) RevokeConsent(ctx context.Context, userID, clientID string, at time.Time) error {
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		if getConsent(tx, userID, clientID) == nil {
			return storage.ErrNotFound
		}
		if err := tx.Bucket(bucketConsents).Delete(consentKey(userID, clientID)); err != nil {
			return err
		}
		_, err := revokeUserFamilies(tx, userID, clientID, at, "consent revoked")
		return err
	})
	if err != nil {
		return fmt.Errorf("bolt: revoke consent of user %q for client %q: %w", userID, clientID, err)
	}
	return nil
}

// getConsent returns the stored consent record, nil if none. A user id
// with a NUL byte has none (PutConsent refuses one; its key would name
// another user's consent).
func getConsent(tx *bbolt.Tx, userID, clientID string) []byte {
	if userID == "" || clientID == "" || strings.IndexByte(userID, 0) >= 0 {
		return nil
	}
	return tx.Bucket(bucketConsents).Get(consentKey(userID, clientID))
}

// deleteUserConsents removes every consent of the user: one key range.
func deleteUserConsents(tx *bbolt.Tx, userID string) error {
	if strings.IndexByte(userID, 0) >= 0 {
		return nil
	}
	prefix := consentPrefix(userID)
	c := tx.Bucket(bucketConsents).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
		if err := c.Delete(); err != nil {
			return err
		}
		// After a Delete the cursor's position is undefined for Next
		// (bbolt skips an item): seek again.
		k, _ = c.Seek(prefix)
	}
	return nil
}
