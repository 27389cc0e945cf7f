package storagetest

// The conformance tests of the authorization code flow's storage (issue
// 14): sign-in sessions, authorization codes and their one redeem
// compare-and-swap, consents.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// newLoginSession returns a sign-in session of user, signed in at t0 with
// UserGen 3 (newFamily's), idle-expiring at t0+1h and ending at t0+12h.
func newLoginSession(h, userID string) storage.LoginSession {
	return storage.LoginSession{
		Hash:          h,
		ID:            "sid-" + h[:8],
		UserID:        userID,
		UserGen:       3,
		AuthTime:      t0,
		CreatedAt:     t0,
		LastSeenAt:    t0,
		IdleExpiresAt: t0.Add(time.Hour),
		ExpiresAt:     t0.Add(12 * time.Hour),
	}
}

// newCode returns an unspent code of user for client "app" (newClient's
// instance), issued at t0, valid 60 s, remembered 10 minutes.
func newCode(h, userID string) storage.AuthCode {
	return storage.AuthCode{
		Hash:             h,
		ClientID:         "app",
		ClientInstance:   "inst-app",
		UserID:           userID,
		UserGen:          3,
		RedirectURI:      "https://app.example/callback",
		RedirectURIGiven: true,
		CodeChallenge:    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Scope:            []string{"openid", "read"},
		Audience:         "https://api.example",
		Nonce:            "n-0S6_WzA2Mj",
		AuthTime:         t0,
		LoginSessionID:   "sid-1",
		IssuedAt:         t0,
		ExpiresAt:        t0.Add(60 * time.Second),
		ForgetAt:         t0.Add(10 * time.Minute),
	}
}

// codeFamily is the family (and first token) the exchange of code at
// creates, with id id.
func codeFamily(code storage.AuthCode, id string, at time.Time) (storage.Family, storage.RefreshToken) {
	f, tok := newFamily(id, code.UserID)
	f.ClientID, f.ClientInstance = code.ClientID, code.ClientInstance
	f.Scope, f.Audience, f.UserGen = code.Scope, code.Audience, code.UserGen
	f.AuthTime, f.LoginSessionID = code.AuthTime, code.LoginSessionID
	f.CreatedAt, f.LastUsedAt = at, at
	tok.IssuedAt = at
	return f, tok
}

// exchange is the CodeFunc of a first exchange: it spends the code and
// creates family famID with its first token; errSpent if the code is
// spent.
func exchange(at time.Time, famID string) storage.CodeFunc {
	return func(st storage.CodeState) (storage.CodeChange, error) {
		code := st.Code
		if code.Spent() {
			return storage.CodeChange{}, errSpent
		}
		f, tok := codeFamily(code, famID, at)
		code.SpentAt, code.FamilyID = at, famID
		code.AccessTokenID, code.AccessTokenExpiresAt = "jti-"+famID, at.Add(time.Hour)
		return storage.CodeChange{Code: &code, Create: &f, First: &tok}, nil
	}
}

// replay is the CodeFunc of a second presentation: it revokes the family
// the first created, keeping an earlier revocation.
func replay(at time.Time) storage.CodeFunc {
	return func(st storage.CodeState) (storage.CodeChange, error) {
		if !st.Code.Spent() {
			return storage.CodeChange{}, errors.New("code unspent")
		}
		if st.Family == nil {
			return storage.CodeChange{}, nil
		}
		f := *st.Family
		if !f.Revoked() {
			f.RevokedAt, f.RevokeReason = at, "code replayed"
		}
		return storage.CodeChange{Family: &f}, nil
	}
}

// peekCode returns what RedeemCode reads for the code, writing nothing.
func peekCode(t *testing.T, s storage.Storage, h string) (storage.CodeState, error) {
	t.Helper()
	var st storage.CodeState
	err := s.RedeemCode(t.Context(), h, func(got storage.CodeState) (storage.CodeChange, error) {
		st = got
		return storage.CodeChange{}, nil
	})
	return st, err
}

func mustPeekCode(t *testing.T, s storage.Storage, h string) storage.CodeState {
	t.Helper()
	st, err := peekCode(t, s, h)
	if err != nil {
		t.Fatalf("RedeemCode(%.8s) (read only): %v", h, err)
	}
	return st
}

func mustCreateCode(t *testing.T, s storage.Storage, c storage.AuthCode) {
	t.Helper()
	if err := s.CreateCode(t.Context(), c); err != nil {
		t.Fatalf("CreateCode(%.8s): %v", c.Hash, err)
	}
}

func mustCreateLoginSession(t *testing.T, s storage.Storage, ls storage.LoginSession) {
	t.Helper()
	if err := s.CreateLoginSession(t.Context(), ls); err != nil {
		t.Fatalf("CreateLoginSession(%.8s): %v", ls.Hash, err)
	}
}

func mustPutConsent(t *testing.T, s storage.Storage, c storage.Consent) {
	t.Helper()
	if err := s.PutConsent(t.Context(), c); err != nil {
		t.Fatalf("PutConsent(%s, %s): %v", c.UserID, c.ClientID, err)
	}
}

func newConsent(userID, clientID string, scopes ...string) storage.Consent {
	return storage.Consent{UserID: userID, ClientID: clientID, ClientInstance: "inst-" + clientID,
		Scopes: scopes, GrantedAt: t0, UpdatedAt: t0}
}

