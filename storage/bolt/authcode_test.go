package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
)

// testCode is code number i of user u1 for client app, unspent.
func testCode(i int) storage.AuthCode {
	return storage.AuthCode{Hash: tokenHash(fmt.Sprint("code-", i)), ClientID: "app", ClientInstance: "i1",
		UserID: "u1", UserGen: 1, RedirectURI: "https://app.example/cb", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Scope: []string{"openid"}, AuthTime: t0, LoginSessionID: "sid", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute),
		ForgetAt: t0.Add(10 * time.Minute)}
}

// exchangeCode spends the code into a new family (as the token endpoint
// does), its id derived from the code's number.
func exchangeCode(i int) storage.CodeFunc {
	return func(st storage.CodeState) (storage.CodeChange, error) {
		f, tok := testFamily(i, t0.Add(24*time.Hour))
		f.UserID, f.ClientID, f.LoginSessionID = st.Code.UserID, st.Code.ClientID, st.Code.LoginSessionID
		c := st.Code
		c.SpentAt, c.FamilyID = t0, f.ID
		return storage.CodeChange{Code: &c, Create: &f, First: &tok}, nil
	}
}

// TestDB_RedeemCode_OneCommit: a code exchange (the code spent, a family
// and its first token created) is one write in one durable commit.
func TestDB_RedeemCode_OneCommit(t *testing.T) {
	db, _ := openTemp(t, nil)
	ctx := t.Context()
	if err := db.CreateCode(ctx, testCode(1)); err != nil {
		t.Fatal(err)
	}
	before := db.Stats()
	if err := db.RedeemCode(ctx, testCode(1).Hash, exchangeCode(1)); err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	st := db.Stats()
	if w, c := st.Writes-before.Writes, st.Commits-before.Commits; w != 1 || c != 1 {
		t.Errorf("one exchange: %d writes in %d commits, want 1 in 1", w, c)
	}
}

// TestDB_RedeemCode_UnknownCodeWritesNothing: a code that does not exist
// (a guess, a typo) is answered from a read: it never takes a place in
// the write queue, so a flood of guesses does not delay real writes.
func TestDB_RedeemCode_UnknownCodeWritesNothing(t *testing.T) {
	db, _ := openTemp(t, nil)
	ctx := t.Context()
	before := db.Stats()
	called := false
	err := db.RedeemCode(ctx, testCode(7).Hash, func(storage.CodeState) (storage.CodeChange, error) {
		called = true
		return storage.CodeChange{}, nil
	})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("RedeemCode of an unknown code: %v, want ErrNotFound", err)
	}
	if called {
		t.Error("fn called for an unknown code")
	}
	st := db.Stats()
	if w := st.Writes - before.Writes; w != 0 {
		t.Errorf("an unknown code took %d writes, want 0", w)
	}
}

// TestDB_ListConsents_Cursor: the cursor is opaque but not trusted: one
// that does not decode is an error, one past every key an empty page.
func TestDB_ListConsents_Cursor(t *testing.T) {
	db, _ := openTemp(t, nil)
	ctx := t.Context()
	if err := db.CreateUser(ctx, storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"a", "b"} {
		if err := db.PutConsent(ctx, storage.Consent{UserID: "u1", ClientID: c}); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"!!!", "a b", "%00", "="} {
		if _, _, err := db.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{After: bad}); err == nil {
			t.Errorf("ListConsents after %q: got nil error", bad)
		}
	}
	cs, next, err := db.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{Limit: 1})
	if err != nil || len(cs) != 1 || next == "" {
		t.Fatalf("first page: %d consents, next %q, %v", len(cs), next, err)
	}
	cs, next, err = db.ListConsents(ctx, storage.ConsentFilter{UserID: "u1"}, storage.Page{After: next, Limit: 1})
	if err != nil || len(cs) != 1 || cs[0].ClientID != "b" || next != "" {
		t.Errorf("second page (with a user filter): %+v, next %q, %v: want consent b, the last", cs, next, err)
	}
	cs, next, err = db.ListConsents(ctx, storage.ConsentFilter{UserID: "u1"}, storage.Page{After: "_w"}) // 0xff...: after every key
	if err != nil || len(cs) != 0 || next != "" {
		t.Errorf("page after every key: %+v, next %q, %v: want none", cs, next, err)
	}
}

// FuzzListConsentsCursor: whatever cursor a caller passes back, a listing
// never panics, and what it returns is in (user, client) order, of the
// filtered user only, after the page it resumes, and at most the limit.
func FuzzListConsentsCursor(f *testing.F) {
	db, _ := openTemp(f, &bolt.Options{NoSync: true})
	ctx := context.Background()
	users := []string{"u", "u1", "u\xff", "v"}
	for _, u := range users {
		if err := db.CreateUser(ctx, storage.User{ID: u, Username: "name-" + u}); err != nil {
			f.Fatal(err)
		}
		for _, c := range []string{"a", "b", "b\x00", "\xff"} {
			if err := db.PutConsent(ctx, storage.Consent{UserID: u, ClientID: c}); err != nil {
				f.Fatal(err)
			}
		}
	}
	_, next, err := db.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{Limit: 3})
	if err != nil || next == "" {
		f.Fatalf("first page: next %q, %v", next, err)
	}
	f.Add(next, "", 2)
	f.Add(next, "u1", 0)
	f.Add("", "u", 1)
	f.Add("_w", "v", 5)
	f.Add("dQ", "u\x00", 3)
	f.Fuzz(func(t *testing.T, after, user string, limit int) {
		cs, next, err := db.ListConsents(ctx, storage.ConsentFilter{UserID: user}, storage.Page{After: after, Limit: limit})
		if err != nil {
			return // a cursor that does not decode
		}
		if limit > 0 && len(cs) > limit {
			t.Errorf("limit %d: got %d consents", limit, len(cs))
		}
		for i, c := range cs {
			if user != "" && c.UserID != user {
				t.Errorf("filter %q: got a consent of %q", user, c.UserID)
			}
			if i > 0 {
				p := cs[i-1]
				if p.UserID > c.UserID || p.UserID == c.UserID && p.ClientID >= c.ClientID {
					t.Errorf("out of order: (%q, %q) then (%q, %q)", p.UserID, p.ClientID, c.UserID, c.ClientID)
				}
			}
		}
		if next != "" {
			more, _, err := db.ListConsents(ctx, storage.ConsentFilter{UserID: user}, storage.Page{After: next, Limit: 1})
			if err != nil {
				t.Fatalf("next page from the returned cursor: %v", err)
			}
			if len(more) == 1 && len(cs) > 0 {
				l := cs[len(cs)-1]
				if m := more[0]; m.UserID < l.UserID || m.UserID == l.UserID && m.ClientID <= l.ClientID {
					t.Errorf("next page starts at (%q, %q), not after (%q, %q)", m.UserID, m.ClientID, l.UserID, l.ClientID)
				}
			}
		}
	})
}
