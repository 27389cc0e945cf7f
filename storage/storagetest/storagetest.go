// Package storagetest is the conformance suite of storage.Storage: every
// backend runs Run from its own tests, so that all of them behave alike.
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Storage {
//			s, err := Open(filepath.Join(t.TempDir(), "db"), nil)
//			...
//			t.Cleanup(func() { s.Close() })
//			return s
//		}, func(t *testing.T, backup []byte) storage.Storage {
//			// open what Backup wrote, the same way
//		})
//	}
//
// Times are compared with time.Time.Equal, so a backend may return them in
// any location and without monotonic reading.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/storage"
)

// Run runs the conformance suite. openBackup opens what the backend's
// Backup wrote as a storage of its own (closed when the test ends), so
// that the suite can read the copy back. newStorage must return a new, empty
// storage for each call and close it when the test ends (Close is called by
// some subtests too and must be safe to call twice).
func Run(t *testing.T, newStorage func(t *testing.T) storage.Storage, openBackup func(t *testing.T, backup []byte) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"UserCRUD", testUserCRUD},
		{"UpdateUser", testUpdateUser},
		{"DeleteUserRevokesFamilies", testDeleteUserRevokesFamilies},
		{"ClientCRUD", testClientCRUD},
		{"UpdateClient", testUpdateClient},
		{"ClientInstance", testClientInstance},
		{"DeleteClientEndsFamilies", testDeleteClientEndsFamilies},
		{"CreateFamily", testCreateFamily},
		{"CreateFamilyAtomic", testCreateFamilyAtomic},
		{"UpdateRefreshRotate", testUpdateRefreshRotate},
		{"UpdateRefreshFuncError", testUpdateRefreshFuncError},
		{"UpdateRefreshInvalidChange", testUpdateRefreshInvalidChange},
		{"UpdateRefreshNotFound", testUpdateRefreshNotFound},
		{"UpdateRefreshSuccessor", testUpdateRefreshSuccessor},
		{"UpdateRefreshUserAndClient", testUpdateRefreshUserAndClient},
		{"RevokeFamily", testRevokeFamily},
		{"ListFamilies", testListFamilies},
		{"ListFamiliesPages", testListFamiliesPages},
		{"DenyList", testDenyList},
		{"Keys", testKeys},
		{"Secret", testSecret},
		{"Sweep", testSweep},
		{"SweepLimit", testSweepLimit},
		{"SweepAtExpiry", testSweepAtExpiry},
		{"Copies", testCopies},
		{"Backup", func(t *testing.T, s storage.Storage) { testBackup(t, s, openBackup) }},
		{"Closed", testClosed},
		{"ConcurrentRefresh", testConcurrentRefresh},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentRefreshAndUserChange", testConcurrentRefreshAndUserChange},

		// The authorization code flow (authcode.go).
		{"LoginSessionCRUD", testLoginSessionCRUD},
		{"TouchLoginSession", testTouchLoginSession},
		{"CreateCode", testCreateCode},
		{"RedeemCode", testRedeemCode},
		{"RedeemCodeFuncError", testRedeemCodeFuncError},
		{"RedeemCodeInvalidChange", testRedeemCodeInvalidChange},
		{"RedeemCodeUserAndClient", testRedeemCodeUserAndClient},
		{"ConcurrentRedeem", testConcurrentRedeem},
		{"ConcurrentRedeemAndUserChange", testConcurrentRedeemAndUserChange},
		{"ConsentCRUD", testConsentCRUD},
		{"ListConsentsPages", testListConsentsPages},
		{"RevokeConsent", testRevokeConsent},
		{"DeleteUserRemovesConsents", testDeleteUserRemovesConsents},
		{"SweepAuthCode", testSweepAuthCode},
		{"SweepAuthCodeLimit", testSweepAuthCodeLimit},
		{"AuthCodeCopies", testAuthCodeCopies},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStorage(t))
		})
	}
}

// t0 is a fixed point in time, so the suite does not depend on the clock.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)

func newUser(name string) storage.User {
	return storage.User{
		ID:           "id-" + name,
		Username:     name,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		Scopes:       []string{"read", "write"},
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func newClient(id string) storage.Client {
	return storage.Client{
		ID:         id,
		SecretHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$c2VjcmV0",
		Grants:     []string{"password", "refresh_token"},
		Scopes:     []string{"read"},
		Audiences:  []string{"https://api.example"},
		CreatedAt:  t0,
		Instance:   "inst-" + id,
	}
}

// newFamily returns a family of user living from t0 to t0+30d and its first
// token, idle-expiring at t0+7d.
func newFamily(id, userID string) (storage.Family, storage.RefreshToken) {
	f := storage.Family{
		ID:         id,
		UserID:     userID,
		ClientID:   "app",
		Scope:      []string{"read", "write"},
		Audience:   "https://api.example",
		UserGen:    3,
		AuthTime:   t0,
		CreatedAt:  t0,
		LastUsedAt: t0,
		ExpiresAt:  t0.Add(30 * 24 * time.Hour),

		ClientInstance: "inst-app",                 // newClient("app")'s
		IdleExpiresAt:  t0.Add(7 * 24 * time.Hour), // the first token's
	}
	tok := storage.RefreshToken{
		Hash:          hash(id + "/0"),
		FamilyID:      id,
		IssuedAt:      t0,
		IdleExpiresAt: t0.Add(7 * 24 * time.Hour),
	}
	return f, tok
}

// hash makes a 64-character stand-in for a token hash.
func hash(s string) string {
	return fmt.Sprintf("%064x", []byte(s))[:64]
}

func mustCreateUser(t *testing.T, s storage.Storage, u storage.User) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.Username, err)
	}
}

func mustCreateFamily(t *testing.T, s storage.Storage, f storage.Family, tok storage.RefreshToken) {
	t.Helper()
	if err := s.CreateFamily(t.Context(), f, tok); err != nil {
		t.Fatalf("CreateFamily(%q): %v", f.ID, err)
	}
}

func mustGetFamily(t *testing.T, s storage.Storage, id string) storage.Family {
	t.Helper()
	f, err := s.GetFamily(t.Context(), id)
	if err != nil {
		t.Fatalf("GetFamily(%q): %v", id, err)
	}
	return f
}

// wantAsIs checks that the error of a caller's function came back as is,
// not wrapped (the contract's convention for every method taking one).
func wantAsIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if err != want {
		t.Errorf("%s: got error %v, want the function's error %v as is", what, err, want)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// norm returns v with every time.Time in UTC without monotonic reading and
// every empty slice nil, so that reflect.DeepEqual compares meaning.
func norm[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	normValue(rv)
	return v
}

var timeType = reflect.TypeFor[time.Time]()

func normValue(v reflect.Value) {
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normValue(v.Field(i))
			}
		}
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := range v.Len() {
			normValue(v.Index(i))
		}
	case v.Kind() == reflect.Pointer && !v.IsNil():
		normValue(v.Elem())
	}
}