func testLoginSessionCRUD(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	a, b := newLoginSession(hash("s1"), "id-alice"), newLoginSession(hash("s2"), "id-bob")
	mustCreateLoginSession(t, s, a)
	mustCreateLoginSession(t, s, b)
	got, err := s.GetLoginSession(ctx, a.Hash)
	if err != nil {
		t.Fatalf("GetLoginSession: %v", err)
	}
	check(t, "GetLoginSession", got, a)

	dup := newLoginSession(a.Hash, "id-mallory")
	wantErr(t, "CreateLoginSession with a taken hash", s.CreateLoginSession(ctx, dup), storage.ErrExists)
	got, _ = s.GetLoginSession(ctx, a.Hash)
	check(t, "session after a refused create", got, a)

	for _, tt := range []struct {
		name string
		edit func(*storage.LoginSession)
	}{
		{"no hash", func(ls *storage.LoginSession) { ls.Hash = "" }},
		{"no id", func(ls *storage.LoginSession) { ls.ID = "" }},
		{"no user", func(ls *storage.LoginSession) { ls.UserID = "" }},
	} {
		bad := newLoginSession(hash("bad"), "id-alice")
		tt.edit(&bad)
		if err := s.CreateLoginSession(ctx, bad); err == nil {
			t.Errorf("CreateLoginSession with %s: got nil error", tt.name)
		}
		_, err := s.GetLoginSession(ctx, bad.Hash)
		wantErr(t, "session of a refused create ("+tt.name+")", err, storage.ErrNotFound)
	}

	_, err = s.GetLoginSession(ctx, hash("nope"))
	wantErr(t, "GetLoginSession(nope)", err, storage.ErrNotFound)
	_, err = s.TouchLoginSession(ctx, hash("nope"), t0, t0.Add(time.Hour))
	wantErr(t, "TouchLoginSession(nope)", err, storage.ErrNotFound)

	if err := s.DeleteLoginSession(ctx, a.Hash); err != nil {
		t.Fatalf("DeleteLoginSession: %v", err)
	}
	_, err = s.GetLoginSession(ctx, a.Hash)
	wantErr(t, "GetLoginSession after delete", err, storage.ErrNotFound)
	if err := s.DeleteLoginSession(ctx, a.Hash); err != nil {
		t.Errorf("DeleteLoginSession of a deleted session: got %v, want nil", err)
	}
	got, _ = s.GetLoginSession(ctx, b.Hash)
	check(t, "other session after delete", got, b)
	// The hash is free again.
	mustCreateLoginSession(t, s, a)
}

// testTouchLoginSession: a touch records the use and moves the idle
// expiry, capped at the absolute end; a use older than the last one
// recorded (concurrent requests committing out of order) moves nothing
// back.
func testTouchLoginSession(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	type touch struct{ seen, idle time.Time }
	base := newLoginSession(hash("x"), "id-alice") // idle t0+1h, end t0+12h
	tests := []struct {
		name      string
		before    []touch
		touch     touch
		wantSeen  time.Time
		wantIdleE time.Time
	}{
		{"moves the idle expiry", nil, touch{t0.Add(10 * time.Minute), t0.Add(70 * time.Minute)},
			t0.Add(10 * time.Minute), t0.Add(70 * time.Minute)},
		{"capped at the absolute end", nil, touch{t0.Add(11*time.Hour + 30*time.Minute), t0.Add(12*time.Hour + 30*time.Minute)},
			t0.Add(11*time.Hour + 30*time.Minute), base.ExpiresAt},
		{"an older use moves nothing back", []touch{{t0.Add(20 * time.Minute), t0.Add(80 * time.Minute)}},
			touch{t0.Add(10 * time.Minute), t0.Add(70 * time.Minute)},
			t0.Add(20 * time.Minute), t0.Add(80 * time.Minute)},
		{"a later use after an earlier one", []touch{{t0.Add(10 * time.Minute), t0.Add(70 * time.Minute)}},
			touch{t0.Add(20 * time.Minute), t0.Add(80 * time.Minute)},
			t0.Add(20 * time.Minute), t0.Add(80 * time.Minute)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := newLoginSession(hash(fmt.Sprint("touch-", i)), "id-alice")
			mustCreateLoginSession(t, s, ls)
			for _, b := range tt.before {
				if _, err := s.TouchLoginSession(ctx, ls.Hash, b.seen, b.idle); err != nil {
					t.Fatalf("TouchLoginSession: %v", err)
				}
			}
			got, err := s.TouchLoginSession(ctx, ls.Hash, tt.touch.seen, tt.touch.idle)
			if err != nil {
				t.Fatalf("TouchLoginSession: %v", err)
			}
			want := ls
			want.LastSeenAt, want.IdleExpiresAt = tt.wantSeen, tt.wantIdleE
			check(t, "TouchLoginSession result", got, want)
			stored, err := s.GetLoginSession(ctx, ls.Hash)
			if err != nil {
				t.Fatalf("GetLoginSession: %v", err)
			}
			check(t, "session after touch", stored, want)
		})
	}
}

