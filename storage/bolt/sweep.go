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

// DefaultSweepLimit is the limit Sweep uses when given limit <= 0.
const DefaultSweepLimit = 1000

// Sweep removes what expired by now, reading the expiry index from its
// start, in one transaction of at most limit index entries. Each token,
// family, deny entry, code (at its ForgetAt) and sign-in session (at the
// earlier of its idle and absolute expiry) has one index entry; a
// family's tokens have their own, never later than the family's.
//
// The rule for removing a family is not Family.State, and need not be: it
// is how long the record is kept, not whether the family lives. A family
// dead for another reason (revoked, its user or client gone) stays until
// its ExpiresAt, so that its tokens are still recognised when presented;
// from ExpiresAt on (an index entry at or before now) it is removed, the
// instant State first says FamilyExpired (storagetest's SweepAtExpiry).
func (db *DB) Sweep(ctx context.Context, now time.Time, limit int) (storage.SweepStats, error) {
	if limit <= 0 {
		limit = DefaultSweepLimit
	}
	end := nanos(now)
	var st storage.SweepStats
	var began time.Time
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		began = db.now()
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
	st.WriteTime = db.now().Sub(began)
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
	case kindCode:
		c, err := getCode(tx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		// putCode moves the entry with ForgetAt; should one be early
		// anyway, index the code again where it belongs.
		if nanos(c.ForgetAt) > end {
			return idx.Put(expiryKey(c.ForgetAt, kindCode, id), nil)
		}
		st.Codes++
		return tx.Bucket(bucketCodes).Delete([]byte(id))
	case kindLoginSession:
		s, err := getLoginSession(tx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if at := loginSessionExpiry(s); nanos(at) > end {
			return idx.Put(expiryKey(at, kindLoginSession, id), nil)
		}
		st.LoginSessions++
		return tx.Bucket(bucketLogins).Delete([]byte(id))
	}
	return nil
}