func same[T any](a, b T) bool { return reflect.DeepEqual(norm(a), norm(b)) }

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !same(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testUserCRUD(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	bob.Admin = true
	mustCreateUser(t, s, bob)
	mustCreateUser(t, s, alice)

	got, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	check(t, "GetUser", got, alice)
	got, err = s.GetUserByID(ctx, bob.ID)
	if err != nil {
		t.Fatalf("GetUserByID: %v", err)
	}
	check(t, "GetUserByID", got, bob)

	list, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	slices.SortFunc(list, func(a, b storage.User) int { return strings.Compare(a.Username, b.Username) })
	check(t, "ListUsers", list, []storage.User{alice, bob})

	dupName := newUser("alice")
	dupName.ID = "other-id"
	wantErr(t, "CreateUser with a taken username", s.CreateUser(ctx, dupName), storage.ErrExists)
	dupID := newUser("carol")
	dupID.ID = alice.ID
	wantErr(t, "CreateUser with a taken id", s.CreateUser(ctx, dupID), storage.ErrExists)
	_, err = s.GetUser(ctx, "carol")
	wantErr(t, "GetUser after failed create", err, storage.ErrNotFound)

	_, err = s.GetUser(ctx, "nobody")
	wantErr(t, "GetUser(nobody)", err, storage.ErrNotFound)
	_, err = s.GetUserByID(ctx, "nobody")
	wantErr(t, "GetUserByID(nobody)", err, storage.ErrNotFound)
	wantErr(t, "DeleteUser(nobody)", s.DeleteUser(ctx, "nobody", t0), storage.ErrNotFound)

	if err := s.DeleteUser(ctx, "alice", t0); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err = s.GetUser(ctx, "alice")
	wantErr(t, "GetUser after delete", err, storage.ErrNotFound)
	_, err = s.GetUserByID(ctx, alice.ID)
	wantErr(t, "GetUserByID after delete", err, storage.ErrNotFound)
	// The name and the id are free again.
	mustCreateUser(t, s, alice)
}

func testUpdateUser(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice := newUser("alice")
	mustCreateUser(t, s, alice)

	want := alice
	want.Disabled = true
	want.SessionGen = 1
	want.UpdatedAt = t0.Add(time.Hour)
	got, err := s.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) {
		check(t, "UpdateUser fn input", u, alice)
		u.Disabled, u.SessionGen, u.UpdatedAt = true, u.SessionGen+1, t0.Add(time.Hour)
		return u, nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	check(t, "UpdateUser result", got, want)
	stored, _ := s.GetUser(ctx, "alice")
	check(t, "GetUser after UpdateUser", stored, want)

	errStop := errors.New("stop")
	_, err = s.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) {
		u.Admin = true
		return u, errStop
	})
	wantAsIs(t, "UpdateUser with failing fn", err, errStop)
	_, err = s.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) {
		u.ID, u.Admin = "new-id", true
		return u, nil
	})
	if err == nil {
		t.Error("UpdateUser changing the id: got nil error")
	}
	_, err = s.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) {
		u.Username, u.Admin = "mallory", true
		return u, nil
	})
	if err == nil {
		t.Error("UpdateUser changing the username: got nil error")
	}
	stored, _ = s.GetUser(ctx, "alice")
	check(t, "GetUser after failed updates", stored, want)

	_, err = s.UpdateUser(ctx, "nobody", func(u storage.User) (storage.User, error) { return u, nil })
	wantErr(t, "UpdateUser(nobody)", err, storage.ErrNotFound)
}

func testDeleteUserRevokesFamilies(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, bob)
	fa1, ta1 := newFamily("fa1", alice.ID)
	fa2, ta2 := newFamily("fa2", alice.ID)
	fb, tb := newFamily("fb", bob.ID)
	mustCreateFamily(t, s, fa1, ta1)
	mustCreateFamily(t, s, fa2, ta2)
	mustCreateFamily(t, s, fb, tb)
	if _, err := s.RevokeFamily(ctx, "fa2", t0, "logout"); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}

	at := t0.Add(time.Hour)
	if err := s.DeleteUser(ctx, "alice", at); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if f := mustGetFamily(t, s, "fa1"); !f.RevokedAt.Equal(at) || f.RevokeReason != "user deleted" {
		t.Errorf("family of deleted user: revoked at %v reason %q, want revoked at %v (the time passed in), reason %q", f.RevokedAt, f.RevokeReason, at, "user deleted")
	}
	if f := mustGetFamily(t, s, "fa2"); !f.RevokedAt.Equal(t0) || f.RevokeReason != "logout" {
		t.Errorf("already revoked family: revoked at %v reason %q, want first revocation kept (%v, logout)", f.RevokedAt, f.RevokeReason, t0)
	}
	if f := mustGetFamily(t, s, "fb"); f.Revoked() {
		t.Errorf("other user's family revoked: %+v", f)
	}
}

func testClientCRUD(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	app := newClient("app")
	pub := storage.Client{ID: "cli", Public: true, Grants: []string{"password"}, CreatedAt: t0, Instance: "inst-cli"}
	for _, c := range []storage.Client{app, pub} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient(%q): %v", c.ID, err)
		}
	}
	wantErr(t, "CreateClient with a taken id", s.CreateClient(ctx, newClient("app")), storage.ErrExists)

	got, err := s.GetClient(ctx, "app")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	check(t, "GetClient", got, app)
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	slices.SortFunc(list, func(a, b storage.Client) int { return strings.Compare(a.ID, b.ID) })
	check(t, "ListClients", list, []storage.Client{app, pub})

	_, err = s.GetClient(ctx, "nobody")
	wantErr(t, "GetClient(nobody)", err, storage.ErrNotFound)
	wantErr(t, "DeleteClient(nobody)", s.DeleteClient(ctx, "nobody"), storage.ErrNotFound)
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	_, err = s.GetClient(ctx, "app")
	wantErr(t, "GetClient after delete", err, storage.ErrNotFound)
}

func testUpdateClient(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	app := newClient("app")
	if err := s.CreateClient(ctx, app); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	want := app
	want.Scopes = []string{"read", "write"}
	got, err := s.UpdateClient(ctx, "app", func(c storage.Client) (storage.Client, error) {
		c.Scopes = append(c.Scopes, "write")
		return c, nil
	})
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	check(t, "UpdateClient result", got, want)

	errStop := errors.New("stop")
	_, err = s.UpdateClient(ctx, "app", func(c storage.Client) (storage.Client, error) {
		c.Public = true
		return c, errStop
	})
	wantAsIs(t, "UpdateClient with failing fn", err, errStop)
	_, err = s.UpdateClient(ctx, "app", func(c storage.Client) (storage.Client, error) {
		c.ID = "other"
		return c, nil
	})
	if err == nil {
		t.Error("UpdateClient changing the id: got nil error")
	}
	stored, _ := s.GetClient(ctx, "app")
	check(t, "GetClient after failed updates", stored, want)
	_, err = s.UpdateClient(ctx, "nobody", func(c storage.Client) (storage.Client, error) { return c, nil })
	wantErr(t, "UpdateClient(nobody)", err, storage.ErrNotFound)
}

func testClientInstance(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	// Without an Instance, CreateClient gives the client a new one.
	app := newClient("app")
	app.Instance = ""
	if err := s.CreateClient(ctx, app); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	got, err := s.GetClient(ctx, "app")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	first := got.Instance
	if first == "" {
		t.Fatal("CreateClient without an instance: stored client has none")
	}
	app.Instance = first
	check(t, "GetClient", got, app)

	// It never changes, and neither does LegacyFamilies.
	for _, tt := range []struct {
		name string
		edit func(*storage.Client)
	}{
		{"instance", func(c *storage.Client) { c.Instance = "other" }},
		{"instance emptied", func(c *storage.Client) { c.Instance = "" }},
		{"legacy families", func(c *storage.Client) { c.LegacyFamilies = true }},
	} {
		_, err := s.UpdateClient(ctx, "app", func(c storage.Client) (storage.Client, error) {
			tt.edit(&c)
			c.Scopes = []string{"changed"}
			return c, nil
		})
		if err == nil {
			t.Errorf("UpdateClient changing the %s: got nil error", tt.name)
		}
	}
	got, _ = s.GetClient(ctx, "app")
	check(t, "client after refused updates", got, app)

	// Deleted and created again with the same id: another instance.
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	app.Instance = ""
	if err := s.CreateClient(ctx, app); err != nil {
		t.Fatalf("CreateClient again: %v", err)
	}
	got, _ = s.GetClient(ctx, "app")
	if got.Instance == "" || got.Instance == first {
		t.Errorf("client created again: instance %q, want a new one (not %q)", got.Instance, first)
	}
	// A given instance is kept.
	given := newClient("given")
	if err := s.CreateClient(ctx, given); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	got, _ = s.GetClient(ctx, "given")
	check(t, "client created with an instance", got, given)
}