func testCreateCode(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	code := newCode(hash("c1"), "id-alice")
	mustCreateCode(t, s, code)
	check(t, "code read by RedeemCode", mustPeekCode(t, s, code.Hash).Code, code)

	dup := newCode(code.Hash, "id-mallory")
	wantErr(t, "CreateCode with a taken hash", s.CreateCode(ctx, dup), storage.ErrExists)
	check(t, "code after a refused create", mustPeekCode(t, s, code.Hash).Code, code)

	for _, tt := range []struct {
		name string
		edit func(*storage.AuthCode)
	}{
		{"no hash", func(c *storage.AuthCode) { c.Hash = "" }},
		{"no client", func(c *storage.AuthCode) { c.ClientID = "" }},
		{"no user", func(c *storage.AuthCode) { c.UserID = "" }},
		{"no forget time", func(c *storage.AuthCode) { c.ForgetAt = time.Time{} }},
	} {
		bad := newCode(hash("bad"), "id-alice")
		tt.edit(&bad)
		if err := s.CreateCode(ctx, bad); err == nil {
			t.Errorf("CreateCode with %s: got nil error", tt.name)
		}
		_, err := peekCode(t, s, bad.Hash)
		wantErr(t, "code of a refused create ("+tt.name+")", err, storage.ErrNotFound)
	}

	called := false
	err := s.RedeemCode(ctx, hash("nope"), func(storage.CodeState) (storage.CodeChange, error) {
		called = true
		return storage.CodeChange{}, nil
	})
	wantErr(t, "RedeemCode(unknown)", err, storage.ErrNotFound)
	if called {
		t.Error("fn called for an unknown code")
	}
}

// testRedeemCode: the first exchange spends the code and creates its
// family in one write; a second presentation sees the code spent and that
// family, and revokes it.
func testRedeemCode(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("alice")
	u.SessionGen = 3
	mustCreateUser(t, s, u)
	app := newClient("app")
	if err := s.CreateClient(ctx, app); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	code := newCode(hash("c1"), u.ID)
	mustCreateCode(t, s, code)
	at := t0.Add(10 * time.Second)

	calls := 0
	err := s.RedeemCode(ctx, code.Hash, func(st storage.CodeState) (storage.CodeChange, error) {
		calls++
		check(t, "fn code", st.Code, code)
		// fn runs on the store's goroutine: no t.Fatal here.
		if st.User == nil || st.Client == nil {
			t.Errorf("fn user %v, client %v: want both", st.User, st.Client)
			return storage.CodeChange{}, errors.New("user or client missing")
		}
		check(t, "fn user", *st.User, u)
		check(t, "fn client", *st.Client, app)
		if st.Family != nil {
			t.Errorf("fn family of an unspent code: got %+v, want nil", st.Family)
		}
		return exchange(at, "f1")(st)
	})
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	if calls == 0 {
		t.Fatal("fn not called")
	}
	wantFam, wantTok := codeFamily(code, "f1", at)
	check(t, "family created by the exchange", mustGetFamily(t, s, "f1"), wantFam)
	gotTok, gotFam, err := s.GetRefreshToken(ctx, wantTok.Hash)
	if err != nil {
		t.Fatalf("GetRefreshToken of the exchange: %v", err)
	}
	check(t, "first token of the exchange", gotTok, wantTok)
	check(t, "its family", gotFam, wantFam)
	if fams := listAll(t, s, storage.FamilyFilter{UserID: u.ID}); len(fams) != 1 {
		t.Errorf("user's families after the exchange: got %d, want 1", len(fams))
	}
	spent := code
	spent.SpentAt, spent.FamilyID, spent.AccessTokenID, spent.AccessTokenExpiresAt = at, "f1", "jti-f1", at.Add(time.Hour)
	st := mustPeekCode(t, s, code.Hash)
	check(t, "code after the exchange", st.Code, spent)
	if st.Family == nil {
		t.Fatal("state of a spent code: family nil, want the one its exchange created")
	}
	check(t, "family of the spent code", *st.Family, wantFam)

	// A second exchange: fn sees the code spent; its error comes back as
	// is and nothing is created.
	err = s.RedeemCode(ctx, code.Hash, exchange(at.Add(time.Second), "f2"))
	wantAsIs(t, "second exchange", err, errSpent)
	_, err = s.GetFamily(ctx, "f2")
	wantErr(t, "family of a second exchange", err, storage.ErrNotFound)

	// The replay revokes the family, in the same kind of write.
	replayAt := at.Add(time.Minute)
	if err := s.RedeemCode(ctx, code.Hash, replay(replayAt)); err != nil {
		t.Fatalf("RedeemCode (replay): %v", err)
	}
	revoked := wantFam
	revoked.RevokedAt, revoked.RevokeReason = replayAt, "code replayed"
	check(t, "family after the replay", mustGetFamily(t, s, "f1"), revoked)
	check(t, "code after the replay", mustPeekCode(t, s, code.Hash).Code, spent)
}

