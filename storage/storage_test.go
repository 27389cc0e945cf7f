package storage

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestFamily_State is the table of the one rule for whether a family is
// alive.
func TestFamily_State(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	base := Family{ID: "f", UserID: "u", ClientID: "c", ClientInstance: "i1", UserGen: 2,
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	user := User{ID: "u", Username: "alice", SessionGen: 2}
	client := Client{ID: "c", Instance: "i1", CreatedAt: t0.Add(-time.Hour)}
	legacy := Client{ID: "c", Instance: "migrated", LegacyFamilies: true, CreatedAt: t0.Add(-time.Hour)}

	with := func(f func(*Family)) Family { x := base; f(&x); return x }
	withUser := func(f func(*User)) *User { x := user; f(&x); return &x }
	withClient := func(c Client, f func(*Client)) *Client { f(&c); return &c }
	tests := []struct {
		name string
		fam  Family
		u    *User
		c    *Client
		now  time.Time
		want FamilyState
	}{
		{"live", base, &user, &client, t0, FamilyLive},
		{"live until the last instant", base, &user, &client, t0.Add(time.Hour - time.Nanosecond), FamilyLive},
		{"expired", base, &user, &client, t0.Add(time.Hour), FamilyExpired},
		{"revoked", with(func(f *Family) { f.RevokedAt = t0 }), &user, &client, t0, FamilyRevoked},
		{"revoked beats everything else", with(func(f *Family) { f.RevokedAt = t0 }), nil, nil, t0.Add(2 * time.Hour), FamilyRevoked},
		{"user deleted", base, nil, &client, t0, FamilyUserDeleted},
		{"another user", base, withUser(func(u *User) { u.ID = "v" }), &client, t0, FamilyUserDeleted},
		{"user disabled", base, withUser(func(u *User) { u.Disabled = true }), &client, t0, FamilyUserDisabled},
		{"user disabled and generation bumped", base, withUser(func(u *User) { u.Disabled = true; u.SessionGen++ }), &client, t0, FamilyUserDisabled},
		{"user sessions ended", base, withUser(func(u *User) { u.SessionGen++ }), &client, t0, FamilySessionsEnded},
		{"user generation lower", base, withUser(func(u *User) { u.SessionGen = 0 }), &client, t0, FamilySessionsEnded},
		{"client deleted", base, &user, nil, t0, FamilyClientDeleted},
		{"another client", base, &user, withClient(client, func(c *Client) { c.ID = "d" }), t0, FamilyClientDeleted},
		{"client created again", base, &user, withClient(client, func(c *Client) { c.Instance = "i2" }), t0, FamilyClientDeleted},
		{"client deleted beats expiry", base, &user, nil, t0.Add(2 * time.Hour), FamilyClientDeleted},
		{"user ended beats client deleted", base, withUser(func(u *User) { u.SessionGen++ }), nil, t0, FamilySessionsEnded},
		// Families stored before clients had instances.
		{"legacy family, migrated client", with(func(f *Family) { f.ClientInstance = "" }), &user, &legacy, t0, FamilyLive},
		{"legacy family, migrated client created at the same instant", with(func(f *Family) { f.ClientInstance = "" }), &user, withClient(legacy, func(c *Client) { c.CreatedAt = t0 }), t0, FamilyLive},
		{"legacy family older than the migrated client", with(func(f *Family) { f.ClientInstance = "" }), &user, withClient(legacy, func(c *Client) { c.CreatedAt = t0.Add(time.Nanosecond) }), t0, FamilyClientDeleted},
		{"legacy family, client created since the migration", with(func(f *Family) { f.ClientInstance = "" }), &user, &client, t0, FamilyClientDeleted},
		{"legacy family, client without instance", with(func(f *Family) { f.ClientInstance = "" }), &user, withClient(client, func(c *Client) { c.Instance = "" }), t0, FamilyClientDeleted},
		{"family of a new instance, migrated client", base, &user, &legacy, t0, FamilyClientDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fam.State(tt.u, tt.c, tt.now); got != tt.want {
				t.Errorf("State: got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLoginSession_State is the table of the rule for whether a sign-in
// session may be used: the user's changes end it (a password change,
// disable or delete), and so do its idle and absolute expiry, from the
// instant itself on (when storage's Sweep may remove it).
func TestLoginSession_State(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	base := LoginSession{Hash: "h", ID: "sid", UserID: "u", UserGen: 2, AuthTime: t0, CreatedAt: t0,
		LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(12 * time.Hour)}
	user := User{ID: "u", Username: "alice", SessionGen: 2}
	withUser := func(f func(*User)) *User { x := user; f(&x); return &x }
	touched := base
	touched.IdleExpiresAt = t0.Add(2 * time.Hour)
	tests := []struct {
		name string
		s    LoginSession
		u    *User
		now  time.Time
		want FamilyState
	}{
		{"live", base, &user, t0, FamilyLive},
		{"live until the last instant of its idle time", base, &user, t0.Add(time.Hour - time.Nanosecond), FamilyLive},
		{"idle expired at the instant", base, &user, t0.Add(time.Hour), FamilyExpired},
		{"touched: live past the old idle expiry", touched, &user, t0.Add(time.Hour), FamilyLive},
		{"past its absolute end though not idle", LoginSession{UserID: "u", UserGen: 2, IdleExpiresAt: t0.Add(13 * time.Hour), ExpiresAt: t0.Add(12 * time.Hour)}, &user, t0.Add(12 * time.Hour), FamilyExpired},
		{"user deleted", base, nil, t0, FamilyUserDeleted},
		{"another user", base, withUser(func(u *User) { u.ID = "v" }), t0, FamilyUserDeleted},
		{"user disabled", base, withUser(func(u *User) { u.Disabled = true }), t0, FamilyUserDisabled},
		{"password changed", base, withUser(func(u *User) { u.EndSessions(t0, "password changed") }), t0, FamilySessionsEnded},
		{"user ended beats expiry", base, withUser(func(u *User) { u.SessionGen++ }), t0.Add(24 * time.Hour), FamilySessionsEnded},
		{"zero expiry: never valid", LoginSession{UserID: "u", UserGen: 2}, &user, t0, FamilyExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.State(tt.u, tt.now); got != tt.want {
				t.Errorf("State: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFamilyState_String(t *testing.T) {
	seen := map[string]bool{}
	for s := FamilyLive; s <= FamilyExpired; s++ {
		name := s.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("FamilyState(%d).String() = %q: want a distinct name", s, name)
		}
		seen[name] = true
	}
	if got := FamilyState(200).String(); got != "unknown" {
		t.Errorf("FamilyState(200).String() = %q, want unknown", got)
	}
}

func TestClient_Issued(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := Client{ID: "c", Instance: "i1", CreatedAt: t0}
	legacy := Client{ID: "c", Instance: "m", LegacyFamilies: true, CreatedAt: t0}
	tests := []struct {
		name     string
		c        Client
		instance string
		at       time.Time
		want     bool
	}{
		{"same instance", c, "i1", t0.Add(-time.Hour), true},
		{"other instance", c, "i0", t0.Add(time.Hour), false},
		{"no instance, client not migrated", c, "", t0.Add(time.Hour), false},
		{"no instance, migrated client", legacy, "", t0.Add(time.Hour), true},
		{"no instance, issued before the migrated client was created", legacy, "", t0.Add(-time.Second), false},
		{"migrated client's own instance", legacy, "m", t0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Issued(tt.instance, tt.at); got != tt.want {
				t.Errorf("Issued(%q, %v): got %v, want %v", tt.instance, tt.at, got, tt.want)
			}
		})
	}
}

// TestValueTypes_NoCodec: the value types are the contract, not a storage
// format; each backend keeps its own encoding (storage/bolt's codec.go).
func TestValueTypes_NoCodec(t *testing.T) {
	for _, v := range []any{User{}, Client{}, Family{}, RefreshToken{}, Key{}, LoginSession{}, AuthCode{}, Consent{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			if f := typ.Field(i); f.Tag != "" {
				t.Errorf("%s.%s has tag %q: encodings belong to the backends", typ.Name(), f.Name, f.Tag)
			}
		}
	}
}

// consentPages is a ConsentLister serving fixed pages keyed by cursor.
type consentPages map[string]struct {
	items []Consent
	next  string
	err   error
}

func (p consentPages) ListConsents(_ context.Context, f ConsentFilter, page Page) ([]Consent, string, error) {
	pg := p[f.UserID+"|"+page.After]
	return pg.items, pg.next, pg.err
}

func TestListAllConsents(t *testing.T) {
	a, b, c := Consent{UserID: "u", ClientID: "a"}, Consent{UserID: "u", ClientID: "b"}, Consent{UserID: "u", ClientID: "c"}
	errBroken := errors.New("broken")
	tests := []struct {
		name    string
		pages   consentPages
		want    []Consent
		wantErr bool
	}{
		{"one page", consentPages{"u|": {items: []Consent{a, b}}}, []Consent{a, b}, false},
		{"pages, opaque cursors in any order", consentPages{"u|": {items: []Consent{a}, next: "z"}, "u|z": {items: []Consent{b}, next: "A"}, "u|A": {items: []Consent{c}}},
			[]Consent{a, b, c}, false},
		{"an empty last page", consentPages{"u|": {items: []Consent{a}, next: "x"}, "u|x": {}}, []Consent{a}, false},
		{"an error", consentPages{"u|": {items: []Consent{a}, next: "x"}, "u|x": {err: errBroken}}, nil, true},
		{"a cursor that does not move on", consentPages{"u|": {items: []Consent{a}, next: "x"}, "u|x": {items: []Consent{b}, next: "x"}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ListAllConsents(t.Context(), tt.pages, ConsentFilter{UserID: "u"})
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ListAllConsents: got %v, %v, want %v (error: %v)", got, err, tt.want, tt.wantErr)
			}
			if tt.name == "an error" && !errors.Is(err, errBroken) {
				t.Errorf("error: got %v, want the lister's", err)
			}
		})
	}
}