// testDeleteClientEndsFamilies: deleting a client ends its families in
// that one write; a new client with the same id inherits none of them.
func testDeleteClientEndsFamilies(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("alice")
	u.SessionGen = 3 // newFamily's UserGen
	mustCreateUser(t, s, u)
	app := newClient("app")
	app.Instance = ""
	if err := s.CreateClient(ctx, app); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	c, _ := s.GetClient(ctx, "app")
	f, tok := newFamily("f1", u.ID)
	f.ClientInstance = c.Instance
	mustCreateFamily(t, s, f, tok)
	state := func(what string, want storage.FamilyState) {
		t.Helper()
		var cp *storage.Client
		if c, err := s.GetClient(ctx, "app"); err == nil {
			cp = &c
		}
		if got := mustGetFamily(t, s, "f1").State(&u, cp, t0); got != want {
			t.Errorf("%s: family state %v, want %v", what, got, want)
		}
	}
	state("before delete", storage.FamilyLive)
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	state("after delete", storage.FamilyClientDeleted)
	if err := s.CreateClient(ctx, app); err != nil {
		t.Fatalf("CreateClient again: %v", err)
	}
	state("after the client is created again", storage.FamilyClientDeleted)
}

func testCreateFamily(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)
	check(t, "GetFamily", mustGetFamily(t, s, "f1"), f)
	gotTok, gotFam, err := s.GetRefreshToken(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("GetRefreshToken: %v", err)
	}
	check(t, "GetRefreshToken token", gotTok, tok)
	check(t, "GetRefreshToken family", gotFam, f)

	_, err = s.GetFamily(ctx, "nope")
	wantErr(t, "GetFamily(nope)", err, storage.ErrNotFound)
	_, _, err = s.GetRefreshToken(ctx, hash("nope"))
	wantErr(t, "GetRefreshToken(nope)", err, storage.ErrNotFound)
}

func testCreateFamilyAtomic(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)

	// Same family id, new token: nothing is written.
	_, tok2 := newFamily("f2", "u1")
	tok2.FamilyID = "f1"
	wantErr(t, "CreateFamily with a taken family id", s.CreateFamily(ctx, f, tok2), storage.ErrExists)
	_, _, err := s.GetRefreshToken(ctx, tok2.Hash)
	wantErr(t, "token of failed CreateFamily", err, storage.ErrNotFound)

	// New family id, taken token hash: nothing is written.
	f3, _ := newFamily("f3", "u1")
	tok3 := tok
	tok3.FamilyID = "f3"
	wantErr(t, "CreateFamily with a taken token hash", s.CreateFamily(ctx, f3, tok3), storage.ErrExists)
	_, err = s.GetFamily(ctx, "f3")
	wantErr(t, "family of failed CreateFamily", err, storage.ErrNotFound)
	list := listAll(t, s, storage.FamilyFilter{UserID: "u1"})
	check(t, "ListFamilies after failed creates", list, []storage.Family{f})
	gotTok, gotFam, _ := s.GetRefreshToken(ctx, tok.Hash)
	check(t, "token after failed create", gotTok, tok)
	check(t, "family after failed create", gotFam, f)
}

// rotate is the RefreshFunc of a plain rotation: spend tok, insert next.
func rotate(at time.Time, next string) storage.RefreshFunc {
	return func(st storage.RefreshState) (storage.RefreshChange, error) {
		tok, fam := st.Token, st.Family
		if tok.Spent() {
			return storage.RefreshChange{}, errSpent
		}
		tok.SpentAt, tok.SuccessorHash = at, next
		fam.LastUsedAt = at
		ins := storage.RefreshToken{Hash: next, FamilyID: fam.ID, IssuedAt: at, IdleExpiresAt: at.Add(7 * 24 * time.Hour)}
		fam.IdleExpiresAt = ins.IdleExpiresAt
		return storage.RefreshChange{Token: &tok, Family: &fam, Insert: &ins}, nil
	}
}

var errSpent = errors.New("token spent")

func testUpdateRefreshRotate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)
	at := t0.Add(time.Hour)
	next := hash("f1/1")

	var calls int
	err := s.UpdateRefresh(ctx, tok.Hash, func(st storage.RefreshState) (storage.RefreshChange, error) {
		calls++
		check(t, "fn token", st.Token, tok)
		check(t, "fn family", st.Family, f)
		if st.Successor != nil {
			t.Errorf("fn successor of an unspent token: got %+v, want nil", st.Successor)
		}
		return rotate(at, next)(st)
	})
	if err != nil {
		t.Fatalf("UpdateRefresh: %v", err)
	}
	if calls == 0 {
		t.Fatal("fn not called")
	}

	wantTok := tok
	wantTok.SpentAt, wantTok.SuccessorHash = at, next
	wantFam := f
	wantFam.LastUsedAt = at
	wantFam.IdleExpiresAt = at.Add(7 * 24 * time.Hour) // the successor's
	gotTok, gotFam, err := s.GetRefreshToken(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("GetRefreshToken(old): %v", err)
	}
	check(t, "old token", gotTok, wantTok)
	check(t, "family", gotFam, wantFam)
	gotNext, _, err := s.GetRefreshToken(ctx, next)
	if err != nil {
		t.Fatalf("GetRefreshToken(new): %v", err)
	}
	check(t, "new token", gotNext, storage.RefreshToken{Hash: next, FamilyID: "f1", IssuedAt: at, IdleExpiresAt: at.Add(7 * 24 * time.Hour)})

	// A change with only some fields leaves the others alone.
	err = s.UpdateRefresh(ctx, next, func(st storage.RefreshState) (storage.RefreshChange, error) {
		fam := st.Family
		fam.LastUsedAt = at.Add(time.Minute)
		return storage.RefreshChange{Family: &fam}, nil
	})
	if err != nil {
		t.Fatalf("UpdateRefresh (family only): %v", err)
	}
	gotNext2, gotFam, _ := s.GetRefreshToken(ctx, next)
	check(t, "token after family-only change", gotNext2, gotNext)
	if !gotFam.LastUsedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("LastUsedAt: got %v, want %v", gotFam.LastUsedAt, at.Add(time.Minute))
	}
}

func testUpdateRefreshFuncError(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)
	errStop := errors.New("stop")
	err := s.UpdateRefresh(ctx, tok.Hash, func(st storage.RefreshState) (storage.RefreshChange, error) {
		c, _ := rotate(t0, hash("f1/1"))(st)
		return c, errStop
	})
	if err != errStop {
		t.Errorf("UpdateRefresh with failing fn: got %v, want the fn's error as is", err)
	}
	gotTok, gotFam, _ := s.GetRefreshToken(ctx, tok.Hash)
	check(t, "token after aborted update", gotTok, tok)
	check(t, "family after aborted update", gotFam, f)
	_, _, err = s.GetRefreshToken(ctx, hash("f1/1"))
	wantErr(t, "inserted token of aborted update", err, storage.ErrNotFound)
}