func testRedeemCodeFuncError(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	code := newCode(hash("c1"), "id-alice")
	mustCreateCode(t, s, code)
	errStop := errors.New("stop")
	err := s.RedeemCode(ctx, code.Hash, func(st storage.CodeState) (storage.CodeChange, error) {
		c, _ := exchange(t0, "f1")(st)
		return c, errStop
	})
	wantAsIs(t, "RedeemCode with failing fn", err, errStop)
	check(t, "code after an aborted redeem", mustPeekCode(t, s, code.Hash).Code, code)
	_, err = s.GetFamily(ctx, "f1")
	wantErr(t, "family of an aborted redeem", err, storage.ErrNotFound)
	_, tok := codeFamily(code, "f1", t0)
	_, _, err = s.GetRefreshToken(ctx, tok.Hash)
	wantErr(t, "token of an aborted redeem", err, storage.ErrNotFound)
}

// testRedeemCodeInvalidChange: a change that breaks the rules of
// RedeemCode, or whose family or token exists, is refused whole: the code
// stays as it was (unspent: it may still be exchanged) and nothing else is
// written.
func testRedeemCodeInvalidChange(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	code := newCode(hash("c1"), "id-alice")
	mustCreateCode(t, s, code)
	done := newCode(hash("c2"), "id-alice") // spent, with family d1
	mustCreateCode(t, s, done)
	if err := s.RedeemCode(ctx, done.Hash, exchange(t0, "d1")); err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	doneState := mustPeekCode(t, s, done.Hash)
	g, gtok := newFamily("g1", "id-alice")
	mustCreateFamily(t, s, g, gtok)
	at := t0.Add(time.Second)

	tests := []struct {
		name    string
		hash    string
		change  func(st storage.CodeState) storage.CodeChange
		wantErr error // nil: any error
	}{
		{"code hash changed", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "new")(st)
			c.Code.Hash = hash("other")
			return c
		}, nil},
		{"create without a first token", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "new")(st)
			c.First = nil
			return c
		}, nil},
		{"first token without a family", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "new")(st)
			c.Create = nil
			return c
		}, nil},
		{"first token of another family", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "new")(st)
			c.First.FamilyID = "g1"
			return c
		}, nil},
		{"create leaving the code unspent", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "new")(st)
			c.Code = nil
			return c
		}, nil},
		{"create with the code naming another family", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "new")(st)
			c.Code.FamilyID = "g1"
			return c
		}, nil},
		{"create with the code not spent", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "new")(st)
			c.Code.SpentAt = time.Time{}
			return c
		}, nil},
		{"family change without a family", code.Hash, func(st storage.CodeState) storage.CodeChange {
			f := g
			f.RevokedAt, f.RevokeReason = at, "code replayed"
			return storage.CodeChange{Family: &f}
		}, nil},
		{"create with an existing family id", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "g1")(st)
			return c
		}, storage.ErrExists},
		{"create with an existing token hash", code.Hash, func(st storage.CodeState) storage.CodeChange {
			c, _ := exchange(at, "new")(st)
			c.First.Hash = gtok.Hash
			return c
		}, storage.ErrExists},
		{"second family from a spent code", done.Hash, func(st storage.CodeState) storage.CodeChange {
			code := st.Code
			f, tok := codeFamily(code, "new", at)
			code.FamilyID = "new"
			return storage.CodeChange{Code: &code, Create: &f, First: &tok}
		}, nil},
		{"family id changed", done.Hash, func(st storage.CodeState) storage.CodeChange {
			f := *st.Family
			f.ID = "g1"
			f.RevokedAt = at
			return storage.CodeChange{Family: &f}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RedeemCode(ctx, tt.hash, func(st storage.CodeState) (storage.CodeChange, error) {
				return tt.change(st), nil
			})
			switch {
			case err == nil:
				t.Fatal("got nil error, want the change refused")
			case tt.wantErr != nil:
				wantErr(t, "RedeemCode", err, tt.wantErr)
			}
			check(t, "code after a refused change", mustPeekCode(t, s, code.Hash).Code, code)
			check(t, "spent code after a refused change", mustPeekCode(t, s, done.Hash), doneState)
			check(t, "other family", mustGetFamily(t, s, "g1"), g)
			gotG, _, _ := s.GetRefreshToken(ctx, gtok.Hash)
			check(t, "other family's token", gotG, gtok)
			_, err = s.GetFamily(ctx, "new")
			wantErr(t, "family of a refused change", err, storage.ErrNotFound)
			_, newTok := codeFamily(code, "new", at)
			_, _, err = s.GetRefreshToken(ctx, newTok.Hash)
			wantErr(t, "token of a refused change", err, storage.ErrNotFound)
		})
	}
	// The refused changes left the code unspent: it can still be
	// exchanged.
	if err := s.RedeemCode(ctx, code.Hash, exchange(at, "f1")); err != nil {
		t.Errorf("exchange after refused changes: %v", err)
	}
}

