package bolt

import (
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// Authorization codes live in the codes bucket by hash, each with one
// expiry index entry at its ForgetAt. Error messages never name a code's
// hash.

// CreateCode stores a new authorization code. ErrExists if its hash is
// taken. The code needs a ForgetAt: it is kept (and a replay recognised)
// until then.
func (db *DB) CreateCode(ctx context.Context, c storage.AuthCode) error {
	switch {
	case c.Hash == "" || c.ClientID == "" || c.UserID == "":
		return errors.New("bolt: create code: hash, client id and user id required")
	case c.ForgetAt.IsZero():
		return errors.New("bolt: create code: forget time required")
	}
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketCodes).Get([]byte(c.Hash)) != nil {
			return storage.ErrExists
		}
		return putCode(tx, nil, c)
	})
	if err != nil {
		return fmt.Errorf("bolt: create code of client %q: %w", c.ClientID, err)
	}
	return nil
}

// errInvalidCodeChange: a CodeChange that breaks the rules of RedeemCode.
var errInvalidCodeChange = errors.New("invalid code change")

// RedeemCode reads the code with that hash, its user and client and the
// family its exchange created, calls fn and writes the change it returns,
// all in one write transaction of the group commit: bbolt has one writer
// at a time, so nothing fn saw can change before the commit, and a code
// exchange (code spent, family and first token created) is one durable
// commit shared with whatever other writes are pending. fn's error is
// returned as is; fn may run more than once. ErrNotFound if no such code.
//
// A change must keep the code's hash, client and user, and may change
// State.Family only when there is one, keeping its id. A family is
// created only with its first token, from a code that was unspent, in a
// change that spends the code and names the new family in its FamilyID,
// for the code's user and client; ErrExists if the family or the token
// exists. Anything else is refused and nothing is written.
func (db *DB) RedeemCode(ctx context.Context, hash string, fn storage.CodeFunc) error {
	// An unknown code (a guess, a typo) is answered from a read, without a
	// place in the write queue: a flood of guesses from a public client
	// must not delay real writes. A code that exists is read again in the
	// write, which decides.
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		_, err := getCode(tx, hash)
		return err
	})
	if err != nil {
		return wrapErr(err, "bolt: redeem code: %w")
	}
	err = db.update(ctx, func(tx *bbolt.Tx) error {
		code, err := getCode(tx, hash)
		if err != nil {
			return err
		}
		st := storage.CodeState{Code: code}
		switch u, err := getUserByID(tx, code.UserID); {
		case err == nil:
			st.User = &u
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("user of code: %w", err)
		}
		switch c, err := getClient(tx, code.ClientID); {
		case err == nil:
			st.Client = &c
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("client of code: %w", err)
		}
		var fam *storage.Family
		if code.FamilyID != "" {
			switch f, err := getFamily(tx, code.FamilyID); {
			case err == nil:
				fam = &f
				forFn := f // fn may change what it is handed
				st.Family = &forFn
			case !errors.Is(err, storage.ErrNotFound):
				return fmt.Errorf("family of code: %w", err)
			}
		}
		change, err := fn(st)
		if err != nil {
			return callerError{err}
		}
		return applyCode(tx, code, fam, change)
	})
	if err != nil {
		return wrapErr(err, "bolt: redeem code: %w")
	}
	return nil
}

// applyCode checks a CodeChange against the code and family read (old,
// fam) and writes it.
func applyCode(tx *bbolt.Tx, old storage.AuthCode, fam *storage.Family, c storage.CodeChange) error {
	if c.Code != nil {
		switch {
		case c.Code.Hash != old.Hash || c.Code.ClientID != old.ClientID || c.Code.UserID != old.UserID:
			return fmt.Errorf("%w: code hash, client or user changed", errInvalidCodeChange)
		case c.Code.ForgetAt.IsZero():
			return fmt.Errorf("%w: code without a forget time", errInvalidCodeChange)
		}
	}
	if c.Family != nil {
		switch {
		case fam == nil:
			return fmt.Errorf("%w: no family to change", errInvalidCodeChange)
		case c.Family.ID != fam.ID:
			return fmt.Errorf("%w: family id changed", errInvalidCodeChange)
		}
	}
	if c.Create != nil || c.First != nil {
		switch {
		case c.Create == nil || c.First == nil:
			return fmt.Errorf("%w: a family is created with its first token", errInvalidCodeChange)
		case c.Create.ID == "" || c.First.Hash == "":
			return fmt.Errorf("%w: family id and token hash required", errInvalidCodeChange)
		case c.First.FamilyID != c.Create.ID:
			return fmt.Errorf("%w: first token belongs to family %q, not %q", errInvalidCodeChange, c.First.FamilyID, c.Create.ID)
		case c.Family != nil:
			return fmt.Errorf("%w: a family created and another changed", errInvalidCodeChange)
		case old.Spent():
			return fmt.Errorf("%w: a family created from a spent code", errInvalidCodeChange)
		case c.Code == nil || !c.Code.Spent() || c.Code.FamilyID != c.Create.ID:
			return fmt.Errorf("%w: a family created without spending the code into it", errInvalidCodeChange)
		case c.Create.UserID != old.UserID || c.Create.ClientID != old.ClientID:
			return fmt.Errorf("%w: a family created for another user or client than the code's", errInvalidCodeChange)
		case tx.Bucket(bucketFamilies).Get([]byte(c.Create.ID)) != nil:
			return fmt.Errorf("family %q: %w", c.Create.ID, storage.ErrExists)
		case tx.Bucket(bucketTokens).Get([]byte(c.First.Hash)) != nil:
			return fmt.Errorf("first token: %w", storage.ErrExists)
		}
	}
	if c.Code != nil {
		if err := putCode(tx, &old, *c.Code); err != nil {
			return err
		}
	}
	if c.Create != nil {
		if err := putFamily(tx, nil, *c.Create); err != nil {
			return err
		}
		if err := putToken(tx, nil, *c.Create, *c.First, *c.Create); err != nil {
			return err
		}
	}
	if c.Family != nil {
		return putFamily(tx, fam, *c.Family)
	}
	return nil
}

func getCode(tx *bbolt.Tx, hash string) (storage.AuthCode, error) {
	v := tx.Bucket(bucketCodes).Get([]byte(hash))
	if v == nil {
		return storage.AuthCode{}, storage.ErrNotFound
	}
	return decodeCode([]byte(hash), v)
}

// putCode writes c and keeps its expiry index entry (at ForgetAt) in step;
// old is its previous state, nil for a new code.
func putCode(tx *bbolt.Tx, old *storage.AuthCode, c storage.AuthCode) error {
	if err := tx.Bucket(bucketCodes).Put([]byte(c.Hash), encodeCode(c)); err != nil {
		return err
	}
	exp := tx.Bucket(bucketExpiry)
	if old != nil {
		if old.ForgetAt.Equal(c.ForgetAt) {
			return nil
		}
		if err := exp.Delete(expiryKey(old.ForgetAt, kindCode, c.Hash)); err != nil {
			return err
		}
	}
	return exp.Put(expiryKey(c.ForgetAt, kindCode, c.Hash), nil)
}