func testUpdateRefreshInvalidChange(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)
	g, gtok := newFamily("g1", "u1")
	mustCreateFamily(t, s, g, gtok)

	tests := []struct {
		name   string
		change func(tok storage.RefreshToken, fam storage.Family) storage.RefreshChange
	}{
		{"token hash changed", func(tok storage.RefreshToken, fam storage.Family) storage.RefreshChange {
			tok.Hash = hash("other")
			return storage.RefreshChange{Token: &tok}
		}},
		{"token family changed", func(tok storage.RefreshToken, fam storage.Family) storage.RefreshChange {
			tok.FamilyID = "g1"
			return storage.RefreshChange{Token: &tok}
		}},
		{"family id changed", func(tok storage.RefreshToken, fam storage.Family) storage.RefreshChange {
			fam.ID = "g1"
			return storage.RefreshChange{Family: &fam}
		}},
		{"insert into another family", func(tok storage.RefreshToken, fam storage.Family) storage.RefreshChange {
			tok.SpentAt = t0
			return storage.RefreshChange{Token: &tok, Insert: &storage.RefreshToken{Hash: hash("f1/x"), FamilyID: "g1", IssuedAt: t0, IdleExpiresAt: t0.Add(time.Hour)}}
		}},
		{"insert an existing hash", func(tok storage.RefreshToken, fam storage.Family) storage.RefreshChange {
			tok.SpentAt = t0
			return storage.RefreshChange{Token: &tok, Insert: &storage.RefreshToken{Hash: gtok.Hash, FamilyID: "f1", IssuedAt: t0, IdleExpiresAt: t0.Add(time.Hour)}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.UpdateRefresh(ctx, tok.Hash, func(st storage.RefreshState) (storage.RefreshChange, error) {
				return tt.change(st.Token, st.Family), nil
			})
			if err == nil {
				t.Fatal("got nil error, want the change refused")
			}
			gotTok, gotFam, _ := s.GetRefreshToken(ctx, tok.Hash)
			check(t, "token after refused change", gotTok, tok)
			check(t, "family after refused change", gotFam, f)
			check(t, "other family", mustGetFamily(t, s, "g1"), g)
			gotG, _, _ := s.GetRefreshToken(ctx, gtok.Hash)
			check(t, "other family's token", gotG, gtok)
			_, _, err = s.GetRefreshToken(ctx, hash("f1/x"))
			wantErr(t, "token inserted by refused change", err, storage.ErrNotFound)
		})
	}
}

func testUpdateRefreshNotFound(t *testing.T, s storage.Storage) {
	called := false
	err := s.UpdateRefresh(t.Context(), hash("nope"), func(storage.RefreshState) (storage.RefreshChange, error) {
		called = true
		return storage.RefreshChange{}, nil
	})
	wantErr(t, "UpdateRefresh(unknown)", err, storage.ErrNotFound)
	if called {
		t.Error("fn called for an unknown token")
	}
}

func testUpdateRefreshSuccessor(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)
	next := hash("f1/1")
	if err := s.UpdateRefresh(ctx, tok.Hash, rotate(t0.Add(time.Hour), next)); err != nil {
		t.Fatalf("UpdateRefresh: %v", err)
	}
	wantSucc, _, _ := s.GetRefreshToken(ctx, next)

	// Presenting the spent token again: fn sees the successor.
	var got *storage.RefreshToken
	err := s.UpdateRefresh(ctx, tok.Hash, func(st storage.RefreshState) (storage.RefreshChange, error) {
		got = st.Successor
		return storage.RefreshChange{}, nil
	})
	if err != nil {
		t.Fatalf("UpdateRefresh (no change): %v", err)
	}
	if got == nil {
		t.Fatal("successor: got nil, want the inserted token")
	}
	check(t, "successor", *got, wantSucc)
}

// testUpdateRefreshUserAndClient: fn sees the family's user and client as
// committed, and nil once deleted.
func testUpdateRefreshUserAndClient(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("alice")
	mustCreateUser(t, s, u)
	mustCreateUser(t, s, newUser("bob"))
	c := newClient("app")
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if err := s.CreateClient(ctx, newClient("other")); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	f, tok := newFamily("f1", u.ID)
	mustCreateFamily(t, s, f, tok)

	seen := func(what string) (*storage.User, *storage.Client) {
		t.Helper()
		var gu *storage.User
		var gc *storage.Client
		err := s.UpdateRefresh(ctx, tok.Hash, func(st storage.RefreshState) (storage.RefreshChange, error) {
			gu, gc = st.User, st.Client
			return storage.RefreshChange{}, nil
		})
		if err != nil {
			t.Fatalf("UpdateRefresh (%s): %v", what, err)
		}
		return gu, gc
	}
	gu, gc := seen("both exist")
	if gu == nil || gc == nil {
		t.Fatalf("fn saw user %v, client %v: want both", gu, gc)
	}
	check(t, "fn user", *gu, u)
	check(t, "fn client", *gc, c)

	// A change committed before is seen.
	u2, err := s.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) {
		u.EndSessions(t0.Add(time.Hour), "password changed")
		u.Scopes = []string{"read"}
		return u, nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	c2, err := s.UpdateClient(ctx, "app", func(c storage.Client) (storage.Client, error) {
		c.Scopes = []string{"write"}
		return c, nil
	})
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	gu, gc = seen("after updates")
	if gu == nil || gc == nil {
		t.Fatalf("fn saw user %v, client %v: want both", gu, gc)
	}
	check(t, "fn user after UpdateUser", *gu, u2)
	check(t, "fn client after UpdateClient", *gc, c2)

	// Deleted: nil.
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, gc = seen("client deleted"); gc != nil {
		t.Errorf("fn client after DeleteClient: got %+v, want nil", gc)
	}
	if err := s.DeleteUser(ctx, "alice", t0); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if gu, _ = seen("user deleted"); gu != nil {
		t.Errorf("fn user after DeleteUser: got %+v, want nil", gu)
	}
}

func testRevokeFamily(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)
	got, err := s.RevokeFamily(ctx, "f1", t0.Add(time.Hour), "reuse")
	if err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	want := f
	want.RevokedAt, want.RevokeReason = t0.Add(time.Hour), "reuse"
	check(t, "RevokeFamily result", got, want)
	got, err = s.RevokeFamily(ctx, "f1", t0.Add(2*time.Hour), "logout")
	if err != nil {
		t.Fatalf("RevokeFamily again: %v", err)
	}
	check(t, "RevokeFamily again keeps the first revocation", got, want)
	check(t, "GetFamily", mustGetFamily(t, s, "f1"), want)
	_, err = s.RevokeFamily(ctx, "nope", t0, "x")
	wantErr(t, "RevokeFamily(nope)", err, storage.ErrNotFound)
}

func testListFamilies(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := t0.Add(time.Hour)
	a1, ta1 := newFamily("a1", "alice")
	a2, ta2 := newFamily("a2", "alice")
	a3, ta3 := newFamily("a3", "alice")
	a3.ExpiresAt = now
	ta3.IdleExpiresAt = now
	b1, tb1 := newFamily("b1", "bob")
	mustCreateFamily(t, s, a1, ta1)
	mustCreateFamily(t, s, a2, ta2)
	mustCreateFamily(t, s, a3, ta3)
	mustCreateFamily(t, s, b1, tb1)
	a2, _ = s.RevokeFamily(ctx, "a2", t0, "logout")

	ids := func(fs []storage.Family) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.ID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name   string
		filter storage.FamilyFilter
		want   []string
	}{
		{"all", storage.FamilyFilter{}, []string{"a1", "a2", "a3", "b1"}},
		{"user", storage.FamilyFilter{UserID: "alice"}, []string{"a1", "a2", "a3"}},
		{"unknown user", storage.FamilyFilter{UserID: "carol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listAll(t, s, tt.filter)
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("ListFamilies(%+v): got %v, want %v", tt.filter, ids(got), tt.want)
			}
		})
	}
	got := listAll(t, s, storage.FamilyFilter{UserID: "alice"})
	for _, f := range got {
		if f.ID == "a2" {
			check(t, "listed family", f, a2)
		}
	}
}