// testRedeemCodeUserAndClient: fn sees the code's user and client as
// committed, nil once deleted, and the family of a spent code nil once it
// is no longer stored.
func testRedeemCodeUserAndClient(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("alice")
	mustCreateUser(t, s, u)
	mustCreateUser(t, s, newUser("bob"))
	app := newClient("app")
	for _, c := range []storage.Client{app, newClient("other")} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
	}
	code := newCode(hash("c1"), u.ID)
	mustCreateCode(t, s, code)

	st := mustPeekCode(t, s, code.Hash)
	if st.User == nil || st.Client == nil {
		t.Fatalf("fn saw user %v, client %v: want both", st.User, st.Client)
	}
	check(t, "fn user", *st.User, u)
	check(t, "fn client", *st.Client, app)

	u2, err := s.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) {
		u.EndSessions(t0.Add(time.Hour), "password changed")
		return u, nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	app2, err := s.UpdateClient(ctx, "app", func(c storage.Client) (storage.Client, error) {
		c.RedirectURIs = []string{"https://app.example/other"}
		return c, nil
	})
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	st = mustPeekCode(t, s, code.Hash)
	if st.User == nil || st.Client == nil {
		t.Fatalf("fn saw user %v, client %v after updates: want both", st.User, st.Client)
	}
	check(t, "fn user after UpdateUser", *st.User, u2)
	check(t, "fn client after UpdateClient", *st.Client, app2)

	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if st = mustPeekCode(t, s, code.Hash); st.Client != nil || st.User == nil {
		t.Errorf("fn after DeleteClient: user %v, client %+v, want the user and a nil client", st.User, st.Client)
	}
	if err := s.DeleteUser(ctx, "alice", t0); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if st = mustPeekCode(t, s, code.Hash); st.User != nil {
		t.Errorf("fn user after DeleteUser: got %+v, want nil", st.User)
	}

	// A spent code whose family was swept (the family ended before the
	// code is forgotten): Family nil, FamilyID kept.
	short := newCode(hash("c2"), "id-bob")
	mustCreateCode(t, s, short)
	err = s.RedeemCode(ctx, short.Hash, func(st storage.CodeState) (storage.CodeChange, error) {
		c, err := exchange(t0, "short")(st)
		c.Create.ExpiresAt, c.First.IdleExpiresAt = t0.Add(time.Minute), t0.Add(time.Minute)
		return c, err
	})
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	if _, err := s.Sweep(ctx, t0.Add(2*time.Minute), 100); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if st = mustPeekCode(t, s, short.Hash); st.Family != nil || st.Code.FamilyID != "short" {
		t.Errorf("spent code whose family was swept: family %+v, FamilyID %q: want nil, %q", st.Family, st.Code.FamilyID, "short")
	}
}

// testConcurrentRedeem: of N goroutines redeeming one code, exactly one
// run of fn that committed saw it unspent; every other goroutine's last
// run saw it spent, and only the winner's family exists.
func testConcurrentRedeem(t *testing.T, s storage.Storage) {
	ctx := context.WithoutCancel(t.Context())
	code := newCode(hash("c1"), "id-alice")
	mustCreateCode(t, s, code)
	const n = 50
	errs := make([]error, n)
	lastSawUnspent := make([]bool, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.RedeemCode(ctx, code.Hash, func(st storage.CodeState) (storage.CodeChange, error) {
				lastSawUnspent[i] = !st.Code.Spent()
				return exchange(t0.Add(time.Second), fmt.Sprint("f-", i))(st)
			})
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("goroutines %d and %d both exchanged the code", winner, i)
		case err == nil:
			winner = i
			if !lastSawUnspent[i] {
				t.Errorf("winner %d: its committed run saw the code spent", i)
			}
		case err != errSpent:
			t.Errorf("goroutine %d: got %v, want nil or errSpent as is", i, err)
		case lastSawUnspent[i]:
			t.Errorf("goroutine %d lost but its last run saw the code unspent", i)
		}
	}
	if winner < 0 {
		t.Fatal("no goroutine exchanged the code")
	}
	if got := mustPeekCode(t, s, code.Hash).Code.FamilyID; got != fmt.Sprint("f-", winner) {
		t.Errorf("code's family: got %q, want the winner's f-%d", got, winner)
	}
	if fams := listAll(t, s, storage.FamilyFilter{}); len(fams) != 1 {
		t.Errorf("families after %d concurrent exchanges: got %d, want 1", n, len(fams))
	}
}

// mustCreateUsers creates newUser(name) for each name (id "id-"+name).
func mustCreateUsers(t *testing.T, s storage.Storage, names ...string) {
	t.Helper()
	for _, name := range names {
		mustCreateUser(t, s, newUser(name))
	}
}

func testConsentCRUD(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	mustCreateUsers(t, s, "alice", "bob")
	a := newConsent("id-alice", "app", "read")
	mustPutConsent(t, s, a)
	mustPutConsent(t, s, newConsent("id-alice", "other", "read"))
	mustPutConsent(t, s, newConsent("id-bob", "app", "write"))
	got, err := s.GetConsent(ctx, "id-alice", "app")
	if err != nil {
		t.Fatalf("GetConsent: %v", err)
	}
	check(t, "GetConsent", got, a)

	// Put replaces the consent of the same user and client.
	wider := a
	wider.Scopes, wider.UpdatedAt = []string{"read", "write"}, t0.Add(time.Hour)
	mustPutConsent(t, s, wider)
	got, _ = s.GetConsent(ctx, "id-alice", "app")
	check(t, "GetConsent after replacing", got, wider)
	got, _ = s.GetConsent(ctx, "id-bob", "app")
	check(t, "other user's consent", got, newConsent("id-bob", "app", "write"))

	for _, tt := range []struct{ user, client string }{{"id-alice", "nobody"}, {"id-carol", "app"}, {"", ""}} {
		_, err := s.GetConsent(ctx, tt.user, tt.client)
		wantErr(t, fmt.Sprintf("GetConsent(%q, %q)", tt.user, tt.client), err, storage.ErrNotFound)
	}
	for _, tt := range []struct {
		name string
		c    storage.Consent
	}{
		{"no user", newConsent("", "app")},
		{"no client", newConsent("id-carol", "")},
		{"NUL in the user id", newConsent("id-\x00carol", "app")},
	} {
		if err := s.PutConsent(ctx, tt.c); err == nil {
			t.Errorf("PutConsent with %s: got nil error", tt.name)
		}
	}
	// A consent of a user that does not exist (deleted while the consent
	// page was open) would never be removed: refused.
	wantErr(t, "PutConsent of an unknown user", s.PutConsent(ctx, newConsent("id-carol", "app", "read")), storage.ErrNotFound)
	list, _, err := s.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{})
	if err != nil || len(list) != 3 {
		t.Errorf("ListConsents after refused puts: got %d consents, %v, want 3", len(list), err)
	}
}