// listAll reads every page of ListFamilies with storage.ListAllFamilies.
func listAll(t *testing.T, s storage.Storage, filter storage.FamilyFilter) []storage.Family {
	t.Helper()
	fams, err := storage.ListAllFamilies(t.Context(), s, filter)
	if err != nil {
		t.Fatalf("ListAllFamilies(%+v): %v", filter, err)
	}
	return fams
}

// testListFamiliesPages: pages are in family id order, hold at most the
// limit, follow each other from the cursor without gap or repeat, and the
// last one has no next cursor.
func testListFamiliesPages(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	var all, alice []string
	for i := range 7 {
		user := "bob"
		if i%2 == 0 {
			user = "alice"
		}
		id := fmt.Sprintf("f%02d", (i*5)%7) // created out of id order
		f, tok := newFamily(id, user)
		mustCreateFamily(t, s, f, tok)
		all = append(all, id)
		if user == "alice" {
			alice = append(alice, id)
		}
	}
	slices.Sort(all)
	slices.Sort(alice)
	tests := []struct {
		name   string
		filter storage.FamilyFilter
		limit  int
		want   [][]string
	}{
		{"all, 3 a page", storage.FamilyFilter{}, 3, [][]string{all[:3], all[3:6], all[6:]}},
		{"all, 7 a page", storage.FamilyFilter{}, 7, [][]string{all}},
		{"all, 1 a page", storage.FamilyFilter{}, 1, [][]string{{all[0]}, {all[1]}, {all[2]}, {all[3]}, {all[4]}, {all[5]}, {all[6]}}},
		{"all, default limit", storage.FamilyFilter{}, 0, [][]string{all}},
		{"user, 2 a page", storage.FamilyFilter{UserID: "alice"}, 2, [][]string{alice[:2], alice[2:]}},
		{"unknown user", storage.FamilyFilter{UserID: "carol"}, 2, [][]string{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]string
			page := storage.Page{Limit: tt.limit}
			for range 20 {
				fams, next, err := s.ListFamilies(ctx, tt.filter, page)
				if err != nil {
					t.Fatalf("ListFamilies(%+v, %+v): %v", tt.filter, page, err)
				}
				var ids []string
				for _, f := range fams {
					ids = append(ids, f.ID)
				}
				got = append(got, ids)
				if next == "" {
					break
				}
				page.After = next
			}
			// A backend may end with an empty page after a full one.
			if n := len(got); n > len(tt.want) && n > 1 && len(got[n-1]) == 0 {
				got = got[:n-1]
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pages: got %q, want %q", got, tt.want)
			}
		})
	}
	// A cursor between ids starts after it.
	fams, _, err := s.ListFamilies(ctx, storage.FamilyFilter{}, storage.Page{After: all[2] + "x", Limit: 2})
	if err != nil {
		t.Fatalf("ListFamilies after a cursor that is no id: %v", err)
	}
	if len(fams) != 2 || fams[0].ID != all[3] || fams[1].ID != all[4] {
		t.Errorf("ListFamilies after %q: got %d families, want %v", all[2]+"x", len(fams), all[3:5])
	}
}

func testDenyList(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	denied, err := s.AccessTokenDenied(ctx, "jti-1")
	if err != nil || denied {
		t.Fatalf("AccessTokenDenied before deny: got %v, %v, want false, nil", denied, err)
	}
	if err := s.DenyAccessToken(ctx, "jti-1", t0); err != nil {
		t.Fatalf("DenyAccessToken: %v", err)
	}
	if err := s.DenyAccessToken(ctx, "jti-1", t0); err != nil {
		t.Fatalf("DenyAccessToken again: %v", err)
	}
	denied, err = s.AccessTokenDenied(ctx, "jti-1")
	if err != nil || !denied {
		t.Errorf("AccessTokenDenied after deny: got %v, %v, want true, nil", denied, err)
	}
	denied, _ = s.AccessTokenDenied(ctx, "jti-2")
	if denied {
		t.Error("AccessTokenDenied(jti-2): got true, want false")
	}
}

func testKeys(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 0 {
		t.Fatalf("ListKeys on empty storage: got %v, %v, want none", keys, err)
	}
	k1 := storage.Key{ID: "k1", State: storage.KeyActive, Private: []byte(`{"kty":"RSA"}`), Bits: 2048, CreatedAt: t0, PublishedAt: t0, ActivatedAt: t0}
	k2 := storage.Key{ID: "k2", State: storage.KeyNext, Private: []byte("eyJhbGciOi.x.y.z.w"), Encrypted: true, Bits: 256, Alg: "ES256", CreatedAt: t0, PublishedAt: t0}
	got, err := s.UpdateKeys(ctx, func(old []storage.Key) ([]storage.Key, error) {
		return append(old, k1, k2), nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	want := []storage.Key{k1, k2}
	check(t, "UpdateKeys result", got, want)

	// A failing fn changes nothing, even after editing its input.
	errStop := errors.New("stop")
	_, err = s.UpdateKeys(ctx, func(old []storage.Key) ([]storage.Key, error) {
		old[0].State = storage.KeyRetired
		return old[:1], errStop
	})
	wantAsIs(t, "UpdateKeys with failing fn", err, errStop)
	keys, err = s.ListKeys(ctx)
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	check(t, "ListKeys after failed update", keys, want)

	// The whole set is replaced: a key left out is gone.
	k2.State, k1.State = storage.KeyActive, storage.KeyRetired
	_, err = s.UpdateKeys(ctx, func(old []storage.Key) ([]storage.Key, error) {
		check(t, "UpdateKeys fn input", old, want)
		return []storage.Key{k2}, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	keys, _ = s.ListKeys(ctx)
	check(t, "ListKeys after replacing the set", keys, []storage.Key{k2})
}

func testSecret(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	calls := 0
	gen := func() ([]byte, error) {
		calls++
		return []byte(fmt.Sprintf("secret-%d", calls)), nil
	}
	a, err := s.Secret(ctx, "refresh", gen)
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	b, err := s.Secret(ctx, "refresh", gen)
	if err != nil {
		t.Fatalf("Secret again: %v", err)
	}
	if !bytes.Equal(a, b) || string(a) != "secret-1" {
		t.Errorf("Secret: got %q then %q, want secret-1 both times", a, b)
	}
	if calls != 1 {
		t.Errorf("gen called %d times, want 1", calls)
	}
	other, _ := s.Secret(ctx, "other", gen)
	if string(other) != "secret-2" {
		t.Errorf("Secret(other): got %q, want secret-2", other)
	}
	errGen := errors.New("no entropy")
	_, err = s.Secret(ctx, "broken", func() ([]byte, error) { return nil, errGen })
	wantAsIs(t, "Secret with failing gen", err, errGen)

	// Concurrent first uses agree on one value.
	var wg sync.WaitGroup
	got := make([][]byte, 20)
	for i := range got {
		wg.Go(func() {
			v, err := s.Secret(ctx, "race", func() ([]byte, error) { return []byte(fmt.Sprint("race-", i)), nil })
			if err != nil {
				t.Errorf("Secret(race): %v", err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("concurrent Secret: got %q and %q, want one value", got[0], got[i])
		}
	}
}

func testSweep(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := t0.Add(10 * 24 * time.Hour)

	// Family alive, its first token idle-expired, its second alive.
	live, liveOld := newFamily("live", "u1")
	mustCreateFamily(t, s, live, liveOld)
	liveNext := hash("live/1")
	if err := s.UpdateRefresh(ctx, liveOld.Hash, rotate(t0.Add(time.Hour), liveNext)); err != nil {
		t.Fatalf("UpdateRefresh: %v", err)
	}
	err := s.UpdateRefresh(ctx, liveNext, func(st storage.RefreshState) (storage.RefreshChange, error) {
		tok := st.Token
		tok.IdleExpiresAt = now.Add(time.Hour) // used recently: idle expiry moves
		return storage.RefreshChange{Token: &tok}, nil
	})
	if err != nil {
		t.Fatalf("UpdateRefresh: %v", err)
	}
	// Family past its absolute expiry, with its token.
	dead, deadTok := newFamily("dead", "u1")
	dead.ExpiresAt = now.Add(-time.Second)
	deadTok.IdleExpiresAt = dead.ExpiresAt
	mustCreateFamily(t, s, dead, deadTok)
	// Revoked but not expired: kept (reuse must still be detected).
	revoked, revokedTok := newFamily("revoked", "u1")
	revokedTok.IdleExpiresAt = now.Add(time.Hour)
	mustCreateFamily(t, s, revoked, revokedTok)
	if _, err := s.RevokeFamily(ctx, "revoked", t0, "logout"); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	// Deny list: one past, one future.
	if err := s.DenyAccessToken(ctx, "old", now.Add(-time.Minute)); err != nil {
		t.Fatalf("DenyAccessToken: %v", err)
	}
	if err := s.DenyAccessToken(ctx, "new", now.Add(time.Minute)); err != nil {
		t.Fatalf("DenyAccessToken: %v", err)
	}

	st, err := s.Sweep(ctx, now, 100)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	want := storage.SweepStats{Tokens: 2, Families: 1, Denied: 1}
	if sweepCounts(st) != want {
		t.Errorf("Sweep: got %+v, want %+v", st, want)
	}
	gone := []string{liveOld.Hash, deadTok.Hash}
	for _, h := range gone {
		if _, _, err := s.GetRefreshToken(ctx, h); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("expired token %.8s: got %v, want ErrNotFound", h, err)
		}
	}
	for _, h := range []string{liveNext, revokedTok.Hash} {
		if _, _, err := s.GetRefreshToken(ctx, h); err != nil {
			t.Errorf("live token %.8s: %v", h, err)
		}
	}
	if _, err := s.GetFamily(ctx, "dead"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("expired family: got %v, want ErrNotFound", err)
	}
	fams := listAll(t, s, storage.FamilyFilter{UserID: "u1"})
	if len(fams) != 2 {
		t.Errorf("ListFamilies after sweep: got %d families, want 2 (live, revoked)", len(fams))
	}
	if d, _ := s.AccessTokenDenied(ctx, "old"); d {
		t.Error("expired deny entry kept")
	}
	if d, _ := s.AccessTokenDenied(ctx, "new"); !d {
		t.Error("live deny entry removed")
	}

	st, err = s.Sweep(ctx, now, 100)
	if err != nil || sweepCounts(st) != (storage.SweepStats{}) {
		t.Errorf("second Sweep: got %+v, %v, want nothing removed", st, err)
	}
}

// sweepCounts is st without WriteTime, which a store may or may not
// measure; a negative one is never right and is kept so the comparison
// fails.
func sweepCounts(st storage.SweepStats) storage.SweepStats {
	if st.WriteTime > 0 {
		st.WriteTime = 0
	}
	return st
}

// testSweepAtExpiry: Sweep keeps a family however dead until its
// ExpiresAt and removes it from that instant on, the instant Family.State
// first says FamilyExpired: the sweep's retention rule and the liveness
// rule agree on when a family expires.
func testSweepAtExpiry(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("alice")
	u.SessionGen = 3 // newFamily's UserGen
	mustCreateUser(t, s, u)
	app := newClient("app")
	if err := s.CreateClient(ctx, app); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	now := t0.Add(time.Hour)
	due, dueTok := newFamily("due", u.ID)
	due.ExpiresAt, dueTok.IdleExpiresAt = now, now
	kept, keptTok := newFamily("kept", u.ID)
	kept.ExpiresAt, keptTok.IdleExpiresAt = now.Add(time.Nanosecond), now.Add(time.Nanosecond)
	revoked, revokedTok := newFamily("revoked", u.ID)
	revoked.ExpiresAt, revokedTok.IdleExpiresAt = now.Add(time.Nanosecond), now.Add(time.Nanosecond)
	for _, f := range []struct {
		f   storage.Family
		tok storage.RefreshToken
	}{{due, dueTok}, {kept, keptTok}, {revoked, revokedTok}} {
		mustCreateFamily(t, s, f.f, f.tok)
	}
	if _, err := s.RevokeFamily(ctx, "revoked", t0, "logout"); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	for _, tt := range []struct {
		f    storage.Family
		want storage.FamilyState
	}{{due, storage.FamilyExpired}, {kept, storage.FamilyLive}} {
		if got := tt.f.State(&u, &app, now); got != tt.want {
			t.Fatalf("family %s: State at %v is %v, want %v", tt.f.ID, now, got, tt.want)
		}
	}
	st, err := s.Sweep(ctx, now, 100)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if want := (storage.SweepStats{Tokens: 1, Families: 1}); sweepCounts(st) != want {
		t.Errorf("Sweep at the expiry instant: got %+v, want %+v", st, want)
	}
	_, err = s.GetFamily(ctx, "due")
	wantErr(t, "family at its expiry instant", err, storage.ErrNotFound)
	for _, id := range []string{"kept", "revoked"} {
		if _, err := s.GetFamily(ctx, id); err != nil {
			t.Errorf("family %s, expiring 1ns later: %v, want kept", id, err)
		}
	}
}

func testSweepLimit(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := t0
	for i := range 5 {
		if err := s.DenyAccessToken(ctx, fmt.Sprint("old-", i), now.Add(-time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatalf("DenyAccessToken: %v", err)
		}
	}
	if err := s.DenyAccessToken(ctx, "future", now.Add(time.Minute)); err != nil {
		t.Fatalf("DenyAccessToken: %v", err)
	}
	for i, want := range []storage.SweepStats{
		{Denied: 2, More: true},
		{Denied: 2, More: true},
		{Denied: 1},
		{},
	} {
		got, err := s.Sweep(ctx, now, 2)
		if err != nil {
			t.Fatalf("Sweep %d: %v", i, err)
		}
		if sweepCounts(got) != want {
			t.Errorf("Sweep %d with limit 2: got %+v, want %+v", i, got, want)
		}
	}
	if d, _ := s.AccessTokenDenied(ctx, "future"); !d {
		t.Error("live deny entry removed")
	}
}

func testCopies(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u := newUser("alice")
	mustCreateUser(t, s, u)
	u.Scopes[0] = "changed after create"
	u = newUser("alice")
	got, _ := s.GetUser(ctx, "alice")
	got.Scopes[0] = "changed"
	again, _ := s.GetUser(ctx, "alice")
	check(t, "user after editing a returned copy", again, u)

	c := newClient("app")
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	gc, _ := s.GetClient(ctx, "app")
	gc.Grants[0] = "changed"
	list, _ := s.ListClients(ctx)
	list[0].Scopes[0] = "changed"
	gc, _ = s.GetClient(ctx, "app")
	check(t, "client after editing returned copies", gc, newClient("app"))

	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)
	f.Scope[0] = "changed after create"
	f, _ = newFamily("f1", "u1")
	_, gf, _ := s.GetRefreshToken(ctx, tok.Hash)
	gf.Scope[0] = "changed"
	fams := listAll(t, s, storage.FamilyFilter{})
	fams[0].Scope[0] = "changed"
	check(t, "family after editing returned copies", mustGetFamily(t, s, "f1"), f)

	key := storage.Key{ID: "k1", State: storage.KeyActive, Private: []byte("private"), CreatedAt: t0}
	ret, err := s.UpdateKeys(ctx, func([]storage.Key) ([]storage.Key, error) { return []storage.Key{key}, nil })
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	key.Private[0] = 'X'
	ret[0].Private[1] = 'X'
	keys, _ := s.ListKeys(ctx)
	keys[0].Private[2] = 'X'
	keys, _ = s.ListKeys(ctx)
	if string(keys[0].Private) != "private" {
		t.Errorf("key after editing returned copies: got %q, want %q", keys[0].Private, "private")
	}

	sec, _ := s.Secret(ctx, "s", func() ([]byte, error) { return []byte("secret"), nil })
	sec[0] = 'X'
	sec, _ = s.Secret(ctx, "s", nil)
	if string(sec) != "secret" {
		t.Errorf("secret after editing a returned copy: got %q, want %q", sec, "secret")
	}
}

// testBackup: the copy Backup writes opens as a storage that holds what
// the original held when Backup ran (users, clients, families and their
// tokens, keys, secrets, deny entries, sign-in sessions, codes, consents),
// and nothing written afterwards.
func testBackup(t *testing.T, s storage.Storage, openBackup func(t *testing.T, backup []byte) storage.Storage) {
	ctx := t.Context()
	alice := newUser("alice")
	alice.Admin, alice.SessionGen = true, 3
	alice.EndSessions(t0.Add(time.Hour), "password changed")
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, newUser("bob"))
	for _, c := range []storage.Client{newClient("app"), {ID: "cli", Public: true, Grants: []string{"password"}, CreatedAt: t0, Instance: "inst-cli", BuiltIn: true}} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient(%q): %v", c.ID, err)
		}
	}
	f1, tok1 := newFamily("f1", alice.ID)
	mustCreateFamily(t, s, f1, tok1)
	next := hash("f1/1")
	if err := s.UpdateRefresh(ctx, tok1.Hash, rotate(t0.Add(time.Minute), next)); err != nil {
		t.Fatalf("UpdateRefresh: %v", err)
	}
	f2, tok2 := newFamily("f2", alice.ID)
	mustCreateFamily(t, s, f2, tok2)
	if _, err := s.RevokeFamily(ctx, "f2", t0.Add(time.Hour), "logout"); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	_, err := s.UpdateKeys(ctx, func([]storage.Key) ([]storage.Key, error) {
		return []storage.Key{
			{ID: "k1", State: storage.KeyActive, Private: []byte(`{"kty":"RSA"}`), Bits: 2048, CreatedAt: t0, PublishedAt: t0, ActivatedAt: t0},
			{ID: "k2", State: storage.KeyNext, Private: []byte("a.b.c.d.e"), Encrypted: true, Bits: 2048, CreatedAt: t0, PublishedAt: t0},
		}, nil
	})
	if err != nil {
		t.Fatalf("UpdateKeys: %v", err)
	}
	if _, err := s.Secret(ctx, "refresh", func() ([]byte, error) { return []byte("secret bytes"), nil }); err != nil {
		t.Fatalf("Secret: %v", err)
	}
	if err := s.DenyAccessToken(ctx, "jti-1", t0.Add(time.Hour)); err != nil {
		t.Fatalf("DenyAccessToken: %v", err)
	}
	ls := newLoginSession(hash("ls-1"), alice.ID)
	mustCreateLoginSession(t, s, ls)
	if _, err := s.TouchLoginSession(ctx, ls.Hash, t0.Add(time.Minute), t0.Add(time.Hour+time.Minute)); err != nil {
		t.Fatalf("TouchLoginSession: %v", err)
	}
	code, spent := newCode(hash("code-1"), alice.ID), newCode(hash("code-2"), alice.ID)
	mustCreateCode(t, s, code)
	mustCreateCode(t, s, spent)
	if err := s.RedeemCode(ctx, spent.Hash, exchange(t0.Add(time.Second), "f3")); err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	mustPutConsent(t, s, newConsent(alice.ID, "app", "read"))
	mustPutConsent(t, s, newConsent("id-bob", "app", "read", "write"))
	hashes := []string{tok1.Hash, next, tok2.Hash}
	want := readAll(t, s, hashes)
	wantLS, _ := s.GetLoginSession(ctx, ls.Hash)
	wantCodes := []storage.CodeState{mustPeekCode(t, s, code.Hash), mustPeekCode(t, s, spent.Hash)}
	wantConsents, _, err := s.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{})
	if err != nil {
		t.Fatalf("ListConsents: %v", err)
	}

	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("Backup: reported %d bytes, wrote %d", n, buf.Len())
	}
	// Written after the backup: not in the copy.
	mustCreateUser(t, s, newUser("carol"))

	c := openBackup(t, buf.Bytes())
	got := readAll(t, c, hashes)
	check(t, "users in the copy", got.users, want.users)
	check(t, "clients in the copy", got.clients, want.clients)
	check(t, "families in the copy", got.families, want.families)
	check(t, "tokens in the copy", got.tokens, want.tokens)
	check(t, "keys in the copy", got.keys, want.keys)
	if sec, err := c.Secret(ctx, "refresh", nil); err != nil || string(sec) != "secret bytes" {
		t.Errorf("secret in the copy: got %q, %v, want %q", sec, err, "secret bytes")
	}
	if d, err := c.AccessTokenDenied(ctx, "jti-1"); err != nil || !d {
		t.Errorf("deny entry in the copy: got %v, %v, want denied", d, err)
	}
	if got, err := c.GetLoginSession(ctx, ls.Hash); err != nil {
		t.Errorf("sign-in session in the copy: %v", err)
	} else {
		check(t, "sign-in session in the copy", got, wantLS)
	}
	for i, h := range []string{code.Hash, spent.Hash} {
		check(t, "code in the copy", mustPeekCode(t, c, h), wantCodes[i])
	}
	gotConsents, _, err := c.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{})
	if err != nil {
		t.Fatalf("ListConsents in the copy: %v", err)
	}
	check(t, "consents in the copy", gotConsents, wantConsents)
	_, err = c.GetUser(ctx, "carol")
	wantErr(t, "user created after the backup, in the copy", err, storage.ErrNotFound)
}