// testListConsentsPages: pages are in (user, client) order, hold at most
// the limit, follow each other from the cursor without gap or repeat; a
// user filter lists that user's only, even one whose id another's starts
// with.
func testListConsentsPages(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	type key struct{ user, client string }
	var all []key
	mustCreateUsers(t, s, "alice", "al", "bob")
	for _, user := range []string{"id-alice", "id-al", "id-bob"} { // out of order
		for _, client := range []string{"c3", "c1", "c2"} {
			mustPutConsent(t, s, newConsent(user, client, "read"))
		}
	}
	for _, user := range []string{"id-al", "id-alice", "id-bob"} {
		for _, client := range []string{"c1", "c2", "c3"} {
			all = append(all, key{user, client})
		}
	}
	tests := []struct {
		name   string
		filter storage.ConsentFilter
		limit  int
		want   [][]key
	}{
		{"all, 4 a page", storage.ConsentFilter{}, 4, [][]key{all[:4], all[4:8], all[8:]}},
		{"all, 9 a page", storage.ConsentFilter{}, 9, [][]key{all}},
		{"all, default limit", storage.ConsentFilter{}, 0, [][]key{all}},
		{"user, 2 a page", storage.ConsentFilter{UserID: "id-al"}, 2, [][]key{all[:2], all[2:3]}},
		{"user whose id starts with another's", storage.ConsentFilter{UserID: "id-alice"}, 3, [][]key{all[3:6]}},
		{"user, default limit", storage.ConsentFilter{UserID: "id-bob"}, 0, [][]key{all[6:]}},
		{"unknown user", storage.ConsentFilter{UserID: "id-a"}, 2, [][]key{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]key
			page := storage.Page{Limit: tt.limit}
			for range 20 {
				cs, next, err := s.ListConsents(ctx, tt.filter, page)
				if err != nil {
					t.Fatalf("ListConsents(%+v, %+v): %v", tt.filter, page, err)
				}
				var keys []key
				for _, c := range cs {
					keys = append(keys, key{c.UserID, c.ClientID})
				}
				got = append(got, keys)
				if next == "" {
					break
				}
				if next == page.After {
					t.Fatalf("cursor %q does not move on", next)
				}
				page.After = next
			}
			if n := len(got); n > len(tt.want) && n > 1 && len(got[n-1]) == 0 {
				got = got[:n-1]
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pages: got %q, want %q", got, tt.want)
			}
		})
	}
	cs, _, _ := s.ListConsents(ctx, storage.ConsentFilter{UserID: "id-bob"}, storage.Page{Limit: 1})
	if len(cs) != 1 {
		t.Fatalf("ListConsents: got %d consents, want 1", len(cs))
	}
	check(t, "listed consent", cs[0], newConsent("id-bob", "c1", "read"))
}

// testRevokeConsent: the consent goes, and the user's families of that
// client are revoked in the same write; other clients' and other users'
// are not, and an already revoked family keeps its first revocation.
func testRevokeConsent(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	fam := func(id, user, client string) storage.Family {
		f, tok := newFamily(id, user)
		f.ClientID = client
		mustCreateFamily(t, s, f, tok)
		return f
	}
	fa := fam("fa", "id-alice", "app")
	fb := fam("fb", "id-alice", "app")
	fc := fam("fc", "id-alice", "other")
	fd := fam("fd", "id-bob", "app")
	fe := fam("fe", "id-carol", "app")
	mustCreateUsers(t, s, "alice", "bob", "carol")
	fb, _ = s.RevokeFamily(ctx, "fb", t0, "logout")
	for _, c := range []storage.Consent{
		newConsent("id-alice", "app", "read"), newConsent("id-alice", "other", "read"), newConsent("id-bob", "app", "read"),
	} {
		mustPutConsent(t, s, c)
	}

	at := t0.Add(time.Hour)
	if err := s.RevokeConsent(ctx, "id-alice", "app", at); err != nil {
		t.Fatalf("RevokeConsent: %v", err)
	}
	revoked := fa
	revoked.RevokedAt, revoked.RevokeReason = at, "consent revoked"
	check(t, "family of the revoked consent", mustGetFamily(t, s, "fa"), revoked)
	check(t, "already revoked family", mustGetFamily(t, s, "fb"), fb)
	check(t, "family of another client", mustGetFamily(t, s, "fc"), fc)
	check(t, "family of another user", mustGetFamily(t, s, "fd"), fd)
	_, err := s.GetConsent(ctx, "id-alice", "app")
	wantErr(t, "revoked consent", err, storage.ErrNotFound)
	for _, k := range [][2]string{{"id-alice", "other"}, {"id-bob", "app"}} {
		if _, err := s.GetConsent(ctx, k[0], k[1]); err != nil {
			t.Errorf("consent (%s, %s) after revoking another: %v", k[0], k[1], err)
		}
	}

	// No consent: ErrNotFound, and no family is touched.
	wantErr(t, "RevokeConsent again", s.RevokeConsent(ctx, "id-alice", "app", at.Add(time.Hour)), storage.ErrNotFound)
	check(t, "family after revoking again", mustGetFamily(t, s, "fa"), revoked)
	wantErr(t, "RevokeConsent without consent", s.RevokeConsent(ctx, "id-carol", "app", at), storage.ErrNotFound)
	check(t, "family of a user without consent", mustGetFamily(t, s, "fe"), fe)
}