// contents is what testBackup compares, sorted.
type contents struct {
	users    []storage.User
	clients  []storage.Client
	families []storage.Family
	tokens   []storage.RefreshToken
	keys     []storage.Key
}

func readAll(t *testing.T, s storage.Storage, hashes []string) contents {
	t.Helper()
	ctx := t.Context()
	var c contents
	var err error
	if c.users, err = s.ListUsers(ctx); err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	slices.SortFunc(c.users, func(a, b storage.User) int { return strings.Compare(a.Username, b.Username) })
	if c.clients, err = s.ListClients(ctx); err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	slices.SortFunc(c.clients, func(a, b storage.Client) int { return strings.Compare(a.ID, b.ID) })
	c.families = listAll(t, s, storage.FamilyFilter{})
	for _, h := range hashes {
		tok, _, err := s.GetRefreshToken(ctx, h)
		if err != nil {
			t.Fatalf("GetRefreshToken(%.8s): %v", h, err)
		}
		c.tokens = append(c.tokens, tok)
	}
	if c.keys, err = s.ListKeys(ctx); err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	return c
}

func testClosed(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	wantErr(t, "Ping after Close", s.Ping(ctx), storage.ErrClosed)
	_, err := s.GetUser(ctx, "alice")
	wantErr(t, "GetUser after Close", err, storage.ErrClosed)
	wantErr(t, "CreateUser after Close", s.CreateUser(ctx, newUser("alice")), storage.ErrClosed)
	err = s.UpdateRefresh(ctx, hash("x"), func(storage.RefreshState) (storage.RefreshChange, error) {
		return storage.RefreshChange{}, nil
	})
	wantErr(t, "UpdateRefresh after Close", err, storage.ErrClosed)
	_, err = s.Sweep(ctx, t0, 10)
	wantErr(t, "Sweep after Close", err, storage.ErrClosed)
	wantErr(t, "CreateLoginSession after Close", s.CreateLoginSession(ctx, newLoginSession(hash("ls"), "u1")), storage.ErrClosed)
	_, err = s.GetLoginSession(ctx, hash("ls"))
	wantErr(t, "GetLoginSession after Close", err, storage.ErrClosed)
	_, err = s.TouchLoginSession(ctx, hash("ls"), t0, t0)
	wantErr(t, "TouchLoginSession after Close", err, storage.ErrClosed)
	wantErr(t, "DeleteLoginSession after Close", s.DeleteLoginSession(ctx, hash("ls")), storage.ErrClosed)
	wantErr(t, "CreateCode after Close", s.CreateCode(ctx, newCode(hash("c"), "u1")), storage.ErrClosed)
	err = s.RedeemCode(ctx, hash("c"), func(storage.CodeState) (storage.CodeChange, error) {
		return storage.CodeChange{}, nil
	})
	wantErr(t, "RedeemCode after Close", err, storage.ErrClosed)
	wantErr(t, "PutConsent after Close", s.PutConsent(ctx, newConsent("u1", "app")), storage.ErrClosed)
	_, err = s.GetConsent(ctx, "u1", "app")
	wantErr(t, "GetConsent after Close", err, storage.ErrClosed)
	_, _, err = s.ListConsents(ctx, storage.ConsentFilter{}, storage.Page{})
	wantErr(t, "ListConsents after Close", err, storage.ErrClosed)
	wantErr(t, "RevokeConsent after Close", s.RevokeConsent(ctx, "u1", "app", t0), storage.ErrClosed)
	_, err = s.Backup(ctx, &bytes.Buffer{})
	wantErr(t, "Backup after Close", err, storage.ErrClosed)
}