// testDeleteUserRemovesConsents: DeleteUser removes the user's consents,
// and only theirs.
func testDeleteUserRemovesConsents(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice, al := newUser("alice"), newUser("al") // id-al is a prefix of id-alice
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, al)
	for _, c := range []storage.Consent{
		newConsent(alice.ID, "app", "read"), newConsent(alice.ID, "other", "read"), newConsent(al.ID, "app", "read"),
	} {
		mustPutConsent(t, s, c)
	}
	if err := s.DeleteUser(ctx, "alice", t0); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	for _, client := range []string{"app", "other"} {
		_, err := s.GetConsent(ctx, alice.ID, client)
		wantErr(t, "consent of a deleted user", err, storage.ErrNotFound)
	}
	cs, _, err := s.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{})
	if err != nil {
		t.Fatalf("ListConsents: %v", err)
	}
	check(t, "consents left", cs, []storage.Consent{newConsent(al.ID, "app", "read")})
}

// testSweepAuthCode: Sweep removes codes from their ForgetAt on and
// sign-in sessions from their absolute or idle expiry on, counts them,
// and keeps the rest; a session touched later is kept past its old idle
// expiry, a code whose ForgetAt moved later past its old one.
func testSweepAuthCode(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	codes := map[string]time.Time{
		"gone": now.Add(-time.Second),
		"at":   now,
		"kept": now.Add(time.Nanosecond),
	}
	for name, forget := range codes {
		c := newCode(hash("code-"+name), "id-alice")
		c.ExpiresAt, c.ForgetAt = forget.Add(-time.Minute), forget
		mustCreateCode(t, s, c)
	}
	moved := newCode(hash("code-moved"), "id-alice")
	moved.ForgetAt = now.Add(-time.Minute)
	mustCreateCode(t, s, moved)
	err := s.RedeemCode(ctx, moved.Hash, func(st storage.CodeState) (storage.CodeChange, error) {
		c := st.Code
		c.ForgetAt = now.Add(time.Hour)
		return storage.CodeChange{Code: &c}, nil
	})
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}

	sessions := map[string]storage.LoginSession{}
	add := func(name string, idle, end time.Time) {
		ls := newLoginSession(hash("ls-"+name), "id-alice")
		ls.IdleExpiresAt, ls.ExpiresAt = idle, end
		mustCreateLoginSession(t, s, ls)
		sessions[name] = ls
	}
	add("idle", now.Add(-time.Second), now.Add(time.Hour))
	add("ended", now.Add(-time.Minute), now.Add(-time.Second))
	add("idle at now", now, now.Add(time.Hour))
	add("live", now.Add(time.Nanosecond), now.Add(time.Hour))
	add("touched", now.Add(-time.Minute), now.Add(time.Hour))
	if _, err := s.TouchLoginSession(ctx, sessions["touched"].Hash, now.Add(-2*time.Minute), now.Add(30*time.Minute)); err != nil {
		t.Fatalf("TouchLoginSession: %v", err)
	}
	// Also on the deny list, so the sweep mixes kinds.
	if err := s.DenyAccessToken(ctx, "old", now.Add(-time.Minute)); err != nil {
		t.Fatalf("DenyAccessToken: %v", err)
	}

	st, err := s.Sweep(ctx, now, 100)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if want := (storage.SweepStats{Codes: 2, LoginSessions: 3, Denied: 1}); sweepCounts(st) != want {
		t.Errorf("Sweep: got %+v, want %+v", st, want)
	}
	for name, wantGone := range map[string]bool{"gone": true, "at": true, "kept": false, "moved": false} {
		_, err := peekCode(t, s, hash("code-"+name))
		if wantGone {
			wantErr(t, "swept code "+name, err, storage.ErrNotFound)
		} else if err != nil {
			t.Errorf("code %s: %v, want kept", name, err)
		}
	}
	for name, wantGone := range map[string]bool{"idle": true, "ended": true, "idle at now": true, "live": false, "touched": false} {
		_, err := s.GetLoginSession(ctx, sessions[name].Hash)
		if wantGone {
			wantErr(t, "swept session "+name, err, storage.ErrNotFound)
		} else if err != nil {
			t.Errorf("session %s: %v, want kept", name, err)
		}
	}
	st, err = s.Sweep(ctx, now, 100)
	if err != nil || sweepCounts(st) != (storage.SweepStats{}) {
		t.Errorf("second Sweep: got %+v, %v, want nothing removed", st, err)
	}
	// Later, the rest goes.
	st, err = s.Sweep(ctx, now.Add(2*time.Hour), 100)
	if want := (storage.SweepStats{Codes: 2, LoginSessions: 2}); err != nil || sweepCounts(st) != want {
		t.Errorf("Sweep two hours later: got %+v, %v, want %+v", st, err, want)
	}
}

// testSweepAuthCodeLimit: a sweep removes at most limit codes and
// sessions and says when more remain.
func testSweepAuthCodeLimit(t *testing.T, s storage.Storage) {
	now := t0.Add(time.Hour)
	for i := range 3 {
		c := newCode(hash(fmt.Sprint("code-", i)), "id-alice")
		c.ForgetAt = now.Add(-time.Duration(i+1) * time.Minute)
		mustCreateCode(t, s, c)
	}
	for i := range 2 {
		ls := newLoginSession(hash(fmt.Sprint("ls-", i)), "id-alice")
		ls.IdleExpiresAt = now.Add(-time.Duration(i+1) * time.Second)
		mustCreateLoginSession(t, s, ls)
	}
	total := 0
	for i, want := range []struct {
		n    int
		more bool
	}{{2, true}, {2, true}, {1, false}, {0, false}} {
		st, err := s.Sweep(t.Context(), now, 2)
		if err != nil {
			t.Fatalf("Sweep %d: %v", i, err)
		}
		if n := st.Codes + st.LoginSessions; n != want.n || st.More != want.more || st.Tokens+st.Families+st.Denied != 0 {
			t.Errorf("Sweep %d with limit 2: got %+v, want %d codes and sessions, More %v", i, st, want.n, want.more)
		}
		total += st.Codes + st.LoginSessions
	}
	if total != 5 {
		t.Errorf("swept %d codes and sessions in all, want 5", total)
	}
}

// testAuthCodeCopies: what the new methods return (and hand to fn) is the
// caller's to change; what they were given is copied.
func testAuthCodeCopies(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	code := newCode(hash("c1"), "id-alice")
	mustCreateCode(t, s, code)
	code.Scope[0] = "changed after create"
	err := s.RedeemCode(ctx, code.Hash, func(st storage.CodeState) (storage.CodeChange, error) {
		st.Code.Scope[0] = "changed in fn"
		return storage.CodeChange{}, nil
	})
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	check(t, "code after editing copies", mustPeekCode(t, s, code.Hash).Code, newCode(hash("c1"), "id-alice"))

	mustCreateUsers(t, s, "alice")
	c := newConsent("id-alice", "app", "read", "write")
	mustPutConsent(t, s, c)
	c.Scopes[0] = "changed after put"
	got, _ := s.GetConsent(ctx, "id-alice", "app")
	got.Scopes[0] = "changed"
	list, _, _ := s.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{})
	list[0].Scopes[1] = "changed"
	got, _ = s.GetConsent(ctx, "id-alice", "app")
	check(t, "consent after editing copies", got, newConsent("id-alice", "app", "read", "write"))
}

// testConcurrentRedeemAndUserChange: goroutines exchange codes of one user
// while the user's sessions end (SessionGen moves on). An exchange
// decided on the user as it was must not commit after the change: the
// families seen right after UpdateUser returns are all there will be. A
// backend whose compare-and-swap does not cover the user it handed to fn
// fails this.
func testConcurrentRedeemAndUserChange(t *testing.T, s storage.Storage) {
	ctx := context.WithoutCancel(t.Context())
	u := newUser("alice")
	u.SessionGen = 3 // newCode's UserGen
	mustCreateUser(t, s, u)
	if err := s.CreateClient(ctx, newClient("app")); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	const n = 200
	codes := make(chan int, n)
	for i := range n {
		mustCreateCode(t, s, newCode(hash(fmt.Sprint("code-", i)), u.ID))
		codes <- i
	}
	close(codes)

	errDead := errors.New("user's sessions ended")
	var (
		mu        sync.Mutex
		exchanges int
		started   = make(chan struct{})
	)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range codes {
				err := s.RedeemCode(ctx, hash(fmt.Sprint("code-", i)), func(st storage.CodeState) (storage.CodeChange, error) {
					if st.User == nil || st.User.SessionGen != st.Code.UserGen {
						return storage.CodeChange{}, errDead
					}
					return exchange(t0.Add(time.Second), fmt.Sprint("f-", i))(st)
				})
				switch {
				case err == nil:
					mu.Lock()
					if exchanges++; exchanges == 5 {
						close(started)
					}
					mu.Unlock()
				case err == errDead:
				default:
					t.Errorf("RedeemCode: %v", err)
					return
				}
			}
		})
	}
	<-started
	if _, err := s.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) {
		u.EndSessions(t0, "password changed")
		return u, nil
	}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	atChange := len(listAll(t, s, storage.FamilyFilter{UserID: u.ID}))
	wg.Wait()
	if final := len(listAll(t, s, storage.FamilyFilter{UserID: u.ID})); final != atChange {
		t.Errorf("%d families when the user's sessions ended and %d at the end: exchanges committed after the change", atChange, final)
	}
}