func testConcurrentRefresh(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	f, tok := newFamily("f1", "u1")
	mustCreateFamily(t, s, f, tok)

	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.UpdateRefresh(ctx, tok.Hash, rotate(t0.Add(time.Hour), hash(fmt.Sprint("f1/next-", i))))
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("goroutines %d and %d both rotated the token", winner, i)
		case err == nil:
			winner = i
		case err != errSpent:
			t.Errorf("goroutine %d: got %v, want nil or errSpent as is", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no goroutine rotated the token")
	}
	got, _, err := s.GetRefreshToken(ctx, tok.Hash)
	if err != nil {
		t.Fatalf("GetRefreshToken: %v", err)
	}
	if want := hash(fmt.Sprint("f1/next-", winner)); got.SuccessorHash != want {
		t.Errorf("successor: got %.8s, want the winner's %.8s", got.SuccessorHash, want)
	}
	for i := range n {
		_, _, err := s.GetRefreshToken(ctx, hash(fmt.Sprint("f1/next-", i)))
		if (i == winner) != (err == nil) {
			t.Errorf("token of goroutine %d (winner %d): lookup error %v", i, winner, err)
		}
	}
}

func testConcurrentWriters(t *testing.T, s storage.Storage) {
	ctx := context.WithoutCancel(t.Context())
	const writers, each = 20, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("user-%02d-%02d", w, i)
				if err := s.CreateUser(ctx, newUser(name)); err != nil {
					t.Errorf("CreateUser(%s): %v", name, err)
				}
				f, tok := newFamily("fam-"+name, "id-"+name)
				if err := s.CreateFamily(ctx, f, tok); err != nil {
					t.Errorf("CreateFamily(%s): %v", f.ID, err)
				}
			}
		})
	}
	wg.Wait()
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	if len(users) != writers*each {
		t.Errorf("ListUsers: got %d users, want %d", len(users), writers*each)
	}
	fams := listAll(t, s, storage.FamilyFilter{})
	if len(fams) != writers*each {
		t.Errorf("ListFamilies: got %d families, want %d", len(fams), writers*each)
	}
}

// testConcurrentRefreshAndUserChange: goroutines rotate one family's chain
// while the user's sessions end (SessionGen moves on). A rotation decided
// on the user as it was must not commit after the change: the chain seen
// right after UpdateUser returns is the final chain. A backend whose
// compare-and-swap does not cover the user it handed to fn fails this.
func testConcurrentRefreshAndUserChange(t *testing.T, s storage.Storage) {
	ctx := context.WithoutCancel(t.Context())
	u := newUser("alice")
	u.SessionGen = 3 // newFamily's UserGen
	mustCreateUser(t, s, u)
	if err := s.CreateClient(ctx, newClient("app")); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	f, first := newFamily("f1", u.ID)
	mustCreateFamily(t, s, f, first)

	errDead := errors.New("family dead")
	var (
		mu        sync.Mutex
		head      = first.Hash
		rotations int
		started   = make(chan struct{})
		seq       int
	)
	const workers = 8
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				h := head
				seq++
				next := hash(fmt.Sprint("f1/", seq))
				mu.Unlock()
				err := s.UpdateRefresh(ctx, h, func(st storage.RefreshState) (storage.RefreshChange, error) {
					if st.User == nil || st.Family.State(st.User, st.Client, t0) != storage.FamilyLive {
						return storage.RefreshChange{}, errDead
					}
					return rotate(t0.Add(time.Hour), next)(st)
				})
				switch {
				case err == nil:
					mu.Lock()
					if head == h {
						head = next
					}
					rotations++
					if rotations == 5 {
						close(started)
					}
					mu.Unlock()
				case err == errDead:
					return
				case err == errSpent:
					// Another worker rotated h first; take the new head.
				default:
					t.Errorf("UpdateRefresh: %v", err)
					return
				}
			}
		})
	}
	chain := func() int {
		n := 0
		for h := first.Hash; ; n++ {
			tok, _, err := s.GetRefreshToken(ctx, h)
			if err != nil {
				t.Fatalf("GetRefreshToken in chain: %v", err)
			}
			if tok.SuccessorHash == "" {
				return n
			}
			h = tok.SuccessorHash
		}
	}
	<-started
	if _, err := s.UpdateUser(ctx, "alice", func(u storage.User) (storage.User, error) {
		u.EndSessions(t0, "password changed")
		return u, nil
	}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	atChange := chain()
	wg.Wait()
	if final := chain(); final != atChange {
		t.Errorf("chain had %d rotations when the user's sessions ended and %d at the end: rotations committed after the change", atChange, final)
	}
}
